"""Tiny HF Llama folders written by transformers itself, and a test family mapping them with the kit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tttv2_patterns import DecoderLayerSpec, model_families
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.hf_specs import attention_spec, feed_forward_spec, rms_norm_spec

# GQA (4 query, 2 kv heads), head_dim 16; EOS None so random weights generate full lengths.
TINY_LLAMA = dict(
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=None,
    pad_token_id=None,
)

# TINY_LLAMA as a config.json reads, for the predictions (shapes only) of tests/test_predict*.
TINY_LLAMA_CONFIG = {**TINY_LLAMA, "architectures": ["LlamaForCausalLM"], "model_type": "llama"}


def write_tiny_llama(folder: Path, *, max_shard_size: str | None = None, seed: int = 0, **overrides) -> Path:
    """``save_pretrained`` of a random tiny ``LlamaForCausalLM`` (norms randomised so they matter)."""
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter))
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(folder, safe_serialization=True, **kwargs)
    return folder


TINY_WORDS = ("<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>") + tuple(
    "what is the capital of france paris write a haiku about sea hello world".split()
)
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def write_tiny_tokenizer(folder: Path) -> None:
    """A word-level tokenizer with a chat template, built offline with the tokenizers library."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(TINY_WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(list(TINY_WORDS[:5]))
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    wrapped.chat_template = TINY_CHAT_TEMPLATE
    wrapped.save_pretrained(folder)


def copy_folder(folder: Path, target: Path) -> Path:
    return Path(shutil.copytree(folder, target))


class TinyLlama(ModelFactory):
    """A test family: the kit's helpers over LlamaForCausalLM (not the zoo's llama3, which core cannot import)."""

    name = "tiny-llama"
    architectures = ("LlamaForCausalLM",)
    model_types = ("llama",)
    hf_modules = {
        "LlamaDecoderLayer": "DecoderLayerSpec",
        "LlamaAttention": "AttentionSpec",
        "LlamaMLP": "FeedForwardSpec",
        "LlamaRMSNorm": "RMSNormSpec",
        "LlamaModel": "CausalLMSpec",
    }

    @classmethod
    def layer_spec(cls, config, index):
        return DecoderLayerSpec(
            attention=attention_spec(config, index),
            ffn=feed_forward_spec(config),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )


@pytest.fixture
def tiny_family_only(monkeypatch):
    """Config lookups (``model_families.family_for``) find only :class:`TinyLlama`, not the installed zoo."""
    monkeypatch.setattr(model_families, "_all_factories", lambda: [TinyLlama])
