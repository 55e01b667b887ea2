"""Mistral (sliding window) vs HF transformers fp32 on a tiny random checkpoint.

PCC bar 0.9999 (the issue's target for the accuracy strategy, see tttv2_testing.hf.parity). The window (6) is
shorter than the 20-token prompt, so attending to everything measurably changes the logits.
"""

from __future__ import annotations

import dataclasses

import pytest
from tttv2_mistral import Mistral
from tttv2_testing.hf.parity import PCC, family_parity, write_tiny

TINY = dict(
    vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=32, max_position_embeddings=256, rms_norm_eps=1e-6,
    sliding_window=6, eos_token_id=None, pad_token_id=None, tie_word_embeddings=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformers import MistralConfig

    config = MistralConfig(**TINY)
    config.architectures = ["MistralForCausalLM"]
    return write_tiny(tmp_path_factory.mktemp("mistral") / "ckpt", config)


def test_mistral_matches_hf(checkpoint, device_name):
    lowest, greedy_equal = family_parity(Mistral, checkpoint, device_name)
    assert lowest >= PCC, f"lowest logits PCC {lowest:.6f} < {PCC}"
    assert greedy_equal


def test_sliding_window_is_needed(checkpoint, device_name, monkeypatch):
    original = Mistral.__dict__["layer_spec"]

    def layer_spec(cls, config, index):
        spec = original.__func__(cls, config, index)
        return dataclasses.replace(spec, attention=dataclasses.replace(spec.attention, sliding_window=None))

    monkeypatch.setattr(Mistral, "layer_spec", classmethod(layer_spec))
    lowest, _ = family_parity(Mistral, checkpoint, device_name)
    assert lowest < PCC, f"sliding window off still gives PCC {lowest:.6f}"
