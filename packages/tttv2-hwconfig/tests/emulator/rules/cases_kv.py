"""Rule cases of ``ttnn.experimental.paged_update_cache`` and ``paged_fill_cache`` (emulator ``_ops_kv.py``).

tt-metal sources: ``ttnn/cpp/ttnn/operations/experimental/paged_cache/device/update_cache/
paged_update_cache_device_operation.cpp`` and ``.../fill_cache/paged_fill_cache_device_operation.cpp``
(``validate_on_program_cache_miss``). The valid baseline: a 4-block paged cache ``(4, 1, 32, 64)``
(block_size 32, head_dim 64), one decode token per user HEIGHT_SHARDED one user per core, a DRAM int32
page table ``(users, 2)`` and DRAM int32 positions; a fill writes a ``(1, 1, 64, 64)`` prefill.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

X = ttnn.experimental
HS, WS, BS = (ttnn.TensorMemoryLayout.HEIGHT_SHARDED, ttnn.TensorMemoryLayout.WIDTH_SHARDED,
              ttnn.TensorMemoryLayout.BLOCK_SHARDED)  # fmt: skip
DRAM, L1 = ttnn.DRAM_MEMORY_CONFIG, ttnn.L1_MEMORY_CONFIG


def ints(d, values, *, dtype=None, layout=None, memory_config=None):
    """An int tensor of ``values`` (ROW_MAJOR int32 in DRAM unless told otherwise)."""
    return ttnn.from_torch(
        torch.tensor(values, dtype=torch.int32), dtype=dtype or ttnn.int32,
        layout=layout or ttnn.ROW_MAJOR_LAYOUT, device=d, memory_config=memory_config or DRAM,
    )  # fmt: skip


def tokens(d, users=1, dim=64, *, shard=None, cores=None, strategy=HS, orientation=None, **kw):
    """Decode tokens ``(1, users, 1, dim)``: by default HEIGHT_SHARDED, one 32-row shard per user."""
    config = sharded(shard or (32, dim), cores or (users, 1), strategy, orientation=orientation)
    return dev(d, (1, users, 1, dim), memory_config=config, **kw)


def table(d, users=1, blocks=2, **kw):
    return ints(d, [[u * blocks + b for b in range(blocks)] for u in range(users)], **kw)


def update(d, *, cache=None, x=None, users=1, pt="default", idx="default", **kw):
    """A paged update of ``users`` tokens; ``pt=None`` is the unpaged form, ``idx=None`` drops the tensor."""
    cache = cache if cache is not None else dev(d, (4, 1, 32, 64))
    x = x if x is not None else tokens(d, users)
    pt = table(d, users) if pt == "default" else pt
    idx = ints(d, [3] * users) if idx == "default" else idx
    return X.paged_update_cache(cache, x, update_idxs_tensor=idx, page_table=pt, **kw)


def unpaged(d, *, cache=None, x=None, users=2, **kw):
    """An unpaged update: cache ``(users, 1, 64, 64)``, positions as a list."""
    cache = cache if cache is not None else dev(d, (users, 1, 64, 64))
    kw.setdefault("update_idxs", [5] * users)
    return X.paged_update_cache(cache, x if x is not None else tokens(d, users), **kw)


def fill(d, *, cache=None, x=None, pt=None, **kw):
    cache = cache if cache is not None else dev(d, (4, 1, 32, 64))
    x = x if x is not None else dev(d, (1, 1, 64, 64))
    return X.paged_fill_cache(cache, x, pt if pt is not None else table(d, 2), **kw)


def fill_rows(d, bidx, rows=2, **kw):
    """A fill of ``rows`` prefill rows, one user each from ``batch_idx_tensor=bidx``."""
    return fill(d, x=dev(d, (rows, 1, 64, 64)), batch_idx_tensor=bidx, **kw)


def host(shape):
    return ttnn.from_torch(torch.zeros(*shape), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)


ROW = ttnn.ROW_MAJOR_LAYOUT
IDX_WIDTH_L1 = sharded((1, 32), (1, 1), WS)
IDX_HS_2 = sharded((2, 1), (1, 1), HS)  # 2 rows of positions on 1 core: rows != cores
PT_HS = sharded((2, 2), (1, 1), HS)

CASES = [
    # --- paged_update_cache -------------------------------------------------------------------
    Case("paged_update.on_device", lambda d: update(d, x=host((1, 1, 1, 64)))),
    Case("paged_update.on_device", lambda d: update(d, cache=host((4, 1, 32, 64))), name="cache"),
    Case("paged_update.input_tile", lambda d: update(d, x=tokens(d, layout=ROW))),
    Case("paged_update.cache_tile", lambda d: update(d, cache=dev(d, (4, 1, 32, 64), layout=ROW))),
    Case("paged_update.cache_dtype", lambda d: update(d, cache=dev(d, (4, 1, 32, 64), dtype=ttnn.uint32))),
    Case(
        "paged_update.input_dim0",
        lambda d: update(d, x=dev(d, (2, 1, 1, 64), memory_config=sharded((64, 64), (1, 1), HS))),
    ),
    Case(
        "paged_update.cache_interleaved",
        lambda d: update(d, cache=dev(d, (4, 1, 32, 64), memory_config=sharded((32, 64), (4, 1), HS))),
    ),
    Case("paged_update.block_size_needs_page_table", lambda d: unpaged(d, block_size=64)),
    Case("paged_update.num_kv_heads_needs_page_table", lambda d: unpaged(d, num_kv_heads=1)),
    Case("paged_update.modulo_needs_page_table", lambda d: unpaged(d, cache_position_modulo=64)),
    Case("paged_update.block_geometry", lambda d: update(d, x=tokens(d, dim=32))),
    Case("paged_update.block_geometry", lambda d: update(d, num_kv_heads=2), name="kv_heads_override"),
    Case("paged_update.block_geometry", lambda d: update(d, block_size=64), name="block_size_override"),
    # 1 head * 32 rows * 32 wide == 1 * 16 * 64: the view keeps the block's elements, but 16 rows split tiles.
    Case("paged_update.block_tile", lambda d: update(d, cache=dev(d, (4, 1, 32, 32)), block_size=16)),
    Case("paged_update.head_dim_match", lambda d: unpaged(d, x=tokens(d, 2, dim=32))),
    Case("paged_update.cache_batch", lambda d: unpaged(d, cache=dev(d, (3, 1, 64, 64)))),
    Case("paged_update.paged_needs_idx_tensor", lambda d: update(d, idx=None, update_idxs=[3])),
    Case("paged_update.page_table_layout", lambda d: update(d, pt=table(d, layout=ttnn.TILE_LAYOUT))),
    Case("paged_update.page_table_batch", lambda d: update(d, pt=table(d, 2))),
    Case(
        "paged_update.page_table_batch",
        lambda d: update(d, pt=table(d, 2, dtype=ttnn.uint16, memory_config=PT_HS)),
        name="sharded",
    ),
    Case("paged_update.page_table_blocks", lambda d: update(d, pt=table(d, blocks=5))),
    Case("paged_update.page_table_blocks", lambda d: update(d, cache_position_modulo=160), name="modulo"),
    Case("paged_update.one_index_source", lambda d: update(d, update_idxs=[3]), name="both"),
    Case("paged_update.one_index_source", lambda d: unpaged(d, update_idxs=[]), name="neither"),
    Case("paged_update.idx_dtype", lambda d: update(d, idx=ints(d, [3], dtype=ttnn.uint32))),
    Case("paged_update.idx_layout", lambda d: update(d, idx=ints(d, [3], layout=ttnn.TILE_LAYOUT))),
    Case("paged_update.idx_sharded_l1", lambda d: update(d, idx=ints(d, [[3]], memory_config=IDX_WIDTH_L1))),
    Case("paged_update.idx_interleaved_dram", lambda d: update(d, idx=ints(d, [3], memory_config=L1))),
    Case("paged_update.idx_count", lambda d: update(d, idx=ints(d, [3, 4]))),
    Case("paged_update.idx_count", lambda d: unpaged(d, update_idxs=[5]), name="list"),
    Case(
        "paged_update.idx_shard_cores", lambda d: update(d, idx=ints(d, [[3], [3]], memory_config=IDX_HS_2))
    ),
    Case("paged_update.input_sharded", lambda d: update(d, x=dev(d, (1, 1, 1, 64)))),
    Case(
        "paged_update.input_not_width_sharded",
        lambda d: update(d, x=tokens(d, shard=(32, 32), cores=(2, 1), strategy=WS)),
    ),
    Case(
        "paged_update.input_shard_width",
        lambda d: update(d, users=2, x=tokens(d, 2, shard=(64, 32), cores=(2, 1), strategy=BS)),
    ),
    # 3 users = 96 rows on 3 cores of 64 rows: one core per user, but 96 % 64 != 0.
    Case("paged_update.input_shard_height", lambda d: update(d, users=3, x=tokens(d, 3, shard=(64, 64)))),
    Case(
        "paged_update.input_shard_orientation",
        lambda d: update(d, x=tokens(d, orientation=ttnn.ShardOrientation.COL_MAJOR)),
    ),
    Case(
        "paged_update.input_shard_cores",
        lambda d: update(d, users=2, x=tokens(d, 2, shard=(64, 64), cores=(1, 1))),
    ),
    Case("paged_update.input_dtype", lambda d: update(d, x=tokens(d, dtype=ttnn.bfloat8_b))),
    # --- paged_fill_cache ---------------------------------------------------------------------
    Case(
        "paged_fill.cache_dtype",
        lambda d: fill(
            d, cache=dev(d, (4, 1, 32, 64), dtype=ttnn.uint32), x=dev(d, (1, 1, 64, 64), dtype=ttnn.uint32)
        ),
    ),
    Case(
        "paged_fill.input_interleaved",
        lambda d: fill(d, x=dev(d, (1, 1, 64, 64), memory_config=sharded((32, 64), (2, 1), HS))),
    ),
    Case("paged_fill.page_table_interleaved", lambda d: fill(d, pt=table(d, 2, memory_config=PT_HS))),
    Case("paged_fill.page_table_dtype", lambda d: fill(d, pt=table(d, 2, dtype=ttnn.uint32))),
    Case("paged_fill.batch_idx_range", lambda d: fill(d, batch_idx=2)),
    Case(
        "paged_fill.batch_idx_range", lambda d: fill_rows(d, ints(d, [0, 1]), batch_idx=2), name="with_tensor"
    ),
    Case("paged_fill.block_geometry", lambda d: fill(d, x=dev(d, (1, 1, 64, 32)))),
    Case("paged_fill.block_geometry", lambda d: fill(d, x=dev(d, (1, 2, 64, 64))), name="kv_heads"),
    Case("paged_fill.block_geometry", lambda d: fill(d, block_size=64), name="block_size_override"),
    Case("paged_fill.block_tile", lambda d: fill(d, cache=dev(d, (4, 1, 32, 32)), block_size=16)),
    Case("paged_fill.batch_idx_tensor_count", lambda d: fill_rows(d, ints(d, [0, 1, 1]))),
    Case("paged_fill.batch_idx_tensor_dtype", lambda d: fill_rows(d, ints(d, [0, 1], dtype=ttnn.bfloat16))),
    Case(
        "paged_fill.batch_idx_tensor_layout",
        lambda d: fill_rows(
            d, ints(d, [[0] * 32] * 32, dtype=ttnn.uint32, layout=ttnn.TILE_LAYOUT), rows=1024
        ),
    ),
    Case(
        "paged_fill.batch_idx_tensor_interleaved",
        lambda d: fill_rows(
            d, ints(d, [[0, 1]], dtype=ttnn.uint32, memory_config=sharded((1, 2), (1, 1), HS))
        ),
    ),
    Case("paged_fill.batch_idx_tensor_dram", lambda d: fill_rows(d, ints(d, [0, 1], memory_config=L1))),
]

CONTROLS = [
    Control("ttnn.experimental.paged_update_cache", lambda d: update(d, users=2), name="two_users"),
    Control("ttnn.experimental.paged_update_cache", unpaged, name="unpaged"),
    Control(
        "ttnn.experimental.paged_update_cache",
        lambda d: update(
            d, pt=table(d, 2, dtype=ttnn.uint16, memory_config=sharded((1, 2), (2, 1), HS)), users=1
        ),
        name="sharded_table",
    ),
    Control(
        "ttnn.experimental.paged_update_cache", lambda d: update(d, cache_position_modulo=64), name="modulo"
    ),
    Control(
        "ttnn.experimental.paged_update_cache",
        lambda d: update(d, idx=ints(d, [[3], [3]], memory_config=sharded((1, 1), (2, 1), HS))),
        name="sharded_idx",
    ),
    Control(
        "ttnn.experimental.paged_fill_cache", lambda d: fill_rows(d, ints(d, [1, 0])), name="batch_idx_tensor"
    ),
    Control("ttnn.experimental.paged_fill_cache", lambda d: fill(d, batch_idx=1), name="batch_idx"),
]
