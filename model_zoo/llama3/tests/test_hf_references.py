"""HF submodules registered as references: TestSuite and debug mode compare every module against HF.

Threshold 0.99 (the seed's): with the accuracy strategy each block tracks its HF module at PCC
> 0.9999 here; a block fed the wrong K/V history, position or weights drops far below (the corrupted
case below measures < 0.9).
"""

from __future__ import annotations

import functools

import pytest
import torch
from tttv2_llama3 import ModelFactory
from tttv2_testing import TestSuite, debug_mode
from tttv2_testing.hf import causal_mask

PCC = 0.99
PROMPTS = [[1, 5, 9, 17, 33, 2, 8, 40, 41], [1, 60, 2, 99, 7]]


@pytest.fixture
def model(tiny_checkpoint, device_name):
    model = ModelFactory.from_huggingface(
        tiny_checkpoint,
        device_name,
        strategy="accuracy",
        register_references=True,
        progress=False,
        max_batch_size=4,
        max_seq_len=64,
    )
    yield model
    model.close()


def test_every_module_has_its_hf_submodule(model):
    hf_layers = model.hf_reference.model.model.layers
    assert model.layers[1].attention.reference is hf_layers[1].self_attn
    assert model.layers[1].ffn.reference is hf_layers[1].mlp
    assert model.layers[1].attention_norm.reference is hf_layers[1].input_layernorm
    assert model.layers[1].ffn_norm.reference is hf_layers[1].post_attention_layernorm
    assert model.layers[1].reference is hf_layers[1]
    assert model.embedding.reference is model.hf_reference.model.model.embed_tokens
    assert model.final_norm.reference is model.hf_reference.model.model.norm
    assert model.lm_head.reference is model.hf_reference.model.lm_head
    assert model.layers[0].attention.reference_is_stateful and model.layers[0].reference_is_stateful


def test_suite_on_captured_prefill_and_decode(model):
    sample_run = functools.partial(model.generate, PROMPTS, max_new_tokens=4)
    with TestSuite(model, verbose=False) as suite:
        suite.add_case(model.layers[0].attention.forward_prefill).with_inputs(
            trace_fn=sample_run, max_calls=2
        ).expect_pcc(PCC)
        suite.add_case(model.layers[1].attention.forward_decode).with_inputs(
            trace_fn=sample_run, max_calls=3
        ).expect_pcc(PCC)
        suite.add_case(model.layers[1].forward_decode).with_inputs(
            trace_fn=sample_run, max_calls=3
        ).expect_pcc(PCC)
        suite.add_case(model.layers[0].ffn.forward_prefill).with_inputs(trace_fn=sample_run).expect_pcc(PCC)
        suite.add_case(model.embedding.forward_decode).with_inputs(trace_fn=sample_run).expect_pcc(PCC)
        suite.add_case(model.final_norm.forward_decode).with_inputs(trace_fn=sample_run).expect_pcc(PCC)
        suite.add_case(model.lm_head.forward_prefill).with_inputs(trace_fn=sample_run).expect_pcc(PCC)
        report = suite.run()
    assert report.passed and len(report.results) == 2 + 3 + 3 + 4


def test_suite_fails_when_a_module_is_wrong(model):
    # Give layer 0's attention another model's weights: the HF reference must catch it.
    state = {
        k: torch.randn_like(v) * 0.1
        for k, v in model.hf_reference.model.model.layers[0].self_attn.state_dict().items()
    }
    model.layers[0].attention.load_weights(state)
    sample_run = functools.partial(model.generate, PROMPTS[:1], max_new_tokens=3)
    suite = TestSuite(model, verbose=False)
    suite.add_case(model.layers[0].attention.forward_decode).with_inputs(trace_fn=sample_run).expect_pcc(PCC)
    with pytest.raises(AssertionError, match=r"layers\.0\.attention::forward_decode"):
        suite.run()


def test_debug_mode_passes_with_hf_references(model):
    with debug_mode(model, thresholds=PCC, print_report=False) as report:
        model.generate(PROMPTS, max_new_tokens=3)
    assert report.first_failure is None
    compared = {(row.module_path, row.method) for row in report.rows if row.pcc is not None}
    assert ("layers.1.attention", "forward_decode") in compared and (
        "layers.0",
        "forward_prefill",
    ) in compared


def test_references_follow_a_rebuilt_block(model):
    from tttv2_hwconfig import ttnn

    model.impl_config.layers[0].attention.qkv_proj.dtype = ttnn.bfloat8_b
    model.prefill_forward([PROMPTS[0]])  # applies the edit: layers.0.attention is rebuilt
    assert model.layers[0].attention.reference is model.hf_reference.model.model.layers[0].self_attn
    assert model.layers[0].attention.reference_is_stateful


def test_causal_mask_offsets_each_user():
    mask = causal_mask([0, 2], seq_len=2)  # user 0 at positions 0-1, user 1 at positions 2-3
    visible = mask == 0
    assert mask.shape == (2, 1, 2, 4)
    assert visible[0, 0].tolist() == [[True, False, False, False], [True, True, False, False]]
    assert visible[1, 0].tolist() == [[True, True, True, False], [True, True, True, True]]
