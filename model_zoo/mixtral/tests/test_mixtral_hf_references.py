"""Per-module HF references for Mixtral, whose checkpoint and HF module names differ.

The checkpoint stores the MoE block under ``block_sparse_moe``; transformers 5 loads it into the
module ``mlp``. ``register_hf_references`` must find the HF module where HF keeps it (the layout's
``hf_module_names``), not at the checkpoint prefix, which names no module of the HF model.

Threshold 0.99 (as llama3's reference tests): each block tracks its HF module at PCC > 0.9999 with
the accuracy strategy; the MoE block with another layer's weights drops far below it.
"""

from __future__ import annotations

import pytest
from test_mixtral_parity import PROMPT, TINY, _experts_split
from tttv2_mixtral import Mixtral
from tttv2_testing import TestSuite, debug_mode
from tttv2_testing.hf.parity import write_tiny

PCC = 0.99


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformers import MixtralConfig

    config = MixtralConfig(**TINY)
    config.architectures = ["MixtralForCausalLM"]
    return write_tiny(tmp_path_factory.mktemp("mixtral_refs") / "ckpt", config)


@pytest.fixture
def model(checkpoint, device_name):
    _experts_split(device_name)
    model = Mixtral.from_huggingface(
        checkpoint, device_name, strategy="accuracy", register_references=True, tensor_cache=False,
        max_batch_size=1, max_seq_len=64, progress=False,
    )  # fmt: skip
    yield model
    model.close()


def test_moe_block_has_the_hf_module_not_the_checkpoint_prefix(model):
    hf_layers = model.hf_reference.model.model.layers
    for index, layer in enumerate(model.layers):
        assert model.spec.checkpoint_layout.prefix(f"layers.{index}.ffn").endswith(".block_sparse_moe")
        assert layer.ffn.reference is hf_layers[index].mlp
        assert layer.attention.reference is hf_layers[index].self_attn
        assert layer.reference is hf_layers[index]


def test_debug_mode_compares_every_module_with_hf(model):
    with debug_mode(model, thresholds=PCC, print_report=False) as report:
        model.generate([PROMPT], max_new_tokens=3)
    assert report.first_failure is None, report.format_table()
    compared = {(row.module_path, row.method) for row in report.rows if row.pcc is not None}
    for index in range(TINY["num_hidden_layers"]):
        assert (f"layers.{index}.ffn", "forward_prefill") in compared
        assert (f"layers.{index}.ffn", "forward_decode") in compared


def test_suite_catches_a_wrong_moe_block(model, checkpoint):
    # Layer 0's MoE block gets layer 1's weights: its HF reference (layer 0's mlp) must catch it.
    from safetensors.torch import load_file

    layout = model.spec.checkpoint_layout
    prefix = layout.prefix("layers.1.ffn") + "."
    tensors = load_file(checkpoint / "model.safetensors")
    model.layers[0].ffn.load_weights(
        {layout.block_key("ffn", k[len(prefix) :]): v for k, v in tensors.items() if k.startswith(prefix)}
    )
    suite = TestSuite(model, verbose=False)
    suite.add_case(model.layers[0].ffn.forward_prefill).with_inputs(
        trace_fn=lambda: model.prefill_forward([PROMPT])
    ).expect_pcc(PCC)
    with pytest.raises(AssertionError, match=r"layers\.0\.ffn::forward_prefill"):
        suite.run()
