"""Gemma 3 text vs HF transformers fp32 on a tiny random checkpoint, and one test per feature.

PCC bar 0.9999, the issue's target (``tttv2_testing.hf.parity.PCC``), over prefill + 8 decode steps
with the accuracy strategy. ``query_pre_attn_scalar`` is 42 for head_dim 32: the ratio of Gemma 3 27B
(168 / 128), the only release where it differs from head_dim (the others: 256 / 256). It used to be
16 (ratio 0.5, a softmax sqrt(2) x sharper than 1/sqrt(head_dim), which no Gemma release has): that
doubled the effect of the bfloat16 scores SDPA forces and put the lowest PCC at 0.99986; README
"Tests" has the measurements. A feature switched off measures far below the bar.
Norm weights are centred on 0 (Gemma stores w and uses 1 + w), so reading them as plain w shows.
"""

from __future__ import annotations

import dataclasses

import pytest
from tttv2_gemma3 import Gemma3
from tttv2_patterns.family import CheckpointError
from tttv2_testing.hf.parity import PCC, family_parity, write_tiny

TINY = dict(
    vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=6, num_attention_heads=4,
    num_key_value_heads=2, head_dim=32, max_position_embeddings=256, rms_norm_eps=1e-6,
    query_pre_attn_scalar=42, sliding_window=6, eos_token_id=None, pad_token_id=None,
    rope_parameters={
        "sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
        "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformers import Gemma3TextConfig

    config = Gemma3TextConfig(**TINY)
    config.architectures = ["Gemma3ForCausalLM"]
    return write_tiny(tmp_path_factory.mktemp("gemma3") / "ckpt", config, norm_center=0.0)


def test_gemma3_matches_hf(checkpoint, device_name):
    lowest, greedy_equal = family_parity(Gemma3, checkpoint, device_name)
    assert lowest >= PCC, f"lowest logits PCC {lowest:.6f} < {PCC}"
    assert greedy_equal


def _layer(change):
    def layer_spec(cls, config, index):
        return change(ORIGINAL_LAYER.__func__(cls, config, index), index)

    return classmethod(layer_spec)


ORIGINAL_LAYER = Gemma3.__dict__["layer_spec"]
ORIGINAL_PARTS = Gemma3.__dict__["model_parts"]


def _attention(**changes):
    return _layer(
        lambda spec, i: dataclasses.replace(spec, attention=dataclasses.replace(spec.attention, **changes))
    )


def _no_sandwich(spec, index):
    return dataclasses.replace(spec, post_attention_norm=None, post_ffn_norm=None)


def _norm_offset(spec, index):
    plain = dataclasses.replace(spec.attention_norm, weight_offset=0.0)
    return dataclasses.replace(
        spec, attention_norm=plain, ffn_norm=plain, post_attention_norm=plain, post_ffn_norm=plain
    )


def _global_theta_everywhere(spec, index):
    rope = dataclasses.replace(spec.attention.rope, theta=1000000.0)
    return dataclasses.replace(spec, attention=dataclasses.replace(spec.attention, rope=rope))


def _unscaled_embedding(cls, config):
    parts = ORIGINAL_PARTS.__func__(cls, config)
    return {**parts, "embedding": dataclasses.replace(parts["embedding"], scale=1.0)}


FEATURES_OFF = {
    "sandwich_norms": ("layer_spec", _layer(_no_sandwich)),
    "one_plus_w_norms": ("layer_spec", _layer(_norm_offset)),
    "qk_norm": ("layer_spec", _attention(qk_norm=False)),
    "qk_norm_one_plus_w": ("layer_spec", _attention(qk_norm_weight_offset=0.0)),
    "gelu_tanh": ("layer_spec", _layer(lambda s, i: dataclasses.replace(s, ffn=dataclasses.replace(s.ffn, activation="silu")))),
    "sliding_window": ("layer_spec", _attention(sliding_window=None)),
    "per_layer_rope_theta": ("layer_spec", _layer(_global_theta_everywhere)),
    "query_pre_attn_scalar": ("layer_spec", _attention(scale=None)),
    "embed_scale": ("model_parts", classmethod(_unscaled_embedding)),
}  # fmt: skip


WEIGHTED = {"qk_norm": "q_norm.weight", "sandwich_norms": "post_feedforward_layernorm.weight"}


@pytest.mark.parametrize("feature", sorted(FEATURES_OFF))
def test_each_feature_is_needed(checkpoint, device_name, monkeypatch, feature):
    """The mapping with ``feature`` switched off no longer reaches the parity bar."""
    attribute, replacement = FEATURES_OFF[feature]
    monkeypatch.setattr(Gemma3, attribute, replacement)
    if feature in WEIGHTED:  # dropping a module with weights leaves checkpoint tensors unused: refused
        with pytest.raises(CheckpointError, match=WEIGHTED[feature]):
            family_parity(Gemma3, checkpoint, device_name)
        return
    lowest, _ = family_parity(Gemma3, checkpoint, device_name)
    assert lowest < PCC, f"{feature} off still gives PCC {lowest:.6f}: the test cannot see it"
