"""Expectations file: parsing, per-device merging, selection by pattern, and building suite cases."""

import pytest
import torch
from _tiny import DIM, TinyModel
from tttv2_testing import TestSuite, load_expectations, parse_expectations

EXPECTATIONS_YAML = """
# tiny model; bfloat16 blocks reach PCC ~0.9999 against float32 torch, 0.99 leaves margin
"layers.*.mlp::forward_prefill":
  default: {pcc: 0.99}
  n150: {latency_ms: 1.0, percentile: 0.9}
"layers.*.mlp":
  default: {pcc: 0.98}
"layers.*.norm":
  T3K: {pcc: 0.999}
"""


def test_load_merges_default_under_device_and_first_match_wins(tmp_path):
    path = tmp_path / "expectations.yaml"
    path.write_text(EXPECTATIONS_YAML)
    expectations = load_expectations(path)
    assert expectations.devices == ["N150", "T3K"]

    n150 = expectations.select(device="N150")
    entry = n150.for_module("layers.3.mlp", "forward_prefill")
    assert (entry.pcc, entry.latency_ms, entry.percentile) == (0.99, 1.0, 0.9)
    assert n150.for_module("layers.3.mlp", "forward_decode").pcc == 0.98  # the general entry
    assert n150.for_module("layers.3.norm", "forward_decode") is None  # only T3K expects norms

    t3k = expectations.select(device="t3k", pattern="layers.*.norm")
    assert t3k.pcc_for("layers.0.norm", "forward_prefill") == 0.999
    assert t3k.for_module("layers.0.mlp", "forward_prefill") is None  # outside the pattern
    assert t3k.for_module("layers.0.mlp", "forward_prefill") is None
    assert expectations.select(device="T3K").for_module("layers.0.mlp", "forward_prefill").latency_ms is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"layers.*": {"N150": {"pc": 0.9}}}, r"'layers.\*': N150: unknown field 'pc' \(fields: pcc, atol"),
        ({"layers.*": {"N999": {"pcc": 0.9}}}, r"device 'N999': unknown device"),
        ({"layers.*": {"N150": {"pcc": 1.5}}}, r"pcc must be in \(0, 1\], got 1.5"),
        ({"layers.*": {"N150": {"latency_ms": "fast"}}}, "latency_ms must be a number, got 'fast'"),
        ({"layers.*": [0.99]}, "expected a mapping of device -> figures, got list"),
        ([1, 2], "expected a mapping of module path pattern -> devices"),
    ],
)
def test_bad_files_name_entry_device_and_field(data, message):
    with pytest.raises(ValueError, match=message):
        parse_expectations(data, "expectations.yaml")


def test_selection_adds_cases_for_matching_modules_only(device):
    selection = parse_expectations(
        {"layers.*.mlp::forward_prefill": {"default": {"pcc": 0.99, "latency_ms": 1.0}}}
    ).select(device=device.spec.name, pattern="layers.1.*")
    model = TinyModel(device, num_layers=2, wrong_sign_layer=0)  # layer 0 is broken but not selected

    def run():
        model.prefill_forward(torch.randn(32, DIM))

    suite = TestSuite(model, verbose=False)
    builders = selection.add_to(suite, trace_fn=run)
    assert [b.case.case_id for b in builders] == ["layers.1.mlp::forward_prefill"]
    report = suite.run()
    assert [r.metric for r in report.results] == ["pcc", "latency_ms (PREDICTED)"]

    broken = parse_expectations({"layers.0.mlp": {"default": {"pcc": 0.99}}}).select(device=device.spec.name)
    broken.add_to(suite, trace_fn=run, methods=["forward_prefill"])
    with pytest.raises(AssertionError, match="layers.0.mlp::forward_prefill: pcc -0.99"):
        suite.run()
