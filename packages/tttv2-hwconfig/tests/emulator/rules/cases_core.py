"""typecast, interleaved_to_sharded / sharded_to_interleaved, concat, reshape, slice and binary
eltwise rule cases (typecast_device_op.cpp, interleaved_to_sharded_op.cpp, concat_device_operation.cpp...)."""

from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

TML = ttnn.TensorMemoryLayout
RM = ttnn.ROW_MAJOR_LAYOUT


def x_(d, shape=(1, 1, 64, 64), **kw):
    return dev(d, shape, **kw)


def height(shape_hw=(32, 64), cores=2, buffer=None, strategy=None):
    return sharded(shape_hw, (1, cores), strategy or TML.HEIGHT_SHARDED, buffer=buffer)


def dram_block(d):
    spec = ttnn.ShardSpec(
        ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(1, 1))]),
        (32, 32),
        ttnn.ShardOrientation.ROW_MAJOR,
    )
    return ttnn.MemoryConfig(TML.BLOCK_SHARDED, ttnn.BufferType.DRAM, spec)


CASES = [
    Case(
        "typecast.memory_layout_match", lambda d: ttnn.typecast(x_(d), ttnn.float32, memory_config=height())
    ),
    Case(
        "i2s.input_interleaved",
        lambda d: ttnn.interleaved_to_sharded(x_(d, memory_config=height()), height()),
    ),
    Case("i2s.output_sharded", lambda d: ttnn.interleaved_to_sharded(x_(d), ttnn.L1_MEMORY_CONFIG)),
    Case("i2s.no_dram_block_sharding", lambda d: ttnn.interleaved_to_sharded(x_(d), dram_block(d))),
    Case(
        "i2s.dtype_change_needs_tile",
        lambda d: ttnn.interleaved_to_sharded(x_(d, layout=RM), height(), output_dtype=ttnn.float32),
    ),
    Case("s2i.input_sharded", lambda d: ttnn.sharded_to_interleaved(x_(d))),
    Case(
        "s2i.output_interleaved",
        lambda d: ttnn.sharded_to_interleaved(x_(d, memory_config=height()), height()),
    ),
    Case("concat.dim_in_rank", lambda d: ttnn.concat([x_(d), x_(d)], dim=4)),
    Case("concat.same_layout", lambda d: ttnn.concat([x_(d), x_(d, layout=RM)], dim=3)),
    Case("concat.same_dtype", lambda d: ttnn.concat([x_(d), x_(d, dtype=ttnn.float32)], dim=3)),
    Case("concat.same_rank", lambda d: ttnn.concat([x_(d), x_(d, (1, 64, 64))], dim=2)),
    Case("concat.same_other_dims", lambda d: ttnn.concat([x_(d), x_(d, (1, 1, 32, 64))], dim=3)),
    Case("concat.all_or_no_sharded", lambda d: ttnn.concat([x_(d), x_(d, memory_config=height())], dim=3)),
    Case("reshape.volume", lambda d: ttnn.reshape(x_(d), (1, 1, 32, 32))),
    Case("slice.bounds", lambda d: ttnn.slice(x_(d), [0, 0, 0, 0], [1, 1, 96, 64])),
    Case("slice.bounds", lambda d: ttnn.slice(x_(d), [0, 0], [1, 1]), name="rank"),
    Case("binary.broadcastable", lambda d: ttnn.add(x_(d), x_(d, (1, 1, 64, 32)))),
    Case("binary.broadcastable", lambda d: ttnn.mul(x_(d), x_(d, (1, 1, 32, 64))), name="mul"),
]

CONTROLS = [
    Control("ttnn.typecast", lambda d: ttnn.typecast(x_(d), ttnn.bfloat8_b)),
    Control(
        "ttnn.interleaved_to_sharded",
        lambda d: ttnn.interleaved_to_sharded(x_(d), height(), output_dtype=ttnn.bfloat8_b),
    ),
    Control(
        "ttnn.sharded_to_interleaved",
        lambda d: ttnn.sharded_to_interleaved(x_(d, memory_config=height()), ttnn.L1_MEMORY_CONFIG),
    ),
    Control("ttnn.concat", lambda d: ttnn.concat([x_(d), x_(d, (1, 1, 64, 32))], dim=3)),
    Control("ttnn.reshape", lambda d: ttnn.reshape(x_(d), (1, 64, 64))),
    Control("ttnn.slice", lambda d: ttnn.slice(x_(d), [0, 0, 0, 0], [1, 1, 32, 64])),
    Control("ttnn.add", lambda d: ttnn.add(x_(d), x_(d, (1, 1, 1, 64)))),
    Control("ttnn.add", lambda d: ttnn.subtract(x_(d), 2.0), name="scalar"),
]
