"""Emulated mesh device: shape, grids and a per-core L1 / per-bank DRAM allocator."""

from __future__ import annotations

import enum
import itertools

from ._memory import CoreCoord, MemoryConfig
from ._types import BufferType


class Arch(enum.Enum):
    WORMHOLE_B0 = 2
    BLACKHOLE = 3


class MeshShape:
    def __init__(self, *dims):
        if len(dims) == 1 and not isinstance(dims[0], int):
            dims = tuple(dims[0])
        if not dims or any(int(d) < 1 for d in dims):
            raise ValueError(f"MeshShape: dimensions must be positive, got {dims}")
        self._dims = tuple(int(d) for d in dims)

    def __iter__(self):
        return iter(self._dims)

    def __len__(self):
        return len(self._dims)

    def __getitem__(self, index):
        return self._dims[index]

    def mesh_size(self) -> int:
        size = 1
        for d in self._dims:
            size *= d
        return size

    def __eq__(self, other):
        return tuple(self) == tuple(other)

    def __repr__(self):
        return f"MeshShape({', '.join(map(str, self._dims))})"


class OutOfMemoryError(RuntimeError):
    """An allocation exceeded the L1 of a core or the DRAM of a chip."""


class Allocator:
    """Byte accounting per core (L1) and per chip (DRAM); every chip of a mesh holds the same layout."""

    def __init__(self, spec):
        self.spec = spec
        self.grid = CoreCoord(*spec.compute_grid)
        self.l1_capacity = spec.l1_usable_bytes_per_core  # what the real allocator hands out
        self.dram_capacity = spec.dram_bytes_per_chip
        self.l1_used = [0] * (self.grid.x * self.grid.y)
        self.dram_used = 0
        self.peak_l1_per_core = 0
        self.peak_dram = 0
        self._ids = itertools.count()
        self._live: dict[int, tuple[str, int | list[int]]] = {}

    def allocate(
        self, memory_config: MemoryConfig, shard_bytes_per_core: list[int] | int, op_name: str, what: str
    ) -> int:
        """Account an allocation; raise OutOfMemoryError naming the op and the sizes when it does not fit."""
        handle = next(self._ids)
        if memory_config.buffer_type == BufferType.DRAM:
            total = (
                shard_bytes_per_core if isinstance(shard_bytes_per_core, int) else sum(shard_bytes_per_core)
            )
            if self.dram_used + total > self.dram_capacity:
                raise OutOfMemoryError(
                    f"{op_name}: out of DRAM allocating {what} ({total} bytes) on {self.spec.name}: "
                    f"{self.dram_used} of {self.dram_capacity} bytes per chip already in use"
                )
            self.dram_used += total
            self.peak_dram = max(self.peak_dram, self.dram_used)
            self._live[handle] = ("dram", total)
            return handle
        per_core = shard_bytes_per_core
        if isinstance(per_core, int):
            # Interleaved L1: pages spread round-robin over every core of the grid.
            n = len(self.l1_used)
            per_core = [-(-per_core // n)] * n
        # List comprehensions, not index loops: this runs for every L1 tensor an op creates.
        after = [used + size for used, size in zip(self.l1_used, per_core)]
        if max(after) > self.l1_capacity:
            index = next(
                i for i, (total, size) in enumerate(zip(after, per_core)) if size and total > self.l1_capacity
            )
            core = CoreCoord(index % self.grid.x, index // self.grid.x)
            raise OutOfMemoryError(
                f"{op_name}: out of L1 allocating {what} ({per_core[index]} bytes on core ({core.x},{core.y})) on "
                f"{self.spec.name}: {self.l1_used[index]} of {self.l1_capacity} bytes already in use on that core"
            )
        self.l1_used = after
        self.peak_l1_per_core = max(self.peak_l1_per_core, max(after))
        self._live[handle] = ("l1", per_core)
        return handle

    def free(self, handle: int) -> None:
        entry = self._live.pop(handle, None)
        if entry is None:
            return
        kind, size = entry
        if kind == "dram":
            self.dram_used -= size
        else:
            self.l1_used = [used - s for used, s in zip(self.l1_used, size)]

    def l1_shard_bytes(self, memory_config: MemoryConfig, shard_bytes: int) -> list[int]:
        """Bytes per core (row-major grid index) of a sharded buffer with ``shard_bytes`` per shard core."""
        per_core = [0] * len(self.l1_used)
        for core in memory_config.shard_spec.grid.cores():
            if core.x >= self.grid.x or core.y >= self.grid.y:
                raise ValueError(
                    f"shard grid core ({core.x},{core.y}) is outside the {self.grid.x}x{self.grid.y} compute grid "
                    f"of {self.spec.name}"
                )
            per_core[core.y * self.grid.x + core.x] = shard_bytes
        return per_core


class MeshDevice:
    """An emulated ``ttnn.MeshDevice`` with the catalog properties of one product."""

    def __init__(self, spec):
        self.spec = spec
        self._shape = MeshShape(*spec.mesh_shape)
        self.allocator = Allocator(spec)
        self._open = True
        self.trace = None  # set by the trace module (an OpTrace), records every op on this device

    # --- the TTNN MeshDevice surface used by TTTv2 -------------------------------------------------
    @property
    def shape(self) -> MeshShape:
        return self._shape

    def get_num_devices(self) -> int:
        return self._shape.mesh_size()

    def compute_with_storage_grid_size(self) -> CoreCoord:
        return CoreCoord(*self.spec.compute_grid)

    def dram_grid_size(self) -> CoreCoord:
        return CoreCoord(*self.spec.dram_grid)

    def arch(self) -> Arch:
        return {"wormhole_b0": Arch.WORMHOLE_B0, "blackhole": Arch.BLACKHOLE}[self.spec.arch]

    def get_device_ids(self) -> list[int]:
        return list(range(self.get_num_devices()))

    @property
    def is_emulated(self) -> bool:
        return True

    def close(self) -> None:
        self._open = False

    def check_open(self, op_name: str) -> None:
        if not self._open:
            raise RuntimeError(f"{op_name}: device {self.spec.name} is closed")

    def __repr__(self):
        return f"MeshDevice(emulated {self.spec.name}, shape={tuple(self._shape)})"
