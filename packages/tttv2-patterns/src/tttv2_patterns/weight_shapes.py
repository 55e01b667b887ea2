"""What a block spec implies about its checkpoint tensors (HF layout) and its model dim.

Used by ``CausalLMSpec.validate()`` to check an attached checkpoint without building anything.
A block spec that defines ``weight_shapes()`` is asked directly; the known block specs are
described here by type name.
"""

from __future__ import annotations


def _norm(spec) -> dict:
    shapes = {"weight": (spec.dim,)}
    if getattr(spec, "bias", False):
        shapes["bias"] = (spec.dim,)
    return shapes


def _attention(spec) -> dict:
    q, kv, h = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim, spec.hidden_dim
    shapes = {
        "q_proj.weight": (q, h),
        "k_proj.weight": (kv, h),
        "v_proj.weight": (kv, h),
        "o_proj.weight": (h, q),
    }
    if spec.qkv_bias:
        shapes.update({"q_proj.bias": (q,), "k_proj.bias": (kv,), "v_proj.bias": (kv,)})
    if spec.o_bias:
        shapes["o_proj.bias"] = (h,)
    if spec.qk_norm:
        shapes.update({"q_norm.weight": (spec.head_dim,), "k_norm.weight": (spec.head_dim,)})
    return shapes


def _feed_forward(spec) -> dict:
    h, i = spec.hidden_dim, spec.intermediate_dim
    full = {"gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}
    shapes = {f"{name}.weight": full[name] for name in spec.projections}
    if spec.bias:
        shapes.update({f"{name}.bias": (full[name][0],) for name in spec.projections})
    return shapes


_SHAPES = {
    "RMSNormSpec": _norm,
    "LayerNormSpec": _norm,
    "AttentionSpec": _attention,
    "FeedForwardSpec": _feed_forward,
    "EmbeddingSpec": lambda spec: {"weight": (spec.vocab_size, spec.dim)},
    "LMHeadSpec": lambda spec: {"weight": (spec.vocab_size, spec.hidden_dim)},
}

_DIM_FIELDS = {
    "RMSNormSpec": "dim",
    "LayerNormSpec": "dim",
    "AttentionSpec": "hidden_dim",
    "FeedForwardSpec": "hidden_dim",
    "EmbeddingSpec": "dim",
    "LMHeadSpec": "hidden_dim",
}


def expected_weight_shapes(spec) -> dict[str, tuple[int, ...]] | None:
    """Block-local key -> shape for ``spec``; None when the spec type is unknown here."""
    if hasattr(spec, "weight_shapes"):
        return {key: tuple(shape) for key, shape in spec.weight_shapes().items()}
    describe = _SHAPES.get(type(spec).__name__)
    return None if describe is None else describe(spec)


def model_dim(spec) -> int | None:
    """The residual-stream width a block spec reads/writes, or None if the spec names none.

    Known block specs by type; any other spec (a family's own block, a custom FFN) by its
    ``hidden_dim`` or ``dim`` attribute, so a custom block of the wrong width is caught too.
    """
    name = _DIM_FIELDS.get(type(spec).__name__)
    if name is not None:
        return getattr(spec, name)
    for name in ("hidden_dim", "dim"):
        value = getattr(spec, name, None)
        if isinstance(value, int):
            return value
    return None
