"""Program-config checks of ``ttnn.matmul`` / ``ttnn.linear``, as the device op validates them.

Source of every rule: tt-metal ``ttnn/cpp/ttnn/operations/matmul/device/matmul_device_operation.cpp``
(``validate_on_program_cache_miss`` and ``compute_output_specs``) and ``compute_kernel_config.cpp``
(``get_dest_reg_count``). Messages name the op, the argument (``program_config``, ``memory_config``,
``input_tensor_a``...) and the numbers involved.

Beyond the validator, the emulator also checks that the op's circular buffers fit next to the L1
buffers already allocated on its cores (the real op fails with "Statically allocated circular
buffers ... clash with L1 buffers"). The CB sizes are an approximation of the program factories:
double-buffered in0/in1 blocks unless the operand is L1-sharded (then the CB aliases the shard),
the output block unless the output is L1-sharded, an intermediate block when partial sums are kept
across K blocks, and one row of bias tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._memory import CoreCoord, CoreRange, CoreRangeSet, MemoryConfig, ShardSpec, num_cores_to_corerangeset
from ._program_configs import (
    MatmulMultiCoreReuseMultiCast1DProgramConfig,
    MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig,
    MatmulMultiCoreReuseMultiCastProgramConfig,
    MatmulMultiCoreReuseProgramConfig,
)
from ._types import TILE_BYTES, TILE_SIZE, BufferType, DataType, ShardOrientation, TensorMemoryLayout

PROGRAM_CONFIG_TYPES = (
    MatmulMultiCoreReuseProgramConfig,
    MatmulMultiCoreReuseMultiCastProgramConfig,
    MatmulMultiCoreReuseMultiCast1DProgramConfig,
    MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig,
)
# compute_kernel_config.cpp get_dest_reg_count: 16 tiles of dest, halved without dst_full_sync_en,
# halved again with fp32 accumulation.
_DEST_TILES = 16


@dataclass(frozen=True)
class MatmulShape:
    """Tile counts of one matmul (per device). ``batch`` = product of a's leading dims."""

    batch: int
    mt: int  # tiles of M in one batch
    kt: int
    nt: int
    b_batch: int

    @property
    def mt_fused(self) -> int:
        return self.batch * self.mt


@dataclass(frozen=True)
class MatmulPlan:
    """What the validated config implies: cores used, output memory config and CB bytes per core."""

    cores: list[CoreCoord]
    output_memory_config: MemoryConfig
    circular_buffer_bytes: int


def dest_register_tiles(fp32_dest_acc_en: bool, dst_full_sync_en: bool) -> int:
    tiles = _DEST_TILES if dst_full_sync_en else _DEST_TILES // 2
    return tiles // 2 if fp32_dest_acc_en else tiles


def _fail(op: str, message: str):
    raise ValueError(f"{op}: {message}")


def _blocks(total: int, per_core: int) -> int:
    return -(-total // per_core)


def _check_subblocks(op: str, pc, dest_tiles: int, fp32_dest_acc_en: bool) -> None:
    name = "program_config"
    if pc.out_subblock_h == 0 or pc.out_subblock_w == 0:
        _fail(
            op,
            f"{name}: out_subblock_h and out_subblock_w must be >= 1, got {pc.out_subblock_h} x {pc.out_subblock_w}",
        )
    if isinstance(pc, MatmulMultiCoreReuseProgramConfig):
        if pc.per_core_M % pc.out_subblock_h:
            _fail(
                op,
                f"{name}: per_core_M ({pc.per_core_M}) must be divisible by out_subblock_h ({pc.out_subblock_h})",
            )
        if pc.per_core_N % pc.out_subblock_w:
            _fail(
                op,
                f"{name}: per_core_N ({pc.per_core_N}) must be divisible by out_subblock_w ({pc.out_subblock_w})",
            )
    else:
        if pc.out_block_h == 0 or pc.out_block_w == 0:
            _fail(
                op,
                f"{name}: out_block_h and out_block_w must be >= 1, got {pc.out_block_h} x {pc.out_block_w}",
            )
        for block, sub, label in (
            (pc.out_block_h, pc.out_subblock_h, "h"),
            (pc.out_block_w, pc.out_subblock_w, "w"),
        ):
            if block % sub:
                _fail(
                    op,
                    f"{name}: out_block_{label} ({block}) must be divisible by out_subblock_{label} ({sub})",
                )
        if pc.per_core_M % pc.out_block_h:
            _fail(
                op,
                f"{name}: per_core_M ({pc.per_core_M}) must be divisible by out_block_h ({pc.out_block_h})",
            )
        if pc.per_core_N % pc.out_block_w:
            _fail(
                op,
                f"{name}: per_core_N ({pc.per_core_N}) must be divisible by out_block_w ({pc.out_block_w})",
            )
    if pc.out_subblock_h * pc.out_subblock_w > dest_tiles:
        acc = "fp32_dest_acc_en=True" if fp32_dest_acc_en else "bfloat16 accumulation"
        _fail(
            op,
            f"{name}: out_subblock_h * out_subblock_w = {pc.out_subblock_h} * {pc.out_subblock_w} = "
            f"{pc.out_subblock_h * pc.out_subblock_w} tiles, at most {dest_tiles} fit the destination registers with {acc}",
        )


def _check_grid(op: str, pc, device_grid: CoreCoord) -> None:
    grid = pc.compute_with_storage_grid_size
    if grid.x <= 0 or grid.y <= 0:
        _fail(
            op, f"program_config: compute_with_storage_grid_size must be non-zero, got ({grid.x}, {grid.y})"
        )
    if grid.x > device_grid.x or grid.y > device_grid.y:
        _fail(
            op,
            f"program_config: compute_with_storage_grid_size ({grid.x}, {grid.y}) must fit within the device "
            f"compute grid ({device_grid.x}, {device_grid.y})",
        )


def _check_nonzero(op: str, pc) -> None:
    for field_name in ("in0_block_w", "per_core_M", "per_core_N"):
        if getattr(pc, field_name) == 0:
            _fail(op, f"program_config: {field_name} is 0, which is not valid")


def _shard_tiles(memory_config: MemoryConfig) -> tuple[int, int]:
    h, w = memory_config.shard_spec.shape
    return h // TILE_SIZE, w // TILE_SIZE


def _validate_1d(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device_grid) -> list[CoreCoord]:
    if pc.gather_in0:
        _fail(
            op,
            "program_config: gather_in0 (ring matmul with a global circular buffer) is not modelled by the emulator",
        )
    _check_grid(op, pc, device_grid)
    mt = shape.mt_fused if pc.fuse_batch else shape.mt
    grid = pc.compute_with_storage_grid_size
    blocks_y, blocks_x = _blocks(mt, pc.per_core_M), _blocks(shape.nt, pc.per_core_N)
    if blocks_y * blocks_x > grid.x * grid.y:
        _fail(
            op,
            f"program_config: {blocks_y * blocks_x} output blocks (M {mt} tiles / per_core_M {pc.per_core_M} x "
            f"N {shape.nt} tiles / per_core_N {pc.per_core_N}) exceed the {grid.x}x{grid.y} = {grid.x * grid.y} cores of "
            "compute_with_storage_grid_size",
        )
    a_mc, b_mc = a.memory_config(), b.memory_config()
    if pc.mcast_in0:
        if blocks_y != 1:
            _fail(
                op,
                f"program_config: mcast_in0 requires all of M ({mt} tiles) in one per_core_M block ({pc.per_core_M})",
            )
        if a.is_sharded():
            if not pc.fuse_batch:
                _fail(op, "program_config: fuse_batch must be True when input_tensor_a is sharded")
            if a_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED:
                _fail(
                    op,
                    f"input_tensor_a must be WIDTH_SHARDED for an mcast_in0 1D matmul, got {a_mc.memory_layout.name}",
                )
            if a_mc.shard_spec.orientation != ShardOrientation.ROW_MAJOR:
                _fail(op, "input_tensor_a shard orientation must be ROW_MAJOR")
            shard_h, shard_w = _shard_tiles(a_mc)
            if mt != pc.per_core_M or shard_h != pc.per_core_M:
                _fail(
                    op,
                    f"program_config: per_core_M ({pc.per_core_M}) must equal M ({mt} tiles) and the input shard height ({shard_h} tiles)",
                )
            if shard_w % pc.in0_block_w:
                _fail(
                    op,
                    f"program_config: input shard width ({shard_w} tiles) must be divisible by in0_block_w ({pc.in0_block_w})",
                )
        if out_mc.is_sharded():
            if out_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED:
                _fail(
                    op,
                    f"memory_config must be WIDTH_SHARDED for an mcast_in0 1D matmul, got {out_mc.memory_layout.name}",
                )
            if mt != pc.per_core_M:
                _fail(
                    op,
                    f"program_config: per_core_M ({pc.per_core_M}) must equal M ({mt} tiles) for a sharded output",
                )
            if pc.out_subblock_w != pc.per_core_N and pc.out_subblock_h != 1:
                _fail(
                    op,
                    "program_config: out_subblock_w must equal per_core_N or out_subblock_h must be 1 for a sharded output",
                )
        if b.is_sharded() and b_mc.buffer_type == BufferType.L1:
            if (
                b_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED
                or _shard_tiles(b_mc)[1] != pc.per_core_N
            ):
                _fail(
                    op,
                    "input_tensor_b may only be interleaved or L1 width-sharded with shard width == per_core_N",
                )
    else:
        if a.is_sharded():
            if a_mc.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
                _fail(
                    op,
                    f"input_tensor_a must be HEIGHT_SHARDED for a 1D matmul with mcast_in0=False, got {a_mc.memory_layout.name}",
                )
            shard_h, shard_w = _shard_tiles(a_mc)
            if shard_h != pc.per_core_M or shard_w != shape.kt:
                _fail(
                    op,
                    f"input_tensor_a shard ({shard_h}x{shard_w} tiles) must be per_core_M x K ({pc.per_core_M}x{shape.kt} tiles)",
                )
        if out_mc.is_sharded():
            if out_mc.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
                _fail(
                    op,
                    f"memory_config must be HEIGHT_SHARDED for a 1D matmul with mcast_in0=False, got {out_mc.memory_layout.name}",
                )
            if shape.nt != pc.per_core_N:
                _fail(
                    op,
                    f"program_config: per_core_N ({pc.per_core_N}) must equal N ({shape.nt} tiles) for a height-sharded output",
                )
        if b.is_sharded():
            _fail(op, "input_tensor_b must be interleaved for a 1D matmul with mcast_in0=False")
    cores = num_cores_to_corerangeset(blocks_x * blocks_y, grid, row_wise=True).cores()
    return cores


def _validate_2d(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device_grid) -> list[CoreCoord]:
    _check_grid(op, pc, device_grid)
    mt = shape.mt_fused if pc.fuse_batch else shape.mt
    grid = pc.compute_with_storage_grid_size
    blocks_y, blocks_x = _blocks(mt, pc.per_core_M), _blocks(shape.nt, pc.per_core_N)
    along_x, along_y = (blocks_y, blocks_x) if pc.transpose_mcast else (blocks_x, blocks_y)
    if along_x > grid.x:
        _fail(
            op,
            f"program_config: {along_x} output blocks along x (N {shape.nt} tiles / per_core_N {pc.per_core_N}) exceed the grid's {grid.x} columns",
        )
    if along_y > grid.y:
        _fail(
            op,
            f"program_config: {along_y} output blocks along y (M {mt} tiles / per_core_M {pc.per_core_M}) exceed the grid's {grid.y} rows",
        )
    a_mc = a.memory_config()
    if a.is_sharded():
        if not pc.fuse_batch:
            _fail(op, "program_config: fuse_batch must be True when input_tensor_a is sharded")
        if a_mc.memory_layout not in (TensorMemoryLayout.BLOCK_SHARDED, TensorMemoryLayout.HEIGHT_SHARDED):
            _fail(
                op,
                f"input_tensor_a must be BLOCK_SHARDED or HEIGHT_SHARDED for a 2D matmul, got {a_mc.memory_layout.name}",
            )
        shard_h, shard_w = _shard_tiles(a_mc)
        if shard_h != pc.per_core_M:
            _fail(
                op,
                f"program_config: per_core_M ({pc.per_core_M}) must equal the input shard height ({shard_h} tiles)",
            )
        if shard_w % pc.in0_block_w:
            _fail(
                op,
                f"program_config: input shard width ({shard_w} tiles) must be divisible by in0_block_w ({pc.in0_block_w})",
            )
    if out_mc.is_sharded():
        if out_mc.memory_layout != TensorMemoryLayout.BLOCK_SHARDED:
            _fail(op, f"memory_config must be BLOCK_SHARDED for a 2D matmul, got {out_mc.memory_layout.name}")
        if pc.out_subblock_w != pc.per_core_N and pc.out_subblock_h != 1:
            _fail(
                op,
                "program_config: out_subblock_w must equal per_core_N or out_subblock_h must be 1 for a sharded output",
            )
    cols, rows = (blocks_y, blocks_x) if pc.transpose_mcast else (blocks_x, blocks_y)
    return CoreRange(CoreCoord(0, 0), CoreCoord(cols - 1, rows - 1)).cores()


def _validate_dram_sharded(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device) -> list[CoreCoord]:
    a_mc, b_mc = a.memory_config(), b.memory_config()
    if (
        not a.is_sharded()
        or a_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED
        or a_mc.buffer_type != BufferType.L1
    ):
        _fail(
            op,
            f"input_tensor_a must be L1 WIDTH_SHARDED for a DRAM-sharded matmul, got {a_mc.buffer_type.name} {a_mc.memory_layout.name}",
        )
    if a_mc.shard_spec.orientation != ShardOrientation.ROW_MAJOR:
        _fail(op, "input_tensor_a shard orientation must be ROW_MAJOR for a DRAM-sharded matmul")
    if (
        not out_mc.is_sharded()
        or out_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED
        or out_mc.buffer_type != BufferType.L1
    ):
        _fail(
            op,
            f"memory_config must be L1 WIDTH_SHARDED for a DRAM-sharded matmul, got {out_mc.buffer_type.name} {out_mc.memory_layout.name}",
        )
    if pc.per_core_M != shape.mt or shape.mt != 1:
        _fail(
            op,
            f"program_config: per_core_M ({pc.per_core_M}) must equal M, and M must be one tile row (M is {shape.mt} tiles)",
        )
    shard_h, shard_w = _shard_tiles(a_mc)
    if shard_h != pc.per_core_M:
        _fail(
            op,
            f"program_config: per_core_M ({pc.per_core_M}) must equal the input shard height ({shard_h} tiles)",
        )
    if shape.kt % pc.in0_block_w or shard_w % pc.in0_block_w:
        _fail(
            op,
            f"program_config: in0_block_w ({pc.in0_block_w}) must divide K ({shape.kt} tiles) and the input shard width ({shard_w} tiles)",
        )
    if shape.kt % shard_w:
        _fail(
            op,
            f"input_tensor_a shard width ({shard_w} tiles) must divide K ({shape.kt} tiles): uneven sharding is not supported",
        )
    if b_mc.memory_layout != TensorMemoryLayout.WIDTH_SHARDED or b_mc.buffer_type != BufferType.DRAM:
        _fail(
            op,
            f"input_tensor_b must be DRAM WIDTH_SHARDED over the DRAM banks, got {b_mc.buffer_type.name} {b_mc.memory_layout.name}",
        )
    banks = b_mc.shard_spec.grid.num_cores()
    if banks != device.spec.dram_banks:
        _fail(
            op,
            f"input_tensor_b must be sharded over all {device.spec.dram_banks} DRAM banks of {device.spec.name}, its shard grid has {banks}",
        )
    blocks = _blocks(shape.nt, pc.per_core_N)
    grid = device.compute_with_storage_grid_size()
    if blocks > grid.x * grid.y:
        _fail(
            op,
            f"program_config: N ({shape.nt} tiles) / per_core_N ({pc.per_core_N}) = {blocks} cores exceed the {grid.x * grid.y} of the device",
        )
    return num_cores_to_corerangeset(blocks, grid, row_wise=True).cores()


def _output_memory_config(
    pc, shape: MatmulShape, out_mc: MemoryConfig, cores: list[CoreCoord], grid: CoreCoord
) -> MemoryConfig:
    """Sharded outputs get the shard spec the op computes from per_core_M/N (as compute_output_specs)."""
    if not out_mc.is_sharded() or out_mc.buffer_type == BufferType.DRAM:
        return out_mc
    shard_shape = (pc.per_core_M * TILE_SIZE, pc.per_core_N * TILE_SIZE)
    if isinstance(pc, MatmulMultiCoreReuseMultiCastProgramConfig):
        if out_mc.shard_spec is not None:
            return out_mc
        orientation = ShardOrientation.COL_MAJOR if pc.transpose_mcast else ShardOrientation.ROW_MAJOR
        box = CoreRangeSet([CoreRange(cores[0], cores[-1])])
        return MemoryConfig(
            out_mc.memory_layout, out_mc.buffer_type, ShardSpec(box, shard_shape, orientation)
        )
    if isinstance(pc, MatmulMultiCoreReuseProgramConfig):
        return out_mc
    core_set = num_cores_to_corerangeset(len(cores), grid, row_wise=True)
    return MemoryConfig(
        out_mc.memory_layout, out_mc.buffer_type, ShardSpec(core_set, shard_shape, ShardOrientation.ROW_MAJOR)
    )


def _circular_buffer_bytes(
    pc,
    shape: MatmulShape,
    a,
    b,
    bias,
    out_mc: MemoryConfig,
    out_dtype: DataType,
    fp32_dest_acc_en: bool,
    packer_l1_acc: bool,
) -> int:
    def l1_sharded(memory_config):
        return memory_config.is_sharded() and memory_config.buffer_type == BufferType.L1

    out_block_h = getattr(pc, "out_block_h", None) or pc.per_core_M
    out_block_w = getattr(pc, "out_block_w", None) or pc.per_core_N
    k_blocks = max(1, shape.kt // max(1, pc.in0_block_w))
    total = 0
    if not l1_sharded(a.memory_config()):
        total += 2 * pc.per_core_M * pc.in0_block_w * TILE_BYTES[a.dtype]
    if not l1_sharded(b.memory_config()):
        total += 2 * pc.per_core_N * pc.in0_block_w * TILE_BYTES[b.dtype]
    if not l1_sharded(out_mc):
        total += out_block_h * out_block_w * TILE_BYTES[out_dtype]
    if k_blocks > 1 and (fp32_dest_acc_en or packer_l1_acc):
        interm_dtype = DataType.FLOAT32 if fp32_dest_acc_en else DataType.BFLOAT16
        total += out_block_h * out_block_w * TILE_BYTES[interm_dtype]
    if bias is not None:
        total += pc.per_core_N * TILE_BYTES[bias.dtype]
    return total


def _check_l1(op: str, device, cores: list[CoreCoord], cb_bytes: int) -> None:
    allocator = device.allocator
    grid = allocator.grid
    worst_index = max((c.y * grid.x + c.x for c in cores), key=lambda i: allocator.l1_used[i])
    used = allocator.l1_used[worst_index]
    if used + cb_bytes > allocator.l1_capacity:
        core = CoreCoord(worst_index % grid.x, worst_index // grid.x)
        _fail(
            op,
            f"program_config needs {cb_bytes} bytes of circular buffers per core, but core ({core.x},{core.y}) has "
            f"{allocator.l1_capacity - used} of {allocator.l1_capacity} L1 bytes free ({used} used by L1 buffers) on "
            f"{device.spec.name}; use a smaller in0_block_w, per_core_N or out_block_w",
        )


def plan_matmul(
    op, pc, shape: MatmulShape, a, b, bias, out_mc, out_dtype, device, kernel_config
) -> MatmulPlan:
    """Validate ``pc`` against the operands and the device; return the cores, output memory config and CB size."""
    device_grid = device.compute_with_storage_grid_size()
    fp32, full_sync = kernel_config.fp32_dest_acc_en, kernel_config.dst_full_sync_en
    if not isinstance(pc, MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig):
        _check_subblocks(op, pc, dest_register_tiles(fp32, full_sync), fp32)
    _check_nonzero(op, pc)
    if (
        not isinstance(pc, MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig)
        and shape.kt % pc.in0_block_w
    ):
        _fail(op, f"program_config: in0_block_w ({pc.in0_block_w}) must divide K ({shape.kt} tiles)")
    if isinstance(pc, MatmulMultiCoreReuseMultiCast1DProgramConfig):
        cores = _validate_1d(op, pc, shape, a, b, out_mc, device_grid)
    elif isinstance(pc, MatmulMultiCoreReuseMultiCastProgramConfig):
        cores = _validate_2d(op, pc, shape, a, b, out_mc, device_grid)
    elif isinstance(pc, MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig):
        cores = _validate_dram_sharded(op, pc, shape, a, b, out_mc, device)
    else:
        _check_grid(op, pc, device_grid)
        if shape.nt != pc.per_core_N:
            _fail(
                op,
                f"program_config: per_core_N ({pc.per_core_N}) must equal N ({shape.nt} tiles) for MatmulMultiCoreReuseProgramConfig",
            )
        if shape.mt % pc.per_core_M if pc.per_core_M <= shape.mt else pc.per_core_M % shape.mt:
            _fail(
                op,
                f"program_config: per_core_M ({pc.per_core_M}) must divide M ({shape.mt} tiles) or be a multiple of it",
            )
        if shape.batch > 1 and shape.b_batch == 1:
            _fail(op, "MatmulMultiCoreReuseProgramConfig does not broadcast input_tensor_b over the batch")
        grid = pc.compute_with_storage_grid_size
        blocks = _blocks(shape.mt_fused, pc.per_core_M) * _blocks(shape.nt, pc.per_core_N)
        cores = num_cores_to_corerangeset(min(blocks, grid.x * grid.y), grid, row_wise=False).cores()
    out_mc = _output_memory_config(
        pc,
        shape,
        out_mc,
        cores,
        device_grid
        if isinstance(pc, MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig)
        else getattr(pc, "compute_with_storage_grid_size", device_grid),
    )
    cb_bytes = _circular_buffer_bytes(
        pc, shape, a, b, bias, out_mc, out_dtype, fp32, kernel_config.packer_l1_acc
    )
    _check_l1(op, device, cores, cb_bytes)
    return MatmulPlan(cores, out_mc, cb_bytes)
