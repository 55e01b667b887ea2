"""Embedding lookup, argmax/topk reductions and tensor creation (ones/zeros/full/arange)."""

from __future__ import annotations

import enum
import math

import torch

from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig
from ._op import (
    fail,
    new_tensor,
    record,
    require_on_device,
    require_tensor,
    same_device,
    shard_map,
)
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import TILE_SIZE, DataType, Layout, TensorMemoryLayout

__all__ = [
    "EmbeddingsType",
    "arange",
    "argmax",
    "embedding",
    "full",
    "full_like",
    "ones",
    "ones_like",
    "topk",
    "zeros",
    "zeros_like",
]


class EmbeddingsType(enum.Enum):
    GENERIC = 0
    PADDED = 1
    BINARY = 2


def _check_memory_config(op: str, memory_config, *, interleaved_only: bool = False) -> None:
    if memory_config is None:
        return
    if not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    if interleaved_only and memory_config.is_sharded():
        fail(op, f"memory_config must be interleaved (DRAM or L1), got {memory_config.memory_layout.name}")


def _no_output_tensor(op: str, output_tensor) -> None:
    if output_tensor is not None:
        fail(op, "output_tensor= is not modelled by the emulator", NotImplementedError)


# --- embedding -------------------------------------------------------------------------------------

_EMB = "ttnn.embedding"
_EMB_SRC = (
    "ttnn/cpp/ttnn/operations/embedding/device/embedding_device_operation.cpp: validate_on_program_cache_miss"
)
_EMB_WRAP = "ttnn/cpp/ttnn/operations/embedding/embedding.cpp: EmbeddingOperation::invoke"
R_EMB_INDEX_DTYPE = rule(
    "embedding.index_dtype", _EMB, "input_tensor dtype is UINT32 or BFLOAT16", _EMB_SRC,
    message="Input must be UINT32 or BFLOAT16",
)  # fmt: skip
R_EMB_WEIGHT_DTYPE = rule(
    "embedding.weight_dtype", _EMB, "weight dtype is BFLOAT16", _EMB_SRC,
    message="Weights tensor must have BFLOAT16 dtype",
)  # fmt: skip
R_EMB_INDEX_INTERLEAVED = rule(
    "embedding.index_interleaved", _EMB, "input_tensor is INTERLEAVED (not sharded)", _EMB_SRC,
    message="Embedding does not currently support sharded inputs",
)  # fmt: skip
R_EMB_WEIGHT_INTERLEAVED = rule(
    "embedding.weight_interleaved", _EMB, "weight is INTERLEAVED (not sharded)", _EMB_SRC,
    message="Embedding does not currently support sharded weights",
)  # fmt: skip
R_EMB_WEIGHT_RANK = rule(
    "embedding.weight_leading_dims", _EMB, "weight, unsqueezed to 4D, has its first two dims equal to 1", _EMB_SRC,
    message="First two dimensions for the weights must be 1 but got {} and {}",
)  # fmt: skip
R_EMB_INDEX_SHAPE = rule(
    "embedding.index_shape", _EMB,
    "a ROW_MAJOR input_tensor has only its first and last dims != 1 (reshaped to (batch, 1, 1, tokens))",
    f"{_EMB_WRAP} + {_EMB_SRC}", message="Only dim 0 && 3 for the input can be non 1",
)  # fmt: skip
R_EMB_TYPECAST = rule(
    "embedding.typecast_needs_tile", _EMB,
    "dtype differing from the weight's needs TILE output (layout=TILE or a TILE weight)", _EMB_WRAP,
    message="Can only typecast output embeddings when producing TILE_LAYOUT output",
)  # fmt: skip
R_EMB_PADDED = rule(
    "embedding.padded_needs_pad_token", _EMB, "embeddings_type PADDED needs padding_idx", _EMB_SRC,
    message="Pad token must be specified when PADDED Embeddings Type is specified",
)  # fmt: skip
R_EMB_BINARY = rule(
    "embedding.binary_two_rows", _EMB, "embeddings_type BINARY needs a weight with 2 rows", _EMB_SRC,
    message="Weight tensor must have 2 embeddings for BINARY Embeddings Type",
)  # fmt: skip
R_EMB_RM_SHARDED_OUT = rule(
    "embedding.rm_sharded_output_height", _EMB, "a sharded ROW_MAJOR output is HEIGHT_SHARDED", _EMB_SRC,
    message="Embedding only supports height sharded Row Major outputs",
)  # fmt: skip
R_EMB_TILE_SHARD = rule(
    "embedding.tile_output_shard", _EMB,
    "a sharded TILE output has tile-multiple shards, tokens a multiple of the shard height and dim of the shard width",
    _EMB_SRC, message="Shard height {} must be a multiple of tile height {} to have the output tensor tilized",
)  # fmt: skip
not_mirrored(
    "embedding.pad_token_only_when_padded", _EMB, "pad_token is absent unless embeddings_type is PADDED",
    "unreachable through ttnn.embedding: padding_idx switches embeddings_type to PADDED (embedding.cpp: invoke)",
)  # fmt: skip


def _fused_tilized(in_shape, dim: int, layout, weight_layout) -> bool:
    """The wrapper's choice of the fused tilized kernel (embedding.cpp: EmbeddingOperation::invoke)."""
    if in_shape[-1] % TILE_SIZE or dim % TILE_SIZE:
        return False
    return layout == Layout.TILE if layout is not None else weight_layout == Layout.TILE


def embedding(
    input_tensor: Tensor,
    weight: Tensor,
    *,
    padding_idx: int | None = None,
    layout: Layout | None = None,
    embeddings_type: EmbeddingsType = EmbeddingsType.GENERIC,
    dtype: DataType | None = None,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """Look up rows of ``weight`` ``(vocab, dim)`` (or ``(1, 1, vocab, dim)``) for each index.

    Output shape: ``(tokens, dim)`` for a 1D input, else ``(batch, tokens, dim)`` with ``batch``
    the first and ``tokens`` the last input dim (as the real op reshapes it). Output layout
    ``layout`` (default: the weight's); dtype ``dtype`` when the output is TILE, else the weight's
    (the real op ignores ``dtype`` for ROW_MAJOR output). Rows of ``padding_idx`` come out as zeros.

    The device reads whatever memory an out-of-range index points at; the emulator raises instead.
    """
    op = _EMB
    require_on_device(op, "input_tensor", input_tensor)
    require_on_device(op, "weight", weight)
    check(
        input_tensor.dtype in (DataType.UINT32, DataType.BFLOAT16),
        R_EMB_INDEX_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}; position/token ids must be ttnn.uint32",
    )
    check(
        weight.dtype == DataType.BFLOAT16,
        R_EMB_WEIGHT_DTYPE,
        f"weight dtype is {weight.dtype.name}; store the table as ttnn.bfloat16",
    )
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    _no_output_tensor(op, output_tensor)
    check(not input_tensor.is_sharded(), R_EMB_INDEX_INTERLEAVED, "input_tensor is sharded")
    check(not weight.is_sharded(), R_EMB_WEIGHT_INTERLEAVED, "weight is sharded")
    if not isinstance(embeddings_type, EmbeddingsType):
        fail(op, f"embeddings_type must be a ttnn.EmbeddingsType, got {embeddings_type!r}", TypeError)
    weight_shape = list(weight.shape)
    if len(weight_shape) > 4:
        fail(op, f"weight must have rank <= 4, got {weight_shape}")
    padded_weight = [1] * (4 - len(weight_shape)) + weight_shape
    check(
        padded_weight[0] == 1 and padded_weight[1] == 1,
        R_EMB_WEIGHT_RANK,
        f"weight shape {weight_shape} (as 4D {padded_weight}); expected (vocab, dim) or (1, 1, vocab, dim)",
    )
    vocab, dim = padded_weight[-2], padded_weight[-1]
    if padding_idx is not None:
        embeddings_type = EmbeddingsType.PADDED
    check(
        embeddings_type != EmbeddingsType.PADDED or padding_idx is not None,
        R_EMB_PADDED,
        "embeddings_type is PADDED but padding_idx is None",
    )
    check(
        embeddings_type != EmbeddingsType.BINARY or vocab == 2,
        R_EMB_BINARY,
        f"embeddings_type is BINARY but weight has {vocab} rows",
    )
    in_shape = list(input_tensor.shape)
    if input_tensor.layout == Layout.ROW_MAJOR:
        middle = math.prod(in_shape[1:-1]) if len(in_shape) > 2 else 1
        check(middle == 1, R_EMB_INDEX_SHAPE, f"input_tensor shape is {in_shape}")
    tilized = _fused_tilized(list(input_tensor.padded_shape), dim, layout, weight.layout)
    if (
        not tilized
        and layout is None
        and weight.layout == Layout.ROW_MAJOR
        and input_tensor.padded_shape[-1] % TILE_SIZE == 0
        and dim % TILE_SIZE == 0
    ):
        check(
            dtype is None or dtype == weight.dtype,
            R_EMB_TYPECAST,
            f"dtype={dtype.name if dtype else None} with a ROW_MAJOR weight and no layout=TILE",
        )
    out_memory = memory_config or input_tensor.memory_config()
    if out_memory.is_sharded():
        _check_embedding_sharded_output(out_memory, tilized, input_tensor, dim)
    out_layout = layout or weight.layout
    out_dtype = (dtype or weight.dtype) if out_layout == Layout.TILE else weight.dtype
    device = same_device(op, input_tensor, weight)
    batch = 1 if len(in_shape) == 1 else in_shape[0]
    tokens = in_shape[-1]

    def lookup(indices: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        ids = indices.to(torch.int64).reshape(-1)
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab:
            fail(
                op,
                f"input_tensor holds index {low if low < 0 else high}, outside the vocabulary [0, {vocab})",
            )
        rows = table.reshape(vocab, dim)[ids]
        if padding_idx is not None:
            rows = torch.where((ids == padding_idx).unsqueeze(-1), torch.zeros((), dtype=rows.dtype), rows)
        return rows.reshape(tokens, dim) if len(in_shape) == 1 else rows.reshape(batch, tokens, dim)

    shards = shard_map(lookup, input_tensor, weight)
    out = new_tensor(op, shards, out_dtype, out_layout, device, out_memory)
    record(op, device, [input_tensor], [out], bytes_moved=2 * _bytes(out))
    return out


def _check_embedding_sharded_output(
    memory_config: MemoryConfig, tilized: bool, input_tensor, dim: int
) -> None:
    if not tilized:
        check(
            memory_config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED,
            R_EMB_RM_SHARDED_OUT,
            f"memory_config is {memory_config.memory_layout.name} for a ROW_MAJOR (non-tilized) output",
        )
        return
    spec = memory_config.shard_spec
    if spec is None:
        fail(_EMB, "a sharded memory_config needs a shard_spec")
    shard_h, shard_w = spec.shape
    volume = math.prod(input_tensor.padded_shape)
    check(
        shard_h % TILE_SIZE == 0
        and shard_w % TILE_SIZE == 0
        and volume % shard_h == 0
        and dim % shard_w == 0,
        R_EMB_TILE_SHARD,
        f"output shard {list(spec.shape)} for {volume} tokens of width {dim}",
    )


def _bytes(tensor: Tensor) -> int:
    from ._tensor import device_bytes  # noqa: PLC0415

    return device_bytes(tensor.shape, tensor.dtype, tensor.layout)


# --- reductions ------------------------------------------------------------------------------------

_AM = "ttnn.argmax"
_AM_WRAP = "ttnn/cpp/ttnn/operations/reduction/argmax/argmax.cpp: ttnn::argmax"
_AM_SRC = "ttnn/cpp/ttnn/operations/reduction/argmax/device/argmax_device_operation.cpp: validate_on_program_cache_miss"
_AM_SHAPE = "ttnn/cpp/ttnn/operations/reduction/argmax/device/argmax_device_operation.cpp: get_output_shape"
_REDUCE_GRID = (
    "ttnn/cpp/ttnn/operations/reduction/reduce_op_validation.cpp: validate_core_grids_within_device_grid"
)
_AM_RM_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.INT32, DataType.UINT32, DataType.UINT16)
_AM_TILE_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32)
R_AM_ON_DEVICE = rule(
    "argmax.on_device", _AM, "input_tensor is on device", _AM_WRAP, message="Input tensor must be on device",
)  # fmt: skip
R_AM_DIM = rule(
    "argmax.dim_range", _AM, "dim (when given) is in [-rank, rank - 1]", _AM_WRAP,
    message="argmax: Dimension out of range (expected to be in range of [{}, {}], but got {})",
)  # fmt: skip
R_AM_SCALAR_DIM = rule(
    "argmax.scalar_dim", _AM, "for a rank-0 input, dim (when given) is 0 or -1", _AM_WRAP,
    message="argmax: Dimension out of range for scalar tensor (expected 0 or -1, but got {})",
)  # fmt: skip
R_AM_NONZERO = rule(
    "argmax.reduced_dim_nonzero", _AM, "every reduced dim of a zero-volume input has non-zero size",
    f"{_AM_WRAP} (zero_volume_argmax) + {_AM_SHAPE}", message="Expected reduction dim {} to have non-zero size",
)  # fmt: skip
R_AM_IN_INTERLEAVED = rule(
    "argmax.input_interleaved", _AM, "input_tensor is INTERLEAVED", _AM_SRC,
    message="Only INTERLEAVED memory layout is supported for inputs, got {}",
)  # fmt: skip
R_AM_RM_DTYPE = rule(
    "argmax.row_major_dtype", _AM, "a ROW_MAJOR input is BFLOAT16, FLOAT32, INT32, UINT32 or UINT16", _AM_SRC,
    message="Only BFLOAT16, FLOAT32, INT32, UINT32, and UINT16 are supported for inputs with ROW_MAJOR layout, got {}",
)  # fmt: skip
R_AM_TILE_DTYPE = rule(
    "argmax.tile_dtype", _AM, "a TILE input is BFLOAT16 or FLOAT32", _AM_SRC,
    message="Only BFLOAT16, FLOAT32 are supported for inputs with TILE layout, got {}",
)  # fmt: skip
R_AM_OUT_INTERLEAVED = rule(
    "argmax.output_interleaved", _AM, "the output memory_config (default: the input's) is INTERLEAVED", _AM_SRC,
    message="Only INTERLEAVED memory layout is supported for outputs, got {}",
)  # fmt: skip
R_AM_RM_DIM = rule(
    "argmax.row_major_dim", _AM,
    "a ROW_MAJOR input reduces its last dim (BFLOAT16/FLOAT32 also dim -2 via TILE, or a non-HW dim via argmax_nc)",
    f"{_AM_WRAP} (should_row_major_h_via_tile, should_use_nc_path) + {_AM_SRC}",
    message="ROW_MAJOR: only argmax on the last dim is supported. Got dim={} (normalized={}), expected {}",
)  # fmt: skip
R_AM_TILE_NEEDS_DIM = rule(
    "argmax.tile_needs_dim", _AM, "a TILE input needs dim (dim=None reduces all elements of ROW_MAJOR only)",
    _AM_SRC, message="For inputs with TILE layout, dim parameter must be specified!",
)  # fmt: skip
R_AM_GRID_RANGES = rule(
    "argmax.sub_core_grids_ranges", _AM,
    "on the multi-core path (ROW_MAJOR, dim None or last) sub_core_grids has at most 2 core ranges", _AM_SRC,
    message="Multicore argmax only supports up to 2 core grid ranges, but got {} ranges",
)  # fmt: skip
R_AM_GRID_IN_DEVICE = rule(
    "argmax.sub_core_grids_in_device", _AM,
    "on the multi-core path sub_core_grids lies inside the device compute grid",
    f"{_AM_SRC} -> {_REDUCE_GRID}", message="{} {} {} must be contained in device compute grid {}",
)  # fmt: skip
for _id, _text, _why in (
    ("output_tensor", "a preallocated output_tensor is on device, UINT32, INTERLEAVED, ROW_MAJOR and "
     "page-compatible with the result", "output_tensor= is not modelled by the emulator (NotImplementedError)"),
    ("get_output_shape_dim", "get_output_shape: the reduction dim is in range",
     "unreachable: argmax.dim_range (argmax.cpp) fires first"),
    ("tile_rank", "a TILE input's padded shape has rank > 1",
     "unreachable: a TILE tensor's padded shape always has at least 2 dims on the device"),
    ("tile_aligned", "a TILE input's padded last two dims are tile multiples",
     "unreachable: true of every TILE tensor"),
    ("output_dtype", "the output dtype is UINT32", "unreachable: argmax.cpp always passes UINT32"),
    ("tile_dim", "a TILE input reduces dim H (rank-2) or W (last)",
     "unreachable: other dims of a BFLOAT16/FLOAT32 interleaved TILE input go to argmax_nc (argmax.cpp: "
     "should_use_nc_path); any other input fails tile_dtype / input_interleaved / output_interleaved first"),
    ("multicore_row_major", "the multi-core path takes ROW_MAJOR inputs",
     "unreachable: the multi-core path is chosen only for ROW_MAJOR inputs (uses_multicore_path)"),
    ("argmax_nc", "argmax_nc (non-HW dims): TILE, BFLOAT16/FLOAT32, INTERLEAVED input and output, rank >= 2",
     "unreachable: argmax.cpp routes to argmax_nc only when these hold (should_use_nc_path, to_layout TILE)"),
    ("enable_secondary_dm", "enable_secondary_dm applies only to ROW_MAJOR argmax over the last dim (or dim=None) "
     "with at least two output rows that fit L1",
     "in the 0.81.1 wheel but not in the stored tt-metal sources; a performance knob the emulator ignores"),
    ("quasar_uint32", "no UINT32 input on Quasar", "no Quasar device in the emulator catalog"),
):  # fmt: skip
    not_mirrored(f"argmax.{_id}", _AM, _text, _why)


def _grid_inside_device(grid, device) -> bool:
    size = device.compute_with_storage_grid_size()
    return all(r.end.x < size.x and r.end.y < size.y for r in grid.ranges())


def argmax(
    input_tensor: Tensor,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    sub_core_grids=None,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    enable_secondary_dm: bool | None = None,
) -> Tensor:
    """Index of the maximum along ``dim`` (first one on ties); UINT32 ROW_MAJOR interleaved output.

    ``dim=None`` reduces every element (ROW_MAJOR inputs only). ROW_MAJOR inputs of any of the five
    dtypes reduce their last dim; BFLOAT16/FLOAT32 inputs (either layout) reduce any dim, as the
    real wrapper routes dim -2 through TILE and the other dims through ``argmax_nc``.
    """
    op = _AM
    require_tensor(op, "input_tensor", input_tensor)
    check(input_tensor.device() is not None, R_AM_ON_DEVICE, "input_tensor is on host")
    _check_memory_config(op, memory_config)
    _no_output_tensor(op, output_tensor)
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        fail(op, f"dim must be None or an int, got {dim!r}", TypeError)
    shape = list(input_tensor.shape)
    rank = len(shape)
    if dim is not None and rank > 0:
        check(-rank <= dim < rank, R_AM_DIM, f"dim={dim} for rank {rank}")
    elif dim is not None:
        check(dim in (0, -1), R_AM_SCALAR_DIM, f"dim={dim} for a rank-0 input_tensor")
    device = same_device(op, input_tensor)
    out_config = memory_config or input_tensor.memory_config()
    reduced = None if dim is None or rank == 0 else dim % rank
    out_shape = [
        (1 if keepdim else None) if reduced is None or d == reduced else size for d, size in enumerate(shape)
    ]
    out_shape = [size for size in out_shape if size is not None]
    if rank == 0 or math.prod(shape) == 0:  # argmax.cpp answers these with ttnn::full, before the device op
        for d, size in enumerate(shape):
            check(
                size != 0 or (reduced is not None and d != reduced),
                R_AM_NONZERO,
                f"input_tensor shape {shape}",
            )
        target = out_shape if rank else []
        out = new_tensor(
            op,
            shard_map(lambda _x: torch.zeros(target), input_tensor),
            DataType.UINT32,
            input_tensor.layout,
            device,
            out_config,
        )
        record(op, device, [input_tensor], [out])
        return out
    layout = input_tensor.layout
    floats = input_tensor.dtype in _AM_TILE_DTYPES
    if reduced is not None and floats and not input_tensor.is_sharded() and not out_config.is_sharded():
        if reduced < rank - 2 or (reduced == rank - 2 and layout == Layout.ROW_MAJOR):
            layout = Layout.TILE  # argmax_nc / row-major-H-via-TILE: to_layout(TILE) first (argmax.cpp)
    check(
        not input_tensor.is_sharded(), R_AM_IN_INTERLEAVED, f"input_tensor is {input_tensor.memory_config()}"
    )
    if layout == Layout.ROW_MAJOR:
        check(
            input_tensor.dtype in _AM_RM_DTYPES,
            R_AM_RM_DTYPE,
            f"ROW_MAJOR input_tensor is {input_tensor.dtype.name}",
        )
    else:
        check(floats, R_AM_TILE_DTYPE, f"TILE input_tensor is {input_tensor.dtype.name}")
    check(
        not out_config.is_sharded(), R_AM_OUT_INTERLEAVED, f"memory_config is {out_config.memory_layout.name}"
    )
    if layout == Layout.ROW_MAJOR and reduced is not None:
        check(
            reduced == rank - 1,
            R_AM_RM_DIM,
            f"dim={dim} of a ROW_MAJOR {input_tensor.dtype.name} rank-{rank} input",
        )
    check(
        not (layout == Layout.TILE and dim is None), R_AM_TILE_NEEDS_DIM, "dim=None with a TILE input_tensor"
    )
    if layout == Layout.ROW_MAJOR and sub_core_grids is not None:  # the multi-core path
        count = len(sub_core_grids.ranges())
        check(count <= 2, R_AM_GRID_RANGES, f"sub_core_grids has {count} core ranges")
        check(
            _grid_inside_device(sub_core_grids, device),
            R_AM_GRID_IN_DEVICE,
            f"sub_core_grids {sub_core_grids} outside the {device.compute_with_storage_grid_size()} compute grid",
        )

    def compute(x: torch.Tensor) -> torch.Tensor:
        if dim is None:
            index = torch.argmax(x.reshape(-1))
            return index.reshape([1] * rank) if keepdim else index.reshape(())
        return torch.argmax(x, dim=reduced, keepdim=keepdim)

    shards = shard_map(compute, input_tensor)
    out = new_tensor(op, shards, DataType.UINT32, Layout.ROW_MAJOR, device, out_config)
    record(op, device, [input_tensor], [out], flops=input_tensor.padded_shape.volume(), cores_used=1)
    return out


_TK = "ttnn.topk"
_TK_WRAP = "ttnn/cpp/ttnn/operations/reduction/topk/topk.cpp: ttnn::topk"
_TK_SRC = (
    "ttnn/cpp/ttnn/operations/reduction/topk/device/topk_device_operation.cpp: validate_on_program_cache_miss"
)
_UINT16_MAX = 65535
R_TK_ON_DEVICE = rule(
    "topk.on_device", _TK, "input_tensor is on device", _TK_WRAP, message="Input tensor must be on device",
)  # fmt: skip
R_TK_DIM = rule(
    "topk.dim_range", _TK, "dim is in [-rank, rank - 1] (0 or -1 for a rank-0 input)", _TK_WRAP,
    message="Dimension for topk is out of range (expected to be in range of [{}, {}])",
)  # fmt: skip
R_TK_K = rule(
    "topk.k_le_dim", _TK, "k is at most the size of dim (at most 1 for a rank-0 input)", _TK_WRAP,
    message="K cannot be larger than the dimension size! K={}, dimension size={}",
)  # fmt: skip
R_TK_IDX_SHAPE = rule(
    "topk.indices_shape", _TK, "indices_tensor has the input's logical shape", _TK_WRAP,
    message="Indices tensor has incorrect shape! Got : {}, expected: {}",
)  # fmt: skip
R_TK_IDX_LAST = rule(
    "topk.indices_last_dim", _TK, "indices_tensor only with a reduction over the last dim", _TK_WRAP,
    message="Indices tensor is only supported for a reduction on the last dimension, got dim={} for rank {}",
)  # fmt: skip
R_TK_OUT_SHARDED = rule(
    "topk.output_interleaved", _TK, "the output memory_config (default: the input's) is not sharded", _TK_SRC,
    message="Sharded implementation not supported yet",
)  # fmt: skip
R_TK_LAYOUT = rule(
    "topk.input_layout", _TK, "input_tensor layout is TILE", _TK_SRC, message="The input must be in tiled format",
)  # fmt: skip
R_TK_DTYPE = rule(
    "topk.input_dtype", _TK, "input_tensor is BFLOAT16, BFLOAT8_B or FLOAT32", _TK_SRC,
    message="Input tensor must be BFLOAT16, BFLOAT8_B, or FLOAT32, got: {}",
)  # fmt: skip
R_TK_STABLE_IDX = rule(
    "topk.stable_no_indices", _TK, "stable=True takes no indices_tensor",
    f"{_TK_SRC} (the 0.81.1 build; the message is in the wheel, not in the stored source)",
    message="TopK stable=true does not support a custom indices_tensor: tie-breaking against caller-supplied "
    "labels is not defined. Use positional indices (indices_tensor=None).",
)  # fmt: skip
R_TK_IDX_LAYOUT = rule(
    "topk.indices_layout", _TK, "indices_tensor layout is TILE", _TK_SRC,
    message="Optional indices tensor must be in tiled format, got: {}",
)  # fmt: skip
R_TK_IDX_DTYPE = rule(
    "topk.indices_dtype", _TK, "indices_tensor is UINT16, UINT32 or INT32", _TK_SRC,
    message="Optional indices tensor must be UINT16, UINT32, or INT32, got: {}",
)  # fmt: skip
R_TK_IDX_FP32 = rule(
    "topk.indices_fp32_needs_32bit", _TK, "a FLOAT32 input takes no UINT16 indices_tensor", _TK_SRC,
    message="Optional indices tensor must be UINT32 when input tensor is FLOAT32, got UINT16",
)  # fmt: skip
R_TK_IDX_WIDTH = rule(
    "topk.indices_width", _TK,
    "a UINT16 indices_tensor only when 16-bit indices suffice (tile-padded reduced dim <= 65535)", _TK_SRC,
    message="Optional indices tensor must be the same width as the output indices dtype {}, got: {}",
)  # fmt: skip
R_TK_GRID_IN_DEVICE = rule(
    "topk.sub_core_grids_in_device", _TK, "sub_core_grids lies inside the device compute grid",
    f"{_TK_SRC} -> {_REDUCE_GRID}", message="{} {} {} must be contained in device compute grid {}",
)  # fmt: skip
for _id, _text, _why in (
    ("preallocated_outputs", "preallocated output tensors are on device, TILE, of the output shape and dtypes",
     "output_tensor= is not modelled by the emulator (NotImplementedError)"),
    ("rank_int8", "rank <= 127", "unreachable: emulated tensors have rank <= 8"),
    ("rank4", "the device op's input is 4D", "unreachable: topk.cpp reshapes every input to 4D"),
    ("inner_dim_min", "the device op's inner dim is >= min_dim_per_core",
     "unreachable: topk.cpp pads the reduced dim with -/+inf up to min_dim_per_core"),
    ("input_height", "the padded N*C*H is a multiple of 32",
     "always true of a TILE input; the emulator refuses a ROW_MAJOR input as topk.input_layout (for one the real "
     "op may fail this check or FillPad's 'should only be used for tile layout' first, depending on the shape)"),
    ("k_nonzero", "k != 0", "unreachable: topk.cpp answers k == 0 with empty outputs before the device op"),
    ("device_dim_last", "the device op reduces the last dim",
     "unreachable: topk.cpp transposes dim to the last position and passes -1"),
    ("stable_arch", "stable=True only on Wormhole / Blackhole", "every catalog device is Wormhole or Blackhole"),
    ("indices_tile_grid", "indices_tensor spans the input's tile grid",
     "unreachable: topk.indices_shape holds and topk.cpp pads indices_tensor in lockstep with the input"),
    ("multicore_one_range", "on the multi-core path sub_core_grids is one core range",
     "depends on the multi-core eligibility and L1 cost model (topk_utils.cpp), not modelled"),
    ("fits_l1", "the single- or multi-core program fits the available cores and L1",
     "depends on the L1 cost model (verify_single_core_cost / verify_multi_core_cost), not modelled"),
    ("sharded_input_shards", "a sharded input has positive, tile-aligned shards (validate_reduce_op_tensor)",
     "emulated sharded TILE tensors have tile-aligned shards"),
    ("blackhole_large_indices", "Blackhole routes some large-k / wide shapes to experimental topk_large_indices",
     "same results; the routed op's own checks are not modelled"),
):  # fmt: skip
    not_mirrored(f"topk.{_id}", _TK, _text, _why)


def topk(
    input_tensor: Tensor,
    k: int = 32,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,  # noqa: A002 - TTNN name
    *,
    memory_config: MemoryConfig | None = None,
    sub_core_grids=None,
    indices_tensor: Tensor | None = None,
    output_tensor=None,
    stable: bool = False,
) -> list[Tensor]:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, as ``[values, indices]``.

    Values keep the input dtype (TILE); indices are UINT16 when the tile-padded reduced dim is
    <= 65535 and the input is not FLOAT32, else UINT32 (or the dtype of a 32-bit ``indices_tensor``,
    whose labels are returned instead of positions). Ties resolve to the lowest index (``stable``
    only changes the real op's speed here: the emulator always sorts stably). ``k=0`` or a
    zero-volume input gives empty outputs in the input's dtype, as the real wrapper does.
    """
    op = _TK
    require_tensor(op, "input_tensor", input_tensor)
    check(input_tensor.device() is not None, R_TK_ON_DEVICE, "input_tensor is on host")
    _check_memory_config(op, memory_config)
    _no_output_tensor(op, output_tensor)
    for name, value in (("dim", dim), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            fail(op, f"{name} must be an int, got {value!r}", TypeError)
    if k < 0:
        fail(op, f"k must be a non-negative int (uint32), got {k}", TypeError)
    shape = list(input_tensor.shape)
    rank = len(shape)
    check(
        -rank <= dim < rank or (rank == 0 and dim in (0, -1)), R_TK_DIM, f"dim={dim} for rank {rank}"
    )  # fmt: skip
    reduced = dim % rank if rank else 0
    size = shape[reduced] if rank else 1
    check(k <= size, R_TK_K, f"k={k} for dim {dim} of size {size}")
    final_shape = list(shape)
    if rank:
        final_shape[reduced] = k
    if indices_tensor is not None:
        require_on_device(op, "indices_tensor", indices_tensor)
        check(
            list(indices_tensor.shape) == shape,
            R_TK_IDX_SHAPE,
            f"indices_tensor shape {list(indices_tensor.shape)}, input_tensor shape {shape}",
        )
        check(
            rank == 0 or reduced == rank - 1, R_TK_IDX_LAST, f"indices_tensor with dim={dim} for rank {rank}"
        )
    device = same_device(op, input_tensor, indices_tensor)
    config = memory_config or input_tensor.memory_config()
    if (rank == 0 and k <= 1) or k == 0 or math.prod(shape) == 0:  # topk.cpp: before the device op
        scalar = rank == 0 and k == 1
        values = new_tensor(
            op,
            shard_map(lambda x: x.clone() if scalar else torch.zeros(final_shape), input_tensor),
            input_tensor.dtype,
            input_tensor.layout,
            device,
            config,
        )
        indices = new_tensor(
            op,
            shard_map(lambda _x: torch.zeros(final_shape), input_tensor),
            DataType.UINT16 if scalar else input_tensor.dtype,
            input_tensor.layout,
            device,
            config,
        )
        record(op, device, [input_tensor], [values, indices])
        return [values, indices]
    check(not config.is_sharded(), R_TK_OUT_SHARDED, f"output memory_config is {config.memory_layout.name}")
    check(
        input_tensor.layout == Layout.TILE, R_TK_LAYOUT, f"input_tensor layout is {input_tensor.layout.name}"
    )
    in_dtype = input_tensor.dtype
    check(
        in_dtype in (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32),
        R_TK_DTYPE,
        f"input_tensor dtype is {in_dtype.name}",
    )
    # The reduced dim as the device op sees it: moved last, tile-padded (topk.cpp transposes it there).
    padded = -(-size // TILE_SIZE) * TILE_SIZE
    needs_32bit = (
        padded > _UINT16_MAX or in_dtype == DataType.FLOAT32
    )  # topk_utils.cpp: is_uint32_index_required
    index_dtype = DataType.UINT32 if needs_32bit else DataType.UINT16
    if indices_tensor is not None:
        check(not stable, R_TK_STABLE_IDX, "stable=True with an indices_tensor")
        check(
            indices_tensor.layout == Layout.TILE,
            R_TK_IDX_LAYOUT,
            f"indices_tensor layout is {indices_tensor.layout.name}",
        )
        idx_dtype = indices_tensor.dtype
        check(
            idx_dtype in (DataType.UINT16, DataType.UINT32, DataType.INT32),
            R_TK_IDX_DTYPE,
            f"indices_tensor dtype is {idx_dtype.name}",
        )
        check(
            not (in_dtype == DataType.FLOAT32 and idx_dtype == DataType.UINT16),
            R_TK_IDX_FP32,
            "UINT16 indices_tensor with a FLOAT32 input_tensor",
        )
        check(
            idx_dtype != DataType.UINT16 or not needs_32bit,
            R_TK_IDX_WIDTH,
            f"UINT16 indices_tensor, but the padded reduced dim {padded} needs 32-bit indices",
        )
        index_dtype = idx_dtype  # resolve_index_dtype: a 32-bit indices_tensor sets the width
    if sub_core_grids is not None:
        check(
            _grid_inside_device(sub_core_grids, device),
            R_TK_GRID_IN_DEVICE,
            f"sub_core_grids {sub_core_grids} outside the {device.compute_with_storage_grid_size()} compute grid",
        )

    def compute(x: torch.Tensor, labels: torch.Tensor | None):
        order = torch.sort(x, dim=reduced, descending=largest, stable=True).indices.narrow(reduced, 0, k)
        values = torch.gather(x, reduced, order)  # always sorted: any order is valid when sorted=False
        picked = order if labels is None else torch.gather(labels, reduced, order)
        return torch.stack([values, picked.to(torch.float32)])

    pairs = shard_map(compute, input_tensor, indices_tensor)
    values = new_tensor(op, [p[0] for p in _dedup(pairs)], in_dtype, Layout.TILE, device, config)
    indices = new_tensor(op, [p[1] for p in _dedup(pairs)], index_dtype, Layout.TILE, device, config)
    record(
        op,
        device,
        [input_tensor],
        [values, indices],
        flops=input_tensor.padded_shape.volume() * max(1, padded.bit_length()),
    )
    return [values, indices]


def _dedup(pairs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Split stacked (values, indices) once per distinct shard so replicated outputs stay shared."""
    split: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for pair in pairs:
        if id(pair) not in split:
            split[id(pair)] = (pair[0], pair[1])
    return [split[id(pair)] for pair in pairs]


# --- creation --------------------------------------------------------------------------------------


def _create(op: str, data: torch.Tensor, dtype, layout, device, memory_config) -> Tensor:
    dtype = dtype or DataType.BFLOAT16
    layout = layout or Layout.ROW_MAJOR
    if not isinstance(dtype, DataType):
        fail(op, f"dtype must be a ttnn.DataType, got {dtype!r}", TypeError)
    if not isinstance(layout, Layout):
        fail(op, f"layout must be a ttnn.Layout, got {layout!r}", TypeError)
    if dtype.is_block_float and layout != Layout.TILE:
        fail(op, f"{dtype.name} needs layout=TILE, got {layout.name}")
    _check_memory_config(op, memory_config)
    shards = [data] * (device.get_num_devices() if device is not None else 1)
    out = new_tensor(
        op,
        shards,
        dtype,
        layout,
        device,
        (memory_config or DRAM_MEMORY_CONFIG) if device is not None else None,
    )
    record(op, device, [], [out])
    return out


def _shape(op: str, shape) -> list[int]:
    try:
        dims = [int(s) for s in shape]
    except TypeError:
        fail(op, f"shape must be a sequence of ints, got {shape!r}", TypeError)
    if any(d < 0 for d in dims):
        fail(op, f"shape must be non-negative, got {dims}")
    return dims


def full(
    shape, fill_value, dtype=None, layout=None, device=None, memory_config=None, optional_tensor=None
) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (default BFLOAT16, ROW_MAJOR)."""
    op = "ttnn.full"
    if optional_tensor is not None:
        fail(op, "optional_tensor= is not modelled by the emulator", NotImplementedError)
    return _create(op, torch.full(_shape(op, shape), float(fill_value)), dtype, layout, device, memory_config)


def ones(shape, dtype=None, layout=None, device=None, memory_config=None) -> Tensor:
    """A tensor of ones (default BFLOAT16, ROW_MAJOR)."""
    return _create("ttnn.ones", torch.ones(_shape("ttnn.ones", shape)), dtype, layout, device, memory_config)


def zeros(shape, dtype=None, layout=None, device=None, memory_config=None) -> Tensor:
    """A tensor of zeros (default BFLOAT16, ROW_MAJOR)."""
    return _create(
        "ttnn.zeros", torch.zeros(_shape("ttnn.zeros", shape)), dtype, layout, device, memory_config
    )


def _like(
    op: str, tensor: Tensor, value: float, dtype, layout, device, memory_config, optional_tensor
) -> Tensor:
    if not isinstance(tensor, Tensor):
        fail(op, f"tensor must be a ttnn.Tensor, got {type(tensor).__name__}", TypeError)
    if optional_tensor is not None:
        fail(op, "optional_tensor= is not modelled by the emulator", NotImplementedError)
    return _create(
        op,
        torch.full(list(tensor.shape), float(value)),
        dtype or tensor.dtype,
        layout or tensor.layout,
        device if device is not None else tensor.device(),
        memory_config or tensor.memory_config(),
    )


def full_like(
    tensor, fill_value, dtype=None, layout=None, device=None, memory_config=None, optional_tensor=None
) -> Tensor:
    """A tensor shaped (and by default typed and placed) like ``tensor``, filled with ``fill_value``."""
    return _like("ttnn.full_like", tensor, fill_value, dtype, layout, device, memory_config, optional_tensor)


def ones_like(
    tensor, dtype=None, layout=None, device=None, memory_config=None, optional_tensor=None
) -> Tensor:
    return _like("ttnn.ones_like", tensor, 1.0, dtype, layout, device, memory_config, optional_tensor)


def zeros_like(
    tensor, dtype=None, layout=None, device=None, memory_config=None, optional_tensor=None
) -> Tensor:
    return _like("ttnn.zeros_like", tensor, 0.0, dtype, layout, device, memory_config, optional_tensor)


def arange(
    start: int,
    end: int,
    step: int = 1,
    *,
    dtype: DataType = DataType.BFLOAT16,
    device=None,
    memory_config: MemoryConfig = DRAM_MEMORY_CONFIG,
    layout: Layout = Layout.ROW_MAJOR,
) -> Tensor:
    """``[start, start + step, ...)`` below ``end`` as a 1D tensor (``arange(end)`` form: pass ``0, end``)."""
    op = "ttnn.arange"
    if step == 0:
        fail(op, "step must be non-zero")
    return _create(
        op, torch.arange(start, end, step, dtype=torch.float32), dtype, layout, device, memory_config
    )
