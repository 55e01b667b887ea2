"""Program-config checks of ``ttnn.matmul`` / ``ttnn.linear``, as the device op validates them.

Every check is a rule of the table in ``_rules.py`` (ids ``matmul.*``). Source of the rules:
tt-metal ``ttnn/cpp/ttnn/operations/matmul/device/matmul_device_operation.cpp`` (``validate_on_program_cache_miss``
and the ``validate_matmul_*`` helpers it calls, ``compute_output_specs``) and
``compute_kernel_config.cpp`` (``get_dest_reg_count``); ``MatmulDeviceOperation`` below stands for that file.
Messages name the op, the argument (``program_config``, ``memory_config``, ``input_tensor_a``...)
and the numbers involved, and quote the real TT_FATAL.

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
from ._rules import check, not_mirrored, rule
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

OP = "ttnn.matmul"  # ttnn.linear runs the same device op; errors name the public call
SRC = "ttnn/cpp/ttnn/operations/matmul/device/matmul_device_operation.cpp"
_VALIDATE = f"{SRC}: MatmulDeviceOperation::validate_on_program_cache_miss"


def _r(rule_id: str, text: str, where: str, message: str = "") -> object:
    return rule(f"matmul.{rule_id}", OP, text, f"{SRC}: {where}", message=message)


# --- every path ---------------------------------------------------------------------------------
R_TILE = _r(
    "operands_tile",
    "input_tensor_a and input_tensor_b are TILE layout",
    "validate_on_program_cache_miss",
    "Inputs to matmul must be tilized",
)
R_INNER = _r(
    "inner_dims",
    "a's width equals b's height (after transpose_a / transpose_b)",
    "validate_matmul_matrix_dimensions",
    "The width of the first tensor must be equal to the height of the second tensor. Mismatch: width={} height={}",
)
R_A_FLOAT = _r(
    "a_float",
    "input_tensor_a has a floating-point dtype",
    "validate_on_program_cache_miss",
    "Unsupported data format",
)
R_BATCH = _r(
    "batch_dims",
    "b's batch is 1 (broadcast) or a and b have the same rank and batch dims",
    "validate_on_program_cache_miss",
    "bmm (non-bcast matmul) expects input tensors of shapes BCMK*BCKN=BCMN or batch dimension {} mismatch: a={} vs b={} (dimension mismatch only allowed when all batch dimensions of a are size 1 and using MatmulMultiCoreReuseMultiCast1DProgramConfig with fuse_batch=false, fused_activation=none, mcast_in0=false, and non-sharded inputs for in0 reuse optimization)",
)
R_BIAS_TILE = _r(
    "bias_tile", "bias is TILE layout", "validate_on_program_cache_miss", "Unsupported input layout"
)
R_BIAS_BATCH = _r(
    "bias_batch",
    "bias has batch size 1",
    "validate_on_program_cache_miss",
    "Unsupported bias shape: batch size not equal to 1.",
)
R_BIAS_ROWS = _r(
    "bias_one_tile_row",
    "bias's padded second-last dim is one tile (32)",
    "validate_on_program_cache_miss",
    "Unsupported bias shape: padded second last dimension of bias, {}, not equal to tile height, {}",
)
R_BIAS_WIDTH = _r(
    "bias_width",
    "bias's padded width equals b's padded width and its width is >= N",
    "validate_on_program_cache_miss",
    "Unsupported bias shape: padded last dimension of bias, {}, not equal to second input's padded last dimension, {}.",
)
# --- every program config -----------------------------------------------------------------------
R_NONZERO = _r(
    "nonzero_blocks",
    "in0_block_w, per_core_M, per_core_N are non-zero",
    "validate_matmul_nonzero_block_dims",
    "in0_block_w is 0, which is not valid",
)
R_SUB_NONZERO = _r(
    "nonzero_subblocks",
    "out_subblock_h/w (and out_block_h/w) are non-zero",
    "validate_matmul_block_and_subblock_configuration",
    "out_subblock_h is 0, which is not valid",
)
R_KT = _r(
    "kt_in0_block_w",
    "K tiles are divisible by in0_block_w",
    "validate_matmul_block_and_subblock_configuration",
    "Kt ({}) must be divisible by in0_block_w ({})",
)
R_SUB_DIV = _r(
    "subblock_divides_block",
    "out_block_h/w divisible by out_subblock_h/w, per_core_M/N by out_block_h/w",
    "validate_matmul_block_and_subblock_configuration",
    "out_block_h ({}) must be divisible by out_subblock_h ({})",
)
R_DEST = _r(
    "dest_registers",
    "out_subblock_h * out_subblock_w <= dest register tiles (8 bf16 / 4 fp32 acc, x2 full sync)",
    "validate_matmul_block_and_subblock_configuration",
    "out_subblock_w {} times out_subblock_h {} needs to be at most {} to fit in hardware",
)
R_GRID = _r(
    "grid_fits_device",
    "compute_with_storage_grid_size is non-zero and fits the device compute grid",
    "validate_matmul_compute_grid_and_per_core_dims",
    "compute_with_storage_grid_size ({}, {}) must fit within device grid ({}, {})",
)
R_IN_GRID = _r(
    "shard_in_grid",
    "an L1-sharded operand's shard grid lies within compute_with_storage_grid_size",
    "check_tensor_in_grid",
    "Tensor shard spec grid {} must lie within compute grid ({}, {})",
)
R_FUSED_B = _r(
    "fuse_batch_b_batch",
    "with fuse_batch, b's batch is 1",
    "validate_on_program_cache_miss",
    "Matmul with fused batch requires input tensors of shapes BCMK*11KN=BCMN or equivalent. Please change the second input tensor or adjust the program config.",
)
R_SHARDED_SUBBLOCK = _r(
    "sharded_out_subblock",
    "a sharded output has out_subblock_w == per_core_N or out_subblock_h == 1",
    "validate_on_program_cache_miss",
    "Error: out_subblock_w must be equal to per_core_N or out_subblock_h must be equal to 1.",
)
R_L1 = rule(
    "matmul.l1_circular_buffers",
    OP,
    "the op's circular buffers fit in L1 next to the L1 buffers already on its cores",
    "tt_metal/impl/program/program.cpp: ProgramImpl::validate_circular_buffer_region",
    message="Statically allocated circular buffers on core range {} grow to {} B which is beyond max L1 size of {} B",
)
# --- 1D multicast -------------------------------------------------------------------------------
R_1D_BLOCKS = _r(
    "1d_blocks_fit_grid",
    "1D: output blocks (M/per_core_M x N/per_core_N) <= grid cores",
    "validate_matmul_work_distribution_and_gather_ring_topology",
    "Number of blocks exceeds number of cores: {} blocks > {} cores",
)
R_1D_MCAST_M = _r(
    "1d_mcast_in0_one_m_block",
    "1D mcast_in0: all of M in one per_core_M block",
    "validate_matmul_work_distribution_and_gather_ring_topology",
    "mcast_in0 requires M ({}) to fit within a single per_core_M block ({}), got num_blocks_y={}",
)
R_1D_FUSE = _r(
    "1d_sharded_a_fuse_batch",
    "1D: a sharded input_tensor_a needs fuse_batch",
    "validate_on_program_cache_miss",
    "Error: Batch fusion must be enabled.",
)
R_1D_A_WIDTH = _r(
    "1d_mcast_a_width_sharded",
    "1D mcast_in0: a sharded input_tensor_a is WIDTH_SHARDED",
    "validate_on_program_cache_miss",
    "Error: input_tensor_a must be width sharded. Provided tensor memory layout: {}",
)
R_1D_A_OUT_MATCH = _r(
    "1d_a_out_match",
    "1D: sharded a and sharded output have the same buffer type and memory layout",
    "validate_on_program_cache_miss",
    "Error: Memory layout mismatch.",
)
R_1D_A_ORIENT = _r(
    "1d_a_row_major",
    "1D: a sharded input_tensor_a has ROW_MAJOR shard orientation",
    "validate_on_program_cache_miss",
    "Error: Shard orientation must be ROW_MAJOR.",
)
R_1D_A_M = _r(
    "1d_mcast_a_m_per_core",
    "1D mcast_in0, a sharded: M == per_core_M == shard height (tiles)",
    "validate_on_program_cache_miss",
    "Error: M ({}) must be equal to per_core_M ({}).",
)
R_1D_A_SHARD_W = _r(
    "1d_mcast_a_shard_width",
    "1D mcast_in0, a sharded: shard width (tiles) divisible by in0_block_w",
    "validate_on_program_cache_miss",
    "Error: shard_shape[1] ({}) / in0_tile.get_width() ({}) must be divisible by in0_block_w ({}).",
)
R_1D_OUT_WIDTH = _r(
    "1d_mcast_out_width_sharded",
    "1D mcast_in0: a sharded output is WIDTH_SHARDED with M == per_core_M",
    "validate_on_program_cache_miss",
    "Error: Output memory layout must be WIDTH_SHARDED or BLOCK_SHARDED on a 1-row grid. Provided tensor memory layout: {}",
)
R_1D_B_SHARD = _r(
    "1d_mcast_b_l1_width",
    "1D mcast_in0: an L1-sharded input_tensor_b is WIDTH_SHARDED with shard width == per_core_N",
    "validate_on_program_cache_miss",
    "Operand B can only be interleaved or L1 width sharded.",
)
R_1D_A_HEIGHT = _r(
    "1d_a_height_sharded",
    "1D mcast_in0=False: a sharded input_tensor_a is HEIGHT_SHARDED with shard per_core_M x K",
    "validate_on_program_cache_miss",
    "Error: input_tensor_a must be height sharded.",
)
R_1D_OUT_HEIGHT = _r(
    "1d_out_height_sharded",
    "1D mcast_in0=False: a sharded output is HEIGHT_SHARDED with N == per_core_N",
    "validate_on_program_cache_miss",
    "Error: N must be equal to per_core_N.",
)
R_1D_B_INTERLEAVED = _r(
    "1d_b_interleaved",
    "1D mcast_in0=False: input_tensor_b is interleaved",
    "validate_on_program_cache_miss",
    "Error: Operand B must be interleaved.",
)
not_mirrored(
    "matmul.1d_gather_in0",
    OP,
    "gather_in0 (ring matmul) rules: global CB, hop cores, sub-devices",
    "gather_in0 needs a global circular buffer and sub-devices, which the emulator does not model; it refuses gather_in0 outright",
)
not_mirrored(
    "matmul.output_shard_grid_extent",
    OP,
    "a user-given output shard grid lies within the grid extent",
    "the emulator replaces a sharded output's shard spec by the one compute_output_specs derives, as the device does after warning",
)
# --- 2D multicast -------------------------------------------------------------------------------
R_2D_X = _r(
    "2d_blocks_x",
    "2D: output blocks along x (N, or M with transpose_mcast) <= grid columns",
    "validate_matmul_work_distribution_and_gather_ring_topology",
    "Num output blocks along x ({}) must be smaller than or equal to the number of columns in compute grid ({})!",
)
R_2D_Y = _r(
    "2d_blocks_y",
    "2D: output blocks along y (M, or N with transpose_mcast) <= grid rows",
    "validate_matmul_work_distribution_and_gather_ring_topology",
    "Num output blocks along y ({}) must be smaller than or equal to the number of rows in compute grid ({})!",
)
R_2D_FUSE = _r(
    "2d_sharded_a_fuse_batch",
    "2D: a sharded input_tensor_a needs fuse_batch",
    "validate_on_program_cache_miss",
    "Batch fusion is required when input A is sharded",
)
R_2D_A_LAYOUT = _r(
    "2d_a_block_or_height",
    "2D: a sharded input_tensor_a is BLOCK_SHARDED or HEIGHT_SHARDED",
    "validate_on_program_cache_miss",
    "Unsupported memory layout {}.",
)
R_2D_A_ORIENT = _r(
    "2d_block_a_orientation",
    "2D, a BLOCK_SHARDED: orientation COL_MAJOR with transpose_mcast, else ROW_MAJOR",
    "validate_on_program_cache_miss",
    "Input tensor A must have ROW_MAJOR shard orientation for non-transpose MCAST, got: {}",
)
R_2D_A_OUT_MATCH = _r(
    "2d_block_a_out_match",
    "2D, a BLOCK_SHARDED and output sharded: same buffer type and memory layout",
    "validate_on_program_cache_miss",
    "Input tensor A and output memory layouts must match, got input: {} vs output: {}",
)
R_2D_HEIGHT = _r(
    "2d_height_a",
    "2D, a HEIGHT_SHARDED: no transpose_mcast, K == in0_block_w == shard width, one grid column",
    "validate_on_program_cache_miss",
    "Transpose MCAST not supported with HEIGHT_SHARDED layout",
)
R_2D_A_M = _r(
    "2d_a_shard_height",
    "2D, a sharded: per_core_M == shard height (tiles)",
    "validate_on_program_cache_miss",
    "per_core_M ({}) must equal shard_shape[0] / in0_tile.get_height() ({})",
)
R_2D_A_W = _r(
    "2d_a_shard_width",
    "2D, a sharded: shard width (tiles) divisible by in0_block_w",
    "validate_on_program_cache_miss",
    "shard_shape[1] / in0_tile.get_width() ({}) must be divisible by in0_block_w ({})",
)
R_2D_B = _r(
    "2d_b_sharded",
    "2D, b sharded: no transpose_mcast, WIDTH_SHARDED on one grid row; in L1 also a interleaved/height and shard width == per_core_N",
    "validate_on_program_cache_miss",
    "Transpose MCAST not supported when input B is sharded",
)
R_2D_OUT = _r(
    "2d_out_block_sharded",
    "2D: a sharded output is BLOCK_SHARDED",
    "validate_on_program_cache_miss",
    "Output memory layout must be BLOCK_SHARDED, got: {}",
)
# --- DRAM-sharded -------------------------------------------------------------------------------
R_DS_A = _r(
    "dram_a_width_sharded",
    "DRAM-sharded: input_tensor_a is sharded, WIDTH_SHARDED, ROW_MAJOR",
    "validate_on_program_cache_miss",
    "Input tensor A must be sharded for DRAM sharded program config",
)
R_DS_OUT = _r(
    "dram_out_sharded",
    "DRAM-sharded: the output is sharded with a's buffer type and memory layout",
    "validate_on_program_cache_miss",
    "Output memory config must be sharded for DRAM sharded program config",
)
R_DS_M = _r(
    "dram_m_one_tile",
    "DRAM-sharded: M == per_core_M == 1 tile == a's shard height",
    "validate_on_program_cache_miss",
    "currently only support in0 tensor height of tile height",
)
R_DS_K = _r(
    "dram_k_in0_block_w",
    "DRAM-sharded: in0_block_w divides K and a's shard width (tiles)",
    "validate_on_program_cache_miss",
    "K ({}) must be divisible by in0_block_w ({})",
)
R_DS_EVEN = _r(
    "dram_even_k_shards",
    "DRAM-sharded: a's shard width (tiles) divides K",
    "compute_output_specs",
    "in DRAM sharded Matmul we don't have support for un-even sharding currently. K: {}, per_core_K: {}.",
)
R_DS_B = _r(
    "dram_b_width_sharded",
    "DRAM-sharded: input_tensor_b is WIDTH_SHARDED",
    "validate_on_program_cache_miss",
    "Input B memory layout must be WIDTH_SHARDED, got: {}",
)
R_DS_B_BANKS = rule(
    "matmul.dram_b_all_banks",
    OP,
    "DRAM-sharded: input_tensor_b is in DRAM, sharded over all DRAM banks (no TT_FATAL: the readers fetch one shard per bank)",
    "ttnn/cpp/ttnn/operations/matmul/device/factory/matmul_multicore_reuse_mcast_dram_sharded_program_factory.cpp: create",
)
R_DS_CORES = _r(
    "dram_cores_fit_grid",
    "DRAM-sharded: N / per_core_N cores fit the device grid",
    "compute_output_specs (num_cores_to_corerangeset)",
)
# --- MatmulMultiCoreReuseProgramConfig ----------------------------------------------------------
R_REUSE_M = _r(
    "reuse_per_core_m",
    "reuse: per_core_M divides M, or is a multiple of M dividing the total M",
    "validate_on_program_cache_miss",
    "per_core_M, {}, must divide M, {}, if per_core_M < M!",
)
R_REUSE_N = _r(
    "reuse_per_core_n",
    "reuse: per_core_N == N (tiles)",
    "validate_on_program_cache_miss",
    "Error: N, {}, is not equal to per_core_N, {}",
)
R_REUSE_BCAST = _r(
    "reuse_no_batch_bcast",
    "reuse: no broadcast of a batch-1 b over a's batch",
    "validate_on_program_cache_miss",
    "Batch broadcasting is not supported for the chosen program config",
)
not_mirrored(
    "matmul.reuse_sharded_operands",
    OP,
    "reuse config with sharded operands: shard shapes vs per_core_M/K",
    "TTTv2 uses MatmulMultiCoreReuseProgramConfig only with interleaved operands; the emulator refuses sharded operands for it",
)
not_mirrored(
    "matmul.auto_config",
    OP,
    "without program_config the op derives one (matmul_program_config.cpp: get_program_config) and validates it",
    "the emulator does not derive a config; it computes any valid interleaved/sharded call without one",
)
not_mirrored(
    "matmul.tiny_tiles",
    OP,
    "tiny-tile (output_tile / non-32 tile) rules",
    "the emulator refuses output_tile (32x32 tiles only)",
)


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


def _blocks(total: int, per_core: int) -> int:
    return -(-total // per_core)


def _check_subblocks(op: str, pc, dest_tiles: int, fp32_dest_acc_en: bool) -> None:
    name = "program_config"
    check(
        pc.out_subblock_h != 0 and pc.out_subblock_w != 0,
        R_SUB_NONZERO,
        f"{name}: out_subblock_h and out_subblock_w must be >= 1, got {pc.out_subblock_h} x {pc.out_subblock_w}",
        op=op,
    )
    pairs = []
    if isinstance(pc, MatmulMultiCoreReuseProgramConfig):
        pairs = [(pc.per_core_M, pc.out_subblock_h, "per_core_M", "out_subblock_h"),
                 (pc.per_core_N, pc.out_subblock_w, "per_core_N", "out_subblock_w")]  # fmt: skip
    else:
        check(
            pc.out_block_h != 0 and pc.out_block_w != 0,
            R_SUB_NONZERO,
            f"{name}: out_block_h and out_block_w must be >= 1, got {pc.out_block_h} x {pc.out_block_w}",
            op=op,
        )
        pairs = [(pc.out_block_h, pc.out_subblock_h, "out_block_h", "out_subblock_h"),
                 (pc.out_block_w, pc.out_subblock_w, "out_block_w", "out_subblock_w"),
                 (pc.per_core_M, pc.out_block_h, "per_core_M", "out_block_h"),
                 (pc.per_core_N, pc.out_block_w, "per_core_N", "out_block_w")]  # fmt: skip
    for value, divisor, label, divisor_label in pairs:
        check(
            value % divisor == 0,
            R_SUB_DIV,
            f"{name}: {label} ({value}) must be divisible by {divisor_label} ({divisor})",
            op=op,
        )
    acc = "fp32_dest_acc_en=True" if fp32_dest_acc_en else "bfloat16 accumulation"
    check(
        pc.out_subblock_h * pc.out_subblock_w <= dest_tiles,
        R_DEST,
        f"{name}: out_subblock_h * out_subblock_w = {pc.out_subblock_h} * {pc.out_subblock_w} = "
        f"{pc.out_subblock_h * pc.out_subblock_w} tiles, at most {dest_tiles} fit the destination registers with {acc}",
        op=op,
    )


def _check_grid(op: str, pc, device_grid: CoreCoord) -> None:
    grid = pc.compute_with_storage_grid_size
    check(
        0 < grid.x <= device_grid.x and 0 < grid.y <= device_grid.y,
        R_GRID,
        f"program_config: compute_with_storage_grid_size ({grid.x}, {grid.y}) must be non-zero and fit within "
        f"the device compute grid ({device_grid.x}, {device_grid.y})",
        op=op,
    )


def _check_in_grid(op: str, name: str, tensor, grid: CoreCoord) -> None:
    memory_config = tensor.memory_config()
    if not memory_config.is_sharded() or memory_config.buffer_type == BufferType.DRAM:
        return
    box = memory_config.shard_spec.grid.bounding_box()
    check(
        box.end.x < grid.x and box.end.y < grid.y,
        R_IN_GRID,
        f"{name} shard grid ends at core ({box.end.x},{box.end.y}), outside the program_config "
        f"compute_with_storage_grid_size ({grid.x}, {grid.y})",
        op=op,
    )


def _check_nonzero(op: str, pc) -> None:
    for field_name in ("in0_block_w", "per_core_M", "per_core_N"):
        check(
            getattr(pc, field_name) != 0,
            R_NONZERO,
            f"program_config: {field_name} is 0, which is not valid",
            op=op,
        )


def _shard_tiles(memory_config: MemoryConfig) -> tuple[int, int]:
    h, w = memory_config.shard_spec.shape
    return h // TILE_SIZE, w // TILE_SIZE


def _check_a_out_match(op: str, a_mc: MemoryConfig, out_mc: MemoryConfig, rule_) -> None:
    if out_mc.is_sharded():
        check(
            a_mc.buffer_type == out_mc.buffer_type and a_mc.memory_layout == out_mc.memory_layout,
            rule_,
            f"input_tensor_a is {a_mc.buffer_type.name} {a_mc.memory_layout.name}, memory_config is "
            f"{out_mc.buffer_type.name} {out_mc.memory_layout.name}",
            op=op,
        )


def _validate_1d(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device_grid) -> list[CoreCoord]:
    if pc.gather_in0:
        _fail(
            op,
            "program_config: gather_in0 (ring matmul with a global circular buffer) is not modelled by the emulator",
        )
    _check_grid(op, pc, device_grid)
    grid = pc.compute_with_storage_grid_size
    _check_in_grid(op, "input_tensor_a", a, grid)
    _check_in_grid(op, "input_tensor_b", b, grid)
    mt = shape.mt_fused if pc.fuse_batch else shape.mt
    blocks_y, blocks_x = _blocks(mt, pc.per_core_M), _blocks(shape.nt, pc.per_core_N)
    a_mc, b_mc = a.memory_config(), b.memory_config()
    if pc.mcast_in0:
        if a.is_sharded():
            check(
                pc.fuse_batch,
                R_1D_FUSE,
                "program_config: fuse_batch must be True when input_tensor_a is sharded",
                op=op,
            )
            check(
                a_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED,
                R_1D_A_WIDTH,
                f"input_tensor_a must be WIDTH_SHARDED for an mcast_in0 1D matmul, got {a_mc.memory_layout.name}",
                op=op,
            )
            _check_a_out_match(op, a_mc, out_mc, R_1D_A_OUT_MATCH)
            check(
                a_mc.shard_spec.orientation == ShardOrientation.ROW_MAJOR,
                R_1D_A_ORIENT,
                "input_tensor_a shard orientation must be ROW_MAJOR",
                op=op,
            )
            shard_h, shard_w = _shard_tiles(a_mc)
            check(
                mt == pc.per_core_M == shard_h,
                R_1D_A_M,
                f"program_config: per_core_M ({pc.per_core_M}) must equal M ({mt} tiles) and the input shard height ({shard_h} tiles)",
                op=op,
            )
            check(
                shard_w % pc.in0_block_w == 0,
                R_1D_A_SHARD_W,
                f"program_config: input shard width ({shard_w} tiles) must be divisible by in0_block_w ({pc.in0_block_w})",
                op=op,
            )
        if out_mc.is_sharded():
            one_row = out_mc.memory_layout == TensorMemoryLayout.BLOCK_SHARDED and blocks_x <= grid.x
            check(
                (out_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED or one_row) and mt == pc.per_core_M,
                R_1D_OUT_WIDTH,
                f"memory_config must be WIDTH_SHARDED with per_core_M ({pc.per_core_M}) == M ({mt} tiles) for an "
                f"mcast_in0 1D matmul, got {out_mc.memory_layout.name}",
                op=op,
            )
            _check_sharded_out_subblock(op, pc)
        if b.is_sharded() and b_mc.buffer_type == BufferType.L1:
            check(
                b_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED
                and _shard_tiles(b_mc)[1] == pc.per_core_N,
                R_1D_B_SHARD,
                "input_tensor_b may only be interleaved or L1 width-sharded with shard width == per_core_N",
                op=op,
            )
    else:
        if a.is_sharded():
            check(
                pc.fuse_batch,
                R_1D_FUSE,
                "program_config: fuse_batch must be True when input_tensor_a is sharded",
                op=op,
            )
            shard_h, shard_w = _shard_tiles(a_mc)
            check(
                a_mc.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED
                and shard_h == pc.per_core_M
                and shard_w == shape.kt
                and _blocks(mt, pc.per_core_M) <= a_mc.shard_spec.grid.num_cores(),
                R_1D_A_HEIGHT,
                f"input_tensor_a must be HEIGHT_SHARDED in shards of per_core_M x K ({pc.per_core_M}x{shape.kt} tiles) "
                f"for a 1D matmul with mcast_in0=False, got {a_mc.memory_layout.name} shards of {shard_h}x{shard_w} tiles",
                op=op,
            )
            _check_a_out_match(op, a_mc, out_mc, R_1D_A_OUT_MATCH)
            check(
                a_mc.shard_spec.orientation == ShardOrientation.ROW_MAJOR,
                R_1D_A_ORIENT,
                "input_tensor_a shard orientation must be ROW_MAJOR",
                op=op,
            )
        if out_mc.is_sharded():
            check(
                out_mc.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED and shape.nt == pc.per_core_N,
                R_1D_OUT_HEIGHT,
                f"memory_config must be HEIGHT_SHARDED with per_core_N ({pc.per_core_N}) == N ({shape.nt} tiles) for a "
                f"1D matmul with mcast_in0=False, got {out_mc.memory_layout.name}",
                op=op,
            )
            _check_sharded_out_subblock(op, pc)
        check(
            not b.is_sharded(),
            R_1D_B_INTERLEAVED,
            "input_tensor_b must be interleaved for a 1D matmul with mcast_in0=False",
            op=op,
        )
    check(
        blocks_y * blocks_x <= grid.x * grid.y,
        R_1D_BLOCKS,
        f"program_config: {blocks_y * blocks_x} output blocks (M {mt} tiles / per_core_M {pc.per_core_M} x "
        f"N {shape.nt} tiles / per_core_N {pc.per_core_N}) exceed the {grid.x}x{grid.y} = {grid.x * grid.y} cores of "
        "compute_with_storage_grid_size",
        op=op,
    )
    if pc.mcast_in0:
        check(
            blocks_y == 1,
            R_1D_MCAST_M,
            f"program_config: mcast_in0 requires all of M ({mt} tiles) in one per_core_M block ({pc.per_core_M})",
            op=op,
        )
    return num_cores_to_corerangeset(blocks_x * blocks_y, grid, row_wise=True).cores()


def _check_sharded_out_subblock(op: str, pc) -> None:
    check(
        (pc.out_subblock_w == pc.per_core_N or pc.out_subblock_h == 1)
        and (pc.out_block_w == pc.per_core_N or pc.out_block_h == 1),
        R_SHARDED_SUBBLOCK,
        "program_config: out_subblock_w (and out_block_w) must equal per_core_N or out_subblock_h "
        "(and out_block_h) must be 1 for a sharded output",
        op=op,
    )


def _validate_2d(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device_grid) -> list[CoreCoord]:
    _check_grid(op, pc, device_grid)
    grid = pc.compute_with_storage_grid_size
    _check_in_grid(op, "input_tensor_a", a, grid)
    _check_in_grid(op, "input_tensor_b", b, grid)
    mt = shape.mt_fused if pc.fuse_batch else shape.mt
    a_mc, b_mc = a.memory_config(), b.memory_config()
    if a.is_sharded():
        check(
            pc.fuse_batch,
            R_2D_FUSE,
            "program_config: fuse_batch must be True when input_tensor_a is sharded",
            op=op,
        )
        check(
            a_mc.memory_layout in (TensorMemoryLayout.BLOCK_SHARDED, TensorMemoryLayout.HEIGHT_SHARDED),
            R_2D_A_LAYOUT,
            f"input_tensor_a must be BLOCK_SHARDED or HEIGHT_SHARDED for a 2D matmul, got {a_mc.memory_layout.name}",
            op=op,
        )
        shard_h, shard_w = _shard_tiles(a_mc)
        if a_mc.memory_layout == TensorMemoryLayout.BLOCK_SHARDED:
            wanted = ShardOrientation.COL_MAJOR if pc.transpose_mcast else ShardOrientation.ROW_MAJOR
            check(
                a_mc.shard_spec.orientation == wanted,
                R_2D_A_ORIENT,
                f"input_tensor_a shard orientation must be {wanted.name} with transpose_mcast={pc.transpose_mcast}, "
                f"got {a_mc.shard_spec.orientation.name}",
                op=op,
            )
            _check_a_out_match(op, a_mc, out_mc, R_2D_A_OUT_MATCH)
        else:
            box = a_mc.shard_spec.grid.bounding_box()
            check(
                not pc.transpose_mcast and shape.kt == pc.in0_block_w == shard_w and box.start.x == box.end.x,
                R_2D_HEIGHT,
                f"a HEIGHT_SHARDED input_tensor_a needs transpose_mcast=False, K ({shape.kt} tiles) == in0_block_w "
                f"({pc.in0_block_w}) == shard width ({shard_w} tiles) and a one-column shard grid",
                op=op,
            )
        check(
            shard_h == pc.per_core_M,
            R_2D_A_M,
            f"program_config: per_core_M ({pc.per_core_M}) must equal the input shard height ({shard_h} tiles)",
            op=op,
        )
        check(
            shard_w % pc.in0_block_w == 0,
            R_2D_A_W,
            f"program_config: input shard width ({shard_w} tiles) must be divisible by in0_block_w ({pc.in0_block_w})",
            op=op,
        )
    if b.is_sharded():
        box = b_mc.shard_spec.grid.bounding_box()
        ok = not pc.transpose_mcast and b_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED
        ok = ok and box.start.y == box.end.y
        if b_mc.buffer_type != BufferType.DRAM:
            a_ok = not a.is_sharded() or a_mc.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED
            ok = ok and a_ok and _shard_tiles(b_mc)[1] == pc.per_core_N
        check(
            ok,
            R_2D_B,
            f"input_tensor_b sharded as {b_mc.buffer_type.name} {b_mc.memory_layout.name} on grid {box} does not fit a "
            f"2D matmul (transpose_mcast={pc.transpose_mcast}, per_core_N={pc.per_core_N})",
            op=op,
        )
    if out_mc.is_sharded():
        check(
            out_mc.memory_layout == TensorMemoryLayout.BLOCK_SHARDED,
            R_2D_OUT,
            f"memory_config must be BLOCK_SHARDED for a 2D matmul, got {out_mc.memory_layout.name}",
            op=op,
        )
        _check_sharded_out_subblock(op, pc)
    blocks_y, blocks_x = _blocks(mt, pc.per_core_M), _blocks(shape.nt, pc.per_core_N)
    along_x, along_y = (blocks_y, blocks_x) if pc.transpose_mcast else (blocks_x, blocks_y)
    check(
        along_x <= grid.x,
        R_2D_X,
        f"program_config: {along_x} output blocks along x (N {shape.nt} tiles / per_core_N {pc.per_core_N}) exceed the grid's {grid.x} columns",
        op=op,
    )
    check(
        along_y <= grid.y,
        R_2D_Y,
        f"program_config: {along_y} output blocks along y (M {mt} tiles / per_core_M {pc.per_core_M}) exceed the grid's {grid.y} rows",
        op=op,
    )
    cols, rows = (blocks_y, blocks_x) if pc.transpose_mcast else (blocks_x, blocks_y)
    return CoreRange(CoreCoord(0, 0), CoreCoord(cols - 1, rows - 1)).cores()


def _validate_dram_sharded(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device) -> list[CoreCoord]:
    a_mc, b_mc = a.memory_config(), b.memory_config()
    check(
        a.is_sharded()
        and a_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED
        and a_mc.shard_spec.orientation == ShardOrientation.ROW_MAJOR,
        R_DS_A,
        f"input_tensor_a must be L1 WIDTH_SHARDED (ROW_MAJOR) for a DRAM-sharded matmul, got "
        f"{a_mc.buffer_type.name} {a_mc.memory_layout.name}",
        op=op,
    )
    check(
        out_mc.is_sharded()
        and out_mc.memory_layout == a_mc.memory_layout
        and out_mc.buffer_type == a_mc.buffer_type,
        R_DS_OUT,
        f"memory_config must be L1 WIDTH_SHARDED like input_tensor_a for a DRAM-sharded matmul, got "
        f"{out_mc.buffer_type.name} {out_mc.memory_layout.name}",
        op=op,
    )
    shard_h, shard_w = _shard_tiles(a_mc)
    check(
        pc.per_core_M == shape.mt == 1 == shard_h,
        R_DS_M,
        f"program_config: per_core_M ({pc.per_core_M}) must equal M and the input shard height, and M must be one "
        f"tile row (M is {shape.mt} tiles, shard height {shard_h} tiles)",
        op=op,
    )
    check(
        shape.kt % pc.in0_block_w == 0 and shard_w % pc.in0_block_w == 0,
        R_DS_K,
        f"program_config: in0_block_w ({pc.in0_block_w}) must divide K ({shape.kt} tiles) and the input shard width ({shard_w} tiles)",
        op=op,
    )
    check(
        b_mc.memory_layout == TensorMemoryLayout.WIDTH_SHARDED,
        R_DS_B,
        f"input_tensor_b must be WIDTH_SHARDED over the DRAM banks, got {b_mc.buffer_type.name} {b_mc.memory_layout.name}",
        op=op,
    )
    check(
        shape.kt % shard_w == 0,
        R_DS_EVEN,
        f"input_tensor_a shard width ({shard_w} tiles) must divide K ({shape.kt} tiles): uneven sharding is not supported",
        op=op,
    )
    banks = b_mc.shard_spec.grid.num_cores() if b_mc.shard_spec is not None else 0
    check(
        b_mc.buffer_type == BufferType.DRAM and banks == device.spec.dram_banks,
        R_DS_B_BANKS,
        f"input_tensor_b must be DRAM WIDTH_SHARDED over all {device.spec.dram_banks} DRAM banks of "
        f"{device.spec.name}, it is {b_mc.buffer_type.name} with {banks} shards",
        op=op,
    )
    blocks = _blocks(shape.nt, pc.per_core_N)
    grid = device.compute_with_storage_grid_size()
    check(
        blocks <= grid.x * grid.y,
        R_DS_CORES,
        f"program_config: N ({shape.nt} tiles) / per_core_N ({pc.per_core_N}) = {blocks} cores exceed the {grid.x * grid.y} of the device",
        op=op,
    )
    return num_cores_to_corerangeset(blocks, grid, row_wise=True).cores()


def _validate_reuse(op, pc, shape: MatmulShape, a, b, out_mc: MemoryConfig, device_grid) -> list[CoreCoord]:
    _check_grid(op, pc, device_grid)
    if a.is_sharded() or b.is_sharded() or out_mc.is_sharded():
        _fail(
            op,
            "MatmulMultiCoreReuseProgramConfig with sharded operands or output is not modelled by the emulator",
        )
    if pc.per_core_M > shape.mt:
        m_ok = pc.per_core_M % shape.mt == 0 and shape.mt_fused % pc.per_core_M == 0
    else:
        m_ok = shape.mt % pc.per_core_M == 0
    check(
        m_ok,
        R_REUSE_M,
        f"program_config: per_core_M ({pc.per_core_M}) must divide M ({shape.mt} tiles) or be a multiple of it "
        f"dividing the total M ({shape.mt_fused} tiles)",
        op=op,
    )
    check(
        shape.nt == pc.per_core_N,
        R_REUSE_N,
        f"program_config: per_core_N ({pc.per_core_N}) must equal N ({shape.nt} tiles) for MatmulMultiCoreReuseProgramConfig",
        op=op,
    )
    check(
        not (shape.batch > 1 and shape.b_batch == 1),
        R_REUSE_BCAST,
        "MatmulMultiCoreReuseProgramConfig does not broadcast input_tensor_b over the batch",
        op=op,
    )
    grid = pc.compute_with_storage_grid_size
    blocks = _blocks(shape.mt_fused, pc.per_core_M) * _blocks(shape.nt, pc.per_core_N)
    return num_cores_to_corerangeset(min(blocks, grid.x * grid.y), grid, row_wise=False).cores()


def _fail(op: str, message: str):
    raise ValueError(f"{op}: {message}")


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
    if getattr(device, "replaying", False):
        # A trace replay runs the captured programs without validation (the device checks the CB
        # region at program creation, ProgramImpl::validate_circular_buffer_region, i.e. at capture);
        # the capture's intermediates the emulator keeps for replay would be counted as live L1 here.
        return
    allocator = device.allocator
    grid = allocator.grid
    worst_index = max((c.y * grid.x + c.x for c in cores), key=lambda i: allocator.l1_used[i])
    used = allocator.l1_used[worst_index]
    core = CoreCoord(worst_index % grid.x, worst_index // grid.x)
    check(
        used + cb_bytes <= allocator.l1_capacity,
        R_L1,
        f"program_config needs {cb_bytes} bytes of circular buffers per core, but core ({core.x},{core.y}) has "
        f"{allocator.l1_capacity - used} of {allocator.l1_capacity} L1 bytes free ({used} used by L1 buffers) on "
        f"{device.spec.name}; use a smaller in0_block_w, per_core_N or out_block_w",
        op=op,
    )


def plan_matmul(
    op, pc, shape: MatmulShape, a, b, bias, out_mc, out_dtype, device, kernel_config
) -> MatmulPlan:
    """Validate ``pc`` against the operands and the device; return the cores, output memory config and CB size."""
    device_grid = device.compute_with_storage_grid_size()
    fp32, full_sync = kernel_config.fp32_dest_acc_en, kernel_config.dst_full_sync_en
    dram_sharded = isinstance(pc, MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig)
    _check_nonzero(op, pc)
    if not dram_sharded:
        check(
            shape.kt % pc.in0_block_w == 0,
            R_KT,
            f"program_config: in0_block_w ({pc.in0_block_w}) must divide K ({shape.kt} tiles)",
            op=op,
        )
        _check_subblocks(op, pc, dest_register_tiles(fp32, full_sync), fp32)
    if isinstance(
        pc, MatmulMultiCoreReuseMultiCast1DProgramConfig | MatmulMultiCoreReuseMultiCastProgramConfig
    ):
        if pc.fuse_batch:
            check(
                shape.b_batch == 1,
                R_FUSED_B,
                f"program_config: fuse_batch=True needs input_tensor_b with batch 1, it has {shape.b_batch}",
                op=op,
            )
    if isinstance(pc, MatmulMultiCoreReuseMultiCast1DProgramConfig):
        cores = _validate_1d(op, pc, shape, a, b, out_mc, device_grid)
    elif isinstance(pc, MatmulMultiCoreReuseMultiCastProgramConfig):
        cores = _validate_2d(op, pc, shape, a, b, out_mc, device_grid)
    elif dram_sharded:
        cores = _validate_dram_sharded(op, pc, shape, a, b, out_mc, device)
    else:
        cores = _validate_reuse(op, pc, shape, a, b, out_mc, device_grid)
    out_mc = _output_memory_config(
        pc,
        shape,
        out_mc,
        cores,
        device_grid if dram_sharded else getattr(pc, "compute_with_storage_grid_size", device_grid),
    )
    cb_bytes = _circular_buffer_bytes(
        pc, shape, a, b, bias, out_mc, out_dtype, fp32, kernel_config.packer_l1_acc
    )
    _check_l1(op, device, cores, cb_bytes)
    return MatmulPlan(cores, out_mc, cb_bytes)
