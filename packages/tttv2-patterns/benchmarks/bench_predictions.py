"""Prints the perf model's calibration residuals and the held-out error (PREDICTED, not measured).

    python packages/tttv2-patterns/benchmarks/bench_predictions.py [--held-out]

Figures are printed, not asserted (they are predictions of a fitted model; the fit's residual
bound is asserted from stored points in tests/test_perf_calibration.py).
"""

import sys

from tttv2_hwconfig import PerfConstants
from tttv2_patterns.perf_calibration import measure_points, residual_table

if __name__ == "__main__":
    print(residual_table(measure_points(), PerfConstants.fitted()))
    if "--held-out" in sys.argv:
        from tttv2_patterns.perf_heldout import evaluate

        evaluate()
