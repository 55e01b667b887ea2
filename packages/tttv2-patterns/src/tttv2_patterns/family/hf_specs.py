"""HF config -> block specs: the pieces every family reuses, each refusing a value it cannot map.

A family's layer is a few calls::

    def layer_spec(config: HFConfig, index: int) -> DecoderLayerSpec:
        return DecoderLayerSpec(
            attention=attention_spec(config, index, qk_norm=True),
            ffn=feed_forward_spec(config),
            attention_norm=rms_norm_spec(config),
            ffn_norm=rms_norm_spec(config),
        )

    spec = causal_lm_spec(config, layer_spec, max_batch_size=8, max_seq_len=1024)

Every helper raises ``ConfigError`` (with the config key) on a value it cannot map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tttv2_blocks import (
    AttentionSpec,
    EmbeddingSpec,
    FeedForwardSpec,
    LMHeadSpec,
    MoESpec,
    RMSNormSpec,
    RopeScaling,
    RopeSpec,
)

from tttv2_patterns.family.hf_config import HFConfig
from tttv2_patterns.specs import CausalLMSpec, DecoderLayerSpec

# HF ``hidden_act`` (ACT2FN names) -> FeedForwardSpec.activation.
ACTIVATIONS: dict[str, str] = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
    "gelu_tanh": "gelu_tanh",
    "relu": "relu",
}
# RoPE types the blocks implement (RopeScaling kinds plus the unscaled "default").
ROPE_TYPES = ("default", "linear", "llama3", "yarn")
# transformers-5 ``layer_types`` values.
FULL_ATTENTION, SLIDING_ATTENTION = "full_attention", "sliding_attention"
LAYER_TYPES = (FULL_ATTENTION, SLIDING_ATTENTION)


def activation(config: HFConfig, key: str = "hidden_act", default: str = "silu") -> str:
    """The FFN activation of ``config[key]`` (Gemma uses ``hidden_activation``)."""
    name = config.str(key, default)
    if name not in ACTIVATIONS:
        raise config.error(
            key, f"activation {name!r} has no TTTv2 FeedForward equivalent; supported: {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def rms_norm_spec(
    config: HFConfig,
    dim: int | None = None,
    *,
    key: str = "rms_norm_eps",
    default_eps: float = 1e-6,
    weight_offset: float = 0.0,
) -> RMSNormSpec:
    """An RMSNorm over ``dim`` (default ``hidden_size``); ``weight_offset=1.0`` for Gemma's ``(1 + w)``."""
    eps = config.float(key, default_eps, positive=True)
    return RMSNormSpec(dim if dim is not None else config.hidden_size, eps, weight_offset=weight_offset)


def layer_types(config: HFConfig) -> tuple[str, ...]:
    """Per-layer attention type (``"full_attention"`` / ``"sliding_attention"``), one per layer.

    From transformers-5 ``layer_types`` when given; else Gemma-style ``sliding_window_pattern`` (every
    n-th layer global); else every layer sliding when ``sliding_window`` is set (Mistral) unless
    ``use_sliding_window`` is false (Qwen2); else every layer full.
    """
    count = config.num_hidden_layers
    given = config.get("layer_types")
    if given is not None:
        if not isinstance(given, list) or len(given) != count or any(t not in LAYER_TYPES for t in given):
            raise config.error(
                "layer_types",
                f"expected {count} entries (num_hidden_layers), each one of {LAYER_TYPES}, got {given!r}",
            )
        return tuple(given)
    if config.get("sliding_window_pattern") is not None:
        pattern = config.int("sliding_window_pattern", minimum=1)
        return tuple(FULL_ATTENTION if (i + 1) % pattern == 0 else SLIDING_ATTENTION for i in range(count))
    if config.get("sliding_window") is not None and config.bool("use_sliding_window", True):
        return (SLIDING_ATTENTION,) * count
    return (FULL_ATTENTION,) * count


def sliding_window(config: HFConfig, index: int) -> int | None:
    """The attention window of layer ``index`` (None for a global layer)."""
    if layer_types(config)[index] != SLIDING_ATTENTION:
        return None
    return config.int("sliding_window", minimum=1)


def _rope_parameters(config: HFConfig, layer_type: str | None) -> tuple[dict, str]:
    """The rope dict of one layer type and the config key it came from (for errors)."""
    parameters = config.get("rope_parameters")
    if (
        isinstance(parameters, Mapping)
        and parameters
        and all(isinstance(v, Mapping) for v in parameters.values())
    ):
        # transformers 5, per layer type: {"full_attention": {...}, "sliding_attention": {...}}
        wanted = layer_type or FULL_ATTENTION
        if wanted not in parameters:
            raise config.error(
                "rope_parameters", f"has no entry for layer type {wanted!r}; it has {sorted(parameters)}"
            )
        return dict(parameters[wanted]), f"rope_parameters.{wanted}"
    if parameters is not None and not isinstance(parameters, Mapping):
        raise config.error("rope_parameters", f"expected an object, got {parameters!r}")
    if parameters:
        merged, key = dict(parameters), "rope_parameters"
    else:
        scaling = config.get("rope_scaling")
        if scaling is not None and not isinstance(scaling, Mapping):
            raise config.error("rope_scaling", f"expected an object or null, got {scaling!r}")
        merged, key = dict(scaling or {}), "rope_scaling"
        merged.setdefault("rope_theta", config.get("rope_theta"))
    if layer_type == SLIDING_ATTENTION and config.get("rope_local_base_freq") is not None:
        # transformers < 5 Gemma 3: local layers use their own base and no scaling.
        merged = {"rope_type": "default", "rope_theta": config.float("rope_local_base_freq", positive=True)}
        key = "rope_local_base_freq"
    return merged, key


def rope_spec(config: HFConfig, layer_type: str | None = None, *, head_dim: int | None = None) -> RopeSpec:
    """The RoPE of a layer of ``layer_type``: theta, scaling, partial rotary factor and table length.

    Reads transformers-5 ``rope_parameters`` (flat, or per layer type as Gemma 3 writes it) and the
    older ``rope_theta`` + ``rope_scaling`` (+ Gemma's ``rope_local_base_freq``).
    """
    parameters, key = _rope_parameters(config, layer_type)
    rope_type = parameters.get("rope_type") or parameters.get("type") or "default"
    if rope_type not in ROPE_TYPES:
        raise config.error(key, f"rope_type {rope_type!r} is not supported; supported: {list(ROPE_TYPES)}")
    theta = parameters.get("rope_theta")
    if theta is None:
        theta = 10000.0
    if isinstance(theta, bool) or not isinstance(theta, int | float) or not theta > 1:
        raise config.error(f"{key}.rope_theta", f"expected a number > 1, got {theta!r}")
    partial = parameters.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0))
    if isinstance(partial, bool) or not isinstance(partial, int | float) or not 0 < partial <= 1:
        raise config.error("partial_rotary_factor", f"expected a number in (0, 1], got {partial!r}")
    try:
        scaling = (
            None if rope_type == "default" else RopeScaling.from_hf({**parameters, "rope_type": rope_type})
        )
        return RopeSpec(
            head_dim=head_dim if head_dim is not None else config.head_dim,
            theta=float(theta),
            scaling=scaling,
            partial_rotary_factor=float(partial),
            max_position_embeddings=config.max_position_embeddings,
        )
    except (TypeError, ValueError) as error:
        raise config.error(key, f"cannot be mapped to a RopeSpec ({error})") from error


def attention_spec(config: HFConfig, index: int, **overrides) -> AttentionSpec:
    """Layer ``index``'s attention: heads, GQA, head_dim, its layer type's RoPE and sliding window.

    ``overrides`` are ``AttentionSpec`` fields the family sets (``qkv_bias=True``, ``qk_norm=True``,
    ``scale=...``); a field given there wins.
    """
    layer_type = layer_types(config)[index]
    fields = {
        "hidden_dim": config.hidden_size,
        "num_heads": config.num_attention_heads,
        "num_kv_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
        "rope": rope_spec(config, layer_type),
        "sliding_window": sliding_window(config, index),
        **overrides,
    }
    try:
        return AttentionSpec(**fields)
    except (TypeError, ValueError) as error:
        raise config.error(
            f"layers[{index}].attention", f"cannot be mapped to an AttentionSpec ({error})"
        ) from error


def feed_forward_spec(
    config: HFConfig, *, activation_key: str = "hidden_act", **overrides
) -> FeedForwardSpec:
    """A gated (SwiGLU/GeGLU) FFN of ``intermediate_size`` with the config's activation."""
    fields = {
        "hidden_dim": config.hidden_size,
        "intermediate_dim": config.intermediate_size,
        "activation": activation(config, activation_key),
        "gated": True,
        **overrides,
    }
    return FeedForwardSpec(**fields)


def moe_spec(
    config: HFConfig,
    *,
    num_experts_key: str | tuple[str, ...] = ("num_experts", "num_local_experts"),
    intermediate_key: str = "moe_intermediate_size",
    renormalize_key: str | None = "norm_topk_prob",
    renormalize: bool | None = None,
    **overrides,
) -> MoESpec:
    """A top-k routed MoE (softmax over all experts, then top-k) of gated experts.

    Args:
        num_experts_key / intermediate_key: the config keys of the expert count (the first present of
            several: transformers 5 writes Qwen-MoE's ``num_experts`` as ``num_local_experts``) and of
            the expert width (Mixtral: ``intermediate_size``; Qwen-MoE: the default).
        renormalize_key: the config key saying whether the top-k weights are renormalised
            (Qwen-MoE ``norm_topk_prob``); ``renormalize`` fixes it instead (Mixtral: always True).
    """
    if renormalize is None:
        renormalize = config.bool(renormalize_key) if renormalize_key else True
    num_experts_key = num_experts_config_key(config, num_experts_key)
    num_experts = config.int(num_experts_key, minimum=2)
    top_k = config.int("num_experts_per_tok", minimum=1)
    if top_k >= num_experts:
        raise config.error("num_experts_per_tok", f"must be < {num_experts_key} ({num_experts}), got {top_k}")
    fields = {
        "hidden_dim": config.hidden_size,
        "num_experts": num_experts,
        "top_k": top_k,
        "expert_intermediate_dim": config.int(intermediate_key, minimum=1),
        "activation": activation(config),
        "renormalize": renormalize,
        **overrides,
    }
    return MoESpec(**fields)


def num_experts_config_key(config: HFConfig, keys: str | tuple[str, ...]) -> str:
    """The first of ``keys`` the config has (the first one when none is, so the error names it)."""
    keys = (keys,) if isinstance(keys, str) else keys
    return next((key for key in keys if config.get(key) is not None), keys[0])


def embedding_spec(config: HFConfig, *, scale: float = 1.0) -> EmbeddingSpec:
    """The token embedding; ``scale=hidden_size ** 0.5`` for Gemma's scaled embeddings."""
    return EmbeddingSpec(config.vocab_size, config.hidden_size, scale=scale)


def lm_head_spec(config: HFConfig) -> LMHeadSpec:
    return LMHeadSpec(config.hidden_size, config.vocab_size)


def check_max_seq_len(config: HFConfig, max_seq_len: int) -> None:
    if isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise ValueError(f"max_seq_len must be a positive int, got {max_seq_len!r}")
    if max_seq_len > config.max_position_embeddings:
        raise config.error(
            "max_position_embeddings",
            f"max_seq_len={max_seq_len} is longer than the checkpoint's context "
            f"(max_position_embeddings={config.max_position_embeddings}); pass a smaller max_seq_len",
        )


def causal_lm_spec(
    config: HFConfig,
    layer_spec: Callable[[HFConfig, int], DecoderLayerSpec],
    *,
    max_batch_size: int,
    max_seq_len: int,
    embedding=None,
    final_norm=None,
    checkpoint_layout=None,
) -> CausalLMSpec:
    """The ``CausalLMSpec`` of ``config``: ``layer_spec(config, i)`` per layer, the family's embedding
    and final norm (default: plain embedding, RMSNorm), LM head tied as the config says; validated."""
    check_max_seq_len(config, max_seq_len)
    extra = {} if checkpoint_layout is None else {"checkpoint_layout": checkpoint_layout}
    spec = CausalLMSpec(
        embedding=embedding if embedding is not None else embedding_spec(config),
        layers=[layer_spec(config, index) for index in range(config.num_hidden_layers)],
        final_norm=final_norm if final_norm is not None else rms_norm_spec(config),
        lm_head=lm_head_spec(config),
        tie_word_embeddings=config.tie_word_embeddings,
        max_batch_size=max_batch_size,
        max_seq_len=max_seq_len,
        **extra,
    )
    spec.validate()
    return spec
