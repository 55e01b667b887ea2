"""The emulated ``ttnn.Tensor``: logical torch data per mesh device plus TTNN metadata.

Values are kept as float32 torch tensors that hold exactly the values the device format can
represent (bfloat16, bfloat8_b, bfloat4_b rounding is applied on every write), at the LOGICAL
shape. Tile padding is metadata: ``padded_shape`` reports it, memory accounting and the perf
model charge for it, but no host compute is spent on padded rows (a decode batch of 1 padded
to 32 users costs one row of torch work, not 32).
"""

from __future__ import annotations

import weakref

import torch

from . import _numerics, _shapes_only
from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig
from ._types import ELEMENT_BYTES, TILE_BYTES, TILE_SIZE, DataType, Layout, StorageType

_TORCH_INT = {
    DataType.UINT32: torch.int64,
    DataType.INT32: torch.int32,
    DataType.UINT16: torch.int32,
    DataType.UINT8: torch.int32,
}


class Shape(tuple):
    """A tensor shape; behaves like a tuple of ints (``ttnn.Shape``)."""

    def __new__(cls, shape):
        return super().__new__(cls, (int(d) for d in shape))

    @property
    def rank(self) -> int:
        return len(self)

    def volume(self) -> int:
        v = 1
        for d in self:
            v *= d
        return v

    def __repr__(self) -> str:
        return f"Shape({list(self)})"


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_padded_shape(shape, layout: Layout) -> Shape:
    if layout != Layout.TILE:
        return Shape(shape)
    dims = list(shape)
    if len(dims) == 1:
        dims = [1] + dims
        return Shape([_round_up(dims[-1], TILE_SIZE)])
    dims[-1] = _round_up(dims[-1], TILE_SIZE)
    dims[-2] = _round_up(dims[-2], TILE_SIZE)
    return Shape(dims)


def device_bytes(shape, dtype: DataType, layout: Layout) -> int:
    """Bytes a tensor of this (logical) shape occupies on one device."""
    padded = tile_padded_shape(shape, layout)
    if layout == Layout.TILE:
        tiles = (
            padded.volume() // (TILE_SIZE * TILE_SIZE) if len(padded) >= 2 else padded.volume() // TILE_SIZE
        )
        return tiles * TILE_BYTES[dtype]
    return padded.volume() * ELEMENT_BYTES[dtype]


def quantize(data: torch.Tensor, dtype: DataType) -> torch.Tensor:
    """Round torch data to what ``dtype`` stores; float formats come back as float32.

    Shapes-only mode (``_shapes_only``): float data becomes a ``meta`` tensor (no values kept).
    """
    if dtype.is_integer:
        return data.to(_TORCH_INT[dtype])
    if data.is_meta or _shapes_only.is_shapes_only():
        return _shapes_only.to_meta(data)
    data = data.to(torch.float32)
    if dtype == DataType.FLOAT32:
        return data
    if dtype == DataType.BFLOAT16:
        return _numerics.round_to_bfloat16(data)
    if dtype.is_block_float:
        return _numerics.round_to_block_float(data, mantissa_bits=7 if dtype == DataType.BFLOAT8_B else 3)
    raise TypeError(f"unsupported dtype {dtype}")


class Tensor:
    """A (possibly multi-device) TTNN tensor.

    ``shards`` holds one torch tensor per mesh device in row-major mesh order (one for a plain
    host tensor). Replicated shards may be the same torch object; ops compute those once.
    """

    def __init__(
        self,
        shards: list[torch.Tensor],
        dtype: DataType,
        layout: Layout,
        device=None,
        memory_config: MemoryConfig | None = None,
        *,
        op_name: str = "ttnn.Tensor",
    ):
        if not shards:
            raise ValueError("a Tensor needs at least one shard")
        shape = shards[0].shape
        for index, shard in enumerate(shards):
            if shard.shape != shape:
                raise ValueError(
                    f"{op_name}: shard {index} has shape {tuple(shard.shape)}, shard 0 has {tuple(shape)}"
                )
        if layout == Layout.ROW_MAJOR and dtype.is_block_float:
            raise ValueError(
                f"{op_name}: {dtype} requires TILE layout (block floats are stored per 32x32 tile)"
            )
        self._shards = shards
        self._shape = Shape(shape)  # ops that rewrite _shards in place keep the shape
        self._padded_shape = None
        self._nbytes = None
        self._dtype = dtype
        self._layout = layout
        self._device = device
        self._memory_config = (memory_config or DRAM_MEMORY_CONFIG) if device is not None else None
        self._allocation = None
        self._finalizer = None
        if device is not None:
            self._allocate(op_name)

    # --- allocation ----------------------------------------------------------------------------
    def _allocate(self, op_name: str) -> None:
        from ._sharding import per_core_bytes  # noqa: PLC0415 - avoids an import cycle

        if getattr(self._device, "replaying", False):
            return  # trace replay: buffers were accounted at capture (see _ops_trace)
        allocator = self._device.allocator
        per_core = per_core_bytes(self, op_name)
        self._allocation = allocator.allocate(
            self._memory_config, per_core, op_name, f"a {list(self.shape)} {self._dtype.name} tensor"
        )
        self._finalizer = weakref.finalize(self, allocator.free, self._allocation)

    # --- TTNN surface --------------------------------------------------------------------------
    @property
    def shape(self) -> Shape:
        return self._shape

    @property
    def padded_shape(self) -> Shape:
        if self._padded_shape is None:
            self._padded_shape = tile_padded_shape(self._shape, self._layout)
        return self._padded_shape

    @property
    def device_nbytes(self) -> int:
        """Bytes this tensor occupies on one device (emulator internal, cached)."""
        if self._nbytes is None:
            self._nbytes = device_bytes(self._shape, self._dtype, self._layout)
        return self._nbytes

    @property
    def dtype(self) -> DataType:
        return self._dtype

    def get_dtype(self) -> DataType:
        return self._dtype

    @property
    def layout(self) -> Layout:
        return self._layout

    def get_layout(self) -> Layout:
        return self._layout

    def memory_config(self) -> MemoryConfig | None:
        return self._memory_config

    def device(self):
        return self._device

    def storage_type(self) -> StorageType:
        return StorageType.DEVICE if self._device is not None else StorageType.HOST

    def is_sharded(self) -> bool:
        return self._memory_config is not None and self._memory_config.is_sharded()

    def is_allocated(self) -> bool:
        return self._shards is not None

    def volume(self) -> int:
        return self.padded_shape.volume()

    def logical_volume(self) -> int:
        return self.shape.volume()

    def deallocate(self, force: bool = False) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._shards = None

    def to_torch(self, mesh_composer=None) -> torch.Tensor:
        from . import to_torch  # noqa: PLC0415 - the dispatching public op

        return to_torch(self, mesh_composer=mesh_composer)

    def cpu(self, blocking: bool = True):
        from . import from_device  # noqa: PLC0415 - the dispatching public op

        return from_device(self, blocking)

    def item(self):
        """The value of a one-element tensor as a Python number (a host read)."""
        from . import _host_access  # noqa: PLC0415

        _host_access.host_read("ttnn.Tensor.item", self)
        if self.logical_volume() != 1:
            raise RuntimeError(
                f"ttnn.Tensor.item: tensor has {self.logical_volume()} elements, expected exactly 1"
            )
        return self.shards[0].reshape(-1)[0].item()

    def to_list(self):
        """The values as nested Python lists (a host read; one device's shard of a mesh tensor)."""
        from . import _host_access  # noqa: PLC0415

        _host_access.host_read("ttnn.Tensor.to_list", self)
        return self.shards[0].tolist()

    def reshape(self, *shape):
        from . import reshape  # noqa: PLC0415 - the dispatching public op

        return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def __add__(self, other):
        from . import add  # noqa: PLC0415 - the dispatching public op

        return add(self, other)

    def __sub__(self, other):
        from . import sub  # noqa: PLC0415 - the dispatching public op

        return sub(self, other)

    def __mul__(self, other):
        from . import mul  # noqa: PLC0415 - the dispatching public op

        return mul(self, other)

    __radd__ = __add__
    __rmul__ = __mul__

    def __repr__(self) -> str:
        where = "host" if self._device is None else f"{self._device.spec.name} x{len(self._shards)}"
        return f"ttnn.Tensor(shape={list(self.shape)}, dtype={self._dtype.name}, layout={self._layout.name}, {where})"

    # --- emulator internals ---------------------------------------------------------------------
    @property
    def shards(self) -> list[torch.Tensor]:
        if self._shards is None:
            raise RuntimeError("tensor was deallocated")
        return self._shards

    @property
    def num_shards(self) -> int:
        return len(self.shards)
