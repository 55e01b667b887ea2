"""config.json parsing: both RoPE spellings, GQA head checks, clear errors."""

from __future__ import annotations

import pytest
from transformers import LlamaConfig
from tttv2_llama3 import CheckpointError, LlamaCheckpointConfig

# The rope_scaling block of Meta's Llama 3.1/3.2/3.3 config.json files.
LLAMA31_ROPE_SCALING = {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}
BASE = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
}


def test_llama31_style_rope_theta_and_rope_scaling():
    config = LlamaCheckpointConfig.from_dict(
        {
            **BASE,
            "rope_theta": 500000.0,
            "rope_scaling": LLAMA31_ROPE_SCALING,
            "max_position_embeddings": 131072,
        }
    )
    assert config.rope_theta == 500000.0
    assert config.rope_type == "llama3"
    assert config.rope_scaling["factor"] == 8.0
    assert config.rope_scaling["original_max_position_embeddings"] == 8192


def test_transformers5_style_rope_parameters_match_what_transformers_writes():
    # transformers >= 5 turns rope_theta + rope_scaling into one rope_parameters dict; both must parse alike.
    written = LlamaConfig(
        **{k: v for k, v in BASE.items() if k not in ("model_type", "architectures")},
        max_position_embeddings=131072,
        rope_theta=500000.0,
        rope_scaling=dict(LLAMA31_ROPE_SCALING),  # transformers adds rope_theta to the dict it is given
    ).to_dict()
    config = LlamaCheckpointConfig.from_dict({**written, "architectures": ["LlamaForCausalLM"]})
    assert config.rope_theta == 500000.0
    assert config.rope_scaling == LLAMA31_ROPE_SCALING


def test_default_rope_means_no_scaling():
    config = LlamaCheckpointConfig.from_dict(
        {**BASE, "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}}
    )
    assert (config.rope_theta, config.rope_scaling, config.rope_type) == (100000.0, None, "default")


def test_unsupported_rope_type():
    with pytest.raises(CheckpointError, match="unsupported RoPE type 'longrope'"):
        LlamaCheckpointConfig.from_dict({**BASE, "rope_scaling": {"rope_type": "longrope", "factor": 2.0}})


def test_eos_list_of_llama3_instruct():
    config = LlamaCheckpointConfig.from_dict({**BASE, "eos_token_id": [128001, 128008, 128009]})
    assert config.eos_token_ids == (128001, 128008, 128009)


def test_heads_not_multiple_of_kv_heads():
    with pytest.raises(
        CheckpointError, match="num_attention_heads=4 is not a multiple of num_key_value_heads=3"
    ):
        LlamaCheckpointConfig.from_dict({**BASE, "num_key_value_heads": 3})


def test_missing_required_key():
    config = dict(BASE)
    del config["intermediate_size"]
    with pytest.raises(CheckpointError, match=r"missing required keys \['intermediate_size'\]"):
        LlamaCheckpointConfig.from_dict(config)


def test_explicit_head_dim_wins():
    assert LlamaCheckpointConfig.from_dict({**BASE, "head_dim": 32}).head_dim == 32
