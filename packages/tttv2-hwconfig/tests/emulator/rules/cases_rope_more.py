"""More rotary_embedding_llama / rotary_embedding_llama_fused_qk rule cases: the decode and prefill-layout
rules of ``rotary_embedding_llama`` and every ``rope_fused_qk`` rule not in ``cases_rope.py``.

tt-metal sources: ``ttnn/cpp/ttnn/operations/experimental/transformer/rotary_embedding_llama/device/
rotary_embedding_llama_device_operation.cpp`` and ``.../rotary_embedding_llama_fused_qk/device/
rotary_embedding_llama_fused_qk_device_operation.cpp`` (``validate_on_program_cache_miss``).
"""

import math

import torch
from rulecase import Case, Control, dev
from tttv2_hwconfig import ttnn

OP = "ttnn.experimental.rotary_embedding_llama"
QK_OP = "ttnn.experimental.rotary_embedding_llama_fused_qk"
rope = ttnn.experimental.rotary_embedding_llama
fused = ttnn.experimental.rotary_embedding_llama_fused_qk
HS = ttnn.TensorMemoryLayout.HEIGHT_SHARDED
FP32 = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=True)


def cores(start, count, width=8):
    """``count`` cores in row-major order over rows of ``width``, from linear index ``start``."""
    ranges, i, end = [], start, start + count
    while i < end:
        y, x0 = divmod(i, width)
        x1 = min(width, x0 + end - i) - 1
        ranges.append(ttnn.CoreRange(ttnn.CoreCoord(x0, y), ttnn.CoreCoord(x1, y)))
        i += x1 - x0 + 1
    return ttnn.CoreRangeSet(ranges)


def hs(shard_hw, grid, layout=HS):
    """A HEIGHT_SHARDED (or ``layout``) L1 MemoryConfig with explicit shard shape on ``grid``."""
    spec = ttnn.ShardSpec(grid, list(shard_hw), ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(layout, ttnn.BufferType.L1, spec)


def tiled(n):
    return 32 * math.ceil(n / 32)


def host(shape):
    return ttnn.from_torch(torch.zeros(*shape), layout=ttnn.TILE_LAYOUT)


# --- rotary_embedding_llama, decode -----------------------------------------------------------


def dec_x(d, batch=2, *, seq=1, per_core=1, **kw):
    rows = 32 * per_core
    return dev(
        d,
        (seq, batch, 8, 64),
        memory_config=hs((rows, 64), cores(0, math.ceil(seq * batch / per_core))),
        **kw,
    )


def dec_cos(d, users=2, *, per_core=1):
    return dev(
        d, (1, users, 1, 64), memory_config=hs((32 * per_core, 64), cores(0, math.ceil(users / per_core)))
    )


def dec_tm(d, n=2, shard=(32, 32)):
    """trans_mat ``(1, 1, n*32, shard width)`` HEIGHT_SHARDED in ``shard``-shaped pieces."""
    return dev(d, (1, 1, n * 32, shard[1]), memory_config=hs(shard, cores(0, n * 32 // shard[0])))


def decode(d, *, x=None, cos=None, sin=None, tm=None, **kw):
    x = x if x is not None else dec_x(d)
    cos = cos if cos is not None else dec_cos(d)
    return rope(
        x,
        cos,
        sin if sin is not None else cos,
        tm if tm is not None else dec_tm(d),
        is_decode_mode=True,
        **kw,
    )


def too_many_users(d):
    """A decode call whose batch is one more than the device's compute grid (5 users per core). Its cos
    shards are then 160 rows, breaking the later decode_cos_shard_height too: unavoidable, as batch
    one-user cos shards do not fit on fewer cores."""
    grid = d.compute_with_storage_grid_size()
    batch = grid.x * grid.y + 1
    return decode(d, x=dec_x(d, batch, per_core=5), cos=dec_cos(d, batch, per_core=5))


# --- rotary_embedding_llama, prefill ----------------------------------------------------------


def prefill(d, *, cos=None, tm=None):
    cos = cos if cos is not None else dev(d, (1, 1, 32, 64))
    return rope(dev(d, (1, 2, 32, 64)), cos, cos, tm if tm is not None else dev(d, (1, 1, 32, 32)))


def sharded_cos(d, heads):
    return dev(d, (1, heads, 32, 64), memory_config=hs((32, 64), cores(0, heads)))


def tm_sharded(d, layout):
    return dev(d, (1, 1, 32, 32), memory_config=hs((32, 32), cores(0, 1), layout))


# --- rotary_embedding_llama_fused_qk ----------------------------------------------------------


def qk(d, batch, *, start, heads=8, head_dim=64, seq=1, per_core=1, rows=None, width=8, **kw):
    """Q or K ``(seq, batch, heads, head_dim)`` HEIGHT_SHARDED from core ``start``: ``per_core`` users a core,
    or shards of ``rows`` rows."""
    user_rows = 32 * math.ceil(heads / 32)
    rows = rows or user_rows * per_core
    n = math.ceil(seq * batch * user_rows / rows)
    config = hs((rows, tiled(head_dim)), cores(start, n, width))
    return dev(d, (seq, batch, heads, head_dim), memory_config=config, **kw)


def fused_call(d, *, batch=2, q=None, k=None, cos=None, sin=None, tm=None, head_dim=64, **kw):
    """A valid fused_qk call (Q on cores 0..batch-1, K on batch..2*batch-1) with any operand replaced."""
    q = q if q is not None else qk(d, batch, start=0, head_dim=head_dim)
    k = k if k is not None else qk(d, batch, start=batch, head_dim=head_dim)
    if cos is None:
        config = hs((32, tiled(head_dim)), cores(0, 2 * batch))
        cos = dev(d, (1, 2 * batch, 1, head_dim), memory_config=config)
    if tm is None:
        tm = dev(d, (1, 1, 2 * batch * 32, 32), memory_config=hs((32, 32), cores(0, 2 * batch)))
    return fused(q, k, cos, sin if sin is not None else cos, tm, **kw)


def fused_rm_tm(d, batch=2):
    grid = cores(0, 2 * batch)
    tm = dev(d, (1, 1, 2 * batch * 32, 32), layout=ttnn.ROW_MAJOR_LAYOUT, memory_config=hs((32, 32), grid))
    return fused_call(d, batch=batch, tm=tm)


def fused_rm_cos(d, batch=2):
    grid = cores(0, 2 * batch)
    cos = dev(d, (1, 2 * batch, 32, 64), layout=ttnn.ROW_MAJOR_LAYOUT, memory_config=hs((32, 64), grid))
    return fused_call(d, batch=batch, cos=cos, sin=cos)


def tm_on(d, n, width=8):
    """A valid fused trans_mat: ``n`` 32x32 tiles HEIGHT_SHARDED on ``n`` cores."""
    return dev(d, (1, 1, n * 32, 32), memory_config=hs((32, 32), cores(0, n, width)))


def fused_batch_33(d):
    """batch 33 (> 32): Q and K at 3 users per core on 11 cores each."""
    q, k = qk(d, 33, start=0, per_core=3), qk(d, 33, start=16, per_core=3)
    cos = dev(d, (1, 66, 1, 64), memory_config=hs((96, 64), cores(32, 22)))
    return fused_call(d, q=q, k=k, cos=cos, tm=tm_on(d, 27))


def fused_over_64_cores(d):
    """batch 32, Q with 64 heads on 64 cores, K on 32 more: 96 cores > 64. Only a grid of >= 96 cores
    (Blackhole) can hold them disjoint with a trans_mat on all 96; smaller grids also break the later
    disjoint_grids / trans_mat_cores rules (unavoidable: 96 cores do not exist there)."""
    grid = d.compute_with_storage_grid_size()
    width = grid.x if grid.x * grid.y >= 96 else 8
    k_start = 64 if grid.x * grid.y >= 96 else 0
    q = qk(d, 32, start=0, heads=64, rows=32, width=width)
    k = qk(d, 32, start=k_start, width=width)
    cos = dev(d, (1, 64, 1, 64), memory_config=hs((32, 64), cores(0, 64)))
    return fused_call(d, q=q, k=k, cos=cos, tm=tm_on(d, 96 if k_start else 64, width))


CASES = [
    # rotary_embedding_llama, decode
    Case("rope.decode_seq_one", lambda d: decode(d, x=dec_x(d, seq=2))),
    Case("rope.decode_height_sharded", lambda d: decode(d, x=dev(d, (1, 2, 8, 64))), name="input"),
    Case("rope.decode_height_sharded", lambda d: decode(d, cos=dev(d, (1, 2, 1, 64))), name="cos_sin"),
    Case(
        "rope.decode_height_sharded",
        lambda d: decode(d, sin=dev(d, (1, 2, 1, 64), memory_config=ttnn.L1_MEMORY_CONFIG)),
        name="sin_only",
    ),
    Case("rope.decode_height_sharded", lambda d: decode(d, tm=dev(d, (1, 1, 64, 32))), name="trans_mat"),
    Case("rope.decode_batch_cores", too_many_users),
    Case("rope.decode_cos_batch", lambda d: decode(d, cos=dec_cos(d, 3))),
    Case("rope.decode_trans_mat_shard", lambda d: decode(d, tm=dec_tm(d, 2, shard=(64, 32))), name="height"),
    Case("rope.decode_trans_mat_shard", lambda d: decode(d, tm=dec_tm(d, 2, shard=(32, 64))), name="width"),
    # rotary_embedding_llama, prefill
    Case("rope.prefill_sharded_cos_broadcast", lambda d: prefill(d, cos=sharded_cos(d, 2))),
    Case(
        "rope.prefill_trans_mat_memory_layout",
        lambda d: prefill(d, tm=tm_sharded(d, ttnn.TensorMemoryLayout.BLOCK_SHARDED)),
        name="block",
    ),
    Case(
        "rope.prefill_trans_mat_memory_layout",
        lambda d: prefill(d, tm=tm_sharded(d, ttnn.TensorMemoryLayout.WIDTH_SHARDED)),
        name="width",
    ),
    # rotary_embedding_llama_fused_qk
    Case("rope_fused_qk.on_device", lambda d: fused_call(d, q=host((1, 2, 8, 64))), name="q"),
    Case("rope_fused_qk.on_device", lambda d: fused_call(d, tm=host((1, 1, 128, 32))), name="trans_mat"),
    Case("rope_fused_qk.height_sharded", lambda d: fused_call(d, k=dev(d, (1, 2, 8, 64))), name="k"),
    Case(
        "rope_fused_qk.height_sharded",
        lambda d: fused_call(d, tm=dev(d, (1, 1, 128, 32), memory_config=ttnn.L1_MEMORY_CONFIG)),
        name="trans_mat",
    ),
    Case("rope_fused_qk.dtype", lambda d: fused_call(d, k=qk(d, 2, start=2, dtype=ttnn.bfloat8_b))),
    Case("rope_fused_qk.tile_layout", fused_rm_cos, name="cos_sin"),
    Case("rope_fused_qk.tile_layout", fused_rm_tm, name="trans_mat"),
    Case("rope_fused_qk.decode_seq_one", lambda d: fused_call(d, q=qk(d, 2, start=4, seq=2), tm=tm_on(d, 6))),
    Case("rope_fused_qk.same_head_dim", lambda d: fused_call(d, k=qk(d, 2, start=2, head_dim=128))),
    Case(
        "rope_fused_qk.head_dim_fp32_acc", lambda d: fused_call(d, head_dim=160, compute_kernel_config=FP32)
    ),
    Case("rope_fused_qk.head_dim_tile", lambda d: fused_call(d, head_dim=80)),
    Case("rope_fused_qk.same_batch", lambda d: fused_call(d, k=qk(d, 3, start=2), tm=tm_on(d, 5))),
    Case("rope_fused_qk.batch_max", fused_batch_33),
    Case("rope_fused_qk.core_budget", fused_over_64_cores),
    Case(
        "rope_fused_qk.cos_sin_shape",
        lambda d: fused_call(d, sin=dev(d, (1, 4, 2, 64), memory_config=hs((32, 64), cores(0, 4)))),
    ),
    Case(
        "rope_fused_qk.trans_mat_cores",
        lambda d: fused_call(d, tm=tm_on(d, 3)),
    ),
    Case(
        "rope_fused_qk.trans_mat_shard",
        lambda d: fused_call(d, tm=dev(d, (1, 1, 256, 32), memory_config=hs((64, 32), cores(0, 4)))),
    ),
]

CONTROLS = [
    Control(OP, decode, name="decode_cores_helper"),
    Control(
        OP,
        lambda d: decode(d, x=dec_x(d, 4, per_core=2), cos=dec_cos(d, 4)),
        name="decode_two_users_per_core",
    ),
    Control(OP, lambda d: prefill(d, cos=sharded_cos(d, 1)), name="prefill_sharded_cos"),
    Control(OP, lambda d: prefill(d, tm=tm_sharded(d, HS)), name="prefill_sharded_trans_mat"),
    Control(QK_OP, fused_call, name="cores_helper"),
    Control(QK_OP, lambda d: fused_call(d, head_dim=160), name="head_dim_160"),
    Control(
        QK_OP,
        lambda d: fused_call(d, batch=32, tm=tm_on(d, 64)),
        name="batch_32",
    ),
]
