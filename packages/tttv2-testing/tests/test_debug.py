"""Debug mode: per-module PCC during a real run, and the first module below its threshold."""

import io

import torch
from _tiny import DIM, TinyModel
from tttv2_testing import debug_mode, parse_expectations


def test_debug_mode_marks_the_first_bad_module(device):
    model = TinyModel(device, num_layers=3, wrong_sign_layer=1)
    x = torch.randn(32, DIM)
    plain = model.prefill_forward(x)
    out = io.StringIO()
    with debug_mode(model, thresholds=0.99, file=out) as report:
        debugged = model.prefill_forward(x)
    assert torch.equal(plain, debugged)  # debugging does not change the run
    first = report.first_failure
    assert (first.module_path, first.method) == ("layers.1.mlp", "forward_prefill")
    # Each module is compared on its own actual inputs: layer 2 after the broken layer is fine.
    by_path = {row.module_path: row for row in report.rows}
    assert by_path["layers.2.mlp"].passed and by_path["layers.2"].passed
    assert by_path["layers.1"].passed is False  # the layer containing the bad projection
    assert by_path["TinyModel"].note == "no reference" and by_path["TinyModel"].passed is None
    table = out.getvalue()
    marked = [line for line in table.splitlines() if "<-- first below threshold" in line]
    assert len(marked) == 1 and "layers.1.mlp" in marked[0]
    assert "accuracy is first lost in layers.1.mlp::forward_prefill" in table
    assert all("forward_prefill" not in vars(layer.mlp) for layer in model.layers)  # unwrapped


def test_thresholds_per_pattern_and_from_an_expectations_selection(device):
    model = TinyModel(device)
    x = torch.randn(32, DIM)
    # bfloat16 blocks reach PCC ~0.9999 but never exactly 1.0: an impossible threshold on the
    # second layer's norm must make it the first failure, and nothing else fails.
    with debug_mode(model, thresholds={"layers.1.norm": 1.0, "*": 0.99}, print_report=False) as report:
        model.prefill_forward(x)
    assert report.first_failure.module_path == "layers.1.norm"
    assert [r.module_path for r in report.rows if r.passed is False] == ["layers.1.norm"]

    selection = parse_expectations({"layers.0.mlp": {"default": {"pcc": 1.0}}}).select(device="N150")
    with debug_mode(model, thresholds=selection, print_report=False) as report:
        model.prefill_forward(x)
    assert report.first_failure.module_path == "layers.0.mlp"


def test_a_failing_reference_is_a_note_not_a_crash(device):
    model = TinyModel(device, num_layers=1)

    def broken(x):
        raise RuntimeError("reference exploded")

    model.layers[0].mlp.reference = broken
    with debug_mode(model, print_report=False) as report:
        model.decode_forward(torch.randn(2, DIM))
    row = next(r for r in report.rows if r.module_path == "layers.0.mlp")
    assert row.pcc is None and "reference exploded" in row.note
    assert report.first_failure is None
