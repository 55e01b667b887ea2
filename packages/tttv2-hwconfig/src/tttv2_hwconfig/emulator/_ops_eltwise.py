"""Element-wise ops: binary (add/sub/mul with broadcasting and fused activations), unary, softmax, reductions.

Numerics (approximation, stated once): every op computes in float32 on torch and rounds the result
to the output dtype. Fused input activations (``input_tensor_a_activations=[ttnn.UnaryOpType.SILU]``)
run on the SFPU in the destination register, so their result is rounded to bfloat16 (unless the
operand is float32) before the binary op. Transcendentals use the exact torch function (see
``_activations.py`` for the approximate GELU). Element-wise multiply ignores math fidelity (binary
ops in ttnn 0.81.1 take no compute kernel config).

Broadcasting follows ttnn's binary ops: dims of size 1 in either operand expand to the other's
size (ranks are right-aligned); the output takes ``input_tensor_a``'s dtype and, unless
``memory_config`` is given, its memory config.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from numbers import Number

import torch

from ._activations import (
    UnaryWithParam,
    activation_flops,
    apply_activations,
    resolve_activation_list,
)
from ._memory import MemoryConfig
from ._op import fail, new_tensor, record, require_layout, require_on_device, same_device, shard_map
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor, tile_padded_shape
from ._types import DataType, Layout

__all__ = [
    "UnaryWithParam",
    "add",
    "exp",
    "gelu",
    "mean",
    "mul",
    "multiply",
    "neg",
    "reciprocal",
    "relu",
    "rsqrt",
    "sigmoid",
    "silu",
    "softmax",
    "sqrt",
    "sub",
    "subtract",
    "sum",
    "tanh",
]

_BINARY_DTYPES = (
    DataType.BFLOAT16,
    DataType.BFLOAT8_B,
    DataType.BFLOAT4_B,
    DataType.FLOAT32,
    DataType.INT32,
    DataType.UINT32,
    DataType.UINT16,
)
_FLOAT_SFPU = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32)


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


def _check_input(op: str, name: str, tensor: Tensor, dtypes) -> None:
    require_on_device(op, name, tensor)
    if tensor.dtype not in dtypes:
        fail(op, f"{name} dtype must be one of {[d.name for d in dtypes]}, got {tensor.dtype.name}")


def _volume(shape, layout: Layout) -> int:
    return tile_padded_shape(shape, layout).volume()


def _write_output(op: str, out: Tensor, output_tensor: Tensor | None) -> Tensor:
    """Honour ``output_tensor=``: the result lands in the given tensor (same shape required)."""
    if output_tensor is None:
        return out
    if tuple(output_tensor.shape) != tuple(out.shape):
        fail(op, f"output_tensor has shape {list(output_tensor.shape)}, the result has {list(out.shape)}")
    if output_tensor.dtype != out.dtype:
        fail(op, f"output_tensor has dtype {output_tensor.dtype.name}, the result has {out.dtype.name}")
    output_tensor._shards = out.shards
    return output_tensor


def _sfpu_round(x: torch.Tensor, dtype: DataType) -> torch.Tensor:
    """Value as the destination register holds it: float32 for float32 data, else bfloat16."""
    return x if dtype == DataType.FLOAT32 else x.to(torch.bfloat16).to(torch.float32)


_BIN_SRC = "ttnn/cpp/ttnn/operations/eltwise/binary_ng/device/binary_ng_device_operation.cpp: compute_broadcasted_output"
R_BROADCAST = rule(
    "binary.broadcastable",
    "ttnn.add",
    "a and b dims (right-aligned) are equal or 1",
    _BIN_SRC,
    message="Broadcasting rule violation at dimension index {} (output rank {}), dim a: {}, dim b: {}",
)
not_mirrored(
    "binary.mixed_dtype",
    "ttnn.add",
    'some a/b dtype pairs are refused ("Mixed dtype is not supported for binary operation")',
    "only the message was located in the 0.81.1 build, not the pairs it refuses; the emulator computes any float/int pair",
)


def _broadcast_shape(op: str, a_shape: tuple, b_shape: tuple) -> tuple:
    """Right-aligned broadcasting: each dim pair must match or contain a 1."""
    if a_shape == b_shape:
        return a_shape
    rank = max(len(a_shape), len(b_shape))
    a_full = (1,) * (rank - len(a_shape)) + tuple(a_shape)
    b_full = (1,) * (rank - len(b_shape)) + tuple(b_shape)
    out = []
    for a_dim, b_dim in zip(a_full, b_full):
        check(
            a_dim == b_dim or 1 in (a_dim, b_dim),
            R_BROADCAST,
            f"shapes {list(a_shape)} and {list(b_shape)} cannot be broadcast (each dim must match or be 1)",
            op=op,
        )
        out.append(b_dim if a_dim == 1 else a_dim)
    return tuple(out)


# --- binary --------------------------------------------------------------------------------------
def _binary(
    op: str,
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    input_tensor_a,
    input_tensor_b,
    *,
    dtype,
    memory_config,
    output_tensor,
    activations,
    input_tensor_a_activations,
    input_tensor_b_activations,
) -> Tensor:
    a_is_tensor, b_is_tensor = isinstance(input_tensor_a, Tensor), isinstance(input_tensor_b, Tensor)
    if not (a_is_tensor or b_is_tensor):
        fail(op, "at least one of input_tensor_a / input_tensor_b must be a ttnn.Tensor", TypeError)
    for name, value, is_tensor in (
        ("input_tensor_a", input_tensor_a, a_is_tensor),
        ("input_tensor_b", input_tensor_b, b_is_tensor),
    ):
        if is_tensor:
            _check_input(op, name, value, _BINARY_DTYPES)
        elif not isinstance(value, Number) or isinstance(value, bool):
            fail(op, f"{name} must be a ttnn.Tensor or a number, got {type(value).__name__}", TypeError)
    _check_memory_config(op, memory_config)
    device = same_device(op, input_tensor_a, input_tensor_b)
    first = input_tensor_a if a_is_tensor else input_tensor_b
    a_shape = tuple(input_tensor_a.shape) if a_is_tensor else ()
    b_shape = tuple(input_tensor_b.shape) if b_is_tensor else ()
    out_shape = _broadcast_shape(op, a_shape, b_shape)
    out_dtype = dtype or first.dtype
    if out_dtype not in _BINARY_DTYPES:
        fail(op, f"dtype must be one of {[d.name for d in _BINARY_DTYPES]}, got {out_dtype!r}")
    post = resolve_activation_list(op, "activations", activations)
    pre_a = resolve_activation_list(op, "input_tensor_a_activations", input_tensor_a_activations)
    pre_b = resolve_activation_list(op, "input_tensor_b_activations", input_tensor_b_activations)
    a_dtype = input_tensor_a.dtype if a_is_tensor else out_dtype
    b_dtype = input_tensor_b.dtype if b_is_tensor else out_dtype
    integer = out_dtype.is_integer

    def operand(x, acts, x_dtype):
        if not isinstance(x, torch.Tensor):
            return x
        x = x if integer else x.to(torch.float32)
        if acts:
            x = _sfpu_round(apply_activations(x, acts), x_dtype)
        return x

    def compute(a, b):
        out = fn(operand(a, pre_a, a_dtype), operand(b, pre_b, b_dtype))
        if not isinstance(out, torch.Tensor):
            out = torch.tensor(out)
        if post:
            out = apply_activations(out.to(torch.float32), post)
        return out

    shards = shard_map(compute, input_tensor_a, input_tensor_b)
    layout = first.layout
    out = new_tensor(op, shards, out_dtype, layout, device, memory_config or first.memory_config())
    out = _write_output(op, out, output_tensor)
    elements = _volume(out_shape, layout)
    record(
        op,
        device,
        [t for t in (input_tensor_a, input_tensor_b) if isinstance(t, Tensor)],
        [out],
        flops=elements * (1 + activation_flops(pre_a) + activation_flops(pre_b) + activation_flops(post)),
        cores_used=None,
    )
    return out


def _binary_op(name: str, fn, fast_default: bool):
    def op(
        input_tensor_a,
        input_tensor_b,
        *,
        fast_and_approximate_mode: bool = fast_default,
        dtype: DataType | None = None,
        memory_config: MemoryConfig | None = None,
        output_tensor: Tensor | None = None,
        activations=None,
        input_tensor_a_activations=None,
        input_tensor_b_activations=None,
    ) -> Tensor:
        return _binary(
            f"ttnn.{name}",
            fn,
            input_tensor_a,
            input_tensor_b,
            dtype=dtype,
            memory_config=memory_config,
            output_tensor=output_tensor,
            activations=activations,
            input_tensor_a_activations=input_tensor_a_activations,
            input_tensor_b_activations=input_tensor_b_activations,
        )

    op.__name__ = name
    op.__qualname__ = name
    return op


add = _binary_op("add", operator.add, True)
add.__doc__ = """``input_tensor_a + input_tensor_b`` with broadcasting; either operand may be a number.

Keyword args as ttnn: ``dtype``, ``memory_config``, ``output_tensor``, ``activations`` (applied to
the result), ``input_tensor_a_activations`` / ``input_tensor_b_activations`` (applied to the inputs
first), each a list of ``ttnn.UnaryOpType`` / ``ttnn.UnaryWithParam``.
"""
sub = _binary_op("sub", operator.sub, True)
sub.__doc__ = "``input_tensor_a - input_tensor_b``; same keywords as ``ttnn.add``."
subtract = _binary_op("subtract", operator.sub, True)
subtract.__doc__ = sub.__doc__
mul = _binary_op("mul", operator.mul, False)
mul.__doc__ = "``input_tensor_a * input_tensor_b``; same keywords as ``ttnn.add`` (SwiGLU: ``input_tensor_a_activations=[SILU]``)."
multiply = _binary_op("multiply", operator.mul, False)
multiply.__doc__ = mul.__doc__


# --- unary ---------------------------------------------------------------------------------------
def _unary(
    op: str, fn, input_tensor: Tensor, dtypes, memory_config, output_tensor, flops_per_element: int = 8
) -> Tensor:
    _check_input(op, "input_tensor", input_tensor, dtypes)
    _check_memory_config(op, memory_config)
    device = same_device(op, input_tensor)
    integer = input_tensor.dtype.is_integer
    shards = shard_map(lambda x: fn(x if integer else x.to(torch.float32)), input_tensor)
    out = new_tensor(
        op,
        shards,
        input_tensor.dtype,
        input_tensor.layout,
        device,
        memory_config or input_tensor.memory_config(),
    )
    out = _write_output(op, out, output_tensor)
    record(
        op,
        device,
        [input_tensor],
        [out],
        flops=_volume(input_tensor.shape, input_tensor.layout) * flops_per_element,
    )
    return out


def silu(
    input_tensor: Tensor, *, memory_config: MemoryConfig | None = None, output_tensor: Tensor | None = None
) -> Tensor:
    """``x * sigmoid(x)``."""
    return _unary(
        "ttnn.silu", torch.nn.functional.silu, input_tensor, _FLOAT_SFPU, memory_config, output_tensor
    )


def gelu(
    input_tensor: Tensor,
    *,
    fast_and_approximate_mode: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """GELU; ``fast_and_approximate_mode=True`` is emulated as the tanh approximation (see ``_activations``)."""
    approximate = "tanh" if fast_and_approximate_mode else "none"
    return _unary(
        "ttnn.gelu",
        lambda x: torch.nn.functional.gelu(x, approximate=approximate),
        input_tensor,
        (DataType.BFLOAT16, DataType.BFLOAT8_B),
        memory_config,
        output_tensor,
    )


def relu(
    input_tensor: Tensor, *, memory_config: MemoryConfig | None = None, output_tensor: Tensor | None = None
) -> Tensor:
    """``max(x, 0)``."""
    dtypes = (*_FLOAT_SFPU, DataType.INT32, DataType.UINT32, DataType.UINT16, DataType.UINT8)
    return _unary("ttnn.relu", torch.relu, input_tensor, dtypes, memory_config, output_tensor, 1)


def exp(
    input_tensor: Tensor,
    *,
    fast_and_approximate_mode: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """``e ** x`` (exact in the emulator whatever ``fast_and_approximate_mode``)."""
    return _unary("ttnn.exp", torch.exp, input_tensor, _FLOAT_SFPU, memory_config, output_tensor)


def neg(
    input_tensor: Tensor, *, memory_config: MemoryConfig | None = None, output_tensor: Tensor | None = None
) -> Tensor:
    """``-x``."""
    return _unary("ttnn.neg", torch.neg, input_tensor, _FLOAT_SFPU, memory_config, output_tensor, 1)


def rsqrt(
    input_tensor: Tensor,
    *,
    fast_and_approximate_mode: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """``1 / sqrt(x)``."""
    return _unary("ttnn.rsqrt", torch.rsqrt, input_tensor, _FLOAT_SFPU, memory_config, output_tensor)


def reciprocal(
    input_tensor: Tensor, *, memory_config: MemoryConfig | None = None, output_tensor: Tensor | None = None
) -> Tensor:
    """``1 / x``."""
    dtypes = (DataType.BFLOAT16, DataType.BFLOAT8_B)
    return _unary("ttnn.reciprocal", torch.reciprocal, input_tensor, dtypes, memory_config, output_tensor)


def sqrt(
    input_tensor: Tensor,
    *,
    fast_and_approximate_mode: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """``sqrt(x)``."""
    return _unary("ttnn.sqrt", torch.sqrt, input_tensor, _FLOAT_SFPU, memory_config, output_tensor)


def tanh(
    input_tensor: Tensor,
    *,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    fast_and_approximate_mode: bool = False,
) -> Tensor:
    """``tanh(x)``."""
    return _unary("ttnn.tanh", torch.tanh, input_tensor, _FLOAT_SFPU, memory_config, output_tensor)


def sigmoid(
    input_tensor: Tensor, *, memory_config: MemoryConfig | None = None, output_tensor: Tensor | None = None
) -> Tensor:
    """``1 / (1 + e ** -x)`` (bfloat16 only, as the real op documents)."""
    return _unary(
        "ttnn.sigmoid", torch.sigmoid, input_tensor, (DataType.BFLOAT16,), memory_config, output_tensor
    )


# --- softmax and reductions ----------------------------------------------------------------------
def _check_dim(op: str, dim: int, rank: int) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or not -rank <= dim < rank:
        fail(op, f"dim must be an int in [{-rank}, {rank - 1}], got {dim!r}")
    return dim % rank


def softmax(
    input_tensor: Tensor,
    dim: int = -1,
    *,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    numeric_stable: bool = True,
) -> Tensor:
    """Softmax over ``dim`` (TILE layout; computed in float32, rounded to the input dtype).

    Tile padding is excluded from the sum, as the device masks padded columns.
    """
    op = "ttnn.softmax"
    _check_input(op, "input_tensor", input_tensor, _FLOAT_SFPU)
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    _check_memory_config(op, memory_config)
    axis = _check_dim(op, dim, len(input_tensor.shape))
    device = same_device(op, input_tensor)
    shards = shard_map(lambda x: torch.softmax(x.to(torch.float32), dim=axis), input_tensor)
    out = new_tensor(
        op, shards, input_tensor.dtype, Layout.TILE, device, memory_config or input_tensor.memory_config()
    )
    record(op, device, [input_tensor], [out], flops=_volume(input_tensor.shape, Layout.TILE) * 5)
    return out


def _reduce(op: str, fn, input_tensor: Tensor, dim, keepdim: bool, memory_config, scalar: float) -> Tensor:
    _check_input(
        op,
        "input_tensor",
        input_tensor,
        (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B, DataType.INT32),
    )
    _check_memory_config(op, memory_config)
    rank = len(input_tensor.shape)
    if dim is None:
        dims = tuple(range(rank))
    elif isinstance(dim, int):
        dims = (_check_dim(op, dim, rank),)
    else:
        dims = tuple(sorted({_check_dim(op, d, rank) for d in dim}))
    device = same_device(op, input_tensor)
    integer = input_tensor.dtype.is_integer

    def compute(x):
        result = fn(x if integer else x.to(torch.float32), dim=dims, keepdim=keepdim)
        result = result * scalar if scalar != 1.0 else result
        return result.reshape(1) if result.dim() == 0 else result  # no rank-0 tiles: a full reduction is (1,)

    shards = shard_map(compute, input_tensor)
    layout = input_tensor.layout
    out = new_tensor(
        op, shards, input_tensor.dtype, layout, device, memory_config or input_tensor.memory_config()
    )
    record(op, device, [input_tensor], [out], flops=_volume(input_tensor.shape, input_tensor.layout))
    return out


def sum(  # noqa: A001 - the ttnn name
    input_tensor: Tensor,
    dim: int | list[int] | None = None,
    keepdim: bool = False,
    *,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    scalar: float = 1.0,
) -> Tensor:
    """Sum over ``dim`` (all dims when None, giving shape ``(1,)``), times ``scalar``."""
    return _reduce("ttnn.sum", torch.sum, input_tensor, dim, keepdim, memory_config, scalar)


def mean(
    input_tensor: Tensor,
    dim: int | list[int] | None = None,
    keepdim: bool = False,
    *,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    scalar: float = 1.0,
) -> Tensor:
    """Mean over ``dim`` (all dims when None, giving shape ``(1,)``), times ``scalar``."""
    return _reduce("ttnn.mean", torch.mean, input_tensor, dim, keepdim, memory_config, scalar)
