"""Shard-spec validation and per-core byte accounting for a tensor's memory config."""

from __future__ import annotations

from ._memory import MemoryConfig
from ._types import (
    ELEMENT_BYTES,
    TILE_BYTES,
    TILE_SIZE,
    BufferType,
    Layout,
    ShardOrientation,
    TensorMemoryLayout,
)


def flattened_2d(shape) -> tuple[int, int]:
    """(height, width) of a tensor seen as a matrix: all leading dims fold into the height."""
    dims = list(shape)
    if len(dims) == 1:
        return 1, dims[0]
    height = 1
    for d in dims[:-1]:
        height *= d
    return height, dims[-1]


def _shard_bytes(shard_shape, dtype, layout) -> int:
    h, w = shard_shape
    if layout == Layout.TILE:
        return (h // TILE_SIZE) * (w // TILE_SIZE) * TILE_BYTES[dtype]
    return h * w * ELEMENT_BYTES[dtype]


def validate_shard_spec(
    shape_padded, dtype, layout, memory_config: MemoryConfig, op_name: str, grid=None
) -> int:
    """Check a sharded memory config fits the tensor; return bytes per shard."""
    spec = memory_config.shard_spec
    layout_name = memory_config.memory_layout.name
    if spec is None:
        raise ValueError(
            f"{op_name}: memory config is {layout_name} but has no shard_spec; pass one or let the op derive it"
        )
    height, width = flattened_2d(shape_padded)
    shard_h, shard_w = spec.shape
    if layout == Layout.TILE and (shard_h % TILE_SIZE or shard_w % TILE_SIZE):
        raise ValueError(
            f"{op_name}: shard shape {spec.shape} must be a multiple of the 32x32 tile for TILE layout"
        )
    cores = spec.grid.num_cores()
    kind = memory_config.memory_layout
    if kind == TensorMemoryLayout.HEIGHT_SHARDED:
        if shard_w != width:
            raise ValueError(
                f"{op_name}: HEIGHT_SHARDED shard width {shard_w} must equal the tensor width {width}"
            )
        needed = -(-height // shard_h)
    elif kind == TensorMemoryLayout.WIDTH_SHARDED:
        if shard_h != height:
            raise ValueError(
                f"{op_name}: WIDTH_SHARDED shard height {shard_h} must equal the tensor height {height} (padded shape {list(shape_padded)})"
            )
        needed = -(-width // shard_w)
    else:
        box = spec.grid.bounding_box().grid_size()
        rows, cols = (box.y, box.x) if spec.orientation == ShardOrientation.ROW_MAJOR else (box.x, box.y)
        if -(-height // shard_h) > rows or -(-width // shard_w) > cols:
            raise ValueError(
                f"{op_name}: BLOCK_SHARDED shards {spec.shape} of a {height}x{width} tensor need a "
                f"{-(-height // shard_h)}x{-(-width // shard_w)} grid; shard grid is {rows}x{cols}"
            )
        needed = -(-height // shard_h) * -(-width // shard_w)
    if needed > cores:
        raise ValueError(
            f"{op_name}: {layout_name} tensor {height}x{width} in shards of {spec.shape} needs {needed} cores, "
            f"shard grid has {cores}"
        )
    if grid is not None and memory_config.buffer_type == BufferType.L1:
        for core in spec.grid.cores():
            if core.x >= grid.x or core.y >= grid.y:
                raise ValueError(
                    f"{op_name}: shard core ({core.x},{core.y}) is outside the {grid.x}x{grid.y} compute grid"
                )
    return _shard_bytes(spec.shape, dtype, layout)


def per_core_bytes(tensor, op_name: str):
    """Bytes to account for ``tensor``: an int for interleaved/DRAM buffers, a per-core list for L1 shards."""
    memory_config = tensor.memory_config()
    allocator = tensor.device().allocator
    if not memory_config.is_sharded():
        return tensor.device_nbytes
    shard_bytes = validate_shard_spec(
        tensor.padded_shape,
        tensor.dtype,
        tensor.layout,
        memory_config,
        op_name,
        tensor.device().compute_with_storage_grid_size(),
    )
    if memory_config.buffer_type == BufferType.DRAM:
        banks = memory_config.shard_spec.grid.num_cores()
        dram_banks = tensor.device().spec.dram_banks
        if banks > dram_banks:
            raise ValueError(
                f"{op_name}: DRAM shard grid has {banks} banks, {tensor.device().spec.name} has {dram_banks}"
            )
        return shard_bytes * banks
    return allocator.l1_shard_bytes(memory_config, shard_bytes)
