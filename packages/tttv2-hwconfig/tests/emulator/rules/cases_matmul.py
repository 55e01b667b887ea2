"""ttnn.matmul / ttnn.linear rule cases (matmul_device_operation.cpp), one per program-config rule.

Base shapes: a (1, 1, 32*Mt, 32*Kt) bfloat16, b (32*Kt, 32*Nt); default Mt=1, Kt=4, Nt=8.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

OP = "ttnn.matmul"
TML = ttnn.TensorMemoryLayout
COL = ttnn.ShardOrientation.COL_MAJOR


def a_(d, m=32, k=128, mc=None, batch=(1, 1), **kw):
    return dev(d, (*batch, m, k), memory_config=mc, **kw)


def b_(d, k=128, n=256, mc=None, batch=(), **kw):
    return dev(d, (*batch, k, n), memory_config=mc, **kw)


def grid(d):
    return d.compute_with_storage_grid_size()


def one_d(g, **kw):
    fields = dict(compute_with_storage_grid_size=g, in0_block_w=1, out_subblock_h=1, out_subblock_w=1,
                  per_core_M=1, per_core_N=1, fuse_batch=True, mcast_in0=True)  # fmt: skip
    fields.update(kw)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(**fields)


def two_d(g, **kw):
    fields = dict(compute_with_storage_grid_size=g, in0_block_w=1, out_subblock_h=1, out_subblock_w=1,
                  per_core_M=1, per_core_N=1, transpose_mcast=False)  # fmt: skip
    fields.update(kw)
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(**fields)


def reuse(g, **kw):
    fields = dict(compute_with_storage_grid_size=g, in0_block_w=1, out_subblock_h=1, out_subblock_w=1,
                  per_core_M=1, per_core_N=8)  # fmt: skip
    fields.update(kw)
    return ttnn.MatmulMultiCoreReuseProgramConfig(**fields)


def dram_pc(**kw):
    fields = dict(in0_block_w=1, per_core_M=1, per_core_N=2)
    fields.update(kw)
    return ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(**fields)


def dram_weight(d, k=128, n=256, banks=None):
    """b width-sharded over ``banks`` DRAM banks (default: all of them)."""
    dram = d.dram_grid_size()
    banks = banks or dram.x * dram.y
    shard_w = -(-n // (32 * banks)) * 32
    spec = ttnn.ShardSpec(
        ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(banks - 1, 0))]),
        (k, shard_w),
        ttnn.ShardOrientation.ROW_MAJOR,
    )
    return b_(
        d, k, n, mc=ttnn.MemoryConfig(TML.WIDTH_SHARDED, ttnn.BufferType.DRAM, spec), dtype=ttnn.bfloat8_b
    )


def width_a(d, cores=4, m=32, k=128, **kw):
    """a L1 width-sharded over ``cores`` cores of the first row."""
    return a_(d, m, k, mc=sharded((m, k // cores), (cores, 1), TML.WIDTH_SHARDED, **kw))


def height_a(d, m=64, k=128, cores=2):
    return a_(d, m, k, mc=sharded((m // cores, k), (1, cores), TML.HEIGHT_SHARDED))


def block_a(d, m=64, k=128, xy=(2, 2), **kw):
    x, y = xy
    return a_(d, m, k, mc=sharded((m // y, k // x), xy, TML.BLOCK_SHARDED, **kw))


def width_b_l1(d, k=128, n=256, cores=4):
    return b_(d, k, n, mc=sharded((k, n // cores), (cores, 1), TML.WIDTH_SHARDED))


def fp32_kernel():
    return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi2, fp32_dest_acc_en=True)


def lin(a, b, pc=None, **kw):
    return ttnn.linear(a, b, program_config=pc, **kw)


W_OUT = ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG
H_OUT = ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG
B_OUT = ttnn.L1_BLOCK_SHARDED_MEMORY_CONFIG


def _bias(d, shape, **kw):
    return dev(d, shape, **kw)


CASES = [
    # every path
    Case("matmul.operands_tile", lambda d: ttnn.matmul(a_(d, layout=ttnn.ROW_MAJOR_LAYOUT), b_(d))),
    Case("matmul.inner_dims", lambda d: ttnn.matmul(a_(d), b_(d, k=96))),
    Case(
        "matmul.a_float",
        lambda d: ttnn.matmul(
            dev(d, (1, 1, 32, 128), dtype=ttnn.uint32, data=torch.randint(0, 4, (1, 1, 32, 128))), b_(d)
        ),
    ),
    Case("matmul.batch_dims", lambda d: ttnn.matmul(a_(d, batch=(1, 2)), b_(d, batch=(1, 3)))),
    Case(
        "matmul.bias_tile", lambda d: lin(a_(d), b_(d), bias=_bias(d, (1, 256), layout=ttnn.ROW_MAJOR_LAYOUT))
    ),
    Case("matmul.bias_batch", lambda d: lin(a_(d), b_(d), bias=_bias(d, (2, 1, 1, 256)))),
    Case("matmul.bias_one_tile_row", lambda d: lin(a_(d), b_(d), bias=_bias(d, (1, 1, 64, 256)))),
    Case("matmul.bias_width", lambda d: lin(a_(d), b_(d), bias=_bias(d, (1, 128)))),
    # every program config
    Case("matmul.nonzero_blocks", lambda d: lin(a_(d), b_(d), one_d(grid(d), per_core_N=0))),
    Case("matmul.nonzero_subblocks", lambda d: lin(a_(d), b_(d), one_d(grid(d), out_subblock_w=0))),
    Case("matmul.kt_in0_block_w", lambda d: lin(a_(d), b_(d), one_d(grid(d), in0_block_w=3))),
    Case(
        "matmul.subblock_divides_block",
        lambda d: lin(a_(d), b_(d), one_d(grid(d), per_core_N=4, out_subblock_w=3)),
    ),
    Case(
        "matmul.dest_registers",
        lambda d: lin(a_(d), b_(d, n=512), one_d(grid(d), per_core_N=16, out_subblock_w=16)),
    ),
    Case(
        "matmul.dest_registers",
        lambda d: lin(
            a_(d, m=64),
            b_(d),
            one_d(grid(d), per_core_M=2, out_subblock_h=2, per_core_N=4, out_subblock_w=4),
            compute_kernel_config=fp32_kernel(),
        ),
        name="fp32_acc",
    ),
    Case(
        "matmul.grid_fits_device",
        lambda d: lin(a_(d), b_(d), one_d(ttnn.CoreCoord(grid(d).x + 1, grid(d).y))),
    ),
    Case(
        "matmul.shard_in_grid",
        lambda d: lin(width_a(d, 4), b_(d), one_d(ttnn.CoreCoord(2, 1), per_core_N=4), memory_config=W_OUT),
    ),
    Case(
        "matmul.fuse_batch_b_batch", lambda d: lin(a_(d, batch=(1, 2)), b_(d, batch=(1, 2)), one_d(grid(d)))
    ),
    Case(
        "matmul.sharded_out_subblock",
        lambda d: lin(
            a_(d, m=64),
            b_(d),
            one_d(grid(d), per_core_M=2, out_subblock_h=2, per_core_N=2),
            memory_config=W_OUT,
        ),
    ),
    Case(
        "matmul.l1_circular_buffers",
        lambda d: lin(
            a_(d, k=1024),
            b_(d, k=1024, n=1024),
            one_d(grid(d), in0_block_w=32, per_core_N=32, out_subblock_w=8),
        ),
    ),
    # 1D multicast
    Case("matmul.1d_blocks_fit_grid", lambda d: lin(a_(d), b_(d), one_d(ttnn.CoreCoord(1, 1)))),
    Case("matmul.1d_mcast_in0_one_m_block", lambda d: lin(a_(d, m=64), b_(d), one_d(grid(d)))),
    Case(
        "matmul.1d_sharded_a_fuse_batch",
        lambda d: lin(width_a(d), b_(d), one_d(grid(d), fuse_batch=False), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_mcast_a_width_sharded",
        lambda d: lin(height_a(d, m=32, cores=1), b_(d), one_d(grid(d)), memory_config=W_OUT),
    ),
    Case("matmul.1d_a_out_match", lambda d: lin(width_a(d), b_(d), one_d(grid(d)), memory_config=H_OUT)),
    Case(
        "matmul.1d_a_row_major",
        lambda d: lin(width_a(d, orientation=COL), b_(d), one_d(grid(d)), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_mcast_a_m_per_core",
        lambda d: lin(width_a(d), b_(d), one_d(grid(d), per_core_M=2), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_mcast_a_shard_width",
        lambda d: lin(width_a(d, 2), b_(d), one_d(grid(d), in0_block_w=4), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_mcast_out_width_sharded", lambda d: lin(a_(d), b_(d), one_d(grid(d)), memory_config=H_OUT)
    ),
    Case("matmul.1d_mcast_b_l1_width", lambda d: lin(a_(d), width_b_l1(d), one_d(grid(d), per_core_N=4))),
    Case(
        "matmul.1d_a_height_sharded",
        lambda d: lin(width_a(d), b_(d), one_d(grid(d), mcast_in0=False, per_core_N=8), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_out_height_sharded",
        lambda d: lin(a_(d), b_(d), one_d(grid(d), mcast_in0=False, per_core_N=8), memory_config=W_OUT),
    ),
    Case(
        "matmul.1d_b_interleaved",
        lambda d: lin(a_(d), width_b_l1(d), one_d(grid(d), mcast_in0=False, per_core_N=8)),
    ),
    # 2D multicast
    Case("matmul.2d_blocks_x", lambda d: lin(a_(d), b_(d), two_d(ttnn.CoreCoord(2, 2)))),
    Case(
        "matmul.2d_blocks_y",
        lambda d: lin(a_(d, m=128), b_(d), two_d(ttnn.CoreCoord(grid(d).x, 2), per_core_N=8)),
    ),
    Case(
        "matmul.2d_sharded_a_fuse_batch",
        lambda d: lin(block_a(d), b_(d), two_d(grid(d), fuse_batch=False), memory_config=B_OUT),
    ),
    Case(
        "matmul.2d_a_block_or_height", lambda d: lin(width_a(d), b_(d), two_d(grid(d)), memory_config=W_OUT)
    ),
    Case(
        "matmul.2d_block_a_orientation",
        lambda d: lin(block_a(d, orientation=COL), b_(d), two_d(grid(d)), memory_config=B_OUT),
    ),
    Case(
        "matmul.2d_block_a_out_match", lambda d: lin(block_a(d), b_(d), two_d(grid(d)), memory_config=W_OUT)
    ),
    Case(
        "matmul.2d_height_a",
        lambda d: lin(height_a(d), b_(d), two_d(grid(d), in0_block_w=4, transpose_mcast=True)),
    ),
    Case(
        "matmul.2d_a_shard_height",
        lambda d: lin(block_a(d, m=128), b_(d), two_d(grid(d), per_core_M=1), memory_config=B_OUT),
    ),
    Case(
        "matmul.2d_a_shard_width",
        lambda d: lin(block_a(d, k=256), b_(d, k=256), two_d(grid(d), in0_block_w=8), memory_config=B_OUT),
    ),
    Case("matmul.2d_b_sharded", lambda d: lin(a_(d), width_b_l1(d), two_d(grid(d), transpose_mcast=True))),
    Case("matmul.2d_out_block_sharded", lambda d: lin(a_(d), b_(d), two_d(grid(d)), memory_config=W_OUT)),
    # DRAM-sharded
    Case("matmul.dram_a_width_sharded", lambda d: lin(a_(d), dram_weight(d), dram_pc(), memory_config=W_OUT)),
    Case("matmul.dram_out_sharded", lambda d: lin(width_a(d), dram_weight(d), dram_pc())),
    Case(
        "matmul.dram_m_one_tile",
        lambda d: lin(width_a(d), dram_weight(d), dram_pc(per_core_M=2), memory_config=W_OUT),
    ),
    Case(
        "matmul.dram_k_in0_block_w",
        lambda d: lin(width_a(d, 2), dram_weight(d), dram_pc(in0_block_w=3), memory_config=W_OUT),
    ),
    Case(
        "matmul.dram_even_k_shards",
        lambda d: lin(
            a_(d, k=256, mc=sharded((32, 96), (3, 1), TML.WIDTH_SHARDED)),
            dram_weight(d, k=256),
            dram_pc(),
            memory_config=W_OUT,
        ),
    ),
    Case("matmul.dram_b_width_sharded", lambda d: lin(width_a(d), b_(d), dram_pc(), memory_config=W_OUT)),
    Case(
        "matmul.dram_b_all_banks",
        lambda d: lin(width_a(d), dram_weight(d, banks=2), dram_pc(), memory_config=W_OUT),
    ),
    Case(
        "matmul.dram_cores_fit_grid",
        lambda d: lin(
            width_a(d),
            dram_weight(d, n=32 * (grid(d).x * grid(d).y + 1)),
            dram_pc(per_core_N=1),
            memory_config=W_OUT,
        ),
    ),
    # MatmulMultiCoreReuseProgramConfig
    Case("matmul.reuse_per_core_m", lambda d: lin(a_(d, m=96), b_(d), reuse(grid(d), per_core_M=2))),
    Case("matmul.reuse_per_core_n", lambda d: lin(a_(d), b_(d), reuse(grid(d), per_core_N=4))),
    Case("matmul.reuse_no_batch_bcast", lambda d: lin(a_(d, batch=(1, 2)), b_(d), reuse(grid(d)))),
]

CONTROLS = [
    Control(OP, lambda d: ttnn.matmul(a_(d, batch=(1, 2)), b_(d, batch=(1, 2)))),
    Control(OP, lambda d: lin(a_(d), b_(d), bias=_bias(d, (1, 256))), name="linear_bias"),
    Control(OP, lambda d: lin(a_(d), b_(d), one_d(grid(d))), name="1d"),
    Control(
        OP,
        lambda d: lin(width_a(d), width_b_l1(d), one_d(grid(d), per_core_N=2), memory_config=W_OUT),
        name="1d_sharded",
    ),  # fmt: skip
    Control(
        OP,
        lambda d: lin(height_a(d), b_(d), one_d(grid(d), mcast_in0=False, per_core_N=8), memory_config=H_OUT),
        name="1d_height",
    ),  # fmt: skip
    Control(OP, lambda d: lin(block_a(d), b_(d), two_d(ttnn.CoreCoord(8, 2), per_core_M=1)), name="2d"),
    Control(
        OP,
        lambda d: lin(block_a(d), b_(d), two_d(grid(d), in0_block_w=2, per_core_N=4), memory_config=B_OUT),
        name="2d_block_sharded",
    ),  # fmt: skip
    Control(
        OP, lambda d: lin(width_a(d), dram_weight(d), dram_pc(), memory_config=W_OUT), name="dram_sharded"
    ),
    Control(OP, lambda d: lin(a_(d, m=64), b_(d), reuse(grid(d))), name="reuse"),
]
