"""Rule cases of the head split/merge ops ``ttnn.experimental.nlp_create_qkv_heads[_decode]`` and
``nlp_concat_heads[_decode]`` (emulator ``_ops_heads.py``).

tt-metal sources, under ``ttnn/cpp/ttnn/operations/experimental/transformer/``:
``nlp_create_qkv_heads/device/nlp_create_qkv_heads_device_operation.cpp``,
``nlp_create_qkv_heads_decode/device/nlp_create_qkv_heads_decode_device_operation.cpp``,
``nlp_concat_heads/device/nlp_concat_heads_device_operation.cpp`` and
``nlp_concat_heads_decode/device/nlp_concat_heads_decode_device_operation.cpp`` (each ``validate_on_program_cache_miss``).
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

X = ttnn.experimental
RM = ttnn.ROW_MAJOR_LAYOUT
HEIGHT, WIDTH = ttnn.TensorMemoryLayout.HEIGHT_SHARDED, ttnn.TensorMemoryLayout.WIDTH_SHARDED
COL = ttnn.ShardOrientation.COL_MAJOR


def host(shape, dtype=None):
    return ttnn.from_torch(torch.zeros(*shape), dtype=dtype or ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)


def crs(x0, y0, x1, y1):
    return ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(x0, y0), ttnn.CoreCoord(x1, y1))])


# --- nlp_create_qkv_heads: q heads only in ``q``, [k | v] in ``kv`` when given --------------------


def create(d, q=None, kv=None, num_heads=1, **kw):
    """Fused [q | k | v] (1 q head, 1 kv head, head_dim 64), or split q / kv inputs."""
    q = q if q is not None else dev(d, (1, 1, 32, 192 if kv is None else 64))
    return X.nlp_create_qkv_heads(q, kv, num_heads=num_heads, num_kv_heads=1, **kw)


def create_kv(d, kv_shape=(1, 1, 32, 128), **kw):
    return create(d, dev(d, (1, 1, 32, 64)), dev(d, kv_shape, **kw))


# --- nlp_create_qkv_heads_decode: [1, 1, users, (nq + 2 nkv) * head_dim] ---------------------------


def fused(d, batch=2, nq=4, nkv=1, head_dim=64, *, x=None, **kw):
    x = x if x is not None else dev(d, (1, 1, batch, (nq + 2 * nkv) * head_dim))
    kw.setdefault("memory_config", ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG)
    return X.nlp_create_qkv_heads_decode(x, num_heads=nq, num_kv_heads=nkv, **kw)


def width_sharded_qkv(d, shard_w=64, *, cores=None, orientation=None, layout=WIDTH):
    """A (1, 1, 2, 384) fused QKV (4 q + 1 kv heads of 64) sharded ``[32, shard_w]`` per core.

    (A WIDTH_SHARDED shard height other than the padded height 32 fails at tensor creation, which is why
    ``create_heads_decode.input_shard_height`` is not mirrored.)
    """
    cores = cores or (384 // shard_w, 1)
    config = sharded((32, shard_w), cores, layout, orientation=orientation)
    return dev(d, (1, 1, 2, 384), memory_config=config)


def out_grid(cores):
    """A HEIGHT_SHARDED output memory_config whose grid has ``cores`` cores in one row."""
    return sharded((32, 64), (cores, 1), HEIGHT)


# --- nlp_concat_heads_decode: [1, users, 32 padded heads, head_dim], one user per core -------------


def user_sharded(batch, rows=32, width=64, grid=None):
    grid = grid or ttnn.num_cores_to_corerangeset(batch, ttnn.CoreCoord(8, 8), row_wise=True)
    spec = ttnn.ShardSpec(grid, [rows, width], ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(HEIGHT, ttnn.BufferType.L1, spec)


def concat_decode(d, x=None, num_heads=4, **kw):
    x = x if x is not None else dev(d, (1, 2, 32, 64), memory_config=user_sharded(2))
    return X.nlp_concat_heads_decode(x, num_heads=num_heads, **kw)


CASES = [
    # nlp_create_qkv_heads
    Case(
        "create_heads.dtype", lambda d: create(d, q=dev(d, (1, 1, 32, 192), dtype=ttnn.uint16)), name="uint16"
    ),
    Case("create_heads.tile_layout", lambda d: create(d, q=dev(d, (1, 1, 32, 192), layout=RM))),
    Case(
        "create_heads.output_interleaved",
        lambda d: create(d, memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG),
    ),
    Case(
        "create_heads.output_interleaved",
        lambda d: create(
            d,
            dev(d, (1, 1, 32, 64)),
            dev(d, (1, 1, 32, 128)),
            memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG,
        ),
        name="with_kv",
    ),
    Case("create_heads.kv_dtype", lambda d: create_kv(d, dtype=ttnn.bfloat8_b)),
    Case("create_heads.kv_dtype", lambda d: create_kv(d, dtype=ttnn.float32), name="float32"),
    Case("create_heads.kv_tile_layout", lambda d: create_kv(d, layout=RM)),
    Case("create_heads.kv_shape", lambda d: create_kv(d, (2, 1, 32, 128)), name="batch"),
    Case("create_heads.kv_shape", lambda d: create_kv(d, (1, 2, 32, 128)), name="dim1"),
    Case("create_heads.kv_shape", lambda d: create_kv(d, (1, 1, 64, 128)), name="seq"),
    # nlp_create_qkv_heads_decode
    Case("create_heads_decode.width_splits", lambda d: fused(d, x=dev(d, (1, 1, 2, 320)))),
    Case("create_heads_decode.on_device", lambda d: fused(d, x=host((1, 1, 2, 384)))),
    Case("create_heads_decode.dtype", lambda d: fused(d, x=dev(d, (1, 1, 2, 384), dtype=ttnn.bfloat8_b))),
    Case("create_heads_decode.tile_layout", lambda d: fused(d, x=dev(d, (1, 1, 2, 384), layout=RM))),
    # width 69 splits in 3 (1 q + 2x1 kv heads of 23) both logically and padded (96), yet is not tile-wide
    Case("create_heads_decode.width_tile", lambda d: fused(d, nq=1, x=dev(d, (1, 1, 2, 69)))),
    Case("create_heads_decode.batch_max", lambda d: fused(d, batch=40), name="batch_40"),
    Case("create_heads_decode.leading_dims", lambda d: fused(d, x=dev(d, (2, 1, 2, 384))), name="dim0"),
    Case("create_heads_decode.leading_dims", lambda d: fused(d, x=dev(d, (1, 2, 2, 384))), name="dim1"),
    Case(
        "create_heads_decode.input_width_sharded",
        lambda d: fused(d, x=width_sharded_qkv(d, 384, layout=HEIGHT)),
    ),
    Case(
        "create_heads_decode.input_width_sharded",
        lambda d: fused(
            d, x=width_sharded_qkv(d, 192, layout=ttnn.TensorMemoryLayout.BLOCK_SHARDED, cores=(2, 1))
        ),
        name="block",
    ),
    Case(
        "create_heads_decode.input_shard_orientation",
        lambda d: fused(d, x=width_sharded_qkv(d, cores=(1, 6), orientation=COL)),
    ),
    Case(
        "create_heads_decode.no_partial_heads",
        lambda d: fused(d, x=width_sharded_qkv(d, 96), overlap_qk_coregrid=False, memory_config=out_grid(4)),
    ),
    Case("create_heads_decode.heads_max", lambda d: fused(d, nq=33, head_dim=32)),
    Case("create_heads_decode.output_cores", lambda d: fused(d, memory_config=out_grid(1))),
    Case(
        "create_heads_decode.output_cores",
        lambda d: fused(d, x=width_sharded_qkv(d), overlap_qk_coregrid=False, memory_config=out_grid(3)),
        name="no_overlap",
    ),
    # nlp_concat_heads
    Case("concat_heads.dtype", lambda d: X.nlp_concat_heads(dev(d, (1, 2, 32, 64), dtype=ttnn.uint32))),
    Case("concat_heads.tile_layout", lambda d: X.nlp_concat_heads(dev(d, (1, 2, 32, 64), layout=RM))),
    # nlp_concat_heads_decode
    Case("concat_heads_decode.on_device", lambda d: concat_decode(d, host((1, 2, 32, 64)))),
    Case(
        "concat_heads_decode.dtype",
        lambda d: concat_decode(
            d, dev(d, (1, 2, 32, 64), dtype=ttnn.bfloat8_b, memory_config=user_sharded(2))
        ),
    ),
    Case("concat_heads_decode.tile_layout", lambda d: concat_decode(d, dev(d, (1, 2, 32, 64), layout=RM))),
    Case("concat_heads_decode.seq_one", lambda d: concat_decode(d, dev(d, (2, 2, 32, 64)))),
    Case("concat_heads_decode.batch_max", lambda d: concat_decode(d, dev(d, (1, 33, 32, 64)))),
    Case("concat_heads_decode.num_heads", lambda d: concat_decode(d, num_heads=33)),
    Case(
        "concat_heads_decode.input_height_sharded",
        lambda d: concat_decode(d, dev(d, (1, 2, 32, 64), memory_config=sharded((64, 32), (2, 1), WIDTH))),
    ),
    Case(
        "concat_heads_decode.input_shard_shape",
        lambda d: concat_decode(d, dev(d, (1, 2, 32, 64), memory_config=sharded((64, 64), (1, 1), HEIGHT))),
    ),
    Case(
        "concat_heads_decode.input_cores",
        lambda d: concat_decode(
            d, dev(d, (1, 2, 32, 64), memory_config=user_sharded(2, grid=crs(0, 0, 2, 0)))
        ),
    ),
    Case(
        "concat_heads_decode.sub_core_grids_cores", lambda d: concat_decode(d, sub_core_grids=crs(0, 0, 2, 0))
    ),
    Case(
        "concat_heads_decode.sub_core_grids_cores",
        lambda d: concat_decode(
            d,
            dev(d, (1, 2, 32, 64), memory_config=user_sharded(2, grid=crs(1, 0, 2, 0))),
            sub_core_grids=crs(1, 0, 3, 0),
        ),
        name="offset_grid",
    ),
]

CONTROLS = [
    # 40 heads pad to 64: the 0.81.1 build accepts it (padded heads only need to be a multiple of 32).
    Control(
        "ttnn.experimental.nlp_concat_heads_decode",
        lambda d: concat_decode(
            d, dev(d, (1, 2, 40, 64), memory_config=user_sharded(2, rows=64)), num_heads=40
        ),
        name="heads_padded_to_64",
    ),
    Control("ttnn.experimental.nlp_create_qkv_heads", lambda d: create_kv(d), name="split_kv"),
    Control(
        "ttnn.experimental.nlp_create_qkv_heads",
        lambda d: create(d, transpose_k_heads=False),
        name="no_transpose",
    ),
    Control(
        "ttnn.experimental.nlp_create_qkv_heads_decode",
        lambda d: fused(d, x=width_sharded_qkv(d), memory_config=out_grid(8)),
        name="width_sharded",
    ),
    Control(
        "ttnn.experimental.nlp_create_qkv_heads_decode",
        lambda d: fused(d, x=width_sharded_qkv(d), overlap_qk_coregrid=False, memory_config=out_grid(4)),
        name="no_overlap",
    ),
    Control(
        "ttnn.experimental.nlp_concat_heads",
        lambda d: X.nlp_concat_heads(dev(d, (2, 4, 64, 32), dtype=ttnn.bfloat8_b)),
        name="bf8",
    ),
    Control(
        "ttnn.experimental.nlp_concat_heads_decode", lambda d: concat_decode(d, num_heads=32), name="32_heads"
    ),
    Control(
        "ttnn.experimental.nlp_concat_heads_decode",
        lambda d: concat_decode(
            d,
            dev(d, (1, 2, 32, 64), memory_config=user_sharded(2, grid=crs(1, 0, 2, 0))),
            sub_core_grids=crs(1, 0, 4, 0),
        ),
        name="offset_grid",
    ),
]
