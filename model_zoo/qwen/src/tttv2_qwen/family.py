"""The Qwen family: what differs from Llama, the kit does the rest.

Qwen2 / Qwen2.5 (``Qwen2ForCausalLM``): q/k/v projections carry biases, o_proj does not; layers
above ``max_window_layers`` may use a sliding window (``layer_types``, read by the kit).
Qwen3 (``Qwen3ForCausalLM``): per-head RMSNorm of q and k before RoPE (``q_norm`` / ``k_norm``),
``attention_bias`` (default off) on q, k, v and o.
"""

from __future__ import annotations

from tttv2_patterns import DecoderLayerSpec
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.hf_specs import attention_spec, feed_forward_spec, rms_norm_spec
from tttv2_patterns.family.impl_defaults import exact_weights_overrides, ffn_gate_up_overrides


class Qwen(ModelFactory):
    """Qwen2, Qwen2.5 and Qwen3 dense models."""

    name = "qwen"
    architectures = ("Qwen2ForCausalLM", "Qwen3ForCausalLM")
    model_types = ("qwen2", "qwen3")
    hf_modules = {
        f"{prefix}{part}": spec
        for prefix in ("Qwen2", "Qwen3")
        for part, spec in {
            "DecoderLayer": "DecoderLayerSpec",
            "Attention": "AttentionSpec",
            "MLP": "FeedForwardSpec",
            "RMSNorm": "RMSNormSpec",
            "Model": "CausalLMSpec",
        }.items()
    }

    @classmethod
    def layer_spec(cls, config, index):
        if config.model_type == "qwen3":
            bias = config.bool("attention_bias")
            attention = attention_spec(
                config,
                index,
                qkv_bias=bias,
                o_bias=bias,
                qk_norm=True,
                qk_norm_eps=config.float("rms_norm_eps", 1e-6, positive=True),
            )
        else:  # Qwen2 / 2.5: biases on q, k, v only (hard-wired in HF's Qwen2Attention)
            attention = attention_spec(config, index, qkv_bias=True, o_bias=False)
        return DecoderLayerSpec(
            attention=attention,
            ffn=feed_forward_spec(config),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )

    @classmethod
    def impl_overrides(cls, impl_config, spec, device, strategy):
        """As llama3: bfloat4_b gate/up loses top-1 agreement (TTTv1 itself runs Qwen2.5-7B with
        "BFP8 MLP"), so the performance strategy keeps gate/up in bfloat8_b."""
        if strategy == "accuracy":
            exact_weights_overrides(impl_config)
        else:
            ffn_gate_up_overrides(impl_config)
