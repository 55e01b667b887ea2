"""The Mixtral family: Mistral attention with 8 top-2 routed experts; the kit does the rest.

MixtralForCausalLM                               CausalLMSpec
  model.layers[i].self_attn                      .attention  AttentionSpec (GQA; sliding window if set)
  model.layers[i].block_sparse_moe               .ffn        MoESpec (softmax over the top-k logits =
                                                             softmax over all, keep top-k, renormalise)
Checkpoints spell the experts ``experts.<e>.w1 / w3 / w2`` (gate / up / down); the layout renames
those key components to the MoE block's ``gate_proj / up_proj / down_proj``. HF transformers 5 fuses
them in memory (``experts.gate_up_proj``) and writes them back per expert on ``save_pretrained``; its
MoE module is ``mlp`` (``hf_module_names``: where the per-module HF references are found).
"""

from __future__ import annotations

from tttv2_patterns import DecoderLayerSpec
from tttv2_patterns.checkpoint_layout import CheckpointLayout
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.hf_specs import attention_spec, moe_spec, rms_norm_spec
from tttv2_patterns.family.impl_defaults import exact_weights_overrides

MIXTRAL_LAYOUT = CheckpointLayout(
    ffn="block_sparse_moe",
    key_renames=(("ffn", "w1", "gate_proj"), ("ffn", "w3", "up_proj"), ("ffn", "w2", "down_proj")),
    hf_module_names=(("ffn", "mlp"),),  # transformers 5 loads block_sparse_moe.* into the module mlp
)


class Mixtral(ModelFactory):
    """Mixtral 8x7B / 8x22B (``MixtralForCausalLM``)."""

    name = "mixtral"
    architectures = ("MixtralForCausalLM",)
    model_types = ("mixtral",)
    checkpoint_layout = MIXTRAL_LAYOUT
    hf_modules = {
        "MixtralDecoderLayer": "DecoderLayerSpec",
        "MixtralAttention": "AttentionSpec",
        "MixtralSparseMoeBlock": "MoESpec",
        "MixtralRMSNorm": "RMSNormSpec",
        "MixtralModel": "CausalLMSpec",
    }

    @classmethod
    def layer_spec(cls, config, index):
        return DecoderLayerSpec(
            attention=attention_spec(config, index),
            ffn=moe_spec(
                config,
                num_experts_key="num_local_experts",
                intermediate_key="intermediate_size",
                renormalize=True,
            ),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )

    @classmethod
    def impl_overrides(cls, impl_config, spec, device, strategy):
        """Accuracy: exact (bfloat16) expert and LM-head weights. Performance: the MoE block's
        defaults, TTTv1's Mixtral (bfloat4_b gate/up at LoFi, bfloat8_b down and router)."""
        if strategy == "accuracy":
            exact_weights_overrides(impl_config)
