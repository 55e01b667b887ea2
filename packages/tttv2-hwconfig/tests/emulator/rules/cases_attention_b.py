"""Rule cases of head split/merge, paged KV writes, SDPA and collectives (see each op's emulator file
for the tt-metal source of every rule). Not yet a case for every rule: see the meta-test."""

import torch
from rulecase import Case, Control, dev
from tttv2_hwconfig import ttnn

X = ttnn.experimental
T = ttnn.transformer


def host_tile(shape):
    return ttnn.from_torch(torch.zeros(*shape), layout=ttnn.TILE_LAYOUT)


def int_rm(d, values, dtype=None, memory_config=None):
    return ttnn.from_torch(
        torch.tensor(values, dtype=torch.int32), dtype=dtype or ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT,
        device=d, memory_config=memory_config or ttnn.DRAM_MEMORY_CONFIG,
    )  # fmt: skip


def user_sharded(rows, width, batch):
    grid = ttnn.num_cores_to_corerangeset(batch, ttnn.CoreCoord(8, 8), row_wise=True)
    return ttnn.create_sharded_memory_config(
        (rows, width), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )


def paged_update(d, *, table_dtype=None, positions=(3,), **kw):
    cache = dev(d, (4, 1, 32, 64))
    token = dev(d, (1, 1, 1, 64), memory_config=user_sharded(32, 64, 1))
    table = int_rm(d, [[0, 1]], dtype=table_dtype)
    return X.paged_update_cache(
        cache, token, update_idxs_tensor=int_rm(d, list(positions)), page_table=table, **kw
    )


def paged_fill(d, *, x=None, cache=None):
    cache = cache if cache is not None else dev(d, (4, 1, 32, 64))
    x = x if x is not None else dev(d, (1, 1, 64, 64))
    return X.paged_fill_cache(cache, x, int_rm(d, [[0, 1]]))


def sdpa(d, q=None, k=None, **kw):
    q = q if q is not None else dev(d, (1, 2, 32, 64))
    k = k if k is not None else dev(d, (1, 2, 32, 64))
    return T.scaled_dot_product_attention(q, k, k, **kw)


def chunked(d, start=32, q=None):
    q = q if q is not None else dev(d, (1, 2, 32, 64))
    cache = dev(d, (2, 2, 32, 64))
    return T.chunked_scaled_dot_product_attention(q, cache, cache, int_rm(d, [[0, 1]]), start)


def decode(d, q=None, **kw):
    q = q if q is not None else dev(d, (1, 2, 4, 64))
    k = dev(d, (2, 1, 64, 64))
    return T.scaled_dot_product_attention_decode(q, k, k, cur_pos=[3, 5], **kw)


def paged_decode(d, table_dtype=None, **kw):
    q = dev(d, (1, 1, 4, 64))
    cache = dev(d, (2, 1, 32, 64))
    return T.paged_scaled_dot_product_attention_decode(
        q, cache, cache, int_rm(d, [[0, 1]], dtype=table_dtype), cur_pos_tensor=int_rm(d, [7]), **kw
    )


def fused(d, batch=2, nq=4, nkv=1, **kw):
    return X.nlp_create_qkv_heads_decode(
        dev(d, (1, 1, batch, (nq + 2 * nkv) * 64)), num_heads=nq, num_kv_heads=nkv,
        memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG, **kw,
    )  # fmt: skip


def concat_decode(d, batch=2, **kw):
    q, _, _ = fused(d, batch)
    return X.nlp_concat_heads_decode(q, num_heads=4, **kw)


CASES = [
    Case(
        "create_heads.dtype",
        lambda d: X.nlp_create_qkv_heads(
            ttnn.from_torch(torch.ones(1, 1, 32, 192), dtype=ttnn.uint32, layout=ttnn.TILE_LAYOUT, device=d),
            num_heads=1,
        ),
    ),
    Case(
        "create_heads.width_splits",
        lambda d: X.nlp_create_qkv_heads(dev(d, (1, 1, 32, 192)), num_heads=3, num_kv_heads=1),
    ),
    Case("create_heads.dim1_one", lambda d: X.nlp_create_qkv_heads(dev(d, (1, 2, 32, 192)), num_heads=1)),
    Case("create_heads.on_device", lambda d: X.nlp_create_qkv_heads(host_tile((1, 1, 32, 192)), num_heads=1)),
    Case("create_heads_decode.batch_max", lambda d: fused(d, batch=33)),
    Case("create_heads_decode.heads_ge_kv", lambda d: fused(d, nq=1, nkv=2)),
    Case(
        "create_heads_decode.output_height_sharded",
        lambda d: X.nlp_create_qkv_heads_decode(
            dev(d, (1, 1, 2, 384)), num_heads=4, num_kv_heads=1, memory_config=ttnn.L1_MEMORY_CONFIG
        ),
    ),
    Case("create_heads_decode.interleaved_needs_overlap", lambda d: fused(d, overlap_qk_coregrid=False)),
    Case("concat_heads.on_device", lambda d: X.nlp_concat_heads(host_tile((1, 2, 32, 64)))),
    Case(
        "concat_heads.output_interleaved",
        lambda d: X.nlp_concat_heads(
            dev(d, (1, 2, 32, 64)), memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG
        ),
    ),
    Case(
        "concat_heads_decode.input_sharded",
        lambda d: X.nlp_concat_heads_decode(dev(d, (1, 2, 4, 64)), num_heads=4),
    ),
    Case("concat_heads_decode.sub_core_grids_required", lambda d: concat_decode(d, batch=12)),
    Case("paged_update.page_table_dtype", lambda d: paged_update(d, table_dtype=ttnn.uint32)),
    Case("paged_update.batch_offset_zero", lambda d: paged_update(d, batch_offset=1)),
    Case("paged_update.modulo_block_multiple", lambda d: paged_update(d, cache_position_modulo=48)),
    Case(
        "paged_fill.dtype_match", lambda d: paged_fill(d, cache=dev(d, (4, 1, 32, 64), dtype=ttnn.bfloat8_b))
    ),
    Case("paged_fill.seq_fits", lambda d: paged_fill(d, x=dev(d, (1, 1, 96, 64)))),
    Case("sdpa.gqa", lambda d: sdpa(d, q=dev(d, (1, 3, 32, 64)))),
    Case("sdpa.no_padding", lambda d: sdpa(d, q=dev(d, (1, 2, 32, 80)), k=dev(d, (1, 2, 32, 80)))),
    Case("sdpa.causal_same_seq", lambda d: sdpa(d, k=dev(d, (1, 2, 64, 64)))),
    Case(
        "sdpa.window_or_mask",
        lambda d: sdpa(d, is_causal=False, attn_mask=dev(d, (1, 1, 32, 32)), sliding_window_size=8),
    ),
    Case("sdpa_chunked.kv_length", lambda d: chunked(d, start=64)),
    Case(
        "sdpa_chunked.start_q_chunk",
        lambda d: T.chunked_scaled_dot_product_attention(
            dev(d, (1, 2, 32, 64)),
            dev(d, (2, 2, 32, 64)),
            dev(d, (2, 2, 32, 64)),
            int_rm(d, [[0, 1]]),
            16,
            program_config=ttnn.SDPAProgramConfig(
                compute_with_storage_grid_size=(1, 1), q_chunk_size=32, k_chunk_size=32
            ),
        ),
    ),
    Case(
        "sdpa_decode.gqa_q_dtype",
        lambda d: T.scaled_dot_product_attention_decode(
            dev(d, (1, 2, 4, 64), dtype=ttnn.bfloat8_b),
            dev(d, (2, 2, 64, 64)),
            dev(d, (2, 2, 64, 64)),
            cur_pos=[1, 2],
        ),
    ),
    Case(
        "sdpa_decode.cur_pos_range",
        lambda d: T.scaled_dot_product_attention_decode(
            dev(d, (1, 2, 4, 64)), dev(d, (2, 1, 64, 64)), dev(d, (2, 1, 64, 64)), cur_pos=[3, 64]
        ),
    ),
    Case("paged_sdpa_decode.page_table_dtype", lambda d: paged_decode(d, table_dtype=ttnn.uint32)),
    Case(
        "reduce_scatter.dtype",
        lambda d: ttnn.reduce_scatter(
            ttnn.from_torch(torch.ones(1, 1, 32, 64), dtype=ttnn.uint32, layout=ttnn.TILE_LAYOUT, device=d), 3
        ),
    ),
    Case(
        "all_reduce.dtype",
        lambda d: ttnn.all_reduce(
            ttnn.from_torch(torch.ones(1, 1, 32, 32), dtype=ttnn.uint32, layout=ttnn.TILE_LAYOUT, device=d)
        ),
    ),
    Case("all_gather.on_device", lambda d: ttnn.all_gather(host_tile((1, 1, 32, 32)), 3)),
    Case(
        "all_gather.page_aligned",
        lambda d: ttnn.all_gather(
            ttnn.from_torch(
                torch.ones(1, 1, 4, 7), layout=ttnn.ROW_MAJOR_LAYOUT, device=d, dtype=ttnn.bfloat16
            ),
            3,
        ),
    ),
]

CONTROLS = [
    Control(
        "ttnn.experimental.nlp_create_qkv_heads",
        lambda d: X.nlp_create_qkv_heads(dev(d, (1, 1, 32, 192)), num_heads=1),
    ),
    Control("ttnn.experimental.nlp_create_qkv_heads_decode", fused),
    Control("ttnn.experimental.nlp_concat_heads", lambda d: X.nlp_concat_heads(dev(d, (1, 2, 32, 64)))),
    Control("ttnn.experimental.nlp_concat_heads_decode", concat_decode),
    Control(
        "ttnn.experimental.nlp_concat_heads_decode",
        lambda d: concat_decode(
            d,
            batch=12,
            sub_core_grids=ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(7, 7))]),
        ),
        name="sub_core_grids",
    ),
    Control("ttnn.experimental.paged_update_cache", paged_update),
    Control("ttnn.experimental.paged_fill_cache", paged_fill),
    Control("ttnn.transformer.scaled_dot_product_attention", sdpa),
    Control(
        "ttnn.transformer.scaled_dot_product_attention",
        lambda d: sdpa(
            d,
            q=dev(d, (1, 2, 40, 64)),
            k=dev(d, (1, 2, 40, 64)),
            is_causal=False,
            attn_mask=dev(d, (1, 1, 40, 40)),
        ),
        name="mask_unaligned_seq",
    ),
    Control("ttnn.transformer.chunked_scaled_dot_product_attention", chunked),
    Control("ttnn.transformer.scaled_dot_product_attention_decode", decode),
    Control("ttnn.transformer.paged_scaled_dot_product_attention_decode", paged_decode),
    Control("ttnn.all_gather", lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 3)),
    Control(
        "ttnn.reduce_scatter", lambda d: ttnn.reduce_scatter(dev(d, (1, 1, 32, 64 * d.get_num_devices())), 3)
    ),
    Control("ttnn.all_reduce", lambda d: ttnn.all_reduce(dev(d, (1, 1, 32, 32)))),
]
