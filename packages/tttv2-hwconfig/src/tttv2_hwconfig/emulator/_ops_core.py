"""Conversion and data-movement ops: from_torch/to_torch, device moves, layouts, reshapes."""

from __future__ import annotations

import builtins

import torch

from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig
from ._mesh import MeshToTensor, TensorToMesh
from ._op import fail, new_tensor, record, require_on_device, require_tensor, shard_map
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import BufferType, DataType, Layout, TensorMemoryLayout

_FROM_TORCH_DTYPE = {
    torch.bfloat16: DataType.BFLOAT16,
    torch.float32: DataType.FLOAT32,
    torch.float16: DataType.BFLOAT16,
    torch.int32: DataType.INT32,
    torch.int64: DataType.UINT32,
    torch.uint8: DataType.UINT8,
}
_TO_TORCH_DTYPE = {
    DataType.BFLOAT16: torch.bfloat16,
    DataType.FLOAT32: torch.float32,
    DataType.BFLOAT8_B: torch.float32,
    DataType.BFLOAT4_B: torch.float32,
    DataType.UINT32: torch.uint32,
    DataType.INT32: torch.int32,
    DataType.UINT16: torch.uint16,
    DataType.UINT8: torch.uint8,
}


def _check_memory_config(op_name: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(
            op_name,
            f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}",
            TypeError,
        )


def from_torch(
    tensor: torch.Tensor | None,
    dtype: DataType | None = None,
    *,
    spec=None,
    tile=None,
    pad_value: float | None = None,
    layout: Layout | None = Layout.ROW_MAJOR,
    device=None,
    memory_config: MemoryConfig | None = None,
    mesh_mapper: TensorToMesh | None = None,
    cq_id: int | None = None,
) -> Tensor | None:
    op = "ttnn.from_torch"
    if tensor is None:
        return None
    if not isinstance(tensor, torch.Tensor):
        fail(op, f"tensor must be a torch.Tensor, got {type(tensor).__name__}", TypeError)
    if spec is not None or tile is not None:
        fail(op, "spec= and tile= are not modelled by the emulator (see divergences)", NotImplementedError)
    _check_memory_config(op, memory_config)
    if dtype is None:
        if tensor.dtype not in _FROM_TORCH_DTYPE:
            fail(op, f"cannot infer a ttnn dtype from torch dtype {tensor.dtype}; pass dtype=", TypeError)
        dtype = _FROM_TORCH_DTYPE[tensor.dtype]
    if not isinstance(dtype, DataType):
        fail(op, f"dtype must be a ttnn.DataType, got {dtype!r}", TypeError)
    layout = layout or Layout.ROW_MAJOR
    if dtype.is_block_float and layout != Layout.TILE:
        fail(op, f"{dtype.name} tensors must be created in TILE layout (got {layout.name})")
    if mesh_mapper is not None:
        if device is not None and mesh_mapper.mesh_device is not device:
            fail(op, "mesh_mapper was built for a different mesh device than device=")
        host_shards = mesh_mapper.map(tensor.detach())
    elif device is not None and device.get_num_devices() > 1:
        host_shards = [tensor.detach()] * device.get_num_devices()  # replicate, as TTNN does without a mapper
    else:
        host_shards = [tensor.detach()]
    out = new_tensor(op, host_shards, dtype, layout, device, memory_config if device is not None else None)
    if device is not None:
        record("ttnn.to_device", device, [], [out])
    return out


def to_torch(
    tensor: Tensor,
    dtype: torch.dtype | None = None,
    *,
    torch_rank: int | None = None,
    mesh_composer: MeshToTensor | None = None,
    device=None,
    cq_id: int | None = None,
) -> torch.Tensor:
    op = "ttnn.to_torch"
    require_tensor(op, "tensor", tensor)
    shards = tensor.shards
    if mesh_composer is not None:
        data = mesh_composer.compose(shards)
    elif len(shards) > 1 and any(s is not shards[0] for s in shards):
        fail(
            op,
            f"tensor is distributed over {len(shards)} devices; pass mesh_composer= (e.g. ttnn.ConcatMeshToTensor)",
        )
    else:
        data = shards[0]
    data = data.to(dtype or _TO_TORCH_DTYPE[tensor.dtype])
    if torch_rank is not None:
        while data.dim() > torch_rank:
            if data.shape[0] != 1:
                fail(op, f"cannot squeeze shape {list(data.shape)} to rank {torch_rank}")
            data = data.squeeze(0)
    return data.clone()


def to_device(
    tensor: Tensor, device, memory_config: MemoryConfig | None = None, *, queue_id: int | None = None
) -> Tensor:
    op = "ttnn.to_device"
    require_tensor(op, "tensor", tensor)
    _check_memory_config(op, memory_config)
    if tensor.device() is not None:
        return tensor
    shards = tensor.shards
    n = device.get_num_devices()
    if len(shards) == 1 and n > 1:
        shards = shards * n
    elif len(shards) != n:
        fail(op, f"host tensor has {len(shards)} device shards, mesh has {n} devices")
    out = Tensor(
        list(shards), tensor.dtype, tensor.layout, device, memory_config or DRAM_MEMORY_CONFIG, op_name=op
    )
    record(op, device, [], [out])
    return out


def from_device(tensor: Tensor, blocking: bool = True, *, queue_id: int | None = None) -> Tensor:
    op = "ttnn.from_device"
    require_tensor(op, "tensor", tensor)
    if tensor.device() is None:
        return tensor
    record(op, tensor.device(), [tensor], [])
    return Tensor(list(tensor.shards), tensor.dtype, tensor.layout)


def deallocate(tensor: Tensor, force: bool = True) -> None:
    require_tensor("ttnn.deallocate", "tensor", tensor)
    tensor.deallocate(force)


def get_device_tensors(tensor: Tensor) -> list[Tensor]:
    require_tensor("ttnn.get_device_tensors", "tensor", tensor)
    return [Tensor([s], tensor.dtype, tensor.layout) for s in tensor.shards]


def _same_placement(op: str, tensor: Tensor, shards, dtype=None, layout=None, memory_config=None) -> Tensor:
    """Output of a data-movement op. Values in the same dtype and element order are not re-rounded;
    moves that regroup elements (reshape, permute, slice...) re-round, as the device re-packs tiles."""
    device = tensor.device()
    out_dtype = dtype or tensor.dtype
    same_data = out_dtype == tensor.dtype and all(a is b for a, b in zip(shards, tensor.shards))
    out = new_tensor(
        op,
        shards,
        out_dtype,
        layout or tensor.layout,
        device,
        (memory_config or tensor.memory_config()) if device is not None else None,
        already_rounded=same_data,
    )
    record(op, device, [tensor], [out])
    return out


# --- rules -------------------------------------------------------------------------------------
_DM = "ttnn/cpp/ttnn/operations/data_movement"
_TC_SRC = (
    "ttnn/cpp/ttnn/operations/copy/typecast/device/typecast_device_op.cpp: validate_on_program_cache_miss"
)
_I2S_SRC = f"{_DM}/sharded/interleaved_to_sharded/device/interleaved_to_sharded_op.cpp: validate_on_program_cache_miss"
_S2I_SRC = f"{_DM}/sharded/sharded_to_interleaved/device/sharded_to_interleaved_op.cpp: validate_on_program_cache_miss"
_CC_SRC = (
    f"{_DM}/concat/device/concat_device_operation.cpp: ConcatDeviceOperation::validate_on_program_cache_miss"
)
R_TC_LAYOUT = rule(
    "typecast.memory_layout_match",
    "ttnn.typecast",
    "output memory layout equals the input's",
    _TC_SRC,
    message="Typecast operation requires Input and Output memory layout to match. Input layout: {}, Output layout: {}",
)
R_I2S_IN = rule(
    "i2s.input_interleaved",
    "ttnn.interleaved_to_sharded",
    "input_tensor is INTERLEAVED",
    _I2S_SRC,
    message="Input tensor memory layout must be INTERLEAVED but got {}",
)
R_I2S_OUT = rule(
    "i2s.output_sharded",
    "ttnn.interleaved_to_sharded",
    "the target memory config is sharded",
    _I2S_SRC,
    message="Output memory config must be sharded",
)
R_I2S_DRAM_BLOCK = rule(
    "i2s.no_dram_block_sharding",
    "ttnn.interleaved_to_sharded",
    "a BLOCK_SHARDED target is in L1",
    _I2S_SRC,
    message="We don't support DRAM block sharding",
)
R_I2S_DTYPE = rule(
    "i2s.dtype_change_needs_tile",
    "ttnn.interleaved_to_sharded",
    "output_dtype differing from the input's needs a TILE input",
    _I2S_SRC,
    message="Input tensor layout must be TILE when dtype conversion is needed",
)
R_S2I_IN = rule(
    "s2i.input_sharded",
    "ttnn.sharded_to_interleaved",
    "input_tensor is sharded",
    _S2I_SRC,
    message="Input tensor must be sharded",
)
R_S2I_OUT = rule(
    "s2i.output_interleaved", "ttnn.sharded_to_interleaved", "memory_config is interleaved", _S2I_SRC
)
not_mirrored(
    "to_memory_config.reshard",
    "ttnn.to_memory_config",
    "to_memory_config dispatches to interleaved_to_sharded / sharded_to_interleaved / reshard",
    "the emulator moves data between any two valid memory configs; the shard spec itself is checked when the tensor is placed (_sharding.py)",
)
R_CC_DIM = rule(
    "concat.dim_in_rank",
    "ttnn.concat",
    "dim is within the inputs' rank",
    _CC_SRC,
    message="ConcatDeviceOperation dim specified is larger than input tensor rank.",
)
R_CC_LAYOUT = rule(
    "concat.same_layout",
    "ttnn.concat",
    "all tensors have the same layout",
    _CC_SRC,
    message="All Tensors should have same layouts.",
)
R_CC_DTYPE = rule(
    "concat.same_dtype",
    "ttnn.concat",
    "all tensors have the same dtype",
    _CC_SRC,
    message="All Tensors should have same dtypes.",
)
R_CC_RANK = rule(
    "concat.same_rank",
    "ttnn.concat",
    "all tensors have the same rank",
    _CC_SRC,
    message="Input tensor ranks must be equal",
)
R_CC_SHAPE = rule(
    "concat.same_other_dims",
    "ttnn.concat",
    "all tensors match in every dim but dim",
    _CC_SRC,
    message="concat tensors differ in shape across non-concat dimensions.",
)
R_CC_SHARDED = rule(
    "concat.all_or_no_sharded",
    "ttnn.concat",
    "all tensors are sharded or all interleaved",
    _CC_SRC,
    message="All tensors must be sharded or all must be interleaved",
)
not_mirrored(
    "concat.sharded_layouts",
    "ttnn.concat",
    "sharded concat: same grid/layout, height-sharded width concat, no block sharding",
    "TTTv2 concatenates interleaved tensors only; the emulator computes sharded concats without these checks",
)
R_RS_VOLUME = rule(
    "reshape.volume",
    "ttnn.reshape",
    "the new shape has the same volume",
    f"{_DM}/reshape_view/reshape.cpp: ReshapeViewOperation::invoke",
    message="Attempting to reshape between two shapes with different volumes",
)
R_SL_BOUNDS = rule(
    "slice.bounds",
    "ttnn.slice",
    "0 <= start <= end <= the dim's size, one (start, end) per dim",
    f"{_DM}/slice/slice.cpp: SliceOperation::invoke",
    message="Ends {} must be less than or equal to the shape of the tensor {}",
)


def to_layout(
    tensor: Tensor,
    layout: Layout,
    dtype: DataType | None = None,
    memory_config: MemoryConfig | None = None,
    sub_core_grids=None,
) -> Tensor:
    op = "ttnn.to_layout"
    require_tensor(op, "tensor", tensor)
    _check_memory_config(op, memory_config)
    out_dtype = dtype or tensor.dtype
    if out_dtype.is_block_float and layout != Layout.TILE:
        fail(op, f"{out_dtype.name} cannot be in {layout.name} layout")
    if layout == tensor.layout and dtype in (None, tensor.dtype) and memory_config is None:
        return tensor
    return _same_placement(op, tensor, list(tensor.shards), out_dtype, layout, memory_config)


def typecast(
    input_tensor: Tensor,
    dtype: DataType,
    *,
    memory_config: MemoryConfig | None = None,
    output_tensor=None,
    sub_core_grids=None,
) -> Tensor:
    op = "ttnn.typecast"
    require_tensor(op, "input_tensor", input_tensor)
    if dtype.is_block_float and input_tensor.layout != Layout.TILE:
        fail(op, f"typecast to {dtype.name} needs TILE layout")
    if memory_config is not None and input_tensor.device() is not None:
        check(
            memory_config.memory_layout == input_tensor.memory_config().memory_layout,
            R_TC_LAYOUT,
            f"memory_config is {memory_config.memory_layout.name}, input_tensor is "
            f"{input_tensor.memory_config().memory_layout.name}",
        )
    return _same_placement(op, input_tensor, list(input_tensor.shards), dtype, None, memory_config)


def reshape(
    input_tensor: Tensor,
    shape,
    *,
    memory_config: MemoryConfig | None = None,
    pad_value: float = 0,
    reshape_tile_mode=None,
    sub_core_grids=None,
) -> Tensor:
    op = "ttnn.reshape"
    require_tensor(op, "input_tensor", input_tensor)
    shape = [int(s) for s in shape]
    old = list(input_tensor.shape)
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        shape[shape.index(-1)] = input_tensor.logical_volume() // max(known, 1)
    volume = 1
    for s in shape:
        volume *= s
    check(
        volume == input_tensor.logical_volume(),
        R_RS_VOLUME,
        f"cannot reshape {old} ({input_tensor.logical_volume()} elements) to {shape} ({volume} elements)",
    )
    return _same_placement(
        op, input_tensor, shard_map(lambda t: t.reshape(shape), input_tensor), memory_config=memory_config
    )


def permute(
    input_tensor: Tensor, dims, *, memory_config: MemoryConfig | None = None, pad_value: float = 0.0
) -> Tensor:
    op = "ttnn.permute"
    require_tensor(op, "input_tensor", input_tensor)
    if sorted(dims) != list(range(len(input_tensor.shape))):
        fail(op, f"dims {list(dims)} is not a permutation of rank {len(input_tensor.shape)}")
    return _same_placement(
        op,
        input_tensor,
        shard_map(lambda t: t.permute(*dims).contiguous(), input_tensor),
        memory_config=memory_config,
    )


def transpose(
    input_tensor: Tensor,
    dim1: int,
    dim2: int,
    *,
    memory_config: MemoryConfig | None = None,
    pad_value: float = 0.0,
) -> Tensor:
    op = "ttnn.transpose"
    require_tensor(op, "input_tensor", input_tensor)
    return _same_placement(
        op,
        input_tensor,
        shard_map(lambda t: t.transpose(dim1, dim2).contiguous(), input_tensor),
        memory_config=memory_config,
    )


def slice(
    input_tensor: Tensor,
    slice_start,
    slice_end,
    slice_step=None,
    *,
    memory_config: MemoryConfig | None = None,
    pad_value=None,
    sub_core_grids=None,
) -> Tensor:  # noqa: A001 - TTNN name
    op = "ttnn.slice"
    require_tensor(op, "input_tensor", input_tensor)
    shape = list(input_tensor.shape)
    check(
        len(slice_start) == len(shape) and len(slice_end) == len(shape),
        R_SL_BOUNDS,
        f"slice_start/slice_end must have rank {len(shape)}, got {list(slice_start)} / {list(slice_end)}",
    )
    step = list(slice_step) if slice_step is not None else [1] * len(shape)
    for d, (s, e) in enumerate(zip(slice_start, slice_end)):
        check(0 <= s <= e <= shape[d], R_SL_BOUNDS, f"dim {d}: slice [{s}:{e}] is outside size {shape[d]}")
    index = tuple(builtins.slice(s, e, st) for s, e, st in zip(slice_start, slice_end, step))
    return _same_placement(
        op,
        input_tensor,
        shard_map(lambda t: t[index].contiguous(), input_tensor),
        memory_config=memory_config,
    )


def concat(
    tensors,
    dim: int = 0,
    *,
    memory_config: MemoryConfig | None = None,
    output_tensor=None,
    groups: int = 1,
    sub_core_grids=None,
) -> Tensor:
    op = "ttnn.concat"
    if not tensors:
        fail(op, "tensors is empty")
    for i, t in enumerate(tensors):
        require_tensor(op, f"tensors[{i}]", t)
    first = tensors[0]
    rank = len(first.shape)
    check(-rank <= dim < rank, R_CC_DIM, f"dim {dim} for tensors of rank {rank}")
    axis = dim % rank
    for i, t in enumerate(tensors[1:], 1):
        pair = f"tensors[{i}] is {t.dtype.name}/{t.layout.name}, tensors[0] is {first.dtype.name}/{first.layout.name}"
        check(t.layout == first.layout, R_CC_LAYOUT, pair)
        check(t.dtype == first.dtype, R_CC_DTYPE, pair)
        check(len(t.shape) == rank, R_CC_RANK, f"tensors[{i}] has rank {len(t.shape)}, tensors[0] {rank}")
        others = [d for j, d in enumerate(t.padded_shape) if j != axis]
        check(
            others == [d for j, d in enumerate(first.padded_shape) if j != axis],
            R_CC_SHAPE,
            f"tensors[{i}] padded shape {list(t.padded_shape)} and tensors[0] {list(first.padded_shape)} differ "
            f"outside dim {dim}",
        )
        check(
            t.is_sharded() == first.is_sharded(),
            R_CC_SHARDED,
            f"tensors[{i}] sharded={t.is_sharded()}, tensors[0] sharded={first.is_sharded()}",
        )
    shards = shard_map(lambda *ts: torch.cat(ts, dim=dim), *tensors)
    device = first.device()
    out = new_tensor(
        op,
        shards,
        first.dtype,
        first.layout,
        device,
        (memory_config or first.memory_config()) if device else None,
        # Same dtype everywhere (R_CC_DTYPE): joined bfloat16/float32/integer values are already
        # rounded; block floats are not (a join off a 16-element group boundary regroups them).
        already_rounded=not first.dtype.is_block_float,
    )
    record(op, device, tensors, [out])
    return out


def pad(
    input_tensor: Tensor,
    padding,
    value: float,
    *,
    use_multicore: bool = True,
    memory_config: MemoryConfig | None = None,
    sub_core_grids=None,
) -> Tensor:
    """``padding`` is a list of (before, after) pairs, one per dim from the first dim."""
    op = "ttnn.pad"
    require_tensor(op, "input_tensor", input_tensor)
    if len(padding) != len(input_tensor.shape):
        fail(
            op,
            f"padding needs one (before, after) pair per dim ({len(input_tensor.shape)}), got {len(padding)}",
        )
    flat: list[int] = []
    for before, after in reversed(list(padding)):
        flat += [int(before), int(after)]
    return _same_placement(
        op,
        input_tensor,
        shard_map(lambda t: torch.nn.functional.pad(t, flat, value=value), input_tensor),
        memory_config=memory_config,
    )


def to_memory_config(
    tensor: Tensor, memory_config: MemoryConfig, dtype: DataType | None = None, output_tensor=None
) -> Tensor:
    op = "ttnn.to_memory_config"
    require_on_device(op, "tensor", tensor)
    _check_memory_config(op, memory_config)
    if memory_config == tensor.memory_config() and dtype in (None, tensor.dtype):
        return tensor
    return _same_placement(op, tensor, list(tensor.shards), dtype, None, memory_config)


def interleaved_to_sharded(
    input_tensor: Tensor,
    grid,
    shard_shape=None,
    shard_scheme=None,
    shard_orientation=None,
    output_dtype=None,
    *,
    keep_l1_aligned: bool = False,
):
    """Accepts the memory-config form ``interleaved_to_sharded(tensor, sharded_memory_config)``."""
    op = "ttnn.interleaved_to_sharded"
    require_on_device(op, "input_tensor", input_tensor)
    if not isinstance(grid, MemoryConfig) or shard_shape is not None:
        fail(
            op, "the emulator models the (input_tensor, sharded_memory_config) form only", NotImplementedError
        )
    check(
        not input_tensor.is_sharded(),
        R_I2S_IN,
        "input_tensor is already sharded; use ttnn.to_memory_config to reshard",
    )
    check(
        grid.is_sharded(),
        R_I2S_OUT,
        f"target memory config is {grid.memory_layout.name}, expected a sharded one",
    )
    check(
        not (grid.memory_layout == TensorMemoryLayout.BLOCK_SHARDED and grid.buffer_type == BufferType.DRAM),
        R_I2S_DRAM_BLOCK,
        "target memory config is DRAM BLOCK_SHARDED",
    )
    check(
        output_dtype in (None, input_tensor.dtype) or input_tensor.layout == Layout.TILE,
        R_I2S_DTYPE,
        f"output_dtype {getattr(output_dtype, 'name', output_dtype)} with a {input_tensor.layout.name} input_tensor",
    )
    return _same_placement(op, input_tensor, list(input_tensor.shards), output_dtype, None, grid)


def sharded_to_interleaved(
    input_tensor: Tensor, memory_config: MemoryConfig | None = None, output_dtype: DataType | None = None
):
    op = "ttnn.sharded_to_interleaved"
    require_on_device(op, "input_tensor", input_tensor)
    check(input_tensor.is_sharded(), R_S2I_IN, "input_tensor is not sharded")
    memory_config = memory_config or DRAM_MEMORY_CONFIG
    check(
        not memory_config.is_sharded(),
        R_S2I_OUT,
        f"memory_config must be interleaved, got {memory_config.memory_layout.name}",
    )
    return _same_placement(op, input_tensor, list(input_tensor.shards), output_dtype, None, memory_config)


def clone(
    input,
    *,
    dtype: DataType | None = None,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
):  # noqa: A002 - TTNN name
    op = "ttnn.clone"
    require_tensor(op, "input", input)
    return _same_placement(op, input, list(input.shards), dtype, None, memory_config)


def synchronize_device(device, cq_id=None, sub_device_ids=[]) -> None:  # noqa: B006 - the real default
    """Emulated ops complete before they return; only checks the device is open."""
    device.check_open("ttnn.synchronize_device")
