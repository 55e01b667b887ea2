"""Matmul program configs derived from the matmul's shape ``(M, K, N)`` and the device's core grid.

Every block uses these instead of per-model tables::

    grid = device.compute_with_storage_grid_size()
    pc = matmul_config(m=32, k=4096, n=14336 // 8, grid=grid)          # 1D for skinny, 2D for tall
    pc = dram_sharded_config(m=32, k=4096, n=14336 // 8, grid=grid)    # decode, weights DRAM-sharded
    check_matmul_config("ffn.gate_proj.decode_program_config", pc, m=32, k=4096, n=1792, grid=grid)

Which config for what (TTTv1 ``model_config.py`` made the same choices):

* ``matmul_1d_config`` -- ``MatmulMultiCoreReuseMultiCast1DProgramConfig`` with ``mcast_in0``: every
  core receives all of M and computes a slice of N. Decode (M = one tile of <= 32 users) and short
  prefill (seq 1..~100) where N is much wider than M.
* ``matmul_2d_config`` -- ``MatmulMultiCoreReuseMultiCastProgramConfig``: M split over grid rows, N
  over grid columns. Prefill of long sequences.
* ``dram_sharded_config`` -- ``MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig``: decode with
  the weight width-sharded over the DRAM banks (``dram_sharded_weight_memory_config``) and the
  activation width-sharded in L1 (``width_sharded_activation_memory_config``); reads each weight
  byte once from its nearest bank, the fastest decode matmul when weights dominate.
* ``matmul_config`` -- picks 1D or 2D from the shape (tt-metal's "narrow shape" rule: ratio >= 8).

All sizes below are in elements unless a name says ``_tiles``; ``m`` may be any row count (it is
tile-padded: a decode batch of 1..32 users is one tile row). Functions take the compute grid as a
``ttnn.CoreCoord`` (``device.compute_with_storage_grid_size()``) so they work on real devices too.
"""

from __future__ import annotations

from tttv2_hwconfig import ttnn

TILE = 32
# tt-metal compute_kernel_config.cpp get_dest_reg_count: 8 tiles of destination registers with
# bfloat16 accumulation (half-sync), 4 with fp32_dest_acc_en.
DEST_TILES_BF16 = 8
DEST_TILES_FP32 = 4
# tt-metal matmul_program_config.cpp is_narrow_shape: a height/width ratio above 8 favours 1D.
NARROW_RATIO = 8
# Circular buffers of one matmul must share L1 with resident buffers (sharded activations, KV
# caches on L1...); keep the derived configs within this many bytes per core.
CB_BUDGET_BYTES = 512 * 1024
_CB_TILE_BYTES = 2048  # bfloat16 tile, the largest operand/output format blocks use by default
MAX_IN0_BLOCK_W = 16
SPARSE_MAX_OUT_BLOCK_H = 8  # tiles of M per output block of sparse_matmul_config


def tiles(n: int) -> int:
    """Number of 32-wide tiles covering ``n`` elements."""
    return -(-int(n) // TILE)


def largest_divisor(n: int, at_most: int) -> int:
    """Largest divisor of ``n`` that is <= ``at_most`` (at least 1)."""
    for d in range(min(n, max(1, at_most)), 0, -1):
        if n % d == 0:
            return d
    return 1


def _grid_xy(grid) -> tuple[int, int]:
    if hasattr(grid, "x") and hasattr(grid, "y"):
        return int(grid.x), int(grid.y)
    x, y = grid
    return int(x), int(y)


def _subblocks(per_core_m: int, per_core_n: int, fp32_dest_acc_en: bool) -> tuple[int, int]:
    """(out_subblock_h, out_subblock_w): widest w dividing per_core_N, then the tallest h that fits.

    h > 1 only when w == per_core_N, which sharded outputs require.
    """
    limit = DEST_TILES_FP32 if fp32_dest_acc_en else DEST_TILES_BF16
    w = largest_divisor(per_core_n, limit)
    h = largest_divisor(per_core_m, limit // w) if w == per_core_n else 1
    return h, w


def _in0_block_w(
    k_tiles: int, per_core_m: int, per_core_n: int, out_tiles: int, cap: int = MAX_IN0_BLOCK_W
) -> int:
    """Largest divisor of K (tiles) whose double-buffered in0/in1 blocks fit ``CB_BUDGET_BYTES``."""
    for w in range(min(k_tiles, cap), 0, -1):
        if k_tiles % w:
            continue
        cb = (2 * (per_core_m + per_core_n) * w + out_tiles) * _CB_TILE_BYTES
        if cb <= CB_BUDGET_BYTES:
            return w
    return 1


def _out_block_w(per_core_m: int, per_core_n: int, fp32_dest_acc_en: bool) -> int:
    """Largest divisor of per_core_N whose output block (+ fp32 partials) stays under half the budget."""
    bytes_per_tile = _CB_TILE_BYTES * (3 if fp32_dest_acc_en else 2)
    for w in range(per_core_n, 0, -1):
        if per_core_n % w == 0 and per_core_m * w * bytes_per_tile <= CB_BUDGET_BYTES // 2:
            return w
    return 1


def matmul_1d_config(
    m: int,
    k: int,
    n: int,
    grid,
    *,
    fp32_dest_acc_en: bool = False,
    fused_activation=None,
    max_cores: int | None = None,
):
    """1D multicast config (``mcast_in0``): all of M on each core, N split over up to ``max_cores`` cores.

    Args:
        m, k, n: matmul ``(m, k) @ (k, n)`` per device, in elements (m is tile-padded).
        grid: compute grid (``device.compute_with_storage_grid_size()``).
        fp32_dest_acc_en: must match the compute kernel config (halves the output subblock).
        fused_activation: optional ``ttnn.UnaryWithParam`` / ``ttnn.UnaryOpType`` applied to the output.
        max_cores: cap on cores (default: the whole grid).
    """
    gx, gy = _grid_xy(grid)
    m_tiles, k_tiles, n_tiles = tiles(m), tiles(k), tiles(n)
    cores = min(gx * gy if max_cores is None else max_cores, n_tiles)
    per_core_n = -(-n_tiles // cores)
    out_w = _out_block_w(m_tiles, per_core_n, fp32_dest_acc_en)
    h, w = _subblocks(m_tiles, out_w, fp32_dest_acc_en)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(gx, gy),
        in0_block_w=_in0_block_w(k_tiles, m_tiles, per_core_n, m_tiles * out_w),
        out_subblock_h=h,
        out_subblock_w=w,
        out_block_h=m_tiles,
        out_block_w=out_w,
        per_core_M=m_tiles,
        per_core_N=per_core_n,
        fuse_batch=True,
        fused_activation=_activation(fused_activation),
        mcast_in0=True,
    )


def matmul_2d_config(m: int, k: int, n: int, grid, *, fp32_dest_acc_en: bool = False, fused_activation=None):
    """2D multicast config: M over grid rows, N over grid columns (prefill).

    Args: as ``matmul_1d_config``. ``m`` is the number of rows after folding batch dims
    (``fuse_batch=True``).
    """
    gx, gy = _grid_xy(grid)
    m_tiles, k_tiles, n_tiles = tiles(m), tiles(k), tiles(n)
    per_core_m = -(-m_tiles // gy)
    per_core_n = -(-n_tiles // gx)
    out_w = _out_block_w(per_core_m, per_core_n, fp32_dest_acc_en)
    out_h = per_core_m
    h, w = _subblocks(out_h, out_w, fp32_dest_acc_en)
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(gx, gy),
        in0_block_w=_in0_block_w(k_tiles, per_core_m, per_core_n, out_h * out_w),
        out_subblock_h=h,
        out_subblock_w=w,
        out_block_h=out_h,
        out_block_w=out_w,
        per_core_M=per_core_m,
        per_core_N=per_core_n,
        transpose_mcast=False,
        fused_activation=_activation(fused_activation),
        fuse_batch=True,
    )


def sparse_matmul_config(m: int, k: int, n: int, grid, *, fp32_dest_acc_en: bool = False):
    """Config for ``ttnn.sparse_matmul`` (one ``(m, k) @ (k, n)`` pair): the 1D ``mcast_in0`` config,
    the only one the op takes.

    All of M on every core (``per_core_M`` = M tiles, so M must be short: a decode tile or a
    32-row sparsity block) and N split over the cores, as ``matmul_1d_config``; the number of cores
    with work is chosen so that they fill a rectangle of the grid (the factory multicasts in0 to
    their bounding box and hangs on idle cores inside it), and ``fuse_batch`` is off (the op loops
    over its batch pairs). No fused activation: the sparse factory compiles it out. A tall M (a
    prefill block longer than one tile) is walked in ``out_block_h`` slices of at most
    ``SPARSE_MAX_OUT_BLOCK_H`` tiles, so the circular buffers stay small whatever M is.
    """
    gx, gy = _grid_xy(grid)
    m_tiles, k_tiles, n_tiles = tiles(m), tiles(k), tiles(n)
    per_core_n = -(-n_tiles // (gx * gy))
    while True:  # ends at per_core_n == n_tiles (one core)
        cores = -(-n_tiles // per_core_n)
        if cores <= gx or cores % gx == 0:
            break
        per_core_n += 1
    out_h = largest_divisor(m_tiles, SPARSE_MAX_OUT_BLOCK_H)
    out_w = _out_block_w(out_h, per_core_n, fp32_dest_acc_en)
    h, w = _subblocks(out_h, out_w, fp32_dest_acc_en)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(gx, gy),
        in0_block_w=_in0_block_w(k_tiles, out_h, per_core_n, out_h * out_w),
        out_subblock_h=h,
        out_subblock_w=w,
        out_block_h=out_h,
        out_block_w=out_w,
        per_core_M=m_tiles,
        per_core_N=per_core_n,
        fuse_batch=False,
        fused_activation=None,
        mcast_in0=True,
    )


def is_narrow(m: int, n: int) -> bool:
    """tt-metal's rule for preferring a 1D config: one side at least ``NARROW_RATIO`` times the other."""
    m_tiles, n_tiles = tiles(m), tiles(n)
    return max(m_tiles, n_tiles) >= NARROW_RATIO * min(m_tiles, n_tiles) or m_tiles == 1


def matmul_config(m: int, k: int, n: int, grid, *, fp32_dest_acc_en: bool = False, fused_activation=None):
    """1D config when ``(m, n)`` is narrow and M is short, else 2D. The default for any linear layer."""
    if is_narrow(m, n) and tiles(m) <= tiles(n):
        return matmul_1d_config(
            m, k, n, grid, fp32_dest_acc_en=fp32_dest_acc_en, fused_activation=fused_activation
        )
    return matmul_2d_config(
        m, k, n, grid, fp32_dest_acc_en=fp32_dest_acc_en, fused_activation=fused_activation
    )


# --- DRAM-sharded decode matmuls ------------------------------------------------------------------
# TTTv1 (models/tt_transformers/tt/model_config.py find_grid_k_n / dram_matmul_config) caps a DRAM-sharded
# matmul at an 8x8 grid and blocks K by its largest divisor <= 8: more cores only shrink per-core work
# below what the DRAM readers can feed, and a whole-shard in0_block_w grows the in1 CB past L1.
DRAM_SHARDED_MAX_CORES = 64
DRAM_SHARDED_MAX_IN0_BLOCK_W = 8


def dram_sharded_num_cores(k: int, n: int, grid) -> int:
    """Most cores (<= grid, <= 8x8) that divide both K and N in tiles (TTTv1 ``find_grid_k_n``)."""
    gx, gy = _grid_xy(grid)
    k_tiles, n_tiles = tiles(k), tiles(n)
    for cores in range(min(gx * gy, DRAM_SHARDED_MAX_CORES), 0, -1):
        if k_tiles % cores == 0 and n_tiles % cores == 0:
            return cores
    return 1


def dram_sharded_config(m: int, k: int, n: int, grid, *, fused_activation=None, num_cores: int | None = None):
    """DRAM-sharded decode config (M must be one tile row: <= 32 users).

    The activation must be width-sharded over ``num_cores`` cores
    (``width_sharded_activation_memory_config(m, k, num_cores, grid)``), the weight DRAM-sharded
    (``dram_sharded_weight_memory_config``), the output ``ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG``.
    ``in0_block_w`` is the largest divisor <= 8 of the per-core K tiles, so it divides K and the
    activation shard width as the real op requires (matmul_device_operation.cpp: "K ({}) must be
    divisible by in0_block_w ({})", "shard_shape[1] / in0_tile.get_width() ({}) must be divisible by
    in0_block_w ({})"), and the per-core K tiles divide K (no uneven K shards).
    """
    if tiles(m) != 1:
        raise ValueError(f"dram_sharded_config: m must be at most one tile row (32), got {m}")
    num_cores = num_cores or dram_sharded_num_cores(k, n, grid)
    gx, gy = _grid_xy(grid)
    if tiles(k) % num_cores:
        raise ValueError(
            f"dram_sharded_config: K ({tiles(k)} tiles) must split evenly over num_cores={num_cores} "
            "(the real op has no uneven K shards)"
        )
    per_core_n = -(-tiles(n) // num_cores)
    if -(-tiles(n) // per_core_n) > gx * gy:
        raise ValueError(f"dram_sharded_config: {num_cores} cores exceed the {gx}x{gy} grid")
    return ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(
        in0_block_w=largest_divisor(tiles(k) // num_cores, DRAM_SHARDED_MAX_IN0_BLOCK_W),
        per_core_M=1,
        per_core_N=per_core_n,
        fused_activation=_activation(fused_activation),
    )


def dram_sharded_weight_memory_config(k: int, n: int, device):
    """Width-shard a ``(k, n)`` weight over every DRAM bank (N padded to a multiple of 32 * banks)."""
    dram_grid = device.dram_grid_size()
    banks = dram_grid.x * dram_grid.y
    shard_width = tiles(-(-n // banks)) * TILE
    grid = ttnn.CoreRangeSet(
        [ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(dram_grid.x - 1, dram_grid.y - 1))]
    )
    shard = ttnn.ShardSpec(grid, (tiles(k) * TILE, shard_width), ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, ttnn.BufferType.DRAM, shard)


def width_sharded_activation_memory_config(m: int, k: int, num_cores: int, grid):
    """L1 width-sharded config of a ``(m, k)`` activation over the first ``num_cores`` cores (row-wise)."""
    gx, gy = _grid_xy(grid)
    if tiles(k) % num_cores:
        raise ValueError(
            f"width_sharded_activation_memory_config: K ({tiles(k)} tiles) must divide over {num_cores} cores"
        )
    cores = ttnn.num_cores_to_corerangeset(num_cores, ttnn.CoreCoord(gx, gy), row_wise=True)
    return ttnn.create_sharded_memory_config(
        (tiles(m) * TILE, tiles(k) // num_cores * TILE),
        core_grid=cores,
        strategy=ttnn.ShardStrategy.WIDTH,
        orientation=ttnn.ShardOrientation.ROW_MAJOR,
        use_height_and_width_as_shard_shape=True,
    )


# --- checking user-given configs --------------------------------------------------------------------
def check_matmul_config(
    path: str, config, m: int, k: int, n: int, grid, *, fp32_dest_acc_en: bool = False
) -> None:
    """Raise ValueError naming ``path`` when ``config`` cannot run an ``(m, k) @ (k, n)`` matmul on ``grid``.

    Checks the shape/grid rules of tt-metal's matmul validation (block divisibility, subblock size
    vs destination registers, blocks vs cores, grid inside the device). Memory layouts and L1 use
    are checked by the op itself when it runs.
    """
    if config is None:
        return
    gx, gy = _grid_xy(grid)
    m_tiles, k_tiles, n_tiles = tiles(m), tiles(k), tiles(n)
    name = type(config).__name__

    def bad(message: str):
        raise ValueError(f"{path}: {name} does not fit a ({m}, {k}) @ ({k}, {n}) matmul: {message}")

    for field in ("in0_block_w", "per_core_M", "per_core_N"):
        if getattr(config, field) < 1:
            bad(f"{field} must be >= 1, got {getattr(config, field)}")
    if k_tiles % config.in0_block_w:
        bad(f"in0_block_w ({config.in0_block_w}) must divide K ({k_tiles} tiles)")
    blocks_m, blocks_n = -(-m_tiles // config.per_core_M), -(-n_tiles // config.per_core_N)
    if isinstance(config, ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig):
        if m_tiles != 1 or config.per_core_M != 1:
            bad(
                f"M must be one tile row and per_core_M 1 (M is {m_tiles} tiles, per_core_M {config.per_core_M})"
            )
        if blocks_n > gx * gy:
            bad(
                f"N ({n_tiles} tiles) / per_core_N ({config.per_core_N}) = {blocks_n} cores, the grid has {gx * gy}"
            )
        return
    cgx, cgy = _grid_xy(config.compute_with_storage_grid_size)
    if cgx > gx or cgy > gy:
        bad(f"compute_with_storage_grid_size ({cgx}, {cgy}) is outside the device grid ({gx}, {gy})")
    limit = DEST_TILES_FP32 if fp32_dest_acc_en else DEST_TILES_BF16
    if config.out_subblock_h * config.out_subblock_w > limit:
        bad(
            f"out_subblock_h * out_subblock_w = {config.out_subblock_h * config.out_subblock_w} > {limit} destination tiles"
        )
    out_h = getattr(config, "out_block_h", None) or config.per_core_M
    out_w = getattr(config, "out_block_w", None) or config.per_core_N
    if out_h % config.out_subblock_h or out_w % config.out_subblock_w:
        bad(
            f"output block {out_h}x{out_w} is not divisible by subblock {config.out_subblock_h}x{config.out_subblock_w}"
        )
    if config.per_core_M % out_h or config.per_core_N % out_w:
        bad(
            f"per_core {config.per_core_M}x{config.per_core_N} is not divisible by the output block {out_h}x{out_w}"
        )
    if isinstance(config, ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig):
        if config.mcast_in0 and blocks_m != 1:
            bad(f"mcast_in0 needs all of M ({m_tiles} tiles) in per_core_M ({config.per_core_M})")
        if blocks_m * blocks_n > cgx * cgy:
            bad(f"{blocks_m * blocks_n} output blocks exceed the {cgx * cgy} cores of the config grid")
    elif isinstance(config, ttnn.MatmulMultiCoreReuseMultiCastProgramConfig):
        along_x, along_y = (blocks_m, blocks_n) if config.transpose_mcast else (blocks_n, blocks_m)
        if along_x > cgx or along_y > cgy:
            bad(f"{along_y}x{along_x} output blocks (rows x cols) exceed the {cgy}x{cgx} config grid")


def _activation(activation):
    if activation is None or isinstance(activation, ttnn.UnaryWithParam):
        return activation
    return ttnn.UnaryWithParam(activation)


__all__ = [
    "check_matmul_config",
    "dram_sharded_config",
    "dram_sharded_num_cores",
    "dram_sharded_weight_memory_config",
    "is_narrow",
    "largest_divisor",
    "matmul_1d_config",
    "matmul_2d_config",
    "matmul_config",
    "sparse_matmul_config",
    "tiles",
    "width_sharded_activation_memory_config",
]
