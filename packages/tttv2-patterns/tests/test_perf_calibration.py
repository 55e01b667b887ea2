"""The calibration's fit, re-done from the points it recorded (deterministic, no model runs).

Threshold: issue 17's target, every calibration row within 10 % of TTTv1's published decode speed.
"""

import pytest
from tttv2_hwconfig import PerfConstants, device_spec
from tttv2_patterns.perf_calibration import CALIBRATION_ROWS, CalibrationPoint, fit, stored_points


def test_stored_points_are_the_calibration_rows():
    points = stored_points()
    assert [(p.model, p.device, p.published_tokens_per_s) for p in points] == list(CALIBRATION_ROWS)
    assert all(0 < p.matmul_ops < p.ops for p in points)


def test_refit_reproduces_the_shipped_constants():
    points = stored_points()
    shipped = PerfConstants.fitted()
    refit = fit(points, shipped)
    assert refit.op_fixed_s == pytest.approx(shipped.op_fixed_s, rel=1e-9)
    assert refit.matmul_op_fixed_s == pytest.approx(shipped.matmul_op_fixed_s, rel=1e-9)
    assert refit.step_fixed_s == pytest.approx(shipped.step_fixed_s, rel=1e-9)
    assert refit.bfp4_stream_slowdown == pytest.approx(shipped.bfp4_stream_slowdown, rel=1e-9)


def test_every_calibration_residual_is_within_10_percent():
    points, shipped = stored_points(), PerfConstants.fitted()
    worst = max(points, key=lambda point: abs(point.residual(shipped)))
    assert abs(worst.residual(shipped)) <= 0.10, (worst.model, worst.device, worst.residual(shipped))


def test_no_op_is_fitted_below_the_cited_dispatch_time():
    shipped, floor = PerfConstants.fitted(), device_spec("N150").dispatch_overhead_s
    assert shipped.op_fixed_s >= floor and shipped.matmul_op_fixed_s >= floor


def _synthetic(op_s, matmul_s, step_s, rows, slowdown=1.0, bfp4_ops=()):
    points = []
    for index, (ops, mm, base) in enumerate(rows):
        terms = tuple(bfp4_ops[: index + 1]) if bfp4_ops else ()  # a different bfp4 share per row
        bfp4 = sum(n * max(other, dram + b4 * slowdown) for other, dram, b4, n in terms)
        published = 1.0 / (base + bfp4 + (ops - mm) * op_s + mm * matmul_s + step_s)
        points.append(CalibrationPoint("m", "N150", published, base, ops, 0, mm, terms))
    return points


def test_fit_recovers_known_constants_from_synthetic_points():
    # Points built from chosen constants: the fit must find them (zero residual) within its grid.
    truth = PerfConstants(op_fixed_s=10e-6, ccl_fixed_s=0.0, host_untraced_op_s=0.0, step_fixed_s=3e-3)
    rows = [(400, 100, 4e-3), (850, 200, 20e-3), (950, 190, 5e-3), (500, 60, 9e-3)]
    found = fit(_synthetic(10e-6, 20e-6, 3e-3, rows), truth)
    assert found.op_fixed_s == pytest.approx(10e-6, rel=1e-3)
    assert found.matmul_op_fixed_s == pytest.approx(20e-6, rel=1e-3)
    assert found.step_fixed_s == pytest.approx(3e-3, rel=1e-3)


def test_fit_keeps_every_op_at_or_above_the_dispatch_floor():
    # Points made with element-wise ops at 1 us (below [ISSUE-12074]'s 4000 cycles): the fit may not follow.
    rows = [(400, 100, 4e-3), (850, 200, 20e-3), (950, 190, 5e-3)]
    found = fit(_synthetic(1e-6, 30e-6, 3e-3, rows), PerfConstants(0.0, 0.0, 0.0))
    assert found.op_fixed_s == pytest.approx(device_spec("N150").dispatch_overhead_s)


def test_fit_recovers_a_known_bfp4_slowdown():
    # Rows whose bfp4 weight reads differ in share: the slowdown they were made with is found again.
    truth = PerfConstants(op_fixed_s=10e-6, ccl_fixed_s=0.0, host_untraced_op_s=0.0, step_fixed_s=3e-3)
    rows = [(400, 100, 4e-3), (850, 200, 20e-3), (950, 190, 5e-3), (500, 60, 9e-3), (700, 150, 2e-3)]
    bfp4 = [
        (10e-6, 5e-6, 2e-3, 2),
        (10e-6, 0.0, 6e-3, 1),
        (1e-6, 1e-6, 1e-3, 3),
        (0.0, 0.0, 4e-3, 1),
        (0.0, 2e-6, 3e-3, 16),
    ]
    found = fit(_synthetic(10e-6, 20e-6, 3e-3, rows, slowdown=1.5, bfp4_ops=bfp4), truth)
    assert found.bfp4_stream_slowdown == pytest.approx(1.5, rel=1e-3)
    assert found.op_fixed_s == pytest.approx(10e-6, rel=1e-3)
    assert found.step_fixed_s == pytest.approx(3e-3, rel=1e-3)


def test_stored_points_keep_the_bfp4_weight_reads_apart():
    # Every calibration row runs TTTv1's bfp4 MLP (PERF.md "bfp4 MLP"): 3 matmuls per layer read bfp4
    # (1B: 16 layers, 8B: 32), stored once per distinct op with its count.
    layers = {"Llama-3.2-1B": 16, "Llama-3.1-8B": 32}
    for point in stored_points():
        assert all(b4 > 0 for _, _, b4, _ in point.bfp4_ops), point.model
        assert sum(n for *_, n in point.bfp4_ops) == 3 * layers[point.model], point.model
