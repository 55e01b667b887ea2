"""Rule cases of ttnn.transformer.scaled_dot_product_attention (``sdpa.*``) and
chunked_scaled_dot_product_attention (``sdpa_chunked.*``).

tt-metal source: ttnn/cpp/ttnn/operations/transformer/sdpa/device/sdpa_device_operation.cpp,
SDPAOperation::validate_on_program_cache_miss (regular mode, chunked mode, attention sink, padding).
Valid baseline: q/k/v (1, 2, 32, 64) causal; chunked: q (1, 2, 32, 64), caches (2, 2, 32, 64),
page table [[0, 1]] (64 positions), chunk_start_idx 32.
"""

import math

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

T = ttnn.transformer
QKV = (1, 2, 32, 64)
CACHE = (2, 2, 32, 64)


def host(shape):
    return ttnn.from_torch(torch.zeros(*shape), layout=ttnn.TILE_LAYOUT)


def height_sharded(d, shape):
    """A valid TILE bf16 tensor, HEIGHT_SHARDED in 32-row shards (one core per 32 rows)."""
    cores = math.prod(shape[:-1]) // 32
    return dev(
        d, shape, memory_config=sharded((32, shape[-1]), (cores, 1), ttnn.TensorMemoryLayout.HEIGHT_SHARDED)
    )


BAD_OPERAND = {  # rule name -> a tensor of ``shape`` that breaks only that operand rule
    "on_device": lambda d, shape: host(shape),
    "tile": lambda d, shape: dev(d, shape, layout=ttnn.ROW_MAJOR_LAYOUT),
    "dtype": lambda d, shape: dev(d, shape, dtype=ttnn.float32),
    "interleaved": height_sharded,
}


def int_rm(d, values, dtype=None, layout=None):
    return ttnn.from_torch(
        torch.tensor(values, dtype=torch.int32), dtype=dtype or ttnn.int32,
        layout=layout or ttnn.ROW_MAJOR_LAYOUT, device=d, memory_config=ttnn.DRAM_MEMORY_CONFIG,
    )  # fmt: skip


def config(q_chunk=32, k_chunk=32):
    return ttnn.SDPAProgramConfig(
        compute_with_storage_grid_size=(1, 1), q_chunk_size=q_chunk, k_chunk_size=k_chunk
    )


def sdpa(d, *, q=None, k=None, v=None, **kw):
    q = q if q is not None else dev(d, QKV)
    k = k if k is not None else dev(d, QKV)
    v = v if v is not None else dev(d, QKV)
    return T.scaled_dot_product_attention(q, k, v, **kw)


def masked(d, mask_shape=(1, 1, 32, 32), **kw):
    """Non-causal with an additive mask of ``mask_shape`` (TILE bf16 DRAM unless overridden)."""
    return sdpa(d, is_causal=False, attn_mask=dev(d, mask_shape, **kw))


def sunk(d, sink_shape=(1, 2, 1, 1), **kw):
    """Causal with an attention sink of ``sink_shape`` (TILE bf16 DRAM unless overridden)."""
    return sdpa(d, attention_sink=dev(d, sink_shape, **kw))


def chunked(d, *, q=None, k=None, v=None, table=None, start=32, **kw):
    q = q if q is not None else dev(d, QKV)
    k = k if k is not None else dev(d, CACHE)
    v = v if v is not None else dev(d, CACHE)
    table = table if table is not None else int_rm(d, [[0, 1]])
    return T.chunked_scaled_dot_product_attention(q, k, v, table, start, **kw)


def bad_operand(call, rule_name, which, shapes):
    """``call`` with operand ``which`` (q, k or v) replaced by one breaking ``rule_name``."""
    return lambda d: call(d, **{which: BAD_OPERAND[rule_name](d, shapes[which])})


SDPA_SHAPES = {"q": QKV, "k": QKV, "v": QKV}
CHUNKED_SHAPES = {"q": QKV, "k": CACHE, "v": CACHE}

OPERAND_CASES = [
    Case(f"{prefix}.{rule_name}", bad_operand(call, rule_name, which, shapes), name=which)
    for prefix, call, shapes in (("sdpa", sdpa, SDPA_SHAPES), ("sdpa_chunked", chunked, CHUNKED_SHAPES))
    for rule_name in BAD_OPERAND
    for which in ("q", "k", "v")
]

SDPA_CASES = [
    Case("sdpa.causal_or_mask", lambda d: sdpa(d, attn_mask=dev(d, (1, 1, 32, 32)))),
    Case("sdpa.mask_tile", lambda d: masked(d, layout=ttnn.ROW_MAJOR_LAYOUT)),
    Case("sdpa.mask_dtype", lambda d: masked(d, dtype=ttnn.float32)),
    Case("sdpa.mask_dram", lambda d: masked(d, memory_config=ttnn.L1_MEMORY_CONFIG)),
    Case("sdpa.mask_batch", lambda d: masked(d, (2, 1, 32, 32))),
    Case("sdpa.mask_heads", lambda d: masked(d, (1, 3, 32, 32))),
    Case("sdpa.mask_q_seq", lambda d: masked(d, (1, 1, 64, 32))),
    Case("sdpa.mask_k_seq", lambda d: masked(d, (1, 1, 32, 64))),
    Case(
        "sdpa.kv_batch", lambda d: sdpa(d, k=dev(d, (2, 2, 32, 64)), v=dev(d, (2, 2, 32, 64))), name="k_and_v"
    ),
    Case("sdpa.kv_batch", lambda d: sdpa(d, v=dev(d, (2, 2, 32, 64))), name="v"),
    Case("sdpa.v_seq", lambda d: sdpa(d, v=dev(d, (1, 2, 64, 64)))),
    Case("sdpa.v_heads", lambda d: sdpa(d, q=dev(d, (1, 4, 32, 64)), v=dev(d, (1, 4, 32, 64)))),
    Case("sdpa.kv_head_dim", lambda d: sdpa(d, k=dev(d, (1, 2, 32, 32))), name="k"),
    Case("sdpa.kv_head_dim", lambda d: sdpa(d, v=dev(d, (1, 2, 32, 128))), name="v"),
    Case(
        "sdpa.gqa",
        lambda d: sdpa(d, k=dev(d, (1, 4, 32, 64)), v=dev(d, (1, 4, 32, 64))),
        name="fewer_q_heads",
    ),
    Case("sdpa.q_chunk_tile", lambda d: sdpa(d, program_config=config(q_chunk=16))),
    Case("sdpa.k_chunk_tile", lambda d: sdpa(d, program_config=config(k_chunk=48))),
    Case("sdpa.sink_tile", lambda d: sunk(d, layout=ttnn.ROW_MAJOR_LAYOUT)),
    Case("sdpa.sink_dtype", lambda d: sunk(d, dtype=ttnn.float32)),
    Case("sdpa.sink_dram", lambda d: sunk(d, memory_config=ttnn.L1_MEMORY_CONFIG)),
    Case("sdpa.sink_shape", lambda d: sunk(d, (1, 1, 1, 1)), name="heads"),
    Case("sdpa.sink_shape", lambda d: sunk(d, (2, 2, 1, 1)), name="batch"),
    Case("sdpa.sink_shape", lambda d: sunk(d, (1, 2, 1, 32)), name="width"),
]

CHUNKED_CASES = [
    Case("sdpa_chunked.start_non_negative", lambda d: chunked(d, start=-32)),
    Case(
        "sdpa_chunked.page_table_layout",
        lambda d: chunked(d, table=int_rm(d, [[0, 1]], layout=ttnn.TILE_LAYOUT)),
    ),
    Case("sdpa_chunked.page_table_dtype", lambda d: chunked(d, table=int_rm(d, [[0, 1]], dtype=ttnn.uint32))),
    Case("sdpa_chunked.page_size", lambda d: chunked(d, v=dev(d, (2, 2, 64, 64)))),
    Case("sdpa_chunked.page_table_batch", lambda d: chunked(d, table=int_rm(d, [[0, 1], [1, 0]]))),
    Case("sdpa_chunked.v_heads", lambda d: chunked(d, v=dev(d, (2, 1, 32, 64)))),
    Case("sdpa_chunked.kv_head_dim", lambda d: chunked(d, k=dev(d, (2, 2, 32, 32))), name="k"),
    Case("sdpa_chunked.kv_head_dim", lambda d: chunked(d, v=dev(d, (2, 2, 32, 128))), name="v"),
    Case("sdpa_chunked.gqa", lambda d: chunked(d, q=dev(d, (1, 3, 32, 64))), name="not_divisible"),
    Case(
        "sdpa_chunked.gqa",
        lambda d: chunked(d, k=dev(d, (2, 4, 32, 64)), v=dev(d, (2, 4, 32, 64))),
        name="fewer_q_heads",
    ),
    Case("sdpa_chunked.q_chunk_tile", lambda d: chunked(d, program_config=config(q_chunk=16))),
    Case("sdpa_chunked.k_chunk_tile", lambda d: chunked(d, program_config=config(k_chunk=48))),
    Case("sdpa_chunked.start_k_chunk", lambda d: chunked(d, program_config=config(k_chunk=64))),
    Case(
        "sdpa_chunked.kv_length",  # a tensor start: only Q's own length must be covered (flexible mode)
        lambda d: chunked(d, q=dev(d, (1, 2, 96, 64)), start=None, chunk_start_idx_tensor=int_rm(d, [0])),
        name="start_tensor",
    ),
    Case(
        "sdpa_chunked.no_padding",
        lambda d: chunked(d, q=dev(d, (1, 2, 32, 80)), k=dev(d, (2, 2, 32, 80)), v=dev(d, (2, 2, 32, 80))),
    ),
]

CASES = OPERAND_CASES + SDPA_CASES + CHUNKED_CASES

CONTROLS = [
    Control(
        "ttnn.transformer.scaled_dot_product_attention", lambda d: masked(d, (1, 2, 32, 32)), name="head_mask"
    ),
    Control(
        "ttnn.transformer.scaled_dot_product_attention",
        lambda d: sdpa(
            d,
            q=dev(d, (2, 2, 32, 64)),
            k=dev(d, (2, 2, 64, 64)),
            v=dev(d, (2, 2, 64, 64)),
            is_causal=False,
            attn_mask=dev(d, (2, 2, 32, 64)),
        ),  # fmt: skip
        name="batch_mask_cross",
    ),
    Control("ttnn.transformer.scaled_dot_product_attention", sunk, name="sink"),
    Control(
        "ttnn.transformer.scaled_dot_product_attention",
        lambda d: sdpa(d, q=dev(d, (1, 4, 32, 64)), program_config=config(32, 32)),
        name="gqa_config",
    ),
    Control(
        "ttnn.transformer.chunked_scaled_dot_product_attention",
        lambda d: chunked(d, start=0, q=dev(d, (1, 4, 64, 64)), program_config=config(64, 64)),
        name="gqa_config",
    ),
    Control(
        "ttnn.transformer.chunked_scaled_dot_product_attention",
        lambda d: chunked(d, start=None, chunk_start_idx_tensor=int_rm(d, [32])),
        name="start_tensor",
    ),
]
