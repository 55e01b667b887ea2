"""Normalization ops: ``rms_norm``, ``layer_norm`` and their distributed (pre/post all-gather) halves.

Numerics (an approximation, documented here once): statistics are computed on torch in float32
over the LOGICAL width. The device keeps its intermediates (E[x], E[x^2], 1/sqrt(var+eps), the
normalized x) in its intermediate circular buffers, which are float32 when the compute kernel
config has ``fp32_dest_acc_en=True`` and bfloat16 otherwise (tt-metal layernorm program factories
pick the intermediate format that way); the emulator rounds each intermediate to that format.
Math fidelity is recorded for the perf model but its effect on the multiplies is not modelled
(norm multiplies are bfloat16 x bfloat16, which HiFi2 and above compute exactly).

Distributed statistics layout (as tt-metal's ``layernorm_distributed`` pre-all-gather op writes
it): one 32-wide tile column per statistic per device, the value in column 0 of that tile, the
other 31 columns zero. ``rms_norm_pre_all_gather`` -> ``(..., rows, 32)`` holding sum(x^2);
``layer_norm_pre_all_gather`` -> ``(..., rows, 64)`` holding sum(x^2) then sum(x) (the order of
tt-metal's ``layernorm_pre_allgather.cpp`` compute kernel). After an
``all_gather`` on the last dim the post op sums column 0 of every tile of its statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _numerics
from ._memory import CoreCoord, MemoryConfig
from ._op import (
    fail,
    new_tensor,
    record,
    require_dtype,
    require_on_device,
    require_tensor,
    same_device,
    shard_map,
)
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import (
    TILE_SIZE,
    BufferType,
    DataType,
    Layout,
    MathFidelity,
    ShardOrientation,
    TensorMemoryLayout,
)

__all__ = [
    "LayerNormDefaultProgramConfig",
    "LayerNormShardedMultiCoreProgramConfig",
    "layer_norm",
    "layer_norm_post_all_gather",
    "layer_norm_pre_all_gather",
    "rms_norm",
    "rms_norm_post_all_gather",
    "rms_norm_pre_all_gather",
]

_INPUT_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B)
_WEIGHT_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32)  # ROW_MAJOR weights; TILE ones may be any float
_FLOAT_WEIGHT_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B, DataType.BFLOAT4_B)
# Each output element costs ~ a square, a reduce-add, a normalize multiply and the gamma/beta ops.
_FLOPS_PER_ELEMENT_RMS = 4
_FLOPS_PER_ELEMENT_LAYER = 6

# --- rules (rms_norm runs the layer_norm device op; errors name the public call) -------------------
_LN = "ttnn.layer_norm"
_PRE = "ttnn.layer_norm_pre_all_gather"
_POST = "ttnn.layer_norm_post_all_gather"
_LN_SRC = "ttnn/cpp/ttnn/operations/normalization/layernorm/device/layernorm_device_operation.cpp: validate_on_program_cache_miss"
_SHARDED_SRC = "ttnn/cpp/ttnn/operations/normalization/layernorm/device/layernorm_op_multi_core_sharded.cpp"
_DIST = "ttnn/cpp/ttnn/operations/normalization/layernorm_distributed/device"
_PRE_SRC = f"{_DIST}/layernorm_pre_all_gather_device_operation.cpp: validate_on_program_cache_miss"
_POST_SRC = f"{_DIST}/layernorm_post_all_gather_device_operation.cpp: validate_on_program_cache_miss"
R_INPUT_TILE = rule(
    "norm.input_tile",
    _LN,
    "input_tensor is TILE layout",
    _LN_SRC,
    message="Input tensor must have TILE layout, got: {}",
)
R_INPUT_DTYPE = rule(
    "norm.input_dtype",
    _LN,
    "input_tensor is FLOAT32, BFLOAT16 or BFLOAT8_B",
    _LN_SRC,
    message="Input tensor must be FLOAT32, BFLOAT16, or BFLOAT8_B, got: {}",
)
R_RESIDUAL_TILE = rule(
    "norm.residual_tile",
    _LN,
    "residual_input_tensor is TILE layout",
    _LN_SRC,
    message="Residual tensor must have TILE layout, got: {}",
)
R_RESIDUAL_SHAPE = rule(
    "norm.residual_shape",
    _LN,
    "residual_input_tensor has the input's logical and padded shape",
    _LN_SRC,
    message="Input and residual logical and padded shapes must match, got input: logical={} padded={} vs residual: logical={} padded={}",
)
R_AFFINE_TILE = rule(
    "norm.affine_tile_shape",
    _LN,
    "a TILE weight/bias has the input's padded width and one tile row",
    f"{_LN_SRC} + {_POST_SRC}",
    message="Input and beta inner dimensions must match, got input: {} vs beta: {}",
)
R_AFFINE_RM = rule(
    "norm.affine_row_major_shape",
    _LN,
    "a ROW_MAJOR weight/bias is [..., width/32, 32]: last dim 32, volume/32 == input padded width/32",
    f"{_LN_SRC} + {_POST_SRC}",
    message="Gamma tensor must have ROW_MAJOR layout, got: {}",
)
R_AFFINE_DTYPE = rule(
    "norm.affine_row_major_dtype",
    _LN,
    "a ROW_MAJOR weight/bias is FLOAT32 or BFLOAT16",
    f"{_LN_SRC} + {_POST_SRC}",
    message="Gamma tensor must be FLOAT32 or BFLOAT16, got: {}",
)
R_AFFINE_SAME = rule(
    "norm.affine_same_layout",
    _LN,
    "weight and bias have the same layout",
    _LN_SRC,
    message="Gamma and beta must have the same layout!",
)
R_NOT_HEIGHT = rule(
    "norm.sharded_not_height",
    _LN,
    "a sharded input_tensor is not HEIGHT_SHARDED",
    _LN_SRC,
    message="Height sharded inputs are not supported.",
)
R_SHARDED_OUT = rule(
    "norm.sharded_needs_sharded_output",
    _LN,
    "a sharded input_tensor needs a sharded, non-HEIGHT_SHARDED memory_config",
    _LN_SRC,
    message="Sharded inputs require sharded outputs.",
)
R_SHARDED_RESIDUAL = rule(
    "norm.sharded_residual",
    _LN,
    "with a sharded input_tensor, residual_input_tensor has the same memory config and shard spec",
    _LN_SRC,
    message="residual tensor b should be sharded if input a is sharded",
)
R_WELFORD = rule(
    "norm.welford_not_rms",
    _LN,
    "use_welford is not supported for RMS norm",
    f"{_LN_SRC} + {_PRE_SRC}",
    message="Welford's algorithm is not supported for RMSNorm",
)
R_PC_INPUT = rule(
    "norm.sharded_config_needs_sharded_input",
    _LN,
    "LayerNormShardedMultiCoreProgramConfig needs a sharded input_tensor (the op reads its shard spec)",
    _LN_SRC,
)
R_PC_IN_OUT = rule(
    "norm.sharded_in_out_match",
    _LN,
    "sharded config: memory_config has the input's buffer type and memory layout",
    _LN_SRC,
    message="Input and output memory layouts must match, got input: {} vs output: {}",
)
R_PC_SUBBLOCK = rule(
    "norm.sharded_subblock_divides_block",
    _LN,
    "sharded config: subblock_w divides block_w",
    _LN_SRC,
    message="block_w must be divisible by subblock_w.",
)
R_PC_BBOX = rule(
    "norm.sharded_shard_grid_fits",
    _LN,
    "sharded config: the shard grid's extent is smaller than compute_with_storage_grid_size",
    _LN_SRC,
    message="Bounding box dimensions must be smaller than compute grid size, got bbox x: {} to {}, y: {} to {} vs grid size x: {}, y: {}",
)
R_PC_BLOCK_KT = rule(
    "norm.sharded_block_split",
    _LN,
    "sharded config: block_w == ceil(Kt / cores along the width) and block_h == Mt / cores along the height",
    _LN_SRC,
    message="block_w ({}) must equal to K (in tiles) / num_cores ({})",
)
R_PC_BLOCK_SHARD = rule(
    "norm.sharded_block_is_shard",
    _LN,
    "sharded config: block_h x block_w tiles == the shard shape",
    _LN_SRC,
)
R_PC_DEST = rule(
    "norm.sharded_subblock_dest",
    _LN,
    "sharded config: subblock_w <= dest tiles (8 bf16 / 4 fp32 acc, doubled with dst_full_sync_en)",
    f"{_SHARDED_SRC}: layernorm_multi_core_sharded",
    message="subblock_wt={}, but subblock width must less than 4 tiles in fp32 mode when dst_full_sync_en is false",
)
R_DIST_HEIGHT = rule(
    "norm.distributed_sharded_height",
    _LN,
    "pre/post all-gather on a sharded input: padded height is one tile (32 rows)",
    _LN_SRC,
    message="Only activations with batch size = 32 are supported",
)
R_PRE_TILE = rule(
    "norm.pre_input_tile",
    _PRE,
    "input_tensor is TILE layout",
    _PRE_SRC,
    message="Only tilized inputs supported.",
)
R_PRE_DTYPE = rule(
    "norm.pre_input_dtype",
    _PRE,
    "input_tensor is BFLOAT16, BFLOAT8_B or FLOAT32",
    _PRE_SRC,
    message="Input data format not supported.",
)
R_POST_TILE = rule(
    "norm.post_input_tile",
    _POST,
    "input_tensor and stats are TILE layout",
    _POST_SRC,
    message="Stats tensor must have TILE layout, got: {}",
)
R_POST_DTYPE = rule(
    "norm.post_input_dtype",
    _POST,
    "input_tensor is BFLOAT16, BFLOAT8_B or FLOAT32",
    _POST_SRC,
    message="Input tensor must be BFLOAT16, BFLOAT8_B, or FLOAT32, got: {}",
)
R_POST_STATS_DTYPE = rule(
    "norm.post_stats_dtype",
    _POST,
    "stats is BFLOAT16, BFLOAT8_B or FLOAT32",
    _POST_SRC,
    message="Stats tensor must be BFLOAT16, BFLOAT8_B, or FLOAT32, got: {}",
)
R_POST_STATS_DIMS = rule(
    "norm.post_stats_dims",
    _POST,
    "stats' padded dims 0..2 equal the input's",
    _POST_SRC,
    message="Stats and input dim2 must match, got stats: {} vs input: {}",
)
not_mirrored(
    "norm.post_stats_width",
    _POST,
    "stats' padded width is a multiple of 32",
    "implied by norm.post_input_tile: a TILE tensor's padded width is always a whole number of tiles",
)
not_mirrored(
    "norm.post_beta_iff_layernorm",
    _POST,
    "bias is given if and only if the op is layer norm",
    "not in the 0.81.1 build (its message is absent from _ttnncpp.so); newer tt-metal only",
)
not_mirrored(
    "norm.post_sharded_stats",
    _POST,
    "a sharded post-all-gather input needs sharded stats on one core",
    "TTTv2 runs the post-all-gather op on interleaved inputs; the emulator computes sharded ones without this check",
)
not_mirrored(
    "norm.use_2d_core_grid",
    _PRE,
    "use_2d_core_grid program-factory rules",
    "the emulator ignores use_2d_core_grid (a core-placement choice with no effect on values)",
)


@dataclass(frozen=True)
class LayerNormDefaultProgramConfig:
    """Interleaved (multi-core, one row of tiles per core) normalization; keyword-only as in TTNN."""

    legacy_reduction: bool = False
    legacy_rsqrt: bool = False
    use_welford: bool = False

    def __init__(
        self, *, legacy_reduction: bool = False, legacy_rsqrt: bool = False, use_welford: bool = False
    ):
        object.__setattr__(self, "legacy_reduction", bool(legacy_reduction))
        object.__setattr__(self, "legacy_rsqrt", bool(legacy_rsqrt))
        object.__setattr__(self, "use_welford", bool(use_welford))


@dataclass(frozen=True)
class LayerNormShardedMultiCoreProgramConfig:
    """Sharded normalization: each core normalizes its ``block_h x block_w`` tiles of a width/block shard.

    Attributes:
        compute_with_storage_grid_size: grid (x, y) the op runs on; must lie inside the device grid.
        subblock_w: tiles per compute sub-block; must divide ``block_w``.
        block_h: shard height in tiles (shard_shape[0] / 32).
        block_w: shard width in tiles (shard_shape[1] / 32).
        inplace: write the output over the input buffer.
    """

    compute_with_storage_grid_size: CoreCoord
    subblock_w: int
    block_h: int
    block_w: int
    inplace: bool
    legacy_reduction: bool = False
    legacy_rsqrt: bool = False
    use_welford: bool = False

    def __init__(
        self,
        *,
        compute_with_storage_grid_size,
        subblock_w: int,
        block_h: int,
        block_w: int,
        inplace: bool,
        legacy_reduction: bool = False,
        legacy_rsqrt: bool = False,
        use_welford: bool = False,
    ):
        where = "LayerNormShardedMultiCoreProgramConfig"
        grid = compute_with_storage_grid_size
        if isinstance(grid, tuple):
            grid = CoreCoord(*grid)
        if not isinstance(grid, CoreCoord):
            raise TypeError(
                f"{where}: compute_with_storage_grid_size must be a ttnn.CoreCoord, got {type(grid).__name__}"
            )
        for name, value in (("subblock_w", subblock_w), ("block_h", block_h), ("block_w", block_w)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
        object.__setattr__(self, "compute_with_storage_grid_size", grid)
        object.__setattr__(self, "subblock_w", subblock_w)
        object.__setattr__(self, "block_h", block_h)
        object.__setattr__(self, "block_w", block_w)
        object.__setattr__(self, "inplace", bool(inplace))
        object.__setattr__(self, "legacy_reduction", bool(legacy_reduction))
        object.__setattr__(self, "legacy_rsqrt", bool(legacy_rsqrt))
        object.__setattr__(self, "use_welford", bool(use_welford))


# --- argument checks -----------------------------------------------------------------------------


def _kernel_config(compute_kernel_config, device):
    """The effective compute kernel config: TTNN's normalization default is HiFi4 without fp32 accumulation."""
    from ._ops_matmul import init_device_compute_kernel_config  # noqa: PLC0415 - keeps module load order free

    return init_device_compute_kernel_config(
        device.arch(), compute_kernel_config, math_fidelity=MathFidelity.HiFi4, math_approx_mode=True
    )


def _check_input(op: str, input_tensor, residual_input_tensor) -> None:
    require_on_device(op, "input_tensor", input_tensor)
    check(
        input_tensor.layout == Layout.TILE,
        R_INPUT_TILE,
        f"input_tensor must be in TILE layout, got {input_tensor.layout.name}",
        op=op,
    )
    check(
        input_tensor.dtype in _INPUT_DTYPES,
        R_INPUT_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}",
        op=op,
    )
    check(
        input_tensor.memory_config().memory_layout != TensorMemoryLayout.HEIGHT_SHARDED,
        R_NOT_HEIGHT,
        "input_tensor is HEIGHT_SHARDED; normalization supports interleaved, WIDTH_SHARDED or BLOCK_SHARDED inputs",
        op=op,
    )
    if residual_input_tensor is not None:
        require_on_device(op, "residual_input_tensor", residual_input_tensor)
        check(
            residual_input_tensor.layout == Layout.TILE,
            R_RESIDUAL_TILE,
            f"residual_input_tensor is {residual_input_tensor.layout.name}",
            op=op,
        )
        require_dtype(op, "residual_input_tensor", residual_input_tensor, *_INPUT_DTYPES)
        check(
            residual_input_tensor.padded_shape == input_tensor.padded_shape
            and residual_input_tensor.shape == input_tensor.shape,
            R_RESIDUAL_SHAPE,
            f"residual_input_tensor padded shape {list(residual_input_tensor.padded_shape)} (logical "
            f"{list(residual_input_tensor.shape)}) must match input_tensor padded shape "
            f"{list(input_tensor.padded_shape)} (logical {list(input_tensor.shape)})",
            op=op,
        )
        if input_tensor.is_sharded():
            check(
                residual_input_tensor.memory_config() == input_tensor.memory_config(),
                R_SHARDED_RESIDUAL,
                "residual_input_tensor must be sharded exactly as input_tensor (same memory config and shard spec)",
                op=op,
            )


def _check_gamma_beta(op: str, arg: str, tensor, width: int) -> None:
    """Weight/bias: TILE with the input's padded width (one tile row), or ROW_MAJOR ``[..., width/32, 32]``."""
    if tensor is None:
        return
    require_on_device(op, arg, tensor)
    shape = list(tensor.shape)
    padded_w = -(-width // TILE_SIZE) * TILE_SIZE
    if tensor.layout == Layout.TILE:
        if tensor.dtype not in _FLOAT_WEIGHT_DTYPES:
            fail(op, f"{arg} dtype {tensor.dtype.name} is not a float dtype")
        check(
            tensor.padded_shape[-1] == padded_w and len(shape) >= 2 and tensor.padded_shape[-2] == TILE_SIZE,
            R_AFFINE_TILE,
            f"{arg} in TILE layout must have shape [1, ..., {width}] (one tile row, padded width {padded_w}), got {shape}",
            op=op,
        )
        if tensor.shape.volume() != tensor.shape[-1] or tensor.shape[-1] != width:
            # One row of gamma per column: more rows or another width cannot be the affine vector.
            fail(op, f"{arg} in TILE layout must be one row of width {width}, got {shape}")
    else:
        check(
            tensor.padded_shape[-1] == TILE_SIZE
            and tensor.shape.volume() // TILE_SIZE == padded_w // TILE_SIZE,
            R_AFFINE_RM,
            f"{arg} {shape} holds {tensor.shape.volume()} values; in ROW_MAJOR layout it must be "
            f"[1, 1, width/32, 32] holding {padded_w} (input width {width} padded to a tile)",
            op=op,
        )
        check(
            tensor.dtype in _WEIGHT_DTYPES,
            R_AFFINE_DTYPE,
            f"{arg} dtype {tensor.dtype.name} is not BFLOAT16 or FLOAT32 (ROW_MAJOR weight/bias)",
            op=op,
        )


def _check_affine_pair(op: str, weight, bias) -> None:
    if weight is not None and bias is not None:
        check(
            weight.layout == bias.layout,
            R_AFFINE_SAME,
            f"weight is {weight.layout.name}, bias is {bias.layout.name}",
            op=op,
        )


def _row(shard, width: int):
    """A weight/bias shard as a ``(width,)`` vector (drops the tile padding of ROW_MAJOR weights)."""
    return None if shard is None else shard.reshape(-1)[:width]


def _check_program_config(
    op: str, program_config, input_tensor, memory_config, device, compute_kernel_config, rms: bool = False
) -> None:
    if getattr(program_config, "use_welford", False):
        check(not rms, R_WELFORD, "program_config.use_welford=True with an RMS norm", op=op)
    if input_tensor.is_sharded():
        out = memory_config or input_tensor.memory_config()
        check(
            out.is_sharded() and out.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED,
            R_SHARDED_OUT,
            f"input_tensor is sharded, memory_config is {out.memory_layout.name}",
            op=op,
        )
    if program_config is None or isinstance(program_config, LayerNormDefaultProgramConfig):
        if input_tensor.is_sharded() and program_config is not None:
            fail(
                op,
                "program_config: LayerNormDefaultProgramConfig needs an interleaved input_tensor; it is sharded "
                "(use LayerNormShardedMultiCoreProgramConfig)",
            )
        if memory_config is not None and memory_config.is_sharded() and not input_tensor.is_sharded():
            fail(
                op,
                "memory_config: a sharded output of an interleaved input_tensor is not modelled by the emulator",
            )
        return
    if not isinstance(program_config, LayerNormShardedMultiCoreProgramConfig):
        fail(
            op,
            f"program_config must be LayerNormDefaultProgramConfig or LayerNormShardedMultiCoreProgramConfig, "
            f"got {type(program_config).__name__}",
            TypeError,
        )
    check(
        input_tensor.is_sharded(),
        R_PC_INPUT,
        "program_config: LayerNormShardedMultiCoreProgramConfig needs a WIDTH_SHARDED or BLOCK_SHARDED input_tensor; "
        "it is interleaved",
        op=op,
    )
    input_config = input_tensor.memory_config()
    if input_config.buffer_type != BufferType.L1:
        fail(op, "input_tensor must be sharded in L1 for LayerNormShardedMultiCoreProgramConfig")
    out = memory_config or input_config
    check(
        out.memory_layout == input_config.memory_layout and out.buffer_type == input_config.buffer_type,
        R_PC_IN_OUT,
        f"memory_config {out.memory_layout.name}/{out.buffer_type.name} must match the "
        f"sharded input_tensor's {input_config.memory_layout.name}/{input_config.buffer_type.name}",
        op=op,
    )
    pc = program_config
    check(
        pc.block_w % pc.subblock_w == 0,
        R_PC_SUBBLOCK,
        f"program_config.subblock_w={pc.subblock_w} must divide block_w={pc.block_w}",
        op=op,
    )
    grid = pc.compute_with_storage_grid_size
    device_grid = device.compute_with_storage_grid_size()
    if grid.x > device_grid.x or grid.y > device_grid.y:
        fail(
            op,
            f"program_config.compute_with_storage_grid_size ({grid.x},{grid.y}) exceeds the device grid "
            f"({device_grid.x},{device_grid.y})",
        )
    spec = input_config.shard_spec
    box = spec.grid.bounding_box()
    check(
        box.end.x - box.start.x < grid.x and box.end.y - box.start.y < grid.y,
        R_PC_BBOX,
        f"program_config.compute_with_storage_grid_size ({grid.x},{grid.y}) is smaller than the input shard grid "
        f"({box.start.x},{box.start.y})-({box.end.x},{box.end.y})",
        op=op,
    )
    shard_h, shard_w = spec.shape
    height = input_tensor.padded_shape.volume() // input_tensor.padded_shape[-1]
    mt, kt = height // TILE_SIZE, input_tensor.padded_shape[-1] // TILE_SIZE
    if height == pc.block_h * TILE_SIZE:  # one row of shards: the op multicasts along the width only
        want_w, want_h = -(-kt // spec.grid.num_cores()), mt
    elif spec.orientation == ShardOrientation.ROW_MAJOR:
        want_w, want_h = -(-kt // (box.end.x + 1)), mt // (box.end.y + 1)
    else:
        want_w, want_h = -(-kt // (box.end.y + 1)), mt // (box.end.x + 1)
    wrong = "block_w" if pc.block_w != want_w else "block_h"
    check(
        pc.block_w == want_w and pc.block_h == want_h,
        R_PC_BLOCK_KT,
        f"program_config.{wrong}: block_h x block_w = {pc.block_h} x {pc.block_w} tiles; the {mt} x {kt}-tile "
        f"input on this shard grid needs {want_h} x {want_w}",
        op=op,
    )
    wrong = "block_w" if pc.block_w * TILE_SIZE != shard_w else "block_h"
    check(
        pc.block_h * TILE_SIZE == shard_h and pc.block_w * TILE_SIZE == shard_w,
        R_PC_BLOCK_SHARD,
        f"program_config.{wrong}: block_h x block_w = {pc.block_h} x {pc.block_w} tiles must equal the shard "
        f"shape {shard_h} x {shard_w} / 32",
        op=op,
    )
    fp32, full_sync = compute_kernel_config.fp32_dest_acc_en, compute_kernel_config.dst_full_sync_en
    max_subblock = (8 if full_sync else 4) if fp32 else (16 if full_sync else 8)
    check(
        pc.subblock_w <= max_subblock,
        R_PC_DEST,
        f"program_config.subblock_w={pc.subblock_w} exceeds {max_subblock} tiles "
        f"(fp32_dest_acc_en={fp32}, dst_full_sync_en={full_sync})",
        op=op,
    )


def _output_memory_config(input_tensor: Tensor, memory_config: MemoryConfig | None) -> MemoryConfig:
    if memory_config is None or (input_tensor.is_sharded() and memory_config.shard_spec is None):
        return input_tensor.memory_config()
    return memory_config


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


# --- math ------------------------------------------------------------------------------------------


def _intermediate(x: torch.Tensor, fp32_acc: bool) -> torch.Tensor:
    return x if fp32_acc else _numerics.round_to_bfloat16(x)


def _normalize(x, sum_x, sum_x2, n: int, epsilon: float, gamma, beta, fp32_acc: bool, rms: bool):
    """(x - mean) / sqrt(var + eps) * gamma + beta from per-row sums over ``n`` elements."""
    mean_x2 = _intermediate(sum_x2 / n, fp32_acc)
    if rms:
        centered, variance = x, mean_x2
    else:
        mean = _intermediate(sum_x / n, fp32_acc)
        centered = _intermediate(x - mean, fp32_acc)
        variance = _intermediate(mean_x2 - mean * mean, fp32_acc).clamp_min(0.0)
    inv_std = _intermediate(torch.rsqrt(variance + epsilon), fp32_acc)
    out = _intermediate(centered * inv_std, fp32_acc)
    if gamma is not None:
        out = out * gamma
    if beta is not None:
        out = out + beta
    return out


def _norm(
    op: str,
    rms: bool,
    input_tensor,
    epsilon,
    weight,
    bias,
    residual_input_tensor,
    memory_config,
    program_config,
    compute_kernel_config,
):
    _check_input(op, input_tensor, residual_input_tensor)
    _check_memory_config(op, memory_config)
    width = input_tensor.shape[-1]
    _check_gamma_beta(op, "weight", weight, width)
    _check_gamma_beta(op, "bias", bias, width)
    _check_affine_pair(op, weight, bias)
    device = same_device(op, input_tensor, residual_input_tensor, weight, bias)
    kernel = _kernel_config(compute_kernel_config, device)
    _check_program_config(op, program_config, input_tensor, memory_config, device, kernel, rms)
    fp32_acc = kernel.fp32_dest_acc_en

    def compute(x, residual, gamma, beta):
        if residual is not None:
            x = _intermediate(x + residual, fp32_acc)
        sum_x = None if rms else x.sum(dim=-1, keepdim=True)  # RMS norm does not center
        sum_x2 = (x * x).sum(dim=-1, keepdim=True)
        return _normalize(
            x, sum_x, sum_x2, width, epsilon, _row(gamma, width), _row(beta, width), fp32_acc, rms
        )

    shards = shard_map(compute, input_tensor, residual_input_tensor, weight, bias)
    out = new_tensor(
        op,
        shards,
        input_tensor.dtype,
        Layout.TILE,
        device,
        _output_memory_config(input_tensor, memory_config),
    )
    per_element = _FLOPS_PER_ELEMENT_RMS if rms else _FLOPS_PER_ELEMENT_LAYER
    record(
        op,
        device,
        [input_tensor, residual_input_tensor, weight, bias],
        [out],
        flops=per_element * input_tensor.padded_shape.volume(),
        math_fidelity=kernel.math_fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_acc else DataType.BFLOAT16,
        cores_used=_cores_used(input_tensor, program_config, device),
    )
    return out


def _cores_used(input_tensor: Tensor, program_config, device) -> int:
    if input_tensor.is_sharded():
        return input_tensor.memory_config().shard_spec.grid.num_cores()
    grid = device.compute_with_storage_grid_size()
    rows_of_tiles = max(1, input_tensor.padded_shape.volume() // input_tensor.padded_shape[-1] // TILE_SIZE)
    return min(grid.x * grid.y, rows_of_tiles)


def rms_norm(
    input_tensor: Tensor,
    *,
    epsilon: float = 1e-12,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    residual_input_tensor: Tensor | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
) -> Tensor:
    """RMS norm over the last dim: ``x / sqrt(eps + mean(x^2)) * weight + bias`` (x = input + residual).

    Args:
        input_tensor: TILE ``(..., rows, width)`` BFLOAT16/FLOAT32/BFLOAT8_B, interleaved or width/block sharded.
        weight / bias: BFLOAT16/FLOAT32, TILE ``(1, ..., width)`` or ROW_MAJOR ``(1, 1, width/32, 32)``.
    """
    return _norm(
        "ttnn.rms_norm",
        True,
        input_tensor,
        epsilon,
        weight,
        bias,
        residual_input_tensor,
        memory_config,
        program_config,
        compute_kernel_config,
    )


def layer_norm(
    input_tensor: Tensor,
    *,
    epsilon: float = 1e-12,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    residual_input_tensor: Tensor | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
    recip_tensor: Tensor | None = None,
) -> Tensor:
    """Layer norm over the last dim: ``(x - mean) / sqrt(var + eps) * weight + bias`` (biased variance)."""
    op = "ttnn.layer_norm"
    if getattr(program_config, "use_welford", False) and recip_tensor is None:
        fail(op, "program_config.use_welford=True needs recip_tensor (ttnn.create_layer_norm_reciprocals)")
    return _norm(
        op,
        False,
        input_tensor,
        epsilon,
        weight,
        bias,
        residual_input_tensor,
        memory_config,
        program_config,
        compute_kernel_config,
    )


# --- distributed halves ----------------------------------------------------------------------------


def _stat_tiles(values: list[torch.Tensor]) -> torch.Tensor:
    """Pack per-row statistics ``(..., rows, 1)`` into one 32-wide tile column each (value in column 0)."""
    rows_shape = values[0].shape[:-1]
    out = torch.zeros(*rows_shape, TILE_SIZE * len(values), dtype=torch.float32, device=values[0].device)
    for index, value in enumerate(values):
        out[..., index * TILE_SIZE : index * TILE_SIZE + 1] = value
    return out


def _pre_all_gather(
    op: str,
    rms: bool,
    input_tensor,
    dtype,
    residual_input_tensor,
    compute_kernel_config,
    program_config,
    memory_config,
):
    require_on_device(op, "input_tensor", input_tensor)
    if not input_tensor.is_sharded():  # interleaved: the distributed pre-all-gather device op
        check(
            input_tensor.layout == Layout.TILE,
            R_PRE_TILE,
            f"input_tensor is {input_tensor.layout.name}",
            op=op,
        )
        check(
            input_tensor.dtype in _INPUT_DTYPES,
            R_PRE_DTYPE,
            f"input_tensor dtype is {input_tensor.dtype.name}",
            op=op,
        )
    _check_input(op, input_tensor, residual_input_tensor)
    _check_memory_config(op, memory_config)
    if getattr(program_config, "use_welford", False):
        check(not rms, R_WELFORD, "program_config.use_welford=True with an RMS norm", op=op)
    if dtype not in (DataType.BFLOAT16, DataType.FLOAT32):
        fail(op, f"dtype must be BFLOAT16 or FLOAT32 for the statistics, got {getattr(dtype, 'name', dtype)}")
    if input_tensor.is_sharded():
        check(
            input_tensor.padded_shape[-2] == TILE_SIZE,
            R_DIST_HEIGHT,
            f"a sharded input_tensor must have padded height 32 (one row of tiles), got padded shape {list(input_tensor.padded_shape)}",
            op=op,
        )
    device = same_device(op, input_tensor, residual_input_tensor)
    if program_config is not None and not isinstance(
        program_config, (LayerNormDefaultProgramConfig, LayerNormShardedMultiCoreProgramConfig)
    ):
        fail(op, f"program_config has unsupported type {type(program_config).__name__}", TypeError)
    kernel = _kernel_config(compute_kernel_config, device)
    fp32_acc = kernel.fp32_dest_acc_en

    def compute(x, residual):
        if residual is not None:
            x = _intermediate(x + residual, fp32_acc)
        sum_x2 = _intermediate((x * x).sum(dim=-1, keepdim=True), fp32_acc)
        if rms:
            return _stat_tiles([sum_x2])
        sum_x = _intermediate(x.sum(dim=-1, keepdim=True), fp32_acc)
        return _stat_tiles([sum_x2, sum_x])

    shards = shard_map(compute, input_tensor, residual_input_tensor)
    # The stats tensor is one or two tiles wide: it cannot reuse a sharded input's shard spec.
    if memory_config is None:
        memory_config = None if input_tensor.is_sharded() else input_tensor.memory_config()
    elif memory_config.is_sharded():
        fail(op, "memory_config: the statistics output must be interleaved")
    out_config = memory_config
    out = new_tensor(op, shards, dtype, Layout.TILE, device, out_config)
    record(
        op,
        device,
        [input_tensor, residual_input_tensor],
        [out],
        flops=(2 if rms else 3) * input_tensor.padded_shape.volume(),
        math_fidelity=kernel.math_fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_acc else DataType.BFLOAT16,
        cores_used=_cores_used(input_tensor, program_config, device),
    )
    return out


def _post_all_gather(
    op: str,
    rms: bool,
    input_tensor,
    stats,
    epsilon,
    weight,
    bias,
    memory_config,
    compute_kernel_config,
    program_config,
    dtype,
):
    require_on_device(op, "input_tensor", input_tensor)
    require_tensor(op, "stats", stats)
    require_on_device(op, "stats", stats)
    check(
        input_tensor.layout == Layout.TILE and stats.layout == Layout.TILE,
        R_POST_TILE,
        f"input_tensor is {input_tensor.layout.name}, stats is {stats.layout.name}",
        op=op,
    )
    check(
        input_tensor.dtype in _INPUT_DTYPES,
        R_POST_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}",
        op=op,
    )
    check(
        stats.dtype in (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32),
        R_POST_STATS_DTYPE,
        f"stats dtype is {stats.dtype.name}",
        op=op,
    )
    _check_memory_config(op, memory_config)
    per_device = 1 if rms else 2
    stat_width = stats.shape[-1]
    check(
        list(stats.padded_shape[:-1]) == list(input_tensor.padded_shape[:-1]),
        R_POST_STATS_DIMS,
        f"stats shape {list(stats.shape)} must match input_tensor {list(input_tensor.shape)} in every dim but the last",
        op=op,
    )
    if input_tensor.is_sharded():
        check(
            input_tensor.padded_shape[-2] == TILE_SIZE,
            R_DIST_HEIGHT,
            f"a sharded input_tensor must have padded height 32 (one row of tiles), got padded shape {list(input_tensor.padded_shape)}",
            op=op,
        )
    if stat_width % (TILE_SIZE * per_device):
        fail(
            op,
            f"stats width {stat_width} must be a multiple of {TILE_SIZE * per_device} "
            f"({per_device} tile(s) per device from the pre-all-gather op, gathered on the last dim)",
        )
    width = input_tensor.shape[-1]
    _check_gamma_beta(op, "weight", weight, width)
    _check_gamma_beta(op, "bias", bias, width)
    device = same_device(op, input_tensor, stats, weight, bias)
    _check_program_config(
        op,
        program_config,
        input_tensor,
        memory_config,
        device,
        _kernel_config(compute_kernel_config, device),
        rms,
    )
    num_devices = stat_width // (TILE_SIZE * per_device)
    # Every device holds 1/num_devices of the full width; the statistics are over the full width.
    full_width = width * num_devices
    kernel = _kernel_config(compute_kernel_config, device)
    fp32_acc = kernel.fp32_dest_acc_en

    def compute(x, stat, gamma, beta):
        tiles = stat.reshape(*stat.shape[:-1], num_devices, per_device, TILE_SIZE)[..., 0]
        totals = tiles.sum(dim=-2)  # (..., rows, per_device)
        sum_x2 = totals[..., 0:1]
        sum_x = None if rms else totals[..., 1:2]
        return _normalize(
            x, sum_x, sum_x2, full_width, epsilon, _row(gamma, width), _row(beta, width), fp32_acc, rms
        )

    shards = shard_map(compute, input_tensor, stats, weight, bias)
    out_dtype = dtype or input_tensor.dtype
    out = new_tensor(
        op, shards, out_dtype, Layout.TILE, device, _output_memory_config(input_tensor, memory_config)
    )
    record(
        op,
        device,
        [input_tensor, stats, weight, bias],
        [out],
        flops=(_FLOPS_PER_ELEMENT_RMS if rms else _FLOPS_PER_ELEMENT_LAYER)
        * input_tensor.padded_shape.volume(),
        math_fidelity=kernel.math_fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_acc else DataType.BFLOAT16,
        cores_used=_cores_used(input_tensor, program_config, device),
    )
    return out


def rms_norm_pre_all_gather(
    input_tensor: Tensor,
    *,
    dtype: DataType = DataType.BFLOAT16,
    residual_input_tensor: Tensor | None = None,
    compute_kernel_config=None,
    program_config=None,
    memory_config: MemoryConfig | None = None,
    use_2d_core_grid: bool | None = None,
    fast_and_approximate_mode: bool = False,
) -> Tensor:
    """Per-row sum(x^2) of this device's slice of the width, as ``(..., rows, 32)`` (value in column 0)."""
    return _pre_all_gather(
        "ttnn.rms_norm_pre_all_gather",
        True,
        input_tensor,
        dtype,
        residual_input_tensor,
        compute_kernel_config,
        program_config,
        memory_config,
    )


def layer_norm_pre_all_gather(
    input_tensor: Tensor,
    *,
    dtype: DataType = DataType.BFLOAT16,
    residual_input_tensor: Tensor | None = None,
    compute_kernel_config=None,
    program_config=None,
    memory_config: MemoryConfig | None = None,
    recip_tensor: Tensor | None = None,
    fast_and_approximate_mode: bool = False,
) -> Tensor:
    """Per-row sum(x^2) and sum(x) of this device's slice, as ``(..., rows, 64)`` (column 0 of each tile)."""
    return _pre_all_gather(
        "ttnn.layer_norm_pre_all_gather",
        False,
        input_tensor,
        dtype,
        residual_input_tensor,
        compute_kernel_config,
        program_config,
        memory_config,
    )


def rms_norm_post_all_gather(
    input_tensor: Tensor,
    stats: Tensor,
    *,
    epsilon: float = 1e-12,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    program_config=None,
    dtype: DataType | None = None,
    use_2d_core_grid: bool | None = None,
) -> Tensor:
    """Normalize this device's slice with the gathered statistics ``(..., rows, 32 * num_devices)``."""
    return _post_all_gather(
        "ttnn.rms_norm_post_all_gather",
        True,
        input_tensor,
        stats,
        epsilon,
        weight,
        bias,
        memory_config,
        compute_kernel_config,
        program_config,
        dtype,
    )


def layer_norm_post_all_gather(
    input_tensor: Tensor,
    stats: Tensor,
    *,
    epsilon: float = 1e-12,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    program_config=None,
    dtype: DataType | None = None,
) -> Tensor:
    """Normalize this device's slice with the gathered statistics ``(..., rows, 64 * num_devices)``."""
    return _post_all_gather(
        "ttnn.layer_norm_post_all_gather",
        False,
        input_tensor,
        stats,
        epsilon,
        weight,
        bias,
        memory_config,
        compute_kernel_config,
        program_config,
        dtype,
    )
