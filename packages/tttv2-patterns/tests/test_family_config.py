"""HF config -> spec helpers: what they map (checked against transformers) and the named error on what they cannot."""

from __future__ import annotations

import json

import pytest
from _family import TINY_LLAMA, TinyLlama, copy_folder, write_tiny_llama, write_tiny_tokenizer
from tttv2_patterns.family import CheckpointError, ConfigError, HFConfig, UnmappedModuleError
from tttv2_patterns.family.hf_specs import activation, layer_types, rope_spec, sliding_window

BASE = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    **{k: v for k, v in TINY_LLAMA.items() if v is not None},
}
LLAMA31_ROPE_SCALING = {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}


def _spec(config: dict):
    return TinyLlama.spec_from_hf_config(config, max_batch_size=1, max_seq_len=64, check_modules=False)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"rms_norm_eps": "abc"}, "rms_norm_eps"),
        ({"hidden_act": "mish"}, "hidden_act"),
        ({"num_attention_heads": 0}, "num_attention_heads"),
        ({"num_attention_heads": "4"}, "num_attention_heads"),
        ({"num_key_value_heads": 3}, "num_key_value_heads"),
        ({"eos_token_id": "</s>"}, "eos_token_id"),
        ({"tie_word_embeddings": "false"}, "tie_word_embeddings"),
        ({"hidden_size": None}, "hidden_size"),
        ({"rope_scaling": {"rope_type": "longrope", "factor": 2.0}}, "rope_scaling"),
        ({"rope_parameters": {"rope_type": "default", "rope_theta": -1}}, "rope_theta"),
        ({"architectures": ["LlamaForSequenceClassification"]}, "architectures"),
        ({"model_type": "gpt2"}, "model_type"),
        ({"quantization_config": {"quant_method": "gptq"}}, "quantization_config"),
        ({"layer_types": ["full_attention"]}, "layer_types"),
    ],
)
def test_a_value_the_kit_cannot_map_is_a_named_error_with_its_key(changes, key):
    config = {**BASE, **changes}
    with pytest.raises(ConfigError) as error:
        _spec(config)
        HFConfig(config).eos_token_ids  # noqa: B018 - read by the factory, not by the spec
    assert key in str(error.value)
    assert error.value.key is not None and key in error.value.key
    assert isinstance(error.value, CheckpointError)  # one family of errors for a bad folder


def test_unknown_activation_lists_the_supported_ones():
    with pytest.raises(
        ConfigError, match=r"'mish' has no TTTv2 FeedForward equivalent; supported: \[.*'silu'"
    ):
        activation(HFConfig({**BASE, "hidden_act": "mish"}))


def _transformers_config(**kwargs):
    from transformers import LlamaConfig  # noqa: PLC0415

    values = {k: v for k, v in BASE.items() if k not in ("model_type", "architectures")}
    return LlamaConfig(**{**values, **kwargs})


def test_rope_of_both_spellings_matches_transformers_inv_freq():
    import torch  # noqa: PLC0415
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: PLC0415

    legacy = {
        **BASE,
        "rope_theta": 500000.0,
        "rope_scaling": LLAMA31_ROPE_SCALING,
        "max_position_embeddings": 131072,
    }
    hf = _transformers_config(
        max_position_embeddings=131072, rope_theta=500000.0, rope_scaling=dict(LLAMA31_ROPE_SCALING)
    )
    written = {**hf.to_dict(), "architectures": ["LlamaForCausalLM"]}  # transformers 5: rope_parameters
    assert "rope_parameters" in written
    expected, _ = ROPE_INIT_FUNCTIONS["llama3"](hf, "cpu")
    for config in (legacy, written):
        spec = rope_spec(HFConfig(config))
        assert spec.theta == 500000.0 and spec.scaling.kind == "llama3"
        torch.testing.assert_close(spec.inv_freq(), expected.float(), rtol=1e-6, atol=0)


def test_rope_per_layer_type_gets_each_types_theta():
    # transformers-5 Gemma 3 layout: one rope dict per layer type (the theta-10000 bug of issue 12).
    config = HFConfig(
        {
            **BASE,
            "num_hidden_layers": 6,
            "sliding_window": 4,
            "layer_types": ["sliding_attention"] * 5 + ["full_attention"],
            "rope_parameters": {
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
            },
        }
    )
    assert rope_spec(config, "full_attention").theta == 1000000.0
    assert rope_spec(config, "full_attention").scaling.factor == 8.0
    assert rope_spec(config, "sliding_attention").theta == 10000.0
    assert rope_spec(config, "sliding_attention").scaling is None
    assert [sliding_window(config, i) for i in range(6)] == [4] * 5 + [None]


def test_sliding_window_patterns():
    mistral = HFConfig({**BASE, "sliding_window": 8})
    assert layer_types(mistral) == ("sliding_attention",) * 2
    qwen2_off = HFConfig({**BASE, "sliding_window": 8, "use_sliding_window": False})
    assert layer_types(qwen2_off) == ("full_attention",) * 2
    gemma_legacy = HFConfig(
        {**BASE, "num_hidden_layers": 6, "sliding_window": 4, "sliding_window_pattern": 3}
    )
    assert layer_types(gemma_legacy) == ("sliding_attention", "sliding_attention", "full_attention") * 2


def test_spec_from_a_transformers_config_alone_needs_no_checkpoint():
    spec = TinyLlama.spec_from_hf_config(_transformers_config(), max_batch_size=2, max_seq_len=32)
    assert spec.checkpoint is None
    assert len(spec.layers) == 2 and spec.layers[0].attention.num_kv_heads == 2
    assert spec.max_batch_size == 2 and spec.max_seq_len == 32


def test_unmapped_hf_module_is_named():
    class NoNorms(TinyLlama):
        hf_modules = {k: v for k, v in TinyLlama.hf_modules.items() if k != "LlamaRMSNorm"}

    with pytest.raises(UnmappedModuleError, match=r"model\.layers\.0\.input_layernorm \(LlamaRMSNorm\)"):
        NoNorms.spec_from_hf_config(BASE, max_batch_size=1, max_seq_len=32)


def test_device_none_is_named(tmp_path):
    folder = write_tiny_llama(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="device: expected a catalog name .* got None"):
        TinyLlama.from_huggingface(folder, device=None)


def test_corrupt_tokenizer_json_is_named(tmp_path, device_name):
    folder = write_tiny_llama(tmp_path / "ckpt")
    write_tiny_tokenizer(folder)
    (folder / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"the tokenizer \(tokenizer\.json.*\) cannot be loaded"):
        TinyLlama.from_huggingface(folder, device_name, max_batch_size=1, max_seq_len=32, progress=False)


def test_config_json_that_is_not_an_object(tmp_path):
    folder = copy_folder(write_tiny_llama(tmp_path / "ckpt"), tmp_path / "copy")
    (folder / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        TinyLlama.from_huggingface(folder, "N150")
