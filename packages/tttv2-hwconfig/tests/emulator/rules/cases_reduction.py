"""ttnn.argmax and ttnn.topk rule cases.

Sources (tenstorrent/tt-metal): reduction/argmax/argmax.cpp (ttnn::argmax) and
reduction/argmax/device/argmax_device_operation.cpp (validate_on_program_cache_miss);
reduction/topk/topk.cpp (ttnn::topk) and reduction/topk/device/topk_device_operation.cpp
(validate_on_program_cache_miss); reduction/reduce_op_validation.cpp for the sub_core_grids checks.

``logits(d, ...)`` is the greedy-sampling shape (1, 1, 32, vocab); each case changes one argument.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

RM, TILE = ttnn.ROW_MAJOR_LAYOUT, ttnn.TILE_LAYOUT
HEIGHT = ttnn.TensorMemoryLayout.HEIGHT_SHARDED
SHAPE = (1, 1, 32, 64)


def logits(d, shape=SHAPE, *, layout=RM, dtype=None, memory_config=None, **kw):
    return dev(d, shape, layout=layout, dtype=dtype, memory_config=memory_config, **kw)


def host(shape=SHAPE, layout=RM):
    return ttnn.from_torch(torch.randn(*shape), dtype=ttnn.bfloat16, layout=layout)


def ints(d, shape=SHAPE, *, dtype=ttnn.int32, layout=RM):
    data = torch.arange(shape[-1]).expand(shape).contiguous()
    return dev(d, shape, data=data, dtype=dtype, layout=layout)


def l1_height_sharded():
    return sharded((32, 64), (1, 1), HEIGHT)


def grid(*ranges):
    """A CoreRangeSet of ``((x0, y0), (x1, y1))`` ranges."""
    return ttnn.CoreRangeSet(
        [ttnn.CoreRange(ttnn.CoreCoord(*start), ttnn.CoreCoord(*end)) for start, end in ranges]
    )


def past_grid(d):
    """One row of cores running one column past the device's compute grid."""
    size = d.compute_with_storage_grid_size()
    return grid(((0, 0), (size.x, 0)))


def scalar(d):
    return ttnn.from_torch(torch.tensor(3.0), dtype=ttnn.bfloat16, layout=RM, device=d)


def empty(d, shape=(2, 0)):
    return ttnn.from_torch(torch.zeros(shape), dtype=ttnn.bfloat16, layout=RM, device=d)


# --- argmax ------------------------------------------------------------------------------------------

AM = "ttnn.argmax"


def greedy(d, layout=RM, **kwargs):
    """Device greedy sampling: (1, 1, 32, vocab) bfloat16 logits -> (1, 1, 32, 1) UINT32 token ids."""
    data = torch.randn(1, 1, 32, 256)
    out = ttnn.argmax(logits(d, (1, 1, 32, 256), layout=layout, data=data), dim=-1, keepdim=True, **kwargs)
    assert out.dtype == ttnn.uint32 and out.layout == RM and tuple(out.shape) == (1, 1, 32, 1)
    expected = data.to(torch.bfloat16).float().argmax(-1, keepdim=True)
    assert torch.equal(ttnn.to_torch(ttnn.get_device_tensors(out)[0]).to(torch.int64), expected)
    return out


def argmax_nc(d):
    out = ttnn.argmax(logits(d, (2, 3, 32, 64), layout=TILE), dim=1)  # a non-HW dim: argmax_nc
    assert tuple(out.shape) == (2, 32, 64) and out.layout == RM


def argmax_scalar(d):
    out = ttnn.argmax(scalar(d), dim=0)
    assert tuple(out.shape) == () and out.dtype == ttnn.uint32


def argmax_empty(d):
    out = ttnn.argmax(empty(d), dim=0, keepdim=True)  # reduces the non-empty dim
    assert tuple(out.shape) == (1, 0) and out.dtype == ttnn.uint32


ARGMAX_CASES = [
    Case("argmax.on_device", lambda d: ttnn.argmax(host(), dim=-1)),
    Case("argmax.dim_range", lambda d: ttnn.argmax(logits(d), dim=4)),
    Case("argmax.dim_range", lambda d: ttnn.argmax(logits(d), dim=-5), name="negative"),
    Case("argmax.scalar_dim", lambda d: ttnn.argmax(scalar(d), dim=1)),
    Case("argmax.reduced_dim_nonzero", lambda d: ttnn.argmax(empty(d), dim=1)),
    Case("argmax.reduced_dim_nonzero", lambda d: ttnn.argmax(empty(d)), name="dim_none"),
    Case(
        "argmax.input_interleaved",
        lambda d: ttnn.argmax(logits(d, memory_config=l1_height_sharded()), dim=-1),
    ),
    Case("argmax.row_major_dtype", lambda d: ttnn.argmax(ints(d, dtype=ttnn.uint8), dim=-1)),
    Case("argmax.tile_dtype", lambda d: ttnn.argmax(logits(d, layout=TILE, dtype=ttnn.bfloat8_b), dim=-1)),
    Case("argmax.tile_dtype", lambda d: ttnn.argmax(ints(d, layout=TILE), dim=-1), name="int32"),
    Case(
        "argmax.output_interleaved",
        lambda d: ttnn.argmax(logits(d), dim=-1, memory_config=l1_height_sharded()),
    ),
    Case(
        "argmax.output_interleaved",
        lambda d: ttnn.argmax(logits(d), dim=-2, memory_config=l1_height_sharded()),
        name="no_tile_route_when_sharded",
    ),
    Case("argmax.row_major_dim", lambda d: ttnn.argmax(ints(d), dim=-2)),
    Case("argmax.row_major_dim", lambda d: ttnn.argmax(ints(d, dtype=ttnn.uint32), dim=0), name="non_hw"),
    Case("argmax.tile_needs_dim", lambda d: ttnn.argmax(logits(d, layout=TILE))),
    Case(
        "argmax.sub_core_grids_ranges",
        lambda d: ttnn.argmax(
            logits(d), dim=-1, sub_core_grids=grid(((0, 0), (1, 0)), ((0, 1), (1, 1)), ((0, 2), (1, 2)))
        ),
    ),
    Case("argmax.sub_core_grids_in_device", lambda d: ttnn.argmax(logits(d), sub_core_grids=past_grid(d))),
]

ARGMAX_CONTROLS = [
    Control(AM, greedy),
    Control(AM, lambda d: greedy(d, layout=TILE), name="greedy_tile"),
    Control(
        AM,
        lambda d: greedy(d, sub_core_grids=grid(((0, 0), (3, 0)), ((0, 1), (1, 1)))),
        name="greedy_sub_core_grids",
    ),
    Control(AM, lambda d: ttnn.argmax(logits(d)), name="all_elements"),
    Control(AM, lambda d: ttnn.argmax(ints(d, dtype=ttnn.uint16), dim=3), name="row_major_uint16"),
    Control(AM, lambda d: ttnn.argmax(logits(d), dim=-2), name="row_major_h_via_tile"),
    Control(AM, lambda d: ttnn.argmax(logits(d, layout=TILE, dtype=ttnn.float32), dim=2), name="tile_h"),
    Control(AM, argmax_nc, name="non_hw_dim"),
    Control(AM, lambda d: ttnn.argmax(logits(d, (64,), layout=TILE), dim=0), name="rank1_tile"),
    Control(AM, argmax_scalar, name="scalar"),
    Control(AM, argmax_empty, name="zero_volume"),
]


# --- topk --------------------------------------------------------------------------------------------

TK = "ttnn.topk"


def scores(d, shape=SHAPE, *, dtype=None, layout=TILE, memory_config=None):
    return dev(d, shape, dtype=dtype, layout=layout, memory_config=memory_config)


def labels(d, shape=SHAPE, *, dtype=ttnn.uint32, layout=TILE):
    data = (torch.arange(shape[-1]) + 100).expand(shape).contiguous()
    return dev(d, shape, data=data, dtype=dtype, layout=layout)


def moe_router(d):
    """MoE routing (tttv2_blocks.moe): top k+1 of (1, 1, rows, experts) bfloat16 logits into L1."""
    values, indices = ttnn.topk(scores(d), 3, dim=-1, memory_config=ttnn.L1_MEMORY_CONFIG)
    assert tuple(values.shape) == (1, 1, 32, 3) and values.dtype == ttnn.bfloat16
    assert indices.dtype == ttnn.uint16 and values.layout == TILE


def topk_fp32(d):
    _, indices = ttnn.topk(scores(d, dtype=ttnn.float32), 4)
    assert indices.dtype == ttnn.uint32  # topk_utils.cpp: is_uint32_index_required


def topk_labels(d):
    _, picked = ttnn.topk(scores(d), 4, indices_tensor=labels(d))
    assert picked.dtype == ttnn.uint32
    assert int(ttnn.to_torch(ttnn.get_device_tensors(picked)[0]).to(torch.int64).min()) >= 100


def topk_k0(d):
    values, indices = ttnn.topk(scores(d), 0)
    assert tuple(values.shape) == (1, 1, 32, 0) and indices.dtype == ttnn.bfloat16


def topk_scalar(d):
    values, indices = ttnn.topk(scalar(d), 1)
    assert tuple(values.shape) == () and indices.dtype == ttnn.uint16


TOPK_CASES = [
    Case("topk.on_device", lambda d: ttnn.topk(host(layout=TILE), 4)),
    Case("topk.dim_range", lambda d: ttnn.topk(scores(d), 4, dim=4)),
    Case("topk.dim_range", lambda d: ttnn.topk(scalar(d), 1, dim=1), name="scalar"),
    Case("topk.k_le_dim", lambda d: ttnn.topk(scores(d), 65)),
    Case("topk.k_le_dim", lambda d: ttnn.topk(scores(d), 33, dim=-2), name="dim_h"),
    Case("topk.k_le_dim", lambda d: ttnn.topk(scalar(d), 2), name="scalar"),
    Case("topk.indices_shape", lambda d: ttnn.topk(scores(d), 4, indices_tensor=labels(d, (1, 1, 32, 32)))),
    Case("topk.indices_last_dim", lambda d: ttnn.topk(scores(d), 4, dim=2, indices_tensor=labels(d))),
    Case("topk.output_interleaved", lambda d: ttnn.topk(scores(d), 4, memory_config=l1_height_sharded())),
    Case(
        "topk.output_interleaved",
        lambda d: ttnn.topk(scores(d, memory_config=l1_height_sharded()), 4),
        name="sharded_input_default_output",
    ),
    Case("topk.input_layout", lambda d: ttnn.topk(scores(d, layout=RM), 4)),
    Case("topk.input_dtype", lambda d: ttnn.topk(scores(d, dtype=ttnn.bfloat4_b), 4)),
    Case("topk.input_dtype", lambda d: ttnn.topk(ints(d, layout=TILE), 4), name="int32"),
    Case("topk.stable_no_indices", lambda d: ttnn.topk(scores(d), 4, indices_tensor=labels(d), stable=True)),
    Case("topk.indices_layout", lambda d: ttnn.topk(scores(d), 4, indices_tensor=labels(d, layout=RM))),
    Case(
        "topk.indices_dtype",
        lambda d: ttnn.topk(scores(d), 4, indices_tensor=labels(d, dtype=ttnn.bfloat16)),
    ),
    Case(
        "topk.indices_fp32_needs_32bit",
        lambda d: ttnn.topk(scores(d, dtype=ttnn.float32), 4, indices_tensor=labels(d, dtype=ttnn.uint16)),
    ),
    Case(
        "topk.indices_width",
        lambda d: ttnn.topk(
            scores(d, (1, 1, 32, 65536)), 4, indices_tensor=labels(d, (1, 1, 32, 65536), dtype=ttnn.uint16)
        ),
    ),
    Case("topk.sub_core_grids_in_device", lambda d: ttnn.topk(scores(d), 4, sub_core_grids=past_grid(d))),
]

TOPK_CONTROLS = [
    Control(TK, moe_router),
    Control(
        TK, lambda d: ttnn.topk(scores(d, dtype=ttnn.bfloat8_b), 32, largest=False), name="bfp8_smallest"
    ),
    Control(TK, lambda d: ttnn.topk(scores(d, (1, 1, 64, 64)), 5, dim=-2), name="dim_h"),
    Control(TK, lambda d: ttnn.topk(scores(d, (32, 100)), 7), name="rank2_unaligned"),
    Control(TK, topk_fp32, name="fp32_uint32_indices"),
    Control(TK, topk_labels, name="indices_tensor"),
    Control(
        TK,
        lambda d: ttnn.topk(scores(d), 4, indices_tensor=labels(d, dtype=ttnn.uint16)),
        name="uint16_indices_tensor",
    ),
    Control(
        TK, lambda d: ttnn.topk(scores(d), 4, stable=True, sub_core_grids=grid(((0, 0), (3, 1)))), name="grid"
    ),
    Control(TK, topk_k0, name="k0"),
    Control(TK, topk_scalar, name="scalar"),
]

CASES = ARGMAX_CASES + TOPK_CASES
CONTROLS = ARGMAX_CONTROLS + TOPK_CONTROLS
