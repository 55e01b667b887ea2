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
    require_layout,
    require_on_device,
    require_tensor,
    same_device,
    shard_map,
)
from ._tensor import Tensor
from ._types import TILE_SIZE, BufferType, DataType, Layout, MathFidelity, TensorMemoryLayout

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
_WEIGHT_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32)
# Each output element costs ~ a square, a reduce-add, a normalize multiply and the gamma/beta ops.
_FLOPS_PER_ELEMENT_RMS = 4
_FLOPS_PER_ELEMENT_LAYER = 6


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
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, *_INPUT_DTYPES)
    if input_tensor.memory_config().memory_layout == TensorMemoryLayout.HEIGHT_SHARDED:
        fail(
            op,
            "input_tensor is HEIGHT_SHARDED; normalization supports interleaved, WIDTH_SHARDED or BLOCK_SHARDED inputs",
        )
    if residual_input_tensor is not None:
        require_on_device(op, "residual_input_tensor", residual_input_tensor)
        require_layout(op, "residual_input_tensor", residual_input_tensor, Layout.TILE)
        require_dtype(op, "residual_input_tensor", residual_input_tensor, *_INPUT_DTYPES)
        if residual_input_tensor.padded_shape != input_tensor.padded_shape:
            fail(
                op,
                f"residual_input_tensor padded shape {list(residual_input_tensor.padded_shape)} must match "
                f"input_tensor padded shape {list(input_tensor.padded_shape)}",
            )


def _check_gamma_beta(op: str, arg: str, tensor, width: int) -> None:
    """Weight/bias: TILE with the input's padded width, or ROW_MAJOR ``[..., width/32, 32]``."""
    if tensor is None:
        return
    require_on_device(op, arg, tensor)
    require_dtype(op, arg, tensor, *_WEIGHT_DTYPES)
    shape = list(tensor.shape)
    if tensor.layout == Layout.TILE:
        padded_w = -(-width // TILE_SIZE) * TILE_SIZE
        if tensor.padded_shape[-1] != padded_w or tensor.shape.volume() != tensor.shape[-1]:
            fail(op, f"{arg} in TILE layout must have shape [1, ..., {width}] (one row), got {shape}")
        if tensor.shape[-1] != width:
            fail(op, f"{arg} has width {tensor.shape[-1]}, input_tensor has width {width}")
    else:
        if shape[-1] != TILE_SIZE:
            fail(
                op,
                f"{arg} in ROW_MAJOR layout must have last dim {TILE_SIZE} (shape [1, 1, width/32, 32]), got {shape}",
            )
        if tensor.shape.volume() != -(-width // TILE_SIZE) * TILE_SIZE:
            fail(
                op,
                f"{arg} {shape} holds {tensor.shape.volume()} values; input_tensor width {width} needs "
                f"{-(-width // TILE_SIZE) * TILE_SIZE} (width padded to a tile)",
            )


def _row(shard, width: int):
    """A weight/bias shard as a ``(width,)`` vector (drops the tile padding of ROW_MAJOR weights)."""
    return None if shard is None else shard.reshape(-1)[:width]


def _check_program_config(
    op: str, program_config, input_tensor, memory_config, device, compute_kernel_config
) -> None:
    if program_config is None or isinstance(program_config, LayerNormDefaultProgramConfig):
        if input_tensor.is_sharded() and program_config is not None:
            fail(
                op,
                "program_config: LayerNormDefaultProgramConfig needs an interleaved input_tensor; it is sharded "
                "(use LayerNormShardedMultiCoreProgramConfig)",
            )
        if memory_config is not None and memory_config.is_sharded() and not input_tensor.is_sharded():
            fail(op, "memory_config: a sharded output needs a sharded input_tensor")
        return
    if not isinstance(program_config, LayerNormShardedMultiCoreProgramConfig):
        fail(
            op,
            f"program_config must be LayerNormDefaultProgramConfig or LayerNormShardedMultiCoreProgramConfig, "
            f"got {type(program_config).__name__}",
            TypeError,
        )
    if not input_tensor.is_sharded():
        fail(
            op,
            "program_config: LayerNormShardedMultiCoreProgramConfig needs a WIDTH_SHARDED or BLOCK_SHARDED input_tensor; "
            "it is interleaved",
        )
    input_config = input_tensor.memory_config()
    if input_config.buffer_type != BufferType.L1:
        fail(op, "input_tensor must be sharded in L1 for LayerNormShardedMultiCoreProgramConfig")
    if memory_config is not None and (
        memory_config.memory_layout != input_config.memory_layout
        or memory_config.buffer_type != input_config.buffer_type
    ):
        fail(
            op,
            f"memory_config {memory_config.memory_layout.name}/{memory_config.buffer_type.name} must match the "
            f"sharded input_tensor's {input_config.memory_layout.name}/{input_config.buffer_type.name}",
        )
    grid = program_config.compute_with_storage_grid_size
    device_grid = device.compute_with_storage_grid_size()
    if grid.x > device_grid.x or grid.y > device_grid.y:
        fail(
            op,
            f"program_config.compute_with_storage_grid_size ({grid.x},{grid.y}) exceeds the device grid "
            f"({device_grid.x},{device_grid.y})",
        )
    shard_h, shard_w = input_config.shard_spec.shape
    height_tiles = input_tensor.padded_shape.volume() // input_tensor.padded_shape[-1] // TILE_SIZE
    width_tiles = input_tensor.padded_shape[-1] // TILE_SIZE
    pc = program_config
    if pc.block_h * TILE_SIZE != shard_h:
        fail(
            op,
            f"program_config.block_h={pc.block_h} must equal the shard height in tiles ({shard_h} / 32 = {shard_h // TILE_SIZE})",
        )
    if pc.block_w * TILE_SIZE != shard_w:
        fail(
            op,
            f"program_config.block_w={pc.block_w} must equal the shard width in tiles ({shard_w} / 32 = {shard_w // TILE_SIZE})",
        )
    # Destination-register limit (dst_full_sync_en off, tt-metal layernorm_op_multi_core_sharded.cpp).
    fp32, full_sync = compute_kernel_config.fp32_dest_acc_en, compute_kernel_config.dst_full_sync_en
    max_subblock = (8 if full_sync else 4) if fp32 else (16 if full_sync else 8)
    if pc.subblock_w > max_subblock:
        fail(
            op,
            f"program_config.subblock_w={pc.subblock_w} exceeds {max_subblock} tiles "
            f"(fp32_dest_acc_en={fp32}, dst_full_sync_en={full_sync})",
        )
    if pc.block_w % pc.subblock_w:
        fail(op, f"program_config.subblock_w={pc.subblock_w} must divide block_w={pc.block_w}")
    if input_config.memory_layout == TensorMemoryLayout.WIDTH_SHARDED and pc.block_h != height_tiles:
        fail(
            op,
            f"program_config.block_h={pc.block_h}: a WIDTH_SHARDED input needs block_h = tensor height in tiles ({height_tiles})",
        )
    cores = input_config.shard_spec.grid.num_cores()
    if (
        input_config.memory_layout == TensorMemoryLayout.WIDTH_SHARDED
        and -(-width_tiles // pc.block_w) > cores
    ):
        fail(
            op,
            f"program_config.block_w={pc.block_w}: {width_tiles} width tiles need more than the {cores} shard cores",
        )
    box = input_config.shard_spec.grid.bounding_box()
    if box.end.x >= grid.x or box.end.y >= grid.y:
        fail(
            op,
            f"program_config.compute_with_storage_grid_size ({grid.x},{grid.y}) does not cover the input shard grid "
            f"(up to core ({box.end.x},{box.end.y}))",
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
    device = same_device(op, input_tensor, residual_input_tensor, weight, bias)
    kernel = _kernel_config(compute_kernel_config, device)
    _check_program_config(op, program_config, input_tensor, memory_config, device, kernel)
    fp32_acc = kernel.fp32_dest_acc_en

    def compute(x, residual, gamma, beta):
        if residual is not None:
            x = _intermediate(x + residual, fp32_acc)
        sum_x = x.sum(dim=-1, keepdim=True)
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
    out = torch.zeros(*rows_shape, TILE_SIZE * len(values), dtype=torch.float32)
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
    _check_input(op, input_tensor, residual_input_tensor)
    _check_memory_config(op, memory_config)
    if dtype not in (DataType.BFLOAT16, DataType.FLOAT32):
        fail(op, f"dtype must be BFLOAT16 or FLOAT32 for the statistics, got {getattr(dtype, 'name', dtype)}")
    if (
        input_tensor.is_sharded()
        and input_tensor.padded_shape.volume() // input_tensor.padded_shape[-1] != TILE_SIZE
    ):
        fail(
            op,
            f"a sharded input_tensor must have padded height 32 (one row of tiles), got padded shape {list(input_tensor.padded_shape)}",
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
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, *_INPUT_DTYPES)
    require_tensor(op, "stats", stats)
    require_on_device(op, "stats", stats)
    require_layout(op, "stats", stats, Layout.TILE)
    require_dtype(op, "stats", stats, DataType.BFLOAT16, DataType.FLOAT32)
    _check_memory_config(op, memory_config)
    per_device = 1 if rms else 2
    stat_width = stats.shape[-1]
    if stat_width % (TILE_SIZE * per_device):
        fail(
            op,
            f"stats width {stat_width} must be a multiple of {TILE_SIZE * per_device} "
            f"({per_device} tile(s) per device from the pre-all-gather op, gathered on the last dim)",
        )
    if list(stats.shape[:-1]) != list(input_tensor.shape[:-1]):
        fail(
            op,
            f"stats shape {list(stats.shape)} must match input_tensor {list(input_tensor.shape)} in every dim but the last",
        )
    width = input_tensor.shape[-1]
    _check_gamma_beta(op, "weight", weight, width)
    _check_gamma_beta(op, "bias", bias, width)
    device = same_device(op, input_tensor, stats, weight, bias)
    _check_program_config(op, program_config, input_tensor, memory_config, device, compute_kernel_config)
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
