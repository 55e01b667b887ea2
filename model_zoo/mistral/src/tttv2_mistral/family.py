"""The Mistral family: Llama's layer with a sliding attention window (``sliding_window``; ``null``
in Mistral 7B v0.2+ means full attention). The kit reads the window per layer."""

from __future__ import annotations

from tttv2_patterns import DecoderLayerSpec
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.hf_specs import attention_spec, feed_forward_spec, rms_norm_spec
from tttv2_patterns.family.impl_defaults import exact_weights_overrides, ffn_gate_up_overrides


class Mistral(ModelFactory):
    """``MistralForCausalLM`` (Mistral 7B v0.1-v0.3, Ministral-style dense models)."""

    name = "mistral"
    architectures = ("MistralForCausalLM",)
    model_types = ("mistral",)
    hf_modules = {
        "MistralDecoderLayer": "DecoderLayerSpec",
        "MistralAttention": "AttentionSpec",
        "MistralMLP": "FeedForwardSpec",
        "MistralRMSNorm": "RMSNormSpec",
        "MistralModel": "CausalLMSpec",
    }

    @classmethod
    def layer_spec(cls, config, index):
        return DecoderLayerSpec(
            attention=attention_spec(config, index),  # window from sliding_window / layer_types
            ffn=feed_forward_spec(config),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )

    @classmethod
    def impl_overrides(cls, impl_config, spec, device, strategy):
        """As llama3 (measured there): bfloat8_b gate/up for performance, exact weights for accuracy."""
        if strategy == "accuracy":
            exact_weights_overrides(impl_config)
        else:
            ffn_gate_up_overrides(impl_config)
