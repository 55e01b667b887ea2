"""Tiny random HF Llama checkpoints and their TTTv2 spec (the test-side HF -> spec mapping)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from tttv2_blocks import AttentionSpec, EmbeddingSpec, FeedForwardSpec, LMHeadSpec, RMSNormSpec, RopeSpec
from tttv2_patterns import CausalLMSpec, DecoderLayerSpec

# Small enough for a 2-core CI machine, odd enough to catch padding bugs: vocab 499 is not a multiple
# of 32, 4 query heads over 2 KV heads is GQA, head_dim 32.
TINY = dict(
    vocab_size=499,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=False,
)


def tiny_llama(**overrides):
    """A float32 eval-mode LlamaForCausalLM with random weights (seeded by the caller)."""
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415 - heavy import

    # eos_token_id=None: HF generate must not stop early; our generate stops only when told to.
    config = LlamaConfig(**{**TINY, "eos_token_id": None, **overrides})
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # HF initialises norms to 1; random norms exercise the weight path
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter))
    return model


def save_tiny_llama(path, **overrides):
    model = tiny_llama(**overrides)
    model.save_pretrained(path, safe_serialization=True)
    return model


def read_config(checkpoint_dir) -> SimpleNamespace:
    """The HF ``config.json`` as attributes, without importing transformers (fast subprocesses)."""
    return SimpleNamespace(**json.loads((Path(checkpoint_dir) / "config.json").read_text()))


def llama_spec(config, *, max_batch_size: int = 4, max_seq_len: int = 128) -> CausalLMSpec:
    """The CausalLMSpec of an HF Llama config (every layer identical)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    hidden, eps = config.hidden_size, config.rms_norm_eps

    def layer() -> DecoderLayerSpec:
        return DecoderLayerSpec(
            attention=AttentionSpec(
                hidden_dim=hidden,
                num_heads=config.num_attention_heads,
                num_kv_heads=config.num_key_value_heads,
                head_dim=head_dim,
                rope=RopeSpec.from_hf_config(config, head_dim),
            ),
            ffn=FeedForwardSpec(
                hidden_dim=hidden, intermediate_dim=config.intermediate_size, activation="silu"
            ),
            attention_norm=RMSNormSpec(hidden, eps),
            ffn_norm=RMSNormSpec(hidden, eps),
        )

    return CausalLMSpec(
        embedding=EmbeddingSpec(config.vocab_size, hidden),
        layers=[layer() for _ in range(config.num_hidden_layers)],
        final_norm=RMSNormSpec(hidden, eps),
        lm_head=LMHeadSpec(hidden, config.vocab_size),
        tie_word_embeddings=bool(config.tie_word_embeddings),
        max_batch_size=max_batch_size,
        max_seq_len=max_seq_len,
    )
