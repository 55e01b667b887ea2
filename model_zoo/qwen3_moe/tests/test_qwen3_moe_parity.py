"""Qwen3-MoE vs HF transformers fp32 on a tiny random checkpoint, and one test per distinguishing feature.

PCC bar 0.9999 (the issue's target for the accuracy strategy, see tttv2_testing.hf.parity). The tiny model has 8
experts, top 2, one dense layer (``mlp_only_layers``) between MoE layers, QK-norm; each feature
switched off must fail: wrong top-k, renormalisation flipped, the dense layer mapped as MoE (its
tensors do not fit), QK-norm dropped (its weights go unused). Routing flips from a near-tie are
reported with the router margin, not hidden.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tttv2_patterns.family import CheckpointError
from tttv2_qwen3_moe import Qwen3Moe
from tttv2_testing.hf.parity import PCC, family_parity, write_tiny

TINY = dict(
    vocab_size=256, hidden_size=64, intermediate_size=96, moe_intermediate_size=64, num_hidden_layers=3,
    num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_experts=8, num_experts_per_tok=2,
    norm_topk_prob=True, mlp_only_layers=[1], decoder_sparse_step=1, max_position_embeddings=256,
    rms_norm_eps=1e-6, eos_token_id=None, pad_token_id=None, tie_word_embeddings=False,
)  # fmt: skip


def _checkpoint(folder, **changes):
    from transformers import Qwen3MoeConfig

    config = Qwen3MoeConfig(**{**TINY, **changes})
    config.architectures = ["Qwen3MoeForCausalLM"]
    return write_tiny(folder, config)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("qwen3_moe") / "ckpt")


def _experts_split(device_name):
    from tttv2_hwconfig import device_spec

    devices = device_spec(device_name).num_chips
    if TINY["num_experts"] % devices:
        pytest.skip(f"{TINY['num_experts']} experts do not split over the {devices} devices of {device_name}")


def test_checkpoint_has_per_expert_keys_and_one_dense_layer(checkpoint):
    from safetensors import safe_open

    with safe_open(checkpoint / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert "model.layers.0.mlp.experts.7.down_proj.weight" in keys
    assert "model.layers.1.mlp.gate_proj.weight" in keys and "model.layers.1.mlp.gate.weight" not in keys
    spec = Qwen3Moe.spec_from_hf_config(checkpoint / "config.json", max_batch_size=1, max_seq_len=64)
    assert [type(layer.ffn).__name__ for layer in spec.layers] == ["MoESpec", "FeedForwardSpec", "MoESpec"]


def test_qwen3_moe_matches_hf(checkpoint, device_name):
    _experts_split(device_name)
    lowest, greedy_equal = family_parity(Qwen3Moe, checkpoint, device_name)
    print(
        f"qwen3_moe {device_name}: lowest logits PCC {lowest:.6f}, router margins {router_margins(checkpoint)}"
    )
    assert lowest >= PCC, (
        f"lowest logits PCC {lowest:.6f} < {PCC} (router margins: {router_margins(checkpoint)})"
    )
    assert greedy_equal


def router_margins(folder) -> list[float]:
    """Smallest k-th minus (k+1)-th router probability per MoE layer over the prompt (HF fp32)."""
    from transformers import AutoModelForCausalLM
    from tttv2_testing.hf.parity import PROMPT

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    margins, k = [], TINY["num_experts_per_tok"]
    hooks = [
        layer.mlp.gate.register_forward_hook(lambda _m, args, _out: margins.append(_margin(_m, args[0], k)))
        for layer in model.model.layers
        if hasattr(layer.mlp, "gate")
        and hasattr(layer.mlp.gate, "weight")
        and layer.mlp.gate.weight.shape[0] > 1
    ]
    with torch.inference_mode():
        model(input_ids=torch.tensor([PROMPT]))
    for hook in hooks:
        hook.remove()
    return margins


def _margin(gate, x, k) -> float:
    probs = torch.softmax(x.reshape(-1, x.shape[-1]) @ gate.weight.T, dim=-1)
    top = probs.topk(k + 1, dim=-1).values
    return float((top[:, k - 1] - top[:, k]).min())


ORIGINAL_LAYER = Qwen3Moe.__dict__["layer_spec"]


def _replace_ffn(**changes):
    def layer_spec(cls, config, index):
        spec = ORIGINAL_LAYER.__func__(cls, config, index)
        if type(spec.ffn).__name__ != "MoESpec":
            return spec
        return dataclasses.replace(spec, ffn=dataclasses.replace(spec.ffn, **changes))

    return classmethod(layer_spec)


@pytest.mark.parametrize("change", [{"top_k": 1}, {"renormalize": False}], ids=["top_k", "renormalize"])
def test_each_routing_feature_is_needed(checkpoint, device_name, monkeypatch, change):
    _experts_split(device_name)
    monkeypatch.setattr(Qwen3Moe, "layer_spec", _replace_ffn(**change))
    lowest, _ = family_parity(Qwen3Moe, checkpoint, device_name)
    assert lowest < PCC, f"{change}: PCC {lowest:.6f} still passes, the test cannot see it"


def test_dense_layers_and_qk_norm_are_needed(checkpoint, device_name, monkeypatch):
    _experts_split(device_name)
    from tttv2_qwen3_moe import family

    monkeypatch.setattr(family, "is_sparse_layer", lambda config, index: True)
    with pytest.raises(CheckpointError, match="layers.1"):
        family_parity(Qwen3Moe, checkpoint, device_name)
    monkeypatch.undo()

    def no_qk_norm(cls, config, index):
        spec = ORIGINAL_LAYER.__func__(cls, config, index)
        return dataclasses.replace(spec, attention=dataclasses.replace(spec.attention, qk_norm=False))

    monkeypatch.setattr(Qwen3Moe, "layer_spec", classmethod(no_qk_norm))
    with pytest.raises(CheckpointError, match="q_norm.weight"):
        family_parity(Qwen3Moe, checkpoint, device_name)
