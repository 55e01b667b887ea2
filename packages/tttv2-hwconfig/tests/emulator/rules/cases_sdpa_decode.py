"""Flash-decode rule cases: ttnn.transformer.scaled_dot_product_attention_decode (``sdpa_decode.*``) and
paged_scaled_dot_product_attention_decode (``paged_sdpa_decode.*``).

tt-metal sources: ttnn/cpp/ttnn/operations/transformer/sdpa_decode/device/sdpa_decode_device_operation.cpp
(validate_on_program_cache_miss) and ttnn/cpp/ttnn/operations/transformer/sdpa_decode/sdpa_decode.cpp
(invoke: the k_chunk_size checks). Valid baselines: unpaged q (1, 2, 4, 64) against K/V (2, 1, 64, 64)
at cur_pos [3, 5]; paged q (1, 1, 4, 64) against caches (2, 1, 32, 64), page table [[0, 1]], cur_pos [7].
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

T = ttnn.transformer
U, P = "sdpa_decode", "paged_sdpa_decode"
OPS = {
    U: "ttnn.transformer.scaled_dot_product_attention_decode",
    P: "ttnn.transformer.paged_scaled_dot_product_attention_decode",
}


def host(shape, layout=None):
    return ttnn.from_torch(torch.zeros(*shape), layout=layout or ttnn.TILE_LAYOUT)


def int32(d, values, *, dtype=None, layout=None, memory_config=None):
    return ttnn.from_torch(
        torch.tensor(values, dtype=torch.int32), dtype=dtype or ttnn.int32, layout=layout or ttnn.ROW_MAJOR_LAYOUT,
        device=d, memory_config=memory_config or ttnn.DRAM_MEMORY_CONFIG,
    )  # fmt: skip


def config(k_chunk):
    return ttnn.SDPAProgramConfig(
        compute_with_storage_grid_size=(1, 1), q_chunk_size=32, k_chunk_size=k_chunk
    )


def _tensor(d, spec, shape):
    """``spec``: a tensor, or a dict of ``dev`` options (dtype, layout, memory_config) for ``shape``."""
    return spec if isinstance(spec, ttnn.Tensor) else dev(d, shape, **(spec or {}))


def decode(d, p, *, q=None, k=None, v=None, heads=4, kv_heads=1, seq=64, table=None, **kw):
    """A valid decode call of op ``p`` (U or P) unless an override breaks it; ``v`` defaults to ``k``."""
    batch = 2 if p == U else 1
    q = _tensor(d, q, (1, batch, heads, 64))
    kv_shape = (batch, kv_heads, seq, 64) if p == U else (2, kv_heads, 32, 64)
    k = _tensor(d, k, kv_shape)
    v = k if v is None else _tensor(d, v, kv_shape)
    causal = kw.get("is_causal", True)
    if p == U:
        if causal:
            kw.setdefault("cur_pos", [3, 5])
        return T.scaled_dot_product_attention_decode(q, k, v, **kw)
    if causal:
        kw.setdefault("cur_pos_tensor", int32(d, [7]))
    table = table if table is not None else int32(d, [[0, 1]])
    return T.paged_scaled_dot_product_attention_decode(q, k, v, table, **kw)


def masked(d, p, mask_shape=None, **kw):
    """Non-causal decode with an additive attn_mask (default: the valid [1, batch, 4, 64])."""
    batch = 2 if p == U else 1
    mask = dev(d, mask_shape or (1, batch, 4, 64), **kw.pop("mask_kw", {}))
    kw.setdefault("program_config", config(64))
    return decode(d, p, is_causal=False, attn_mask=mask, **kw)


def sink(d, p, shape=(4, 32), **kw):
    """Decode with an attention_sink of ``shape`` (the valid one: [Q heads, 32])."""
    return decode(d, p, attention_sink=dev(d, shape, **kw))


WIDTH_SHARDED_L1 = ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, ttnn.BufferType.L1)


def common(p):
    """Cases of the rules both decode ops share (``_DECODE_COMMON`` in _ops_sdpa.py)."""
    q_rows = 64 if p == U else 32  # padded rows of q (batch x 32 padded heads)
    return [
        Case(f"{p}.on_device", lambda d: decode(d, p, k=host((2, 1, 64, 64) if p == U else (2, 1, 32, 64)))),
        Case(f"{p}.dtype", lambda d: decode(d, p, q={"dtype": ttnn.float32})),
        Case(f"{p}.dtype", lambda d: decode(d, p, k={"dtype": ttnn.float32}), name="k"),
        Case(f"{p}.kv_tile", lambda d: decode(d, p, k={"layout": ttnn.ROW_MAJOR_LAYOUT})),
        Case(f"{p}.q_memory", lambda d: decode(d, p, q={"memory_config": ttnn.L1_MEMORY_CONFIG})),
        Case(
            f"{p}.q_memory",
            lambda d: decode(
                d,
                p,
                q={"memory_config": sharded((q_rows, 32), (2, 1), ttnn.TensorMemoryLayout.WIDTH_SHARDED)},
            ),
            name="width_sharded",
        ),
        Case(f"{p}.kv_dram", lambda d: decode(d, p, k={"memory_config": ttnn.L1_MEMORY_CONFIG})),
        Case(f"{p}.output_memory", lambda d: decode(d, p, memory_config=WIDTH_SHARDED_L1)),
        Case(
            f"{p}.causal_no_mask",
            lambda d: decode(d, p, attn_mask=dev(d, (1, 2 if p == U else 1, 4, 64))),
        ),
        Case(f"{p}.mask_padded_heads", lambda d: masked(d, p, (1, 2 if p == U else 1, 40, 64))),
        Case(f"{p}.mask_heads", lambda d: masked(d, p, (1, 2 if p == U else 1, 8, 64))),
        Case(f"{p}.mask_dtype", lambda d: masked(d, p, mask_kw={"dtype": ttnn.float32})),
        Case(f"{p}.kv_heads", lambda d: decode(d, p, v=dev(d, (2, 2, 64, 64) if p == U else (2, 2, 32, 64)))),
        Case(
            f"{p}.gqa_output",
            lambda d: decode(d, p, kv_heads=2, memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG),
        ),
        Case(f"{p}.gqa_q_dtype", lambda d: decode(d, p, kv_heads=2, q={"dtype": ttnn.bfloat8_b})),
        Case(f"{p}.gqa_multiple", lambda d: decode(d, p, heads=3, kv_heads=2)),
        Case(f"{p}.sink_rank", lambda d: sink(d, p, (1, 1, 4, 32))),
        Case(f"{p}.sink_heads", lambda d: sink(d, p, (40, 32))),
        Case(f"{p}.sink_width", lambda d: sink(d, p, (4, 64))),
        Case(f"{p}.sink_dtype", lambda d: sink(d, p, dtype=ttnn.bfloat8_b)),
        Case(f"{p}.sink_tile", lambda d: sink(d, p, (32, 32), layout=ttnn.ROW_MAJOR_LAYOUT)),
        Case(f"{p}.sink_dram", lambda d: sink(d, p, memory_config=ttnn.L1_MEMORY_CONFIG)),
        Case(f"{p}.k_chunk_pow2", lambda d: decode(d, p, program_config=config(96))),
        Case(f"{p}.k_chunk_tile", lambda d: decode(d, p, program_config=config(16))),
    ]


CASES = common(U) + common(P)

CASES += [
    # K seq 48: the wrapper's default k_chunk_size (largest power-of-2 divisor) is 16.
    Case(f"{U}.k_chunk_tile", lambda d: decode(d, U, seq=48, cur_pos=[3, 5]), name="default_chunk"),
    # mask seq == K seq 96, but 96 % k_chunk_size 64 != 0 (checked before K seq % k_chunk_size).
    Case(f"{U}.mask_k_chunk", lambda d: masked(d, U, (1, 2, 4, 96), seq=96)),
    Case(f"{U}.mask_seq", lambda d: masked(d, U, (1, 2, 4, 32))),
    Case(f"{U}.kv_batch", lambda d: decode(d, U, k=dev(d, (3, 1, 64, 64)))),
    Case(f"{U}.q_dim0", lambda d: decode(d, U, q=dev(d, (2, 2, 4, 64)))),
    Case(f"{U}.v_seq", lambda d: decode(d, U, v=dev(d, (2, 1, 32, 64)))),
    Case(f"{U}.k_seq_chunk", lambda d: decode(d, U, seq=96, program_config=config(64))),
    Case(f"{U}.head_dim", lambda d: decode(d, U, k=dev(d, (2, 1, 64, 128)))),
    Case(f"{U}.head_dim", lambda d: decode(d, U, v=dev(d, (2, 1, 64, 128))), name="v"),
    # paged: k_chunk_size is 0 (chosen in the kernels) without a program_config, which a mask forbids.
    Case(f"{P}.mask_k_chunk", lambda d: masked(d, P, program_config=None)),
    Case(
        f"{P}.mask_k_chunk", lambda d: masked(d, P, (1, 1, 4, 96), program_config=config(64)), name="mask_seq"
    ),
    Case(f"{P}.cur_pos_required", lambda d: decode(d, P, cur_pos_tensor=None)),
    Case(f"{P}.cur_pos_dtype", lambda d: decode(d, P, cur_pos_tensor=int32(d, [7], dtype=ttnn.uint32))),
    Case(
        f"{P}.cur_pos_layout", lambda d: decode(d, P, cur_pos_tensor=int32(d, [7], layout=ttnn.TILE_LAYOUT))
    ),
    Case(f"{P}.cur_pos_batch", lambda d: decode(d, P, cur_pos_tensor=int32(d, [7, 7]))),
    Case(f"{P}.page_table_layout", lambda d: decode(d, P, table=int32(d, [[0, 1]], layout=ttnn.TILE_LAYOUT))),
    Case(f"{P}.page_table_batch", lambda d: decode(d, P, table=int32(d, [[0, 1], [0, 1]]))),
    Case(
        f"{P}.page_table_batch",
        lambda d: decode(
            d,
            P,
            table=int32(
                d,
                [[0, 1]] * 4,
                dtype=ttnn.uint16,
                memory_config=sharded((2, 2), (2, 1), ttnn.TensorMemoryLayout.HEIGHT_SHARDED),
            ),
        ),
        name="sharded",  # 2 table rows per core, Q batch 1
    ),
    Case(f"{P}.block_size", lambda d: decode(d, P, v=dev(d, (2, 1, 64, 64)))),
    Case(f"{P}.head_dim", lambda d: decode(d, P, k=dev(d, (2, 1, 32, 128)))),
    Case(f"{P}.head_dim", lambda d: decode(d, P, v=dev(d, (2, 1, 32, 128))), name="v"),
    Case(f"{P}.noncausal_k_chunk", lambda d: decode(d, P, is_causal=False)),
    Case(
        f"{P}.noncausal_k_chunk",
        lambda d: decode(d, P, is_causal=False, table=int32(d, [[0, 1, 0]]), program_config=config(64)),
        name="length",  # 3 blocks x 32 = 96 positions, k_chunk_size 64
    ),
]

CONTROLS = []
for _p in (U, P):
    CONTROLS += [
        Control(OPS[_p], lambda d, p=_p: decode(d, p), name="causal"),
        Control(OPS[_p], lambda d, p=_p: masked(d, p), name="masked"),
        Control(OPS[_p], lambda d, p=_p: sink(d, p), name="sink"),
        Control(OPS[_p], lambda d, p=_p: decode(d, p, heads=4, kv_heads=2), name="gqa"),
        Control(OPS[_p], lambda d, p=_p: decode(d, p, program_config=config(32)), name="k_chunk_32"),
    ]
CONTROLS += [
    Control(OPS[P], lambda d: decode(d, P, is_causal=False, program_config=config(64)), name="noncausal"),
    Control(OPS[U], lambda d: decode(d, U, is_causal=False), name="noncausal"),
]
