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
    require_dtype,
    require_layout,
    require_on_device,
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
    """Index of the maximum along ``dim`` (first one on ties); UINT32 ROW_MAJOR interleaved output."""
    op = "ttnn.argmax"
    require_on_device(op, "input_tensor", input_tensor)
    _check_memory_config(op, memory_config, interleaved_only=True)
    _no_output_tensor(op, output_tensor)
    if input_tensor.is_sharded():
        fail(op, "input_tensor must be interleaved; argmax does not support sharded tensors")
    rank = len(input_tensor.shape)
    float_dtypes = (DataType.BFLOAT16, DataType.FLOAT32)
    if dim is None:
        require_layout(op, "input_tensor", input_tensor, Layout.ROW_MAJOR)
        require_dtype(
            op, "input_tensor", input_tensor, *float_dtypes, DataType.INT32, DataType.UINT32, DataType.UINT16
        )
    else:
        if not isinstance(dim, int) or not -rank <= dim < rank:
            fail(op, f"dim must be None or an int in [{-rank}, {rank}), got {dim!r}")
        dim %= rank
        if dim == rank - 1 and input_tensor.layout == Layout.ROW_MAJOR:
            require_dtype(
                op,
                "input_tensor",
                input_tensor,
                *float_dtypes,
                DataType.INT32,
                DataType.UINT32,
                DataType.UINT16,
            )
        else:
            require_dtype(op, "input_tensor", input_tensor, *float_dtypes)

    def compute(x: torch.Tensor) -> torch.Tensor:
        if dim is None:
            index = torch.argmax(x.reshape(-1))
            return index.reshape([1] * rank) if keepdim else index.reshape(())
        return torch.argmax(x, dim=dim, keepdim=keepdim)

    device = input_tensor.device()
    shards = shard_map(compute, input_tensor)
    out = new_tensor(
        op, shards, DataType.UINT32, Layout.ROW_MAJOR, device, memory_config or _interleaved(input_tensor)
    )
    record(op, device, [input_tensor], [out], flops=input_tensor.padded_shape.volume(), cores_used=1)
    return out


def _interleaved(tensor: Tensor) -> MemoryConfig:
    config = tensor.memory_config()
    return config if config is not None and not config.is_sharded() else DRAM_MEMORY_CONFIG


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
    <= 65536 and the input is bfloat16, else UINT32 (or the dtype of ``indices_tensor``, whose
    labels are returned instead of positions). Ties resolve to the lowest index (``stable`` only
    changes the real op's speed here: the emulator always sorts stably).
    """
    op = "ttnn.topk"
    require_on_device(op, "input_tensor", input_tensor)
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32)
    _check_memory_config(op, memory_config)
    _no_output_tensor(op, output_tensor)
    rank = len(input_tensor.shape)
    if not isinstance(dim, int) or not -rank <= dim < rank:
        fail(op, f"dim must be an int in [{-rank}, {rank}), got {dim!r}")
    dim %= rank
    size = input_tensor.shape[dim]
    if not isinstance(k, int) or not 1 <= k <= size:
        fail(op, f"k must be an int in [1, {size}] (the size of dim {dim}), got {k!r}")
    padded = input_tensor.padded_shape[dim]
    index_dtype = (
        DataType.UINT16 if padded <= 65536 and input_tensor.dtype != DataType.FLOAT32 else DataType.UINT32
    )
    if indices_tensor is not None:
        if stable:
            fail(op, "indices_tensor cannot be combined with stable=True")
        require_on_device(op, "indices_tensor", indices_tensor)
        require_layout(op, "indices_tensor", indices_tensor, Layout.TILE)
        require_dtype(op, "indices_tensor", indices_tensor, DataType.UINT16, DataType.UINT32, DataType.INT32)
        if indices_tensor.shape != input_tensor.shape:
            fail(
                op,
                f"indices_tensor shape {list(indices_tensor.shape)} must equal input_tensor shape {list(input_tensor.shape)}",
            )
        if indices_tensor.dtype == DataType.UINT16 and index_dtype == DataType.UINT32:
            fail(op, "indices_tensor is UINT16 but this input needs 32-bit indices")
        index_dtype = indices_tensor.dtype
    device = same_device(op, input_tensor, indices_tensor)

    def compute(x: torch.Tensor, labels: torch.Tensor | None):
        order = torch.sort(x, dim=dim, descending=largest, stable=True).indices.narrow(dim, 0, k)
        values = torch.gather(x, dim, order)  # always sorted: any order is valid when sorted=False
        picked = order if labels is None else torch.gather(labels, dim, order)
        return torch.stack([values, picked.to(torch.float32)])

    pairs = shard_map(compute, input_tensor, indices_tensor)
    config = memory_config or _interleaved(input_tensor)
    values = new_tensor(op, [p[0] for p in _dedup(pairs)], input_tensor.dtype, Layout.TILE, device, config)
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
