"""``ttnn.matmul`` / ``ttnn.linear`` and the compute kernel config, with math-fidelity emulation.

Math fidelity (approximation of the documented hardware; tt-metal
``tech_reports/matrix_engine/matrix_engine.md``): the Wormhole/Blackhole multipliers are 5 bit x
7 bit. Matmul unpacks in1 (the weights) to SrcA and in0 (the activations) to SrcB (tt-llk
``llk_unpack_AB_matmul``: "In0 -> srcB, In1 -> srcA"). Each fidelity phase multiplies one slice of
the mantissas (hidden bit included)::

    phase 1 (LoFi)  SrcA 4 MSBs       x SrcB 6 MSBs
    phase 2 (HiFi2) SrcA next 4 bits  x SrcB 6 MSBs
    phase 3 (HiFi3) SrcA 4 MSBs       x SrcB next 6 bits
    phase 4 (HiFi4) SrcA next 4 bits  x SrcB next 6 bits

Source registers hold 19-bit (tf32-like, 10 fraction bits) values, so float32 operands lose their
low mantissa bits first. The emulator truncates (rounds toward zero) the operands' fractions to the
bits each phase sees and sums the phases' products in float32:

    LoFi  = A[4] @ B[6]        HiFi2 = A[8] @ B[6]
    HiFi3 = A[8] @ B[6] + A[4] @ (B[10] - B[6])        HiFi4 = A[8] @ B[10]

(``X[n]`` = X with n fraction bits kept). So bfloat4_b weights (2 fraction bits) are exact at LoFi
and bfloat8_b weights (6 fraction bits) at HiFi2 -- the reason behind TTTv1's precision choices.

Accumulation (approximation): products are summed in float32. The destination register holds
bfloat16 unless ``fp32_dest_acc_en=True``; the emulator rounds the finished sum (after bias, and
again after a fused activation) to bfloat16 in that case and then to the output dtype. The extra
error of bfloat16 partial sums between K blocks is not modelled.

Compute runs on LOGICAL shapes (no host work on tile padding); FLOPs are recorded on PADDED shapes,
as the device computes whole tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import _compiled, _gemm, _numerics
from . import _matmul_validation as validation
from ._activations import activation_flops, apply_activations, resolve_activation
from ._device import Arch
from ._memory import DRAM_MEMORY_CONFIG, CoreGrid, MemoryConfig
from ._op import (
    fail,
    new_tensor,
    record,
    require_on_device,
    require_tensor,
    same_device,
    shard_map,
)
from ._rules import check
from ._tensor import Tensor
from ._types import TILE_SIZE, DataType, Layout, MathFidelity

__all__ = ["WormholeComputeKernelConfig", "init_device_compute_kernel_config", "linear", "matmul"]

_FLOAT_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B, DataType.BFLOAT4_B)
_LOW_PRECISION = (DataType.BFLOAT8_B, DataType.BFLOAT4_B)
# Fraction bits each fidelity lets through: (SrcA = in1 bits, SrcB = in0 bits) per summed term.
_SRC_REGISTER_FRACTION_BITS = 10
_FIDELITY_TERMS = {
    MathFidelity.LoFi: (((4, 0), (6, 0)),),
    MathFidelity.HiFi2: (((8, 0), (6, 0)),),
    MathFidelity.HiFi3: (((8, 0), (6, 0)), ((4, 0), (10, 6))),
    MathFidelity.HiFi4: (((8, 0), (10, 0)),),
}


@dataclass(kw_only=True)
class WormholeComputeKernelConfig:
    """Math fidelity and accumulation of a compute kernel (``ttnn.WormholeComputeKernelConfig``).

    ``math_fidelity=MathFidelity.Invalid`` (the default) lets the op pick its own default.
    Blackhole uses the same class in real ttnn 0.81.1 (there is no BlackholeComputeKernelConfig).
    """

    math_fidelity: MathFidelity = MathFidelity.Invalid
    math_approx_mode: bool = True
    fp32_dest_acc_en: bool = False
    packer_l1_acc: bool = False
    dst_full_sync_en: bool = False

    def __post_init__(self):
        if not isinstance(self.math_fidelity, MathFidelity):
            raise TypeError(
                f"WormholeComputeKernelConfig: math_fidelity must be a ttnn.MathFidelity, got {self.math_fidelity!r}"
            )
        for name in ("math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"WormholeComputeKernelConfig: {name} must be a bool, got {getattr(self, name)!r}"
                )


def init_device_compute_kernel_config(
    arch,
    device_kernel_config: WormholeComputeKernelConfig | None = None,
    *,
    math_fidelity: MathFidelity = MathFidelity.LoFi,
    math_approx_mode: bool = True,
    fp32_dest_acc_en: bool = False,
    packer_l1_acc: bool = False,
    dst_full_sync_en: bool = False,
) -> WormholeComputeKernelConfig:
    """``device_kernel_config`` if given (an unset fidelity replaced by ``math_fidelity``), else the defaults."""
    if not isinstance(arch, Arch):
        raise TypeError(
            f"init_device_compute_kernel_config: arch must be a ttnn Arch (device.arch()), got {arch!r}"
        )
    if device_kernel_config is None:
        return WormholeComputeKernelConfig(
            math_fidelity=math_fidelity,
            math_approx_mode=math_approx_mode,
            fp32_dest_acc_en=fp32_dest_acc_en,
            packer_l1_acc=packer_l1_acc,
            dst_full_sync_en=dst_full_sync_en,
        )
    if not isinstance(device_kernel_config, WormholeComputeKernelConfig):
        raise TypeError(
            f"init_device_compute_kernel_config: expected a WormholeComputeKernelConfig, got {type(device_kernel_config).__name__}"
        )
    if device_kernel_config.math_fidelity == MathFidelity.Invalid:
        return WormholeComputeKernelConfig(
            math_fidelity=math_fidelity,
            math_approx_mode=device_kernel_config.math_approx_mode,
            fp32_dest_acc_en=device_kernel_config.fp32_dest_acc_en,
            packer_l1_acc=device_kernel_config.packer_l1_acc,
            dst_full_sync_en=device_kernel_config.dst_full_sync_en,
        )
    return device_kernel_config


# --- numerics ---------------------------------------------------------------------------------
def _keep_fraction_bits(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Truncate float32 ``x`` to ``bits`` fraction bits (sign and exponent untouched)."""
    if bits >= 23:
        return x
    mask = -(1 << (23 - bits))  # ...1110000: clears the low fraction bits, keeps sign+exponent
    return torch.bitwise_and(x.contiguous().view(torch.int32), mask).view(torch.float32)


# Fraction bits a value stored in each dtype can have (bfloat16 keeps 7; a block float's explicit
# leading one leaves mantissa_bits - 1 after normalisation). Truncating such a value to at least
# that many bits is the identity: the matmul then uses the stored values as they are (no copy, no
# check), with exactly the bits the truncation would give.
_STORED_FRACTION_BITS = {
    DataType.BFLOAT16: 7,
    DataType.BFLOAT8_B: 6,
    DataType.BFLOAT4_B: 2,
    DataType.FLOAT32: 23,
}
FULL_FRACTION_BITS = 23  # float32 data of unknown origin


def stored_fraction_bits(dtype: DataType) -> int:
    """Most fraction bits a value stored as ``dtype`` has (23 for anything not listed)."""
    return _STORED_FRACTION_BITS.get(dtype, FULL_FRACTION_BITS)


def _operand_slice(
    x: torch.Tensor, high: int, low: int, cache: dict | None, stored_bits: int = FULL_FRACTION_BITS
) -> torch.Tensor:
    """Fraction bits (low, high] of ``x`` as a float tensor: X[high] - X[low] (X[high] when low == 0).

    ``stored_bits``: ``x`` is known to have at most that many fraction bits (its dtype), so keeping
    ``high >= stored_bits`` of them returns ``x`` itself.
    """
    if not low and min(high, _SRC_REGISTER_FRACTION_BITS) >= stored_bits:
        return x
    key = (high, low)
    if cache is not None and key in cache:
        return cache[key]
    value = _keep_fraction_bits(x, min(high, _SRC_REGISTER_FRACTION_BITS))
    if low:
        value = value - _keep_fraction_bits(x, low)
    elif cache is not None and value is not x and not x.is_meta and torch.equal(value, x):
        value = x  # truncation is the identity (bfloat16 / bfloat8_b weights): no second copy kept
    if cache is not None:
        cache[key] = value
    return value


def _weight_cache(weight: torch.Tensor) -> dict:
    """Per-tensor cache of truncated weight slices; dropped when the tensor is modified in place."""
    _compiled.depends_on(weight)  # a recorded trace program must not reuse stale slices
    cached = getattr(weight, "_tttv2_fidelity_cache", None)
    if cached is None or cached[0] != weight._version:
        cached = (weight._version, {})
        weight._tttv2_fidelity_cache = cached
    return cached[1]


def _to_bfloat16(x: torch.Tensor) -> torch.Tensor:
    # Round-to-nearest-even; only NaN payloads differ from the host conversion, and outputs are
    # rounded again by new_tensor, which canonicalises them.
    return x.to(torch.bfloat16).to(torch.float32)


def _fidelity_matmul(
    a: torch.Tensor,
    b: torch.Tensor,
    fidelity: MathFidelity,
    transpose_a: bool,
    transpose_b: bool,
    *,
    a_bits: int = FULL_FRACTION_BITS,
    b_bits: int = FULL_FRACTION_BITS,
    cache_b: bool = True,
    rounded_to_bfloat16: bool = False,
) -> torch.Tensor:
    """a @ b as the matrix engine computes it at ``fidelity`` (a = in0 -> SrcB, b = in1 -> SrcA).

    ``a_bits`` / ``b_bits``: the most fraction bits the operands' values have (their dtype's,
    :func:`stored_fraction_bits`); slices that keep them all are the operand itself. Other truncated
    slices of ``b`` (usually a weight) are cached on the torch tensor itself unless ``cache_b`` is
    False (an operand made for this call, e.g. gathered KV-cache pages).
    ``rounded_to_bfloat16``: nothing reads the float32 sum, so the result is returned rounded to
    bfloat16 (NaNs canonical, as ``round_to_bfloat16`` gives them), and a one-phase product of
    bfloat16-exact slices may run as a bfloat16 GEMM (``_gemm``).
    """
    terms = _FIDELITY_TERMS[fidelity]
    if (
        rounded_to_bfloat16
        and _gemm.BFLOAT16_GEMM
        and len(terms) == 1
        and not a.is_meta
        and (cache_b or _gemm.worth_bfloat16(a.shape[-2] * a.shape[-1] * b.shape[-2 if transpose_b else -1]))
    ):
        (srca_high, srca_low), (srcb_high, srcb_low) = terms[0]
        bfloat16_bits = _STORED_FRACTION_BITS[DataType.BFLOAT16]
        # Each slice keeps min(its phase's bits, the source register's, the operand's own) fraction bits.
        a_kept = min(srcb_high, _SRC_REGISTER_FRACTION_BITS, a_bits)
        b_kept = min(srca_high, _SRC_REGISTER_FRACTION_BITS, b_bits)
        if not srca_low and not srcb_low and max(a_kept, b_kept) <= bfloat16_bits:
            return _bfloat16_matmul(
                a, b, transpose_a, transpose_b, a_high=srcb_high, b_high=srca_high,
                a_bits=a_bits, b_bits=b_bits, cache_b=cache_b,
            )  # fmt: skip
    b_cache = None
    if cache_b and any(low or min(high, _SRC_REGISTER_FRACTION_BITS) < b_bits for (high, low), _ in terms):
        b_cache = _weight_cache(b)
    out = None
    for (srca_high, srca_low), (srcb_high, srcb_low) in terms:
        # A truncated copy is contiguous; the operand kept as is must be too (same torch matmul call).
        a_part = _operand_slice(a, srcb_high, srcb_low, None, a_bits).contiguous()
        b_part = _operand_slice(b, srca_high, srca_low, b_cache, b_bits)
        if transpose_a:
            a_part = a_part.transpose(-1, -2)
        if transpose_b:
            b_part = b_part.transpose(-1, -2)
        term = torch.matmul(a_part, b_part)
        out = term if out is None else out + term
    return _numerics.round_to_bfloat16(out) if rounded_to_bfloat16 else out


def _bfloat16_matmul(a, b, transpose_a, transpose_b, *, a_high: int, b_high: int, a_bits, b_bits, cache_b):
    """One-phase product of bfloat16-exact slices on the bfloat16 GEMM, as float32 bfloat16 values.

    ``b``'s bfloat16 slice is cached on it (``cache_b``): the copy the GEMM reads, at half the
    bytes of a float32 one; no float32 slice is kept.
    """
    b_cache = _weight_cache(b) if cache_b else None
    a_part = _operand_slice(a, a_high, 0, None, a_bits).to(torch.bfloat16)
    if b_cache is not None and _gemm.PACKED_WEIGHTS and not transpose_a and all(d == 1 for d in b.shape[:-2]):
        key = ("bfloat16-packed", b_high, transpose_b)
        packed = b_cache.get(key)
        if packed is None:
            weight = _operand_slice(b, b_high, 0, None, b_bits).to(torch.bfloat16).reshape(b.shape[-2:])
            packed = b_cache[key] = _gemm.pack_weight(weight if transpose_b else weight.t())
        return _numerics.bfloat16_values(_gemm.packed_linear(a_part, packed))
    key = ("bfloat16", b_high)
    b_part = b_cache.get(key) if b_cache is not None else None
    if b_part is None:
        b_part = _operand_slice(b, b_high, 0, None, b_bits).to(torch.bfloat16)
        if b_cache is not None:
            b_cache[key] = b_part
    if transpose_a:
        a_part = a_part.transpose(-1, -2)
    if transpose_b:
        b_part = b_part.transpose(-1, -2)
    return _numerics.bfloat16_values(torch.matmul(a_part, b_part))


# --- op ---------------------------------------------------------------------------------------
def _default_fidelity(
    a: Tensor, b: Tensor, has_program_config: bool, has_core_grid: bool, arch
) -> MathFidelity:
    """matmul_device_operation.cpp create_matmul_attributes: the op's own default fidelity."""
    if a.dtype == DataType.FLOAT32 and b.dtype == DataType.FLOAT32:
        return MathFidelity.HiFi3 if arch == Arch.WORMHOLE_B0 else MathFidelity.HiFi4
    low_precision = a.dtype in _LOW_PRECISION and b.dtype in _LOW_PRECISION
    return (
        MathFidelity.HiFi2
        if not (has_program_config or has_core_grid or low_precision)
        else MathFidelity.LoFi
    )


def _matmul_shape(op: str, a_shape, b_shape) -> validation.MatmulShape:
    if len(a_shape) < 2 or len(b_shape) < 2:
        fail(op, f"input tensors must be at least 2D, got {list(a_shape)} and {list(b_shape)}")
    check(
        a_shape[-1] == b_shape[-2],
        validation.R_INNER,
        f"the width of input_tensor_a ({a_shape[-1]}) must equal the height of input_tensor_b ({b_shape[-2]}); "
        f"shapes {list(a_shape)} and {list(b_shape)}",
        op=op,
    )
    batch = math.prod(a_shape[:-2])
    b_batch = math.prod(b_shape[:-2])
    check(
        b_batch == 1 or tuple(a_shape[:-2]) == tuple(b_shape[:-2]),
        validation.R_BATCH,
        f"batch dims of input_tensor_a {list(a_shape[:-2])} and input_tensor_b {list(b_shape[:-2])} must match "
        "(same rank) unless b's batch is 1",
        op=op,
    )

    def tiles(n):
        return -(-n // TILE_SIZE)

    return validation.MatmulShape(
        batch=batch, mt=tiles(a_shape[-2]), kt=tiles(a_shape[-1]), nt=tiles(b_shape[-1]), b_batch=b_batch
    )


def _transposed(shape, flag: bool):
    return (*shape[:-2], shape[-1], shape[-2]) if flag else tuple(shape)


def _check_operand(op: str, name: str, tensor: Tensor) -> None:
    require_on_device(op, name, tensor)
    check(
        tensor.layout == Layout.TILE,
        validation.R_BIAS_TILE if name == "bias" else validation.R_TILE,
        f"{name} must be in TILE layout, got {tensor.layout.name}",
        op=op,
    )
    if name == "input_tensor_a":
        check(
            tensor.dtype in _FLOAT_DTYPES,
            validation.R_A_FLOAT,
            f"{name} dtype must be one of {[d.name for d in _FLOAT_DTYPES]}, got {tensor.dtype.name}",
            op=op,
        )
    elif tensor.dtype not in _FLOAT_DTYPES:  # the emulator computes float operands only
        fail(op, f"{name} dtype must be one of {[d.name for d in _FLOAT_DTYPES]}, got {tensor.dtype.name}")


def _check_bias(op: str, bias: Tensor, b_shape, b_padded_width: int) -> None:
    shape, padded = list(bias.shape), list(bias.padded_shape)
    check(
        math.prod(shape[:-2]) == 1,
        validation.R_BIAS_BATCH,
        f"bias must be a row vector of shape [1, {b_shape[-1]}], got {shape} (batch {math.prod(shape[:-2])})",
        op=op,
    )
    check(
        len(padded) >= 2 and padded[-2] == TILE_SIZE or len(padded) == 1,
        validation.R_BIAS_ROWS,
        f"bias must be a row vector of shape [1, {b_shape[-1]}] (one tile row after padding), got {shape}",
        op=op,
    )
    check(
        padded[-1] == b_padded_width and shape[-1] >= b_shape[-1],
        validation.R_BIAS_WIDTH,
        f"bias must be a row vector of shape [1, {b_shape[-1]}] (one tile row after padding), got {shape}",
        op=op,
    )


def _run(
    op: str,
    input_tensor_a,
    input_tensor_b,
    *,
    bias,
    transpose_a: bool,
    transpose_b: bool,
    memory_config,
    dtype,
    program_config,
    activation,
    compute_kernel_config,
    core_grid,
    output_tile,
    optional_output_tensor,
) -> Tensor:
    _check_operand(op, "input_tensor_a", input_tensor_a)
    _check_operand(op, "input_tensor_b", input_tensor_b)
    if bias is not None:
        _check_operand(op, "bias", bias)
    device = same_device(op, input_tensor_a, input_tensor_b, bias)
    if output_tile is not None:
        fail(op, "output_tile (tiny tiles) is not modelled by the emulator", NotImplementedError)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        fail(op, f"dtype must be one of {[d.name for d in _FLOAT_DTYPES]}, got {dtype!r}")
    if program_config is not None and not isinstance(program_config, validation.PROGRAM_CONFIG_TYPES):
        fail(
            op,
            f"program_config must be a ttnn Matmul*ProgramConfig, got {type(program_config).__name__}",
            TypeError,
        )
    if program_config is not None and core_grid is not None:
        fail(op, "pass either program_config or core_grid, not both")
    if core_grid is not None and not isinstance(core_grid, CoreGrid):
        fail(op, f"core_grid must be a ttnn.CoreGrid, got {type(core_grid).__name__}", TypeError)
    if compute_kernel_config is not None and not isinstance(
        compute_kernel_config, WormholeComputeKernelConfig
    ):
        fail(
            op,
            f"compute_kernel_config must be a ttnn.WormholeComputeKernelConfig, got {type(compute_kernel_config).__name__}",
            TypeError,
        )
    fused = resolve_activation(op, "activation", activation)
    if program_config is not None and getattr(program_config, "fused_activation", None) is not None:
        if fused is not None:
            fail(op, "activation= and program_config.fused_activation are both set; use one")
        fused = program_config.fused_activation
    if optional_output_tensor is not None:
        require_tensor(op, "optional_output_tensor", optional_output_tensor)
        dtype = dtype or optional_output_tensor.dtype
        memory_config = memory_config or optional_output_tensor.memory_config()

    a_shape = _transposed(input_tensor_a.shape, transpose_a)
    b_shape = _transposed(input_tensor_b.shape, transpose_b)
    shape = _matmul_shape(op, a_shape, b_shape)
    out_dtype = dtype or input_tensor_a.dtype
    kernel = init_device_compute_kernel_config(
        device.arch(),
        compute_kernel_config,
        math_fidelity=_default_fidelity(
            input_tensor_a, input_tensor_b, program_config is not None, core_grid is not None, device.arch()
        ),
        math_approx_mode=False,
        fp32_dest_acc_en=out_dtype == DataType.FLOAT32,
        packer_l1_acc=out_dtype != DataType.FLOAT32,
    )
    if bias is not None:
        _check_bias(op, bias, b_shape, -(-b_shape[-1] // TILE_SIZE) * TILE_SIZE)
    out_memory_config = memory_config or DRAM_MEMORY_CONFIG
    if program_config is not None:
        plan = validation.plan_matmul(
            op,
            program_config,
            shape,
            input_tensor_a,
            input_tensor_b,
            bias,
            out_memory_config,
            out_dtype,
            device,
            kernel,
        )
        out_memory_config, cores_used = plan.output_memory_config, len(plan.cores)
    else:
        grid = device.compute_with_storage_grid_size()
        available = core_grid.num_cores if core_grid is not None else grid.x * grid.y
        cores_used = max(1, min(available, shape.mt_fused * shape.nt))

    fidelity = kernel.math_fidelity
    fp32_acc = kernel.fp32_dest_acc_en
    activations = [fused] if fused is not None else []

    # The last bfloat16 rounding of the destination register is the output rounding itself when the
    # output is bfloat16 (rounding is idempotent), so it is left to new_tensor.
    round_last = not fp32_acc and out_dtype != DataType.BFLOAT16

    a_bits = stored_fraction_bits(input_tensor_a.dtype)
    b_bits = stored_fraction_bits(input_tensor_b.dtype)

    # Nothing reads the float32 sum before it is rounded to bfloat16 (no bias added to it, no
    # activation or output rounding from float32 first): the product may run as a bfloat16 GEMM.
    rounded = bias is None and (not fp32_acc or (out_dtype == DataType.BFLOAT16 and not activations))

    def compute(a, b, bias_shard=None):
        out = _fidelity_matmul(
            a,
            b,
            fidelity,
            transpose_a,
            transpose_b,
            a_bits=a_bits,
            b_bits=b_bits,
            rounded_to_bfloat16=rounded,
        )
        if bias_shard is not None:  # the kernel adds the bias tile's first row to every row
            row = bias_shard.reshape(-1, bias_shard.shape[-1])[:1, : out.shape[-1]]
            out = out + row
        if activations:
            if not fp32_acc and not rounded:
                out = _to_bfloat16(out)
            out = apply_activations(out, activations)
            return _to_bfloat16(out) if round_last else out
        return _to_bfloat16(out) if round_last and not rounded else out

    args = (input_tensor_a, input_tensor_b) + ((bias,) if bias is not None else ())
    shards = shard_map(compute, *args)
    already_rounded = rounded and not activations and out_dtype == DataType.BFLOAT16
    out = new_tensor(
        op, shards, out_dtype, Layout.TILE, device, out_memory_config, already_rounded=already_rounded
    )
    if optional_output_tensor is not None:
        if tuple(optional_output_tensor.shape) != tuple(out.shape):
            fail(
                op,
                f"optional_output_tensor has shape {list(optional_output_tensor.shape)}, the result is {list(out.shape)}",
            )
        optional_output_tensor._shards = out.shards
        out = optional_output_tensor
    padded_m = shape.mt_fused * TILE_SIZE
    flops = 2 * padded_m * shape.kt * TILE_SIZE * shape.nt * TILE_SIZE
    flops += padded_m * shape.nt * TILE_SIZE * activation_flops(activations)
    record(
        op,
        device,
        args,
        [out],
        flops=flops,
        math_fidelity=fidelity,
        compute_dtype=min(input_tensor_a.dtype, input_tensor_b.dtype, key=_PRECISION_RANK.__getitem__),
        cores_used=cores_used,
        program_config=type(program_config).__name__ if program_config is not None else None,
        fp32_dest_acc_en=fp32_acc,
    )
    return out


_PRECISION_RANK = {DataType.BFLOAT4_B: 0, DataType.BFLOAT8_B: 1, DataType.BFLOAT16: 2, DataType.FLOAT32: 3}


def matmul(
    input_tensor_a: Tensor,
    input_tensor_b: Tensor,
    *,
    transpose_a: bool = False,
    transpose_b: bool = False,
    memory_config: MemoryConfig | None = None,
    dtype: DataType | None = None,
    program_config=None,
    activation=None,
    compute_kernel_config: WormholeComputeKernelConfig | None = None,
    core_grid: CoreGrid | None = None,
    output_tile=None,
    optional_output_tensor: Tensor | None = None,
) -> Tensor:
    """``input_tensor_a @ input_tensor_b``: ``(..., M, K) @ (..., K, N) -> (..., M, N)``.

    b's batch dims must equal a's or be all 1 (broadcast). See the module docstring for the
    numerics; program configs are validated against the shapes, the grid and L1.
    """
    return _run(
        "ttnn.matmul",
        input_tensor_a,
        input_tensor_b,
        bias=None,
        transpose_a=transpose_a,
        transpose_b=transpose_b,
        memory_config=memory_config,
        dtype=dtype,
        program_config=program_config,
        activation=activation,
        compute_kernel_config=compute_kernel_config,
        core_grid=core_grid,
        output_tile=output_tile,
        optional_output_tensor=optional_output_tensor,
    )


def linear(
    input_tensor_a: Tensor,
    input_tensor_b: Tensor,
    *,
    bias: Tensor | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
    memory_config: MemoryConfig | None = None,
    dtype: DataType | None = None,
    program_config=None,
    activation=None,
    compute_kernel_config: WormholeComputeKernelConfig | None = None,
    core_grid: CoreGrid | None = None,
    output_tile=None,
    optional_output_tensor: Tensor | None = None,
) -> Tensor:
    """``input_tensor_a @ input_tensor_b + bias``; weights are ``(K, N)`` (transposed HF layout).

    Args:
        input_tensor_a: activations ``(..., M, K)``, TILE layout.
        input_tensor_b: weight ``(K, N)`` (or ``(1, 1, K, N)``), TILE layout.
        bias: optional row ``(1, N)`` / ``(1, 1, 1, N)``, broadcast over the rows.
    """
    return _run(
        "ttnn.linear",
        input_tensor_a,
        input_tensor_b,
        bias=bias,
        transpose_a=transpose_a,
        transpose_b=transpose_b,
        memory_config=memory_config,
        dtype=dtype,
        program_config=program_config,
        activation=activation,
        compute_kernel_config=compute_kernel_config,
        core_grid=core_grid,
        output_tile=output_tile,
        optional_output_tensor=optional_output_tensor,
    )
