"""rms_norm / layer_norm (+ sharded and distributed) rule cases (layernorm_device_operation.cpp and
layernorm_distributed/device/*_device_operation.cpp)."""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

LN, PRE, POST = "ttnn.layer_norm", "ttnn.layer_norm_pre_all_gather", "ttnn.layer_norm_post_all_gather"
TML = ttnn.TensorMemoryLayout
RM = ttnn.ROW_MAJOR_LAYOUT


def x_(d, shape=(1, 1, 32, 64), **kw):
    return dev(d, shape, **kw)


def ints(d, shape, layout=None):
    return dev(d, shape, dtype=ttnn.uint32, layout=layout, data=torch.randint(0, 4, shape))


def width_x(d, height=32, width=256, cores=4, shard_w=None):
    shard_w = shard_w or width // cores
    return x_(
        d, (1, 1, height, width), memory_config=sharded((height, shard_w), (cores, 1), TML.WIDTH_SHARDED)
    )


def pc(d, block_w=2, block_h=1, subblock_w=1, grid=None):
    return ttnn.LayerNormShardedMultiCoreProgramConfig(
        compute_with_storage_grid_size=grid or d.compute_with_storage_grid_size(),
        subblock_w=subblock_w,
        block_h=block_h,
        block_w=block_w,
        inplace=False,
    )


def rm_weight(d, rows=2, dtype=None, data=None):
    return dev(d, (1, 1, rows, 32), layout=RM, dtype=dtype, data=data)


CASES = [
    Case("norm.input_tile", lambda d: ttnn.rms_norm(x_(d, layout=RM))),
    Case("norm.input_dtype", lambda d: ttnn.rms_norm(ints(d, (1, 1, 32, 64)))),
    Case("norm.residual_tile", lambda d: ttnn.rms_norm(x_(d), residual_input_tensor=x_(d, layout=RM))),
    Case("norm.residual_shape", lambda d: ttnn.rms_norm(x_(d), residual_input_tensor=x_(d, (1, 1, 32, 96)))),
    Case("norm.affine_tile_shape", lambda d: ttnn.rms_norm(x_(d), weight=x_(d, (1, 1, 1, 96)))),
    Case("norm.affine_row_major_shape", lambda d: ttnn.rms_norm(x_(d), weight=rm_weight(d, rows=3))),
    Case(
        "norm.affine_row_major_dtype",
        lambda d: ttnn.rms_norm(
            x_(d), weight=rm_weight(d, dtype=ttnn.int32, data=torch.ones(1, 1, 2, 32, dtype=torch.int32))
        ),
    ),
    Case(
        "norm.affine_same_layout",
        lambda d: ttnn.layer_norm(x_(d), weight=x_(d, (1, 1, 1, 64)), bias=rm_weight(d)),
    ),
    Case(
        "norm.sharded_not_height",
        lambda d: ttnn.rms_norm(
            x_(d, (1, 1, 64, 64), memory_config=sharded((32, 64), (2, 1), TML.HEIGHT_SHARDED))
        ),
    ),
    Case(
        "norm.sharded_needs_sharded_output",
        lambda d: ttnn.rms_norm(width_x(d), memory_config=ttnn.DRAM_MEMORY_CONFIG),
    ),
    Case(
        "norm.sharded_residual",
        lambda d: ttnn.rms_norm(width_x(d), residual_input_tensor=x_(d, (1, 1, 32, 256))),
    ),
    Case(
        "norm.welford_not_rms",
        lambda d: ttnn.rms_norm(x_(d), program_config=ttnn.LayerNormDefaultProgramConfig(use_welford=True)),
    ),
    Case(
        "norm.sharded_config_needs_sharded_input",
        lambda d: ttnn.rms_norm(x_(d, (1, 1, 32, 256)), program_config=pc(d)),
    ),
    Case(
        "norm.sharded_in_out_match",
        lambda d: ttnn.rms_norm(
            width_x(d), program_config=pc(d), memory_config=ttnn.L1_BLOCK_SHARDED_MEMORY_CONFIG
        ),
    ),
    Case(
        "norm.sharded_subblock_divides_block",
        lambda d: ttnn.rms_norm(width_x(d), program_config=pc(d, subblock_w=3)),
    ),
    Case(
        "norm.sharded_shard_grid_fits",
        lambda d: ttnn.rms_norm(width_x(d), program_config=pc(d, grid=ttnn.CoreCoord(2, 1))),
    ),
    Case("norm.sharded_block_split", lambda d: ttnn.rms_norm(width_x(d), program_config=pc(d, block_w=4))),
    Case(
        "norm.sharded_block_is_shard",
        lambda d: ttnn.rms_norm(width_x(d, shard_w=96), program_config=pc(d, block_w=2)),
    ),
    Case(
        "norm.sharded_subblock_dest",
        lambda d: ttnn.rms_norm(
            width_x(d, width=1024, cores=2), program_config=pc(d, block_w=16, subblock_w=16)
        ),
    ),
    Case("norm.distributed_sharded_height", lambda d: ttnn.rms_norm_pre_all_gather(width_x(d, height=64))),
    Case("norm.pre_input_tile", lambda d: ttnn.rms_norm_pre_all_gather(x_(d, layout=RM))),
    Case("norm.pre_input_dtype", lambda d: ttnn.layer_norm_pre_all_gather(ints(d, (1, 1, 32, 64)))),
    Case(
        "norm.post_input_tile",
        lambda d: ttnn.rms_norm_post_all_gather(x_(d), x_(d, (1, 1, 32, 32), layout=RM)),
    ),
    Case(
        "norm.post_input_dtype",
        lambda d: ttnn.rms_norm_post_all_gather(ints(d, (1, 1, 32, 64)), x_(d, (1, 1, 32, 32))),
    ),
    Case("norm.post_stats_dtype", lambda d: ttnn.rms_norm_post_all_gather(x_(d), ints(d, (1, 1, 32, 32)))),
    Case("norm.post_stats_dims", lambda d: ttnn.rms_norm_post_all_gather(x_(d), x_(d, (1, 1, 64, 32)))),
]

CONTROLS = [
    Control(LN, lambda d: ttnn.rms_norm(x_(d), weight=rm_weight(d), residual_input_tensor=x_(d))),
    Control(
        LN,
        lambda d: ttnn.layer_norm(x_(d), weight=x_(d, (1, 1, 1, 64)), bias=x_(d, (1, 1, 1, 64))),
        name="layer_norm_tile_affine",
    ),  # fmt: skip
    Control(LN, lambda d: ttnn.rms_norm(width_x(d), program_config=pc(d)), name="width_sharded"),
    Control(
        LN,
        lambda d: ttnn.layer_norm(
            x_(d, (1, 1, 64, 256), memory_config=sharded((32, 128), (2, 2), TML.BLOCK_SHARDED)),
            program_config=pc(d, block_w=4, block_h=1),
        ),
        name="block_sharded",
    ),  # fmt: skip
    Control(PRE, lambda d: ttnn.layer_norm_pre_all_gather(x_(d, dtype=ttnn.bfloat8_b))),
    Control(PRE, lambda d: ttnn.rms_norm_pre_all_gather(width_x(d)), name="sharded"),
    Control(POST, lambda d: ttnn.layer_norm_post_all_gather(x_(d), x_(d, (1, 1, 32, 128)))),
    Control(
        POST,
        lambda d: ttnn.rms_norm_post_all_gather(x_(d), x_(d, (1, 1, 32, 64)), weight=rm_weight(d)),
        name="rms_weight",
    ),  # fmt: skip
]
