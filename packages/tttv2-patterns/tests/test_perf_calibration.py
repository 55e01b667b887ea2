"""The calibration's fit, re-done from the points it recorded (deterministic, no model runs).

Threshold: issue 17's target, every calibration row within 10 % of TTTv1's published decode speed, is
missed by 0.3 points on the current program (strict xfail); 11 % guards against regressions.
"""

import pytest
from tttv2_hwconfig import PerfConstants
from tttv2_patterns.perf_calibration import CALIBRATION_ROWS, fit, stored_points


def test_stored_points_are_the_calibration_rows():
    points = stored_points()
    assert [(p.model, p.device, p.published_tokens_per_s) for p in points] == list(CALIBRATION_ROWS)


def test_refit_reproduces_the_shipped_constants():
    points = stored_points()
    shipped = PerfConstants.fitted()
    refit = fit(points, shipped)
    assert refit.op_fixed_s == pytest.approx(shipped.op_fixed_s, rel=1e-9)
    assert refit.step_fixed_s == pytest.approx(shipped.step_fixed_s, rel=1e-9)


@pytest.mark.xfail(
    strict=True,
    reason="issue 17 target not met: largest residual 10.3 % (8B N150 +10.3 %, 1B/8B T3K -10.2/-10.3 %) on "
    "the current traced 32-row program; strict, so meeting the target turns this into a failure to remove",
)
def test_every_calibration_residual_is_within_10_percent():
    points, shipped = stored_points(), PerfConstants.fitted()
    worst = max(points, key=lambda point: abs(point.residual(shipped)))
    assert abs(worst.residual(shipped)) <= 0.10, (worst.model, worst.device, worst.residual(shipped))


def test_every_calibration_residual_is_within_11_percent():
    # What the fit reaches today (10.3 %): a regression of the program or the terms shows here.
    for point in stored_points():
        residual = point.residual(PerfConstants.fitted())
        assert abs(residual) <= 0.11, (point.model, point.device, residual)


def test_fit_recovers_known_constants_from_synthetic_points():
    # Points built from chosen constants: the fit must find them (zero residual) within its grid.
    from tttv2_patterns.perf_calibration import CalibrationPoint

    truth = PerfConstants(op_fixed_s=10e-6, ccl_fixed_s=0.0, host_untraced_op_s=0.0, step_fixed_s=3e-3)
    rows = [(400, 4e-3), (850, 20e-3), (950, 5e-3)]
    points = [
        CalibrationPoint("m", "N150", 1.0 / (base + ops * 10e-6 + 3e-3), base, ops, 0) for ops, base in rows
    ]
    found = fit(points, truth)
    assert found.op_fixed_s == pytest.approx(10e-6, rel=1e-3)
    assert found.step_fixed_s == pytest.approx(3e-3, rel=1e-3)
