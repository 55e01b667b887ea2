"""The Qwen3-MoE family: Qwen3 attention (QK-norm) with top-k routed experts; the kit does the rest.

Qwen3MoeForCausalLM                       CausalLMSpec
  model.layers[i].self_attn               .attention  AttentionSpec (GQA, per-head QK RMSNorm)
  model.layers[i].mlp  Qwen3MoeSparseMoeBlock .ffn    MoESpec (softmax over all experts, top-k,
                                                      renormalised when ``norm_topk_prob``)
                       Qwen3MoeMLP        .ffn        FeedForwardSpec on ``mlp_only_layers`` and
                                                      layers off the ``decoder_sparse_step`` grid
Checkpoints: per-expert keys ``mlp.experts.<e>.{gate,up,down}_proj.weight`` (what HF's
``save_pretrained`` writes; its in-memory fused ``experts.gate_up_proj`` is converted back on save)
are the MoE block's own keys, so the Llama checkpoint layout maps them unchanged.
"""

from __future__ import annotations

from tttv2_patterns import DecoderLayerSpec
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.hf_specs import (
    attention_spec,
    feed_forward_spec,
    moe_spec,
    num_experts_config_key,
    rms_norm_spec,
)
from tttv2_patterns.family.impl_defaults import exact_weights_overrides, ffn_gate_up_overrides


def is_sparse_layer(config, index: int) -> bool:
    """HF ``Qwen3MoeDecoderLayer``: experts unless the layer is in ``mlp_only_layers`` or off the step grid."""
    only_dense = config.get("mlp_only_layers") or []
    step = config.int("decoder_sparse_step", 1, minimum=1)
    experts = config.int(num_experts_config_key(config, ("num_experts", "num_local_experts")), minimum=0)
    return index not in only_dense and experts > 0 and (index + 1) % step == 0


class Qwen3Moe(ModelFactory):
    """Qwen3-MoE (``Qwen3MoeForCausalLM``), e.g. Qwen3-30B-A3B (128 experts, top 8)."""

    name = "qwen3_moe"
    architectures = ("Qwen3MoeForCausalLM",)
    model_types = ("qwen3_moe",)
    hf_modules = {
        "Qwen3MoeDecoderLayer": "DecoderLayerSpec",
        "Qwen3MoeAttention": "AttentionSpec",
        "Qwen3MoeSparseMoeBlock": "MoESpec",
        "Qwen3MoeMLP": "FeedForwardSpec",
        "Qwen3MoeRMSNorm": "RMSNormSpec",
        "Qwen3MoeModel": "CausalLMSpec",
    }

    @classmethod
    def layer_spec(cls, config, index):
        bias = config.bool("attention_bias")
        attention = attention_spec(
            config, index, qkv_bias=bias, o_bias=bias, qk_norm=True,
            qk_norm_eps=config.float("rms_norm_eps", 1e-6, positive=True),
        )  # fmt: skip
        return DecoderLayerSpec(
            attention=attention,
            ffn=moe_spec(config) if is_sparse_layer(config, index) else feed_forward_spec(config),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )

    @classmethod
    def impl_overrides(cls, impl_config, spec, device, strategy):
        """As qwen: exact (bfloat16) expert and LM-head weights for accuracy; bfloat8_b gate/up for performance."""
        if strategy == "accuracy":
            exact_weights_overrides(impl_config)
        else:
            ffn_gate_up_overrides(impl_config)
