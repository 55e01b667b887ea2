"""Fused unary activations: ``ttnn.UnaryWithParam`` and the torch function behind each ``UnaryOpType``.

Matmuls take one activation (``activation="silu"`` or a program config's ``fused_activation``);
binary ops take lists (``activations=``, ``input_tensor_a_activations=``...). Both accept a
``UnaryOpType``, a ``UnaryWithParam`` or (matmul only) a string, resolved as tt-metal's
``string_to_unary_with_param`` does ("gelu" is the accurate GELU, "gelu_approx" the fast one).

Numerics (approximation): the device evaluates these on the SFPU with polynomial / LUT
approximations that are not published bit for bit; the emulator uses the exact torch function
in float32 and lets the caller round the result to the dtype the device holds it in. The
approximate GELU (``UnaryWithParam(GELU, 1.0)``, ``fast_and_approximate_mode=True``) is modelled
as the tanh approximation; the real FastLut variant is a 6-segment piecewise-linear fit with
~1% absolute error, so emulated and real differ by up to that much.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._types import UnaryOpType

__all__ = ["UnaryWithParam"]


class UnaryWithParam:
    """A unary op with optional float parameters, as ``ttnn.UnaryWithParam(op_type[, param...])``.

    Also accepts the one-tuple forms ``UnaryWithParam((op_type, param))`` the real binding takes.
    """

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], tuple):
            args = args[0]
        if not args or not isinstance(args[0], UnaryOpType):
            raise TypeError(f"UnaryWithParam: first argument must be a ttnn.UnaryOpType, got {args[:1]!r}")
        if len(args) > 3:
            raise TypeError(
                f"UnaryWithParam: takes an op type and at most two parameters, got {len(args) - 1}"
            )
        self.op_type = args[0]
        self.params = [float(p) for p in args[1:]]

    def __eq__(self, other):
        return isinstance(other, UnaryWithParam) and (self.op_type, self.params) == (
            other.op_type,
            other.params,
        )

    def __hash__(self):
        return hash((self.op_type, tuple(self.params)))

    def __repr__(self):
        params = f", params={self.params}" if self.params else ""
        return f"UnaryWithParam(op_type=UnaryOpType::{self.op_type.name}{params})"


# tt-metal unary_op_utils.cpp string_to_unary_with_param (the names TTTv2 can meet).
_STRING_ACTIVATIONS = {
    "relu": (UnaryOpType.RELU,),
    "relu6": (UnaryOpType.RELU6,),
    "gelu": (UnaryOpType.GELU, 0.0),
    "gelu_approx": (UnaryOpType.GELU, 1.0),
    "silu": (UnaryOpType.SILU,),
    "sigmoid": (UnaryOpType.SIGMOID,),
    "sigmoid_approx": (UnaryOpType.SIGMOID,),
    "sqrt": (UnaryOpType.SQRT,),
    "exp": (UnaryOpType.EXP,),
    "recip": (UnaryOpType.RECIP,),
    "tanh": (UnaryOpType.TANH,),
    "square": (UnaryOpType.SQUARE,),
    "rsqrt": (UnaryOpType.RSQRT,),
    "neg": (UnaryOpType.NEG,),
}


def _gelu(x: torch.Tensor, approximate: bool) -> torch.Tensor:
    return torch.nn.functional.gelu(x, approximate="tanh" if approximate else "none")


def _torch_function(activation: UnaryWithParam) -> Callable[[torch.Tensor], torch.Tensor]:
    op = activation.op_type
    approximate = bool(activation.params and activation.params[0])
    table: dict[UnaryOpType, Callable[[torch.Tensor], torch.Tensor]] = {
        UnaryOpType.RELU: torch.relu,
        UnaryOpType.RELU6: lambda x: torch.clamp(x, 0.0, 6.0),
        UnaryOpType.GELU: lambda x: _gelu(x, approximate),
        UnaryOpType.GELU_TANH: lambda x: _gelu(x, True),
        UnaryOpType.SILU: torch.nn.functional.silu,
        UnaryOpType.SIGMOID: torch.sigmoid,
        UnaryOpType.TANH: torch.tanh,
        UnaryOpType.EXP: torch.exp,
        UnaryOpType.SQRT: torch.sqrt,
        UnaryOpType.RSQRT: torch.rsqrt,
        UnaryOpType.RECIP: torch.reciprocal,
        UnaryOpType.SQUARE: torch.square,
        UnaryOpType.NEG: torch.neg,
        UnaryOpType.IDENTITY: lambda x: x,
    }
    return table[op]


def resolve_activation(
    op_name: str, arg_name: str, activation, *, allow_string: bool = True
) -> UnaryWithParam | None:
    """Normalise a str / UnaryOpType / UnaryWithParam / (op, param) tuple to a ``UnaryWithParam``."""
    if activation is None:
        return None
    if isinstance(activation, UnaryWithParam):
        return activation
    if isinstance(activation, UnaryOpType):
        return UnaryWithParam(activation)
    if isinstance(activation, tuple) and activation and isinstance(activation[0], UnaryOpType):
        return UnaryWithParam(*activation)
    if isinstance(activation, str) and allow_string:
        if activation not in _STRING_ACTIVATIONS:
            raise ValueError(
                f"{op_name}: {arg_name}={activation!r} is not a known activation; expected one of {sorted(_STRING_ACTIVATIONS)}"
            )
        return UnaryWithParam(*_STRING_ACTIVATIONS[activation])
    kinds = (
        "a str, ttnn.UnaryOpType or ttnn.UnaryWithParam"
        if allow_string
        else "a ttnn.UnaryOpType or ttnn.UnaryWithParam"
    )
    raise TypeError(f"{op_name}: {arg_name} must be {kinds}, got {activation!r}")


def resolve_activation_list(op_name: str, arg_name: str, activations) -> list[UnaryWithParam]:
    """Normalise a binary op's activation list (None or a sequence)."""
    if activations is None:
        return []
    if not isinstance(activations, Sequence) or isinstance(activations, str):
        raise TypeError(
            f"{op_name}: {arg_name} must be a list of ttnn.UnaryOpType / ttnn.UnaryWithParam, got {activations!r}"
        )
    return [
        resolve_activation(op_name, f"{arg_name}[{i}]", a, allow_string=False)
        for i, a in enumerate(activations)
    ]


def apply_activations(x: torch.Tensor, activations: Sequence[UnaryWithParam]) -> torch.Tensor:
    """Apply ``activations`` in order on float32 torch data."""
    for activation in activations:
        x = _torch_function(activation)(x)
    return x


def activation_flops(activations: Sequence[UnaryWithParam]) -> int:
    """Rough SFPU work per element (for the op trace): a handful of FLOPs per activation."""
    return 8 * len(activations)
