"""Emulated head split/merge ops of ``ttnn.experimental``: ``nlp_create_qkv_heads[_decode]`` and
``nlp_concat_heads[_decode]``.

The fused QKV row layout is ``[q heads | k heads | v heads]``, each head ``head_dim`` wide.
Acceptance rules (``create_heads.*``, ``create_heads_decode.*``, ``concat_heads.*``,
``concat_heads_decode.*``) mirror the validate of the tt-metal device operations of the same names.
"""

from __future__ import annotations

import torch

from ._memory import CoreCoord, CoreRangeSet, MemoryConfig, ShardSpec, num_cores_to_corerangeset
from ._op import fail, new_tensor, record, require_tensor, shard_map
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import TILE_SIZE, BufferType, DataType, Layout, ShardOrientation, TensorMemoryLayout

_TM_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B)
_T = "ttnn/cpp/ttnn/operations/experimental/transformer/"

_CH = "ttnn.experimental.nlp_create_qkv_heads"
_CH_SRC = (
    _T
    + "nlp_create_qkv_heads/device/nlp_create_qkv_heads_device_operation.cpp: validate_on_program_cache_miss"
)
_CH_WRAP = _T + "nlp_create_qkv_heads/nlp_create_qkv_heads.cpp: nlp_create_qkv_heads"
R_CH_DEVICE = rule("create_heads.on_device", _CH, "input (and input_kv) on device", _CH_SRC)
R_CH_DTYPE = rule("create_heads.dtype", _CH, "input dtype FLOAT32, BFLOAT16 or BFLOAT8_B", _CH_SRC)
R_CH_TILE = rule("create_heads.tile_layout", _CH, "input layout TILE", _CH_SRC)
R_CH_DIM1 = rule("create_heads.dim1_one", _CH, "input padded shape[1] == 1", _CH_SRC)
R_CH_OUT = rule(
    "create_heads.output_interleaved", _CH, "interleaved input: memory_config is INTERLEAVED", _CH_SRC
)
R_CH_KV_DTYPE = rule("create_heads.kv_dtype", _CH, "input_kv dtype equals the input's", _CH_SRC)
R_CH_KV_TILE = rule("create_heads.kv_tile_layout", _CH, "input_kv layout TILE", _CH_SRC)
R_CH_KV_SHAPE = rule(
    "create_heads.kv_shape", _CH, "input_kv batch and seq equal the input's, its shape[1] == 1", _CH_SRC
)
R_CH_WIDTH = rule(
    "create_heads.width_splits",
    _CH,
    "input width % (num_heads + 2 * num_kv_heads) == 0 (with input_kv: q width % num_heads, kv width % "
    "2 * num_kv_heads, equal head dims)",
    _CH_WRAP,
)
not_mirrored(
    "create_heads.seq_tile_aligned",
    _CH,
    "input padded shape[2] % 32 == 0",
    "implied by create_heads.tile_layout: a TILE tensor's padded height is a multiple of 32",
)
not_mirrored(
    "create_heads.sharded_input",
    _CH,
    "sharded input: shard height, ROW_MAJOR orientation, heads per core, sharded non-WIDTH output, "
    "transpose_k_heads=False, input_kv sharded alike",
    "sharded inputs are not modelled (NotImplementedError); TTTv2 passes interleaved tensors",
)

_CHD = "ttnn.experimental.nlp_create_qkv_heads_decode"
_CHD_SRC = (
    _T + "nlp_create_qkv_heads_decode/device/nlp_create_qkv_heads_decode_device_operation.cpp: "
    "validate_on_program_cache_miss"
)
R_CHD_DEVICE = rule("create_heads_decode.on_device", _CHD, "input_tensor on device", _CHD_SRC)
R_CHD_DTYPE = rule("create_heads_decode.dtype", _CHD, "input_tensor dtype FLOAT32 or BFLOAT16", _CHD_SRC)
R_CHD_TILE = rule("create_heads_decode.tile_layout", _CHD, "input_tensor layout TILE", _CHD_SRC)
R_CHD_WIDTH_TILE = rule("create_heads_decode.width_tile", _CHD, "input_tensor shape[3] % 32 == 0", _CHD_SRC)
R_CHD_USERS = rule("create_heads_decode.batch_max", _CHD, "users (input_tensor shape[2]) <= 32", _CHD_SRC)
R_CHD_LEAD = rule(
    "create_heads_decode.leading_dims", _CHD, "input_tensor shape[0] == shape[1] == 1", _CHD_SRC
)
R_CHD_WIDTH_SHARDED = rule(
    "create_heads_decode.input_width_sharded", _CHD, "a sharded input_tensor is WIDTH_SHARDED", _CHD_SRC
)
not_mirrored(
    "create_heads_decode.input_shard_height",
    _CHD,
    "a sharded input's shard height == physical volume / padded width",
    "implied by tensor creation: a WIDTH_SHARDED tensor's shard height must equal its physical height "
    "(ttnn/core/tensor/tensor_spec.cpp: validate_shard_spec_with_tensor_shape; emulator "
    "_sharding.validate_shard_spec), "
    "and create_heads_decode.input_width_sharded admits only WIDTH_SHARDED inputs",
)
R_CHD_ORIENT = rule(
    "create_heads_decode.input_shard_orientation",
    _CHD,
    "a sharded input's orientation is ROW_MAJOR",
    _CHD_SRC,
)
R_CHD_PARTIAL = rule(
    "create_heads_decode.no_partial_heads",
    _CHD,
    "overlap_qk_coregrid=False: head_dim % shard width == 0",
    _CHD_SRC,
)
R_CHD_OVERLAP = rule(
    "create_heads_decode.interleaved_needs_overlap",
    _CHD,
    "interleaved input: overlap_qk_coregrid is True",
    _CHD_SRC,
)
R_CHD_OUT = rule(
    "create_heads_decode.output_height_sharded", _CHD, "memory_config is HEIGHT_SHARDED", _CHD_SRC
)
R_CHD_HEADS = rule("create_heads_decode.heads_max", _CHD, "num_heads <= 32", _CHD_SRC)
R_CHD_GQA = rule("create_heads_decode.heads_ge_kv", _CHD, "num_heads >= num_kv_heads", _CHD_SRC)
R_CHD_CORES = rule(
    "create_heads_decode.output_cores",
    _CHD,
    "memory_config grid has >= users cores (>= 2 * users with overlap_qk_coregrid=False)",
    _CHD_SRC,
)
R_CHD_SPLIT = rule(
    "create_heads_decode.width_splits",
    _CHD,
    "input width % (num_heads + 2 * num_kv_heads) == 0",
    _T + "nlp_create_qkv_heads_decode/nlp_create_qkv_heads_decode.cpp: invoke",
)
not_mirrored(
    "create_heads_decode.batch_offset_slice_size",
    _CHD,
    "batch_offset and slice_size come together; batch_offset is a 1-element tensor",
    "batch_offset / slice_size are not modelled (NotImplementedError)",
)

_CC = "ttnn.experimental.nlp_concat_heads"
_CC_SRC = _T + "nlp_concat_heads/device/nlp_concat_heads_device_operation.cpp: validate_on_program_cache_miss"
R_CC_DEVICE = rule("concat_heads.on_device", _CC, "input_tensor on device", _CC_SRC)
R_CC_DTYPE = rule("concat_heads.dtype", _CC, "input_tensor dtype FLOAT32, BFLOAT16 or BFLOAT8_B", _CC_SRC)
R_CC_TILE = rule("concat_heads.tile_layout", _CC, "input_tensor layout TILE", _CC_SRC)
R_CC_OUT = rule(
    "concat_heads.output_interleaved", _CC, "interleaved input: memory_config is INTERLEAVED", _CC_SRC
)
not_mirrored(
    "concat_heads.sharded_input",
    _CC,
    "sharded input: not WIDTH_SHARDED, shard width == padded width, whole heads per shard, output not HEIGHT_SHARDED",
    "sharded inputs are not modelled (NotImplementedError); TTTv2 passes interleaved tensors",
)

_CCD = "ttnn.experimental.nlp_concat_heads_decode"
_CCD_SRC = (
    _T
    + "nlp_concat_heads_decode/device/nlp_concat_heads_decode_device_operation.cpp: validate_on_program_cache_miss"
)
_CCD_PRIM = (
    _T
    + "nlp_concat_heads_decode/device/nlp_concat_heads_decode_device_operation.cpp: prim::nlp_concat_heads_decode"
)
R_CCD_DEVICE = rule("concat_heads_decode.on_device", _CCD, "input_tensor on device", _CCD_SRC)
R_CCD_DTYPE = rule("concat_heads_decode.dtype", _CCD, "input_tensor dtype FLOAT32 or BFLOAT16", _CCD_SRC)
R_CCD_TILE = rule("concat_heads_decode.tile_layout", _CCD, "input_tensor layout TILE", _CCD_SRC)
R_CCD_SEQ = rule(
    "concat_heads_decode.seq_one", _CCD, 'input padded shape[0] == 1 ("seqlen=1 for decode")', _CCD_SRC
)
R_CCD_USERS = rule("concat_heads_decode.batch_max", _CCD, "input padded shape[1] (users) <= 32", _CCD_SRC)
# The 0.81.1 wheel's check is "padded heads must be a multiple of TILE_HEIGHT (32), got {}" (newer
# sources: == 32); a TILE tensor's padded dim 2 always is, so concat_heads_decode.tile_layout implies it.
not_mirrored(
    "concat_heads_decode.padded_heads",
    _CCD,
    "input padded shape[2] % 32 == 0 (0.81.1; newer tt-metal: == 32)",
    "implied by concat_heads_decode.tile_layout in the 0.81.1 build (padded heads are a multiple of 32); "
    "the newer == 32 is not in that build, so 64 padded heads are accepted as there",
)
R_CCD_NUM_HEADS = rule("concat_heads_decode.num_heads", _CCD, "num_heads <= input padded shape[2]", _CCD_SRC)
R_CCD_SHARDED = rule("concat_heads_decode.input_sharded", _CCD, "input_tensor is sharded", _CCD_SRC)
R_CCD_HEIGHT = rule(
    "concat_heads_decode.input_height_sharded", _CCD, "input_tensor is HEIGHT_SHARDED", _CCD_SRC
)
R_CCD_SHARD = rule(
    "concat_heads_decode.input_shard_shape",
    _CCD,
    "shard shape == [padded shape[-2], padded shape[-1]]",
    _CCD_SRC,
)
R_CCD_CORES = rule("concat_heads_decode.input_cores", _CCD, "input shard grid num_cores == users", _CCD_SRC)
R_CCD_SUBGRID = rule(
    "concat_heads_decode.sub_core_grids_required",
    _CCD,
    "an input shard grid of several ranges or not starting at (0, 0) runs on sub-core grids: sub_core_grids "
    'must be given ("Subcoregrids must be provided if on_subcoregrids is true")',
    _CCD_SRC + "; on_subcoregrids from " + _CCD_PRIM,
)
R_CCD_SUBGRID_CORES = rule(
    "concat_heads_decode.sub_core_grids_cores", _CCD, "sub_core_grids has >= num_heads cores", _CCD_SRC
)


def _same_values(dtype: DataType) -> bool:
    """A head split / merge of ``dtype`` data stores the values it reads: rounding bfloat16 or float32
    values to their own dtype is the identity, so the move skips it (block floats are rounded again)."""
    return dtype in (DataType.BFLOAT16, DataType.FLOAT32)


def _moved(op: str, move, input_tensor: Tensor, memory_config) -> Tensor:
    """The TILE output of ``move`` applied to every shard of ``input_tensor``, in its dtype."""
    return new_tensor(
        op,
        shard_map(move, input_tensor),
        input_tensor.dtype,
        Layout.TILE,
        input_tensor.device(),
        memory_config,
        already_rounded=_same_values(input_tensor.dtype),
    )


def _own(x: torch.Tensor) -> torch.Tensor:
    """``x`` contiguous and in its own storage: an op's output never aliases its input's buffer."""
    x = x.contiguous()
    return x.clone() if x._base is not None else x


def _on_device(op: str, name: str, tensor, rule_) -> None:
    require_tensor(op, name, tensor)
    check(tensor.device() is not None, rule_, f"{name} is on host")


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


def _split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """(b, 1, s, heads*head_dim) -> (b, heads, s, head_dim)."""
    b, _, s, _ = x.shape
    return x.reshape(b, s, heads, head_dim).permute(0, 2, 1, 3).contiguous()


def nlp_create_qkv_heads(
    input: Tensor,  # noqa: A002 - the real parameter name
    input_kv: Tensor | None = None,
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    transpose_k_heads: bool = True,
    kv_tied: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensors=None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``(b, 1, s, (nq + 2*nkv) * head_dim)`` into ``q (b, nq, s, hd)``, ``k``, ``v (b, nkv, s, hd)``.

    ``k`` is ``(b, nkv, hd, s)`` unless ``transpose_k_heads=False``. With ``input_kv`` the input holds
    Q only and ``input_kv`` holds ``[k | v]``; with ``kv_tied`` one K section doubles as V.
    """
    op = _CH
    if output_tensors is not None:
        fail(op, "output_tensors is not modelled by the emulator", NotImplementedError)
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    kv_sections = 1 if kv_tied else 2
    if input_kv is None:
        check(
            input.padded_shape[-1] % (num_heads + kv_sections * num_kv_heads) == 0,
            R_CH_WIDTH,
            f"input width {input.padded_shape[-1]}, {num_heads} q + {kv_sections}x{num_kv_heads} kv heads",
        )
    else:
        q_ok = input.padded_shape[-1] % num_heads == 0
        kv_ok = input_kv.padded_shape[-1] % (kv_sections * num_kv_heads) == 0
        same = (
            q_ok
            and kv_ok
            and input.padded_shape[-1] // num_heads
            == input_kv.padded_shape[-1] // (kv_sections * num_kv_heads)
        )
        check(
            same,
            R_CH_WIDTH,
            f"input width {input.padded_shape[-1]} / {num_heads} heads, input_kv width "
            f"{input_kv.padded_shape[-1]} / {kv_sections}x{num_kv_heads} heads",
        )
    _on_device(op, "input", input, R_CH_DEVICE)
    check(input.dtype in _TM_DTYPES, R_CH_DTYPE, f"input dtype is {input.dtype.name}")
    check(input.layout == Layout.TILE, R_CH_TILE, f"input layout is {input.layout.name}")
    if len(input.shape) != 4:  # emulator precondition: the op reads four dims
        fail(op, f"input must be [batch, 1, seq, width], got {list(input.shape)}")
    check(input.padded_shape[1] == 1, R_CH_DIM1, f"input shape {list(input.shape)}")
    if input.is_sharded():
        fail(
            op,
            "input: sharded inputs are not modelled by the emulator; pass an interleaved tensor",
            NotImplementedError,
        )
    _check_memory_config(op, memory_config)
    out_config = memory_config or input.memory_config()
    check(
        out_config.memory_layout == TensorMemoryLayout.INTERLEAVED,
        R_CH_OUT,
        f"memory_config is {out_config.memory_layout.name}",
    )
    if input_kv is not None:
        _on_device(op, "input_kv", input_kv, R_CH_DEVICE)
        check(
            input_kv.dtype == input.dtype,
            R_CH_KV_DTYPE,
            f"input_kv {input_kv.dtype.name}, input {input.dtype.name}",
        )
        check(input_kv.layout == Layout.TILE, R_CH_KV_TILE, f"input_kv layout is {input_kv.layout.name}")
        if len(input_kv.shape) != 4:
            fail(op, f"input_kv must be [batch, 1, seq, width], got {list(input_kv.shape)}")
        kv_p, q_p = input_kv.padded_shape, input.padded_shape
        check(
            kv_p[0] == q_p[0] and kv_p[1] == 1 and kv_p[2] == q_p[2],
            R_CH_KV_SHAPE,
            f"input_kv {list(input_kv.shape)}, input {list(input.shape)}",
        )
        if input_kv.is_sharded():
            fail(op, "input_kv: sharded inputs are not modelled by the emulator", NotImplementedError)
    head_dim = (
        input.shape[-1] // num_heads
        if input_kv is not None
        else input.shape[-1] // (num_heads + kv_sections * num_kv_heads)
    )
    if head_dim % TILE_SIZE:
        # The device pads head_dim to a tile in its output shape; that padding is not modelled.
        fail(
            op,
            f"head_dim {head_dim} that is not a multiple of {TILE_SIZE} is not modelled",
            NotImplementedError,
        )
    q_width = num_heads * head_dim
    kv_width = num_kv_heads * head_dim

    def compute(x, x_kv):
        source = x if x_kv is None else x_kv
        offset = q_width if x_kv is None else 0
        q = _split_heads(x[..., :q_width], num_heads, head_dim)
        k = _split_heads(source[..., offset : offset + kv_width], num_kv_heads, head_dim)
        v_start = offset if kv_tied else offset + kv_width
        v = _split_heads(source[..., v_start : v_start + kv_width], num_kv_heads, head_dim)
        if transpose_k_heads:
            k = k.transpose(-1, -2).contiguous()
        return q, k, v

    per_device = shard_map(compute, input, input_kv)
    device = input.device()
    outputs = tuple(
        new_tensor(op, [d[i] for d in per_device], input.dtype, Layout.TILE, device, out_config)
        for i in range(3)
    )
    record(op, device, [input, input_kv], list(outputs))
    return outputs


def nlp_create_qkv_heads_decode(
    input_tensor: Tensor,
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    output_tensors=None,
    overlap_qk_coregrid: bool | None = True,
    batch_offset: Tensor | None = None,
    slice_size: int | None = None,
    memory_config: MemoryConfig | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Split decode QKV ``(1, 1, batch, (nq + 2*nkv) * head_dim)`` into per-user heads.

    Returns ``q (1, batch, nq, head_dim)``, ``k`` and ``v (1, batch, nkv, head_dim)``, each
    HEIGHT_SHARDED one user per core with the heads padded to 32 rows. ``memory_config`` must be
    HEIGHT_SHARDED (default ``ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG``); its grid (or the device grid)
    supplies the cores. Input: bfloat16/float32 TILE, WIDTH_SHARDED or interleaved, batch <= 32.
    """
    op = _CHD
    if output_tensors is not None or batch_offset is not None or slice_size is not None:
        fail(
            op,
            "output_tensors, batch_offset and slice_size are not modelled by the emulator",
            NotImplementedError,
        )
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    shape = input_tensor.shape
    check(
        shape[-1] % (num_heads + 2 * num_kv_heads) == 0,
        R_CHD_SPLIT,
        f"input width {shape[-1]}, {num_heads} q + 2x{num_kv_heads} kv heads",
    )
    _on_device(op, "input_tensor", input_tensor, R_CHD_DEVICE)
    check(
        input_tensor.dtype in (DataType.BFLOAT16, DataType.FLOAT32),
        R_CHD_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}",
    )
    check(
        input_tensor.layout == Layout.TILE, R_CHD_TILE, f"input_tensor layout is {input_tensor.layout.name}"
    )
    if len(shape) != 4:  # emulator precondition
        fail(op, f"input_tensor must be [1, 1, batch, width], got {list(shape)}")
    check(shape[3] % TILE_SIZE == 0, R_CHD_WIDTH_TILE, f"input_tensor shape {list(shape)}")
    batch = shape[2]
    check(batch <= 32, R_CHD_USERS, f"{batch} users (input_tensor shape {list(shape)})")
    check(shape[0] == 1 and shape[1] == 1, R_CHD_LEAD, f"input_tensor shape {list(shape)}")
    head_dim = shape[-1] // (num_heads + 2 * num_kv_heads)
    if head_dim % TILE_SIZE:
        fail(
            op,
            f"head_dim {head_dim} that is not a multiple of {TILE_SIZE} is not modelled",
            NotImplementedError,
        )
    if input_tensor.is_sharded():
        config = input_tensor.memory_config()
        check(
            config.memory_layout == TensorMemoryLayout.WIDTH_SHARDED,
            R_CHD_WIDTH_SHARDED,
            f"input_tensor is {config.memory_layout.name}",
        )
        # shard height == physical height: see create_heads_decode.input_shard_height (not mirrored)
        check(
            config.shard_spec.orientation == ShardOrientation.ROW_MAJOR,
            R_CHD_ORIENT,
            f"orientation {config.shard_spec.orientation.name}",
        )
        if not overlap_qk_coregrid:
            check(
                head_dim % config.shard_spec.shape[1] == 0,
                R_CHD_PARTIAL,
                f"head_dim {head_dim}, shard width {config.shard_spec.shape[1]}",
            )
    else:
        check(
            bool(overlap_qk_coregrid),
            R_CHD_OVERLAP,
            "overlap_qk_coregrid=False with an interleaved input_tensor",
        )
    _check_memory_config(op, memory_config)
    memory_config = memory_config or MemoryConfig(TensorMemoryLayout.HEIGHT_SHARDED, BufferType.L1)
    check(
        memory_config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED,
        R_CHD_OUT,
        f"memory_config is {memory_config.memory_layout.name}",
    )
    check(num_heads <= 32, R_CHD_HEADS, f"num_heads={num_heads}")
    check(num_heads >= num_kv_heads, R_CHD_GQA, f"num_heads={num_heads}, num_kv_heads={num_kv_heads}")
    device = input_tensor.device()
    grid = device.compute_with_storage_grid_size()
    available = (
        memory_config.shard_spec.grid.num_cores() if memory_config.shard_spec is not None else grid.x * grid.y
    )
    needed = batch if overlap_qk_coregrid else 2 * batch
    check(available >= needed, R_CHD_CORES, f"memory_config grid has {available} cores, {needed} needed")
    cores = num_cores_to_corerangeset(needed, grid, row_wise=True).cores()
    q_grid = CoreRangeSet(_ranges(cores[:batch]))
    k_grid = q_grid if overlap_qk_coregrid else CoreRangeSet(_ranges(cores[batch:]))
    rows = TILE_SIZE  # heads padded to one tile of rows
    q_config = MemoryConfig(
        TensorMemoryLayout.HEIGHT_SHARDED,
        BufferType.L1,
        ShardSpec(q_grid, (rows, head_dim), ShardOrientation.ROW_MAJOR),
    )
    k_config = MemoryConfig(
        TensorMemoryLayout.HEIGHT_SHARDED,
        BufferType.L1,
        ShardSpec(k_grid, (rows, head_dim), ShardOrientation.ROW_MAJOR),
    )
    q_width, kv_width = num_heads * head_dim, num_kv_heads * head_dim

    def split(x, start, heads):
        return _own(x[0, 0, :, start : start + heads * head_dim].reshape(1, batch, heads, head_dim))

    q = _moved(op, lambda x: split(x, 0, num_heads), input_tensor, q_config)
    k = _moved(op, lambda x: split(x, q_width, num_kv_heads), input_tensor, k_config)
    v = _moved(op, lambda x: split(x, q_width + kv_width, num_kv_heads), input_tensor, q_config)
    record(op, device, [input_tensor], [q, k, v], cores_used=needed)
    return q, k, v


def _cores_in_subcoregrids(start, count: int, sub_core_grids: CoreRangeSet) -> CoreRangeSet:
    """``count`` cores of ``sub_core_grids`` (ranges in order, each row by row) from ``start`` on, as
    ``num_cores_to_corerangeset_in_subcoregrids(start, count, sub_core_grids, row_wise=True)``."""
    cores = [tuple(core) for core in sub_core_grids.cores()]
    first = cores.index(tuple(start)) if tuple(start) in cores else 0
    chosen = cores[first : first + count]
    if len(chosen) < count:
        raise ValueError(f"{count} cores from {tuple(start)} do not fit sub_core_grids {sub_core_grids}")
    return CoreRangeSet(_ranges([CoreCoord(*core) for core in chosen]))


def _ranges(cores):
    """Row runs of consecutive cores as CoreRanges (how tt-metal's core-range helpers group them)."""
    from ._memory import CoreRange  # noqa: PLC0415

    runs: list[list] = []
    for core in cores:
        if runs and core.y == runs[-1][-1].y and core.x == runs[-1][-1].x + 1:
            runs[-1].append(core)
        else:
            runs.append([core])
    return [CoreRange(run[0], run[-1]) for run in runs]


def nlp_concat_heads(input_tensor: Tensor, *, memory_config: MemoryConfig | None = None) -> Tensor:
    """Merge heads: ``(b, heads, s, head_dim)`` -> ``(b, 1, s, heads * head_dim)``."""
    op = _CC
    _on_device(op, "input_tensor", input_tensor, R_CC_DEVICE)
    check(input_tensor.dtype in _TM_DTYPES, R_CC_DTYPE, f"input_tensor dtype is {input_tensor.dtype.name}")
    check(input_tensor.layout == Layout.TILE, R_CC_TILE, f"input_tensor layout is {input_tensor.layout.name}")
    if len(input_tensor.shape) != 4:  # emulator precondition
        fail(op, f"input_tensor must be [batch, heads, seq, head_dim], got {list(input_tensor.shape)}")
    if input_tensor.shape[-1] % TILE_SIZE:
        # The device would concatenate the tile-padded head rows; that padding is not modelled.
        fail(
            op,
            f"head_dim {input_tensor.shape[-1]} that is not a multiple of {TILE_SIZE} is not modelled",
            NotImplementedError,
        )
    if input_tensor.is_sharded():
        fail(
            op,
            "sharded inputs are not modelled by the emulator; pass an interleaved tensor",
            NotImplementedError,
        )
    _check_memory_config(op, memory_config)
    out_config = memory_config or input_tensor.memory_config()
    check(
        out_config.memory_layout == TensorMemoryLayout.INTERLEAVED,
        R_CC_OUT,
        f"memory_config is {out_config.memory_layout.name}",
    )
    b, heads, s, head_dim = input_tensor.shape

    def merge(x):
        return _own(x.permute(0, 2, 1, 3).reshape(b, 1, s, heads * head_dim))

    device = input_tensor.device()
    out = _moved(op, merge, input_tensor, out_config)
    record(op, device, [input_tensor], [out])
    return out


def nlp_concat_heads_decode(
    input_tensor: Tensor,
    *,
    num_heads: int,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    sub_core_grids: CoreRangeSet | None = None,
) -> Tensor:
    """Merge decode heads: ``(1, batch, heads[32], head_dim)`` -> ``(1, 1, batch, num_heads * head_dim)``.

    The input must be HEIGHT_SHARDED one user per core with 32-row shards; the output is
    WIDTH_SHARDED, one head per core (the real op ignores ``memory_config``, so does this one).
    The emulator keeps the logical batch where the real op reports 32 rows (see divergences).
    """
    op = _CCD
    if output_tensor is not None:
        fail(op, "output_tensor is not modelled by the emulator", NotImplementedError)
    _on_device(op, "input_tensor", input_tensor, R_CCD_DEVICE)
    check(
        input_tensor.dtype in (DataType.BFLOAT16, DataType.FLOAT32),
        R_CCD_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}",
    )
    check(
        input_tensor.layout == Layout.TILE, R_CCD_TILE, f"input_tensor layout is {input_tensor.layout.name}"
    )
    shape, padded = input_tensor.shape, input_tensor.padded_shape
    if len(shape) != 4:  # emulator precondition
        fail(op, f"input_tensor must be [1, batch, heads, head_dim], got {list(shape)}")
    check(padded[0] == 1, R_CCD_SEQ, f"input_tensor shape {list(shape)}")
    check(padded[1] <= 32, R_CCD_USERS, f"{padded[1]} users")
    check(num_heads <= padded[2], R_CCD_NUM_HEADS, f"num_heads={num_heads}, padded heads {padded[2]}")
    config = input_tensor.memory_config()
    check(input_tensor.is_sharded(), R_CCD_SHARDED, f"input_tensor is {config.memory_layout.name}")
    check(
        config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED,
        R_CCD_HEIGHT,
        f"input_tensor is {config.memory_layout.name}",
    )
    spec = config.shard_spec
    check(
        tuple(spec.shape) == (padded[2], padded[3]),
        R_CCD_SHARD,
        f"shard shape {list(spec.shape)}, padded [-2:] {[padded[2], padded[3]]}",
    )
    batch, head_dim = shape[1], shape[3]
    check(
        spec.grid.num_cores() == padded[1], R_CCD_CORES, f"{spec.grid.num_cores()} cores, {padded[1]} users"
    )
    ranges = spec.grid.ranges()
    on_subcoregrids = len(ranges) > 1 or tuple(ranges[0].start) != (0, 0) or sub_core_grids is not None
    device = input_tensor.device()
    if on_subcoregrids:
        check(
            sub_core_grids is not None,
            R_CCD_SUBGRID,
            f"input shard grid {spec.grid} without sub_core_grids",
        )
        check(
            sub_core_grids.num_cores() >= num_heads,
            R_CCD_SUBGRID_CORES,
            f"sub_core_grids has {sub_core_grids.num_cores()} cores, num_heads={num_heads}",
        )
        grid = _cores_in_subcoregrids(ranges[0].start, num_heads, sub_core_grids)
    else:
        grid = num_cores_to_corerangeset(num_heads, device.compute_with_storage_grid_size(), row_wise=True)
    out_config = MemoryConfig(
        TensorMemoryLayout.WIDTH_SHARDED,
        BufferType.L1,
        ShardSpec(grid, (TILE_SIZE, head_dim), ShardOrientation.ROW_MAJOR),
    )

    def merge(x):
        return _own(x[0, :, :num_heads, :].reshape(1, 1, batch, num_heads * head_dim))

    out = _moved(op, merge, input_tensor, out_config)
    record(op, device, [input_tensor], [out], cores_used=num_heads)
    return out


__all__: list[str] = []  # exported through ``experimental``
