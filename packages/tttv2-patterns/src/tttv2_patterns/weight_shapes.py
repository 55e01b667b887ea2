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


_SHAPES = {
    "RMSNormSpec": _norm,
    "LayerNormSpec": _norm,
}

_DIM_FIELDS = {
    "RMSNormSpec": "dim",
    "LayerNormSpec": "dim",
}


def expected_weight_shapes(spec) -> dict[str, tuple[int, ...]] | None:
    """Block-local key -> shape for ``spec``; None when the spec type is unknown here."""
    if hasattr(spec, "weight_shapes"):
        return {key: tuple(shape) for key, shape in spec.weight_shapes().items()}
    describe = _SHAPES.get(type(spec).__name__)
    return None if describe is None else describe(spec)


def model_dim(spec) -> int | None:
    """The residual-stream width a block spec reads/writes, or None if unknown."""
    name = _DIM_FIELDS.get(type(spec).__name__)
    return None if name is None else getattr(spec, name)
