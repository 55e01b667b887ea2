"""HF Llama modules -> TTTv2 blocks and patterns: the module-type check and the ``CausalLMSpec``.

The mapping (HF class -> TTTv2 spec), checked on the HF module tree so that a checkpoint whose
modules we cannot run fails with the module's path and class instead of running wrong math::

    LlamaForCausalLM                      CausalLMSpec
      model.embed_tokens   Embedding        .embedding   EmbeddingSpec
      model.layers[i]      LlamaDecoderLayer .layers[i]  DecoderLayerSpec (pre-norm)
        self_attn          LlamaAttention      .attention       AttentionSpec (GQA; RoPE incl. llama3 scaling)
        mlp                LlamaMLP            .ffn             FeedForwardSpec (SwiGLU: gated, act from hidden_act)
        input_layernorm    LlamaRMSNorm        .attention_norm  RMSNormSpec
        post_attention_layernorm LlamaRMSNorm  .ffn_norm        RMSNormSpec
      model.norm           LlamaRMSNorm     .final_norm  RMSNormSpec
      model.rotary_emb     LlamaRotaryEmbedding  (part of every AttentionSpec.rope)
      lm_head              Linear           .lm_head     LMHeadSpec (tied to the embedding when the config says)
"""

from __future__ import annotations

from tttv2_blocks import (
    AttentionSpec,
    EmbeddingSpec,
    FeedForwardSpec,
    LMHeadSpec,
    RMSNormSpec,
    RopeScaling,
    RopeSpec,
)
from tttv2_patterns import CausalLMSpec, DecoderLayerSpec

from tttv2_llama3.hf_config import LlamaCheckpointConfig

# HF module class name -> the TTTv2 spec it becomes. Children of a mapped block (its Linear
# projections, its activation) are part of that block and need no entry of their own.
BLOCK_MAPPING: dict[str, str] = {
    "LlamaAttention": "AttentionSpec",
    "LlamaMLP": "FeedForwardSpec",
    "LlamaRMSNorm": "RMSNormSpec",
    "Embedding": "EmbeddingSpec",
}
# Modules that only hold others (or, like the rotary embedding, fold into a block's spec).
CONTAINER_MAPPING: dict[str, str] = {
    "LlamaForCausalLM": "CausalLMSpec",
    "LlamaModel": "CausalLMSpec (embedding, layers, final_norm)",
    "ModuleList": "CausalLMSpec.layers",
    "LlamaDecoderLayer": "DecoderLayerSpec",
    "LlamaRotaryEmbedding": "AttentionSpec.rope (RopeSpec)",
}
# HF ``hidden_act`` -> FeedForwardSpec.activation (ACT2FN names; the gated LlamaMLP makes it a GLU).
ACTIVATIONS: dict[str, str] = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
    "relu": "relu",
}
LM_HEAD_PATH = "lm_head"


class UnmappedModuleError(ValueError):
    """An HF module (or setting) that no TTTv2 block implements; the message names each one."""


def check_module_mapping(hf_model, hidden_act: str = "silu") -> dict[str, str]:
    """Every module of ``hf_model`` must map to a TTTv2 block or pattern.

    Args:
        hf_model: an HF ``LlamaForCausalLM`` (built on the ``meta`` device is enough: no weights needed).
        hidden_act: the config's ``hidden_act``, the activation of every ``LlamaMLP``.

    Returns:
        HF module path -> the TTTv2 spec it maps to (blocks and containers).

    Raises:
        UnmappedModuleError: listing every module without a mapping, with its path and class, and
            the mapped classes.
    """
    mapped: dict[str, str] = {}
    problems: list[str] = []
    block_prefixes: list[str] = []
    for path, module in hf_model.named_modules():
        name = type(module).__name__
        if any(path.startswith(prefix) for prefix in block_prefixes):
            continue  # a projection/activation inside a mapped block
        if path == LM_HEAD_PATH and name == "Linear":
            mapped[path] = "LMHeadSpec"
        elif name in BLOCK_MAPPING:
            mapped[path] = BLOCK_MAPPING[name]
            block_prefixes.append(f"{path}.")
            if name == "LlamaMLP" and hidden_act not in ACTIVATIONS:
                act = type(getattr(module, "act_fn", None)).__name__
                problems.append(
                    f"{path}.act_fn ({act}, hidden_act={hidden_act!r}): FeedForward supports hidden_act "
                    f"{sorted(ACTIVATIONS)}"
                )
        elif name in CONTAINER_MAPPING or path == "":
            mapped[path or "<root>"] = CONTAINER_MAPPING.get(name, name)
        else:
            problems.append(f"{path} ({name})")
    if problems:
        known = sorted({*BLOCK_MAPPING, *CONTAINER_MAPPING, "Linear (lm_head)"})
        raise UnmappedModuleError(
            f"{type(hf_model).__name__}: {len(problems)} HF module(s) have no TTTv2 mapping: "
            + "; ".join(problems)
            + f". Mapped HF module types: {known}"
        )
    return mapped


def meta_hf_model(config: LlamaCheckpointConfig):
    """The HF ``LlamaForCausalLM`` of ``config`` on the ``meta`` device (structure only, no memory)."""
    import torch  # noqa: PLC0415 - transformers is heavy; only imported when a model is mapped
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    hf_config = LlamaConfig(**{k: v for k, v in config.raw.items() if k not in ("architectures", "dtype")})
    with torch.device("meta"):
        return LlamaForCausalLM(hf_config)


def rope_spec(config: LlamaCheckpointConfig) -> RopeSpec:
    """RoPE of every layer: theta, scaling (linear / llama3 / yarn) and table length from the config."""
    scaling = RopeScaling.from_hf(config.rope_scaling) if config.rope_scaling else None
    return RopeSpec(
        head_dim=config.head_dim,
        theta=float(config.rope_theta),
        scaling=scaling,
        max_position_embeddings=config.max_position_embeddings,
    )


def decoder_layer_spec(config: LlamaCheckpointConfig) -> DecoderLayerSpec:
    """One LlamaDecoderLayer: pre-norm GQA attention and SwiGLU FFN."""
    dim, eps = config.hidden_size, config.rms_norm_eps
    hidden_act = config.raw.get("hidden_act", "silu")
    if hidden_act not in ACTIVATIONS:
        raise UnmappedModuleError(
            f"config hidden_act={hidden_act!r} (LlamaMLP.act_fn) has no TTTv2 FeedForward activation; "
            f"supported: {sorted(ACTIVATIONS)}"
        )
    return DecoderLayerSpec(
        attention=AttentionSpec(
            hidden_dim=dim,
            num_heads=config.num_attention_heads,
            num_kv_heads=config.num_key_value_heads,
            head_dim=config.head_dim,
            qkv_bias=config.attention_bias,  # Llama's attention_bias applies to q, k, v and o
            o_bias=config.attention_bias,
            rope=rope_spec(config),
        ),
        ffn=FeedForwardSpec(
            hidden_dim=dim,
            intermediate_dim=config.intermediate_size,
            activation=ACTIVATIONS[hidden_act],
            gated=True,
            bias=config.mlp_bias,
        ),
        attention_norm=RMSNormSpec(dim, eps),
        ffn_norm=RMSNormSpec(dim, eps),
    )


def llama_causal_lm_spec(
    config: LlamaCheckpointConfig, *, max_batch_size: int, max_seq_len: int
) -> CausalLMSpec:
    """The ``CausalLMSpec`` of a Llama-family checkpoint (no weights attached).

    Args:
        config: the checkpoint's config.
        max_batch_size: users decoded together (1..32).
        max_seq_len: prompt + generated tokens per user; sizes the KV cache.
    """
    if not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise ValueError(f"max_seq_len must be a positive int, got {max_seq_len!r}")
    if max_seq_len > config.max_position_embeddings:
        raise ValueError(
            f"max_seq_len={max_seq_len} is longer than the checkpoint's context "
            f"(max_position_embeddings={config.max_position_embeddings})"
        )
    dim, eps = config.hidden_size, config.rms_norm_eps
    spec = CausalLMSpec(
        embedding=EmbeddingSpec(config.vocab_size, dim),
        layers=[decoder_layer_spec(config) for _ in range(config.num_hidden_layers)],
        final_norm=RMSNormSpec(dim, eps),
        lm_head=LMHeadSpec(dim, config.vocab_size),
        tie_word_embeddings=config.tie_word_embeddings,
        max_batch_size=max_batch_size,
        max_seq_len=max_seq_len,
    )
    spec.validate()
    return spec
