"""Shapes-only runs dispatch exactly the op program a numeric run does, without values or weights."""

import dataclasses

import pytest
import torch
from tttv2_hwconfig import open_device, shapes_only
from tttv2_patterns import CausalLM
from tttv2_patterns.shapes_only import meta_checkpoint, shapes_only_model

PROMPT = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
# Every OpRecord field: names, shapes, dtypes, memory placement, FLOPs, bytes, program configs,
# collectives and their attributes must agree.
FIELDS = [f.name for f in dataclasses.fields(__import__("tttv2_hwconfig").OpRecord)]


def run_steps(model):
    trace = model.device.trace
    trace.clear()
    model.prefill_forward([PROMPT])
    model.decode_forward(token_ids=[7], cache_position=len(PROMPT))
    return [tuple(_comparable(r, f) for f in FIELDS) for r in trace.records]


def _comparable(record, field: str):
    # Trace ids number captures process-wide: the two runs' (traced) decode steps get different ones.
    if field == "attributes":
        return {k: v for k, v in record.attributes.items() if k != "trace_id"}
    return getattr(record, field)


@pytest.mark.parametrize("device_name", ["N150", "T3K"])
def test_shapes_only_trace_equals_numeric_trace(llama_spec_with_checkpoint, device_name):
    spec = llama_spec_with_checkpoint
    with open_device(device_name) as device:
        numeric = CausalLM(spec, device=device, progress=False)
        numeric_ops = run_steps(numeric)
    with open_device(device_name) as device, shapes_only():
        model = shapes_only_model(spec, device=device)
        shapes_ops = run_steps(model)
        logits = model.prefill_forward([PROMPT]).logits
    assert len(shapes_ops) == len(numeric_ops) > 20
    for index, (a, b) in enumerate(zip(numeric_ops, shapes_ops)):
        assert a == b, f"op {index} differs: numeric {a[0]} vs shapes-only {b[0]}"
    assert logits.is_meta  # no values were computed


def test_meta_checkpoint_has_every_tensor_and_no_storage(llama_spec_with_checkpoint):
    spec = llama_spec_with_checkpoint
    checkpoint = meta_checkpoint(spec)
    real = spec.checkpoint
    assert set(checkpoint) == set(real)
    for key in real:
        assert checkpoint.shape(key) == real.shape(key)
        assert checkpoint[key].is_meta


def test_shapes_only_model_refuses_outside_the_mode(llama_spec_with_checkpoint):
    with pytest.raises(RuntimeError, match="shapes_only"):
        shapes_only_model(llama_spec_with_checkpoint, device="N150")


def test_numeric_run_is_unchanged_after_a_shapes_only_run(llama_spec_with_checkpoint):
    spec = llama_spec_with_checkpoint
    first = CausalLM(spec, device="N150", progress=False).prefill_forward([PROMPT]).logits
    with shapes_only():
        shapes_only_model(spec, device="N150").prefill_forward([PROMPT])
    again = CausalLM(spec, device="N150", progress=False).prefill_forward([PROMPT]).logits
    assert not first.is_meta and torch.equal(first, again)  # bit-exact: the mode leaks nothing
