"""The pytest plugin, run inside pytest with ``pytester``: items, ids, selection, device option."""

import os

import pytest

TESTS_DIR = os.path.dirname(__file__)
PLUGIN = ("-p", "tttv2_testing.pytest_plugin")  # a no-op when the entry point already loaded it

SUITE_FILE = """
import os
import pytest
import torch
from _tiny import DIM, TinyModel
from tttv2_hwconfig import open_device
from tttv2_testing import TestSuite, collect_suite

RUNS = []


@collect_suite
def tiny_suite():
    model = TinyModel(open_device(), num_layers=2, wrong_sign_layer=1)

    def run():
        RUNS.append(1)
        model.prefill_forward(torch.randn(32, DIM))
        model.decode_forward(torch.randn(4, DIM))

    suite = TestSuite(model, verbose=False)
    for layer in model.layers:
        suite.add_case(layer.mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(0.99)
        suite.add_case(layer.forward_decode).with_inputs(trace_fn=run).expect_pcc(0.99)
    return suite


def test_plain():
    assert True


@pytest.mark.tt_module("layers.1.mlp")
def test_marked():
    assert True


def test_trace_fn_ran_once():
    assert RUNS == [1]
"""


@pytest.fixture
def suite_dir(pytester, monkeypatch):
    # In-process runs share os.environ: let monkeypatch restore TTTV2_DEVICE after --tt-device.
    monkeypatch.setenv("TTTV2_DEVICE", os.environ.get("TTTV2_DEVICE", "N150"))
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {TESTS_DIR!r})\n")
    pytester.makepyfile(test_model=SUITE_FILE)
    return pytester


def test_cases_become_items_with_module_path_ids(suite_dir):
    result = suite_dir.runpytest(*PLUGIN, "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_model.py::tiny_suite::layers.0.mlp::forward_prefill",
            "test_model.py::tiny_suite::layers.0::forward_decode",
            "test_model.py::tiny_suite::layers.1.mlp::forward_prefill",
            "test_model.py::tiny_suite::layers.1::forward_decode",
            "test_model.py::test_plain",
        ]
    )


def test_each_case_passes_or_fails_on_its_own_and_the_trace_runs_once(suite_dir):
    result = suite_dir.runpytest(*PLUGIN)
    # layer 1 has the wrong sign: both of its cases fail, layer 0's pass, plain tests pass.
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*FAILED test_model.py::tiny_suite::layers.1.mlp::forward_prefill*",
            "*FAILED test_model.py::tiny_suite::layers.1::forward_decode*",
        ]
    )
    assert "layers.1.mlp::forward_prefill: pcc -0.99" in result.stdout.str()


def test_tt_module_selects_by_path_pattern(suite_dir):
    result = suite_dir.runpytest(*PLUGIN, "--tt-module", "layers.0.*", "--tt-module", "layers.1.mlp", "-v")
    # layers.0.mlp (suite) + layers.1.mlp (suite, fails) + the marked plain test; the rest deselected.
    result.assert_outcomes(passed=2, failed=1, deselected=4)
    result.stdout.fnmatch_lines(["*layers.0.mlp::forward_prefill PASSED*", "*test_marked PASSED*"])


def test_tt_module_with_method_and_k_expression(suite_dir):
    result = suite_dir.runpytest(*PLUGIN, "--tt-module", "layers.*::forward_decode")
    # both layers' forward_decode, plus the plain test marked with a path under layers.* (no method)
    result.assert_outcomes(passed=2, failed=1, deselected=4)
    result = suite_dir.runpytest(*PLUGIN, "-k", "layers.0 and forward_prefill")
    result.assert_outcomes(passed=1, deselected=6)


def test_a_case_runs_alone_by_node_id(suite_dir):
    result = suite_dir.runpytest(*PLUGIN, "test_model.py::tiny_suite::layers.0.mlp::forward_prefill")
    result.assert_outcomes(passed=1)


def test_tt_device_sets_the_device(pytester, monkeypatch):
    monkeypatch.setenv("TTTV2_DEVICE", "N150")
    pytester.makepyfile(
        """
        import os

        def test_device(tt_device, tt_device_name):
            assert os.environ["TTTV2_DEVICE"] == "N300" == tt_device_name
            assert tuple(tt_device.shape) == (1, 2)
        """
    )
    pytester.runpytest(*PLUGIN, "--tt-device", "n300").assert_outcomes(passed=1)
    result = pytester.runpytest(*PLUGIN, "--tt-device", "N999")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tt-device: unknown device 'N999'; valid device names: N150*"])


def test_setup_problems_are_a_collection_error_before_anything_runs(pytester, monkeypatch):
    monkeypatch.setenv("TTTV2_DEVICE", os.environ.get("TTTV2_DEVICE", "N150"))
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {TESTS_DIR!r})\n")
    pytester.makepyfile(
        test_broken="""
        from _tiny import TinyMLP
        from tttv2_hwconfig import open_device
        from tttv2_testing import TestSuite, collect_suite

        @collect_suite
        def broken_suite():
            mlp = TinyMLP(open_device())
            mlp.module_path = "mlp"
            suite = TestSuite(verbose=False)
            suite.add_case(mlp.forward_prefill).expect_pcc(0.99)           # no inputs
            suite.add_case(mlp.forward_decode).with_inputs({"x": None})    # no expectations
            return suite
        """
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*SuiteSetupError: TestSuite is not set up (2 problem(s)); nothing was run:",
            "*- mlp::forward_prefill: no inputs*",
            "*- mlp::forward_decode: no expectations*",
        ]
    )
