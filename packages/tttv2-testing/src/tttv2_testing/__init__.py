"""tttv2-testing: fluent TestSuite, PCC, input capture, pytest plugin, debug mode.

    from tttv2_testing import TestSuite
    with TestSuite(model, seed=1234) as suite:
        (suite.add_case(model.layers[0].attention.forward_prefill)
            .with_inputs(trace_fn=sample_run)
            .expect_pcc(0.99)
            .expect_perf(latency_ms=5.0))
        suite.run()

The public API is exactly ``__all__``.
"""

from tttv2_testing.__about__ import __version__
from tttv2_testing.calls import RecordedCall
from tttv2_testing.capture import InputCapture
from tttv2_testing.case import CaseBuilder
from tttv2_testing.conversion import NotReplicatedError, to_torch_tree, ttnn_to_torch
from tttv2_testing.debug import DebugReport, DebugRow, debug_mode
from tttv2_testing.expectations import (
    Expectations,
    ExpectationSelection,
    ModuleExpectation,
    load_expectations,
    parse_expectations,
)
from tttv2_testing.module_tree import walk_modules
from tttv2_testing.pcc import assert_allclose, assert_pcc, comp_allclose, comp_pcc, compute_pcc, max_abs_diff
from tttv2_testing.pytest_plugin import collect_suite
from tttv2_testing.report import CheckResult, SuiteReport
from tttv2_testing.suite import SuiteSetupError, TestSuite

__all__ = [
    "CaseBuilder",
    "CheckResult",
    "DebugReport",
    "DebugRow",
    "ExpectationSelection",
    "Expectations",
    "InputCapture",
    "ModuleExpectation",
    "NotReplicatedError",
    "RecordedCall",
    "SuiteReport",
    "SuiteSetupError",
    "TestSuite",
    "__version__",
    "assert_allclose",
    "assert_pcc",
    "comp_allclose",
    "comp_pcc",
    "compute_pcc",
    "debug_mode",
    "load_expectations",
    "max_abs_diff",
    "parse_expectations",
    "collect_suite",
    "to_torch_tree",
    "ttnn_to_torch",
    "walk_modules",
]
