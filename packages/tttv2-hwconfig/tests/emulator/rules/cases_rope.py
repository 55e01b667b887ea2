"""rotary_embedding_llama(_fused_qk) rule cases (rotary_embedding_llama*_device_operation.cpp)."""

import torch
from rulecase import Case, Control, dev
from tttv2_hwconfig import ttnn

OP = "ttnn.experimental.rotary_embedding_llama"
rope = ttnn.experimental.rotary_embedding_llama


def trans(d, shape=(1, 1, 32, 32), **kw):
    return dev(d, shape, **kw)


def prefill(d, *, x=None, cos=None, tm=None, **kwargs):
    x = x if x is not None else dev(d, (1, 2, 32, 64))
    cos = cos if cos is not None else dev(d, (1, 1, 32, 64))
    return rope(x, cos, cos, tm if tm is not None else trans(d), **kwargs)


def user_sharded(rows, width, batch):
    grid = ttnn.num_cores_to_corerangeset(batch, ttnn.CoreCoord(8, 8), row_wise=True)
    return ttnn.create_sharded_memory_config(
        (rows, width), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )


def decode(d, batch=2, *, cos_rows=32, tm_shard=(32, 32)):
    x = dev(d, (1, batch, 8, 64), memory_config=user_sharded(32, 64, batch))
    cos = dev(d, (1, batch, 1, 64), memory_config=user_sharded(cos_rows, 64, batch))
    tm = dev(d, (1, 1, batch * 32, 32), memory_config=user_sharded(*tm_shard, batch * 32 // tm_shard[0]))
    return rope(x, cos, cos, tm, is_decode_mode=True)


FP32 = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=True)

CASES = [
    Case(
        "rope.on_device",
        lambda d: prefill(d, x=ttnn.from_torch(torch.zeros(1, 2, 32, 64), layout=ttnn.TILE_LAYOUT)),
    ),
    Case("rope.tile_layout", lambda d: prefill(d, tm=trans(d, layout=ttnn.ROW_MAJOR_LAYOUT))),
    Case(
        "rope.head_dim_fp32_acc",
        lambda d: prefill(
            d, x=dev(d, (1, 2, 32, 160)), cos=dev(d, (1, 1, 32, 160)), compute_kernel_config=FP32
        ),
    ),
    Case("rope.head_dim_max", lambda d: prefill(d, x=dev(d, (1, 2, 32, 288)), cos=dev(d, (1, 1, 32, 288)))),
    Case("rope.head_dim_tile", lambda d: prefill(d, x=dev(d, (1, 2, 32, 80)), cos=dev(d, (1, 1, 32, 80)))),
    Case("rope.dtype", lambda d: prefill(d, x=dev(d, (1, 2, 32, 64), dtype=ttnn.bfloat8_b))),
    Case("rope.output_memory_layout", lambda d: prefill(d, memory_config=user_sharded(32, 64, 2))),
    Case(
        "rope.cos_sin_shape",
        lambda d: rope(dev(d, (1, 2, 32, 64)), dev(d, (1, 1, 32, 64)), dev(d, (1, 1, 64, 64)), trans(d)),
    ),
    Case("rope.trans_mat_leading_dims", lambda d: prefill(d, tm=trans(d, (1, 2, 32, 32)))),
    Case(
        "rope.prefill_interleaved",
        lambda d: prefill(
            d,
            x=dev(d, (1, 2, 32, 64), memory_config=user_sharded(32, 64, 2)),
            memory_config=user_sharded(32, 64, 2),
        ),
    ),
    Case("rope.prefill_cos_dims", lambda d: prefill(d, cos=dev(d, (2, 1, 32, 64)))),
    Case("rope.prefill_cos_heads", lambda d: prefill(d, cos=dev(d, (1, 3, 32, 64)))),
    Case("rope.prefill_trans_mat_tile", lambda d: prefill(d, tm=trans(d, (1, 1, 64, 32)))),
    Case("rope.decode_cos_shard_height", lambda d: decode(d, cos_rows=64)),
]

CONTROLS = [
    Control(OP, prefill),
    Control(OP, decode, name="decode"),
    Control(
        OP, lambda d: prefill(d, x=dev(d, (1, 2, 32, 160)), cos=dev(d, (1, 1, 32, 160))), name="head_dim_160"
    ),
]


def _row(x0, x1):
    return ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(x0, 0), ttnn.CoreCoord(x1, 0))])


def _hs(grid, shape):
    return ttnn.MemoryConfig(
        ttnn.TensorMemoryLayout.HEIGHT_SHARDED,
        ttnn.BufferType.L1,
        ttnn.ShardSpec(grid, list(shape), ttnn.ShardOrientation.ROW_MAJOR),
    )


def fused_qk(d, batch=2, *, k_start=None, cos_users=None):
    k_start = batch if k_start is None else k_start
    q = dev(d, (1, batch, 8, 64), memory_config=_hs(_row(0, batch - 1), (32, 64)))
    k = dev(d, (1, batch, 8, 64), memory_config=_hs(_row(k_start, k_start + batch - 1), (32, 64)))
    users = cos_users or 2 * batch
    cos = dev(d, (1, users, 1, 64), memory_config=_hs(_row(0, users - 1), (32, 64)))
    tm = dev(d, (1, 1, 2 * batch * 32, 32), memory_config=_hs(_row(0, 2 * batch - 1), (32, 32)))
    return ttnn.experimental.rotary_embedding_llama_fused_qk(q, k, cos, cos, tm)


CASES += [
    Case("rope_fused_qk.disjoint_grids", lambda d: fused_qk(d, k_start=1)),
    Case("rope_fused_qk.cos_batch", lambda d: fused_qk(d, cos_users=3)),
]
CONTROLS += [Control("ttnn.experimental.rotary_embedding_llama_fused_qk", fused_qk)]
