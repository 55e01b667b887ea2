"""Core grids, shard specs and memory configs, named and shaped as in TTNN."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ._types import TILE_SIZE, BufferType, ShardOrientation, ShardStrategy, TensorMemoryLayout


@dataclass(frozen=True, init=False)
class CoreCoord:
    x: int
    y: int

    def __init__(self, x: int, y: int, /):
        object.__setattr__(self, "x", int(x))
        object.__setattr__(self, "y", int(y))

    def __iter__(self):
        return iter((self.x, self.y))


@dataclass(frozen=True)
class CoreRange:
    start: CoreCoord
    end: CoreCoord

    def __post_init__(self):
        if self.end.x < self.start.x or self.end.y < self.start.y:
            raise ValueError(f"CoreRange end {self.end} is before start {self.start}")

    def grid_size(self) -> CoreCoord:
        return CoreCoord(self.end.x - self.start.x + 1, self.end.y - self.start.y + 1)

    def num_cores(self) -> int:
        size = self.grid_size()
        return size.x * size.y

    def cores(self) -> list[CoreCoord]:
        return list(_range_cores(self.start.x, self.start.y, self.end.x, self.end.y))


@functools.lru_cache(maxsize=4096)
def _range_cores(start_x: int, start_y: int, end_x: int, end_y: int) -> tuple[CoreCoord, ...]:
    """The cores of a range, row by row (memoized: core grids are rebuilt by every op that shards)."""
    return tuple(CoreCoord(x, y) for y in range(start_y, end_y + 1) for x in range(start_x, end_x + 1))


class CoreRangeSet:
    def __init__(self, core_ranges):
        self._ranges = tuple(sorted(core_ranges, key=lambda r: (r.start.y, r.start.x)))
        self._cores = tuple(core for r in self._ranges for core in r.cores())
        if len(self._ranges) > 1 and len(set(self._cores)) != len(self._cores):
            seen: set[CoreCoord] = set()
            for core in self._cores:
                if core in seen:
                    raise ValueError(f"CoreRangeSet ranges overlap at core {core}")
                seen.add(core)

    def ranges(self) -> tuple[CoreRange, ...]:
        return self._ranges

    def num_cores(self) -> int:
        return sum(r.num_cores() for r in self._ranges)

    def cores(self) -> list[CoreCoord]:
        return list(self._cores)

    def bounding_box(self) -> CoreRange:
        xs = [r.start.x for r in self._ranges] + [r.end.x for r in self._ranges]
        ys = [r.start.y for r in self._ranges] + [r.end.y for r in self._ranges]
        return CoreRange(CoreCoord(min(xs), min(ys)), CoreCoord(max(xs), max(ys)))

    def __eq__(self, other):
        return isinstance(other, CoreRangeSet) and self._ranges == other._ranges

    def __hash__(self):
        return hash(self._ranges)

    def __repr__(self):
        return f"CoreRangeSet({list(self._ranges)})"


@dataclass(frozen=True)
class CoreGrid:
    """A rectangular grid of cores starting at (0, 0); keyword-only as in TTNN."""

    y: int
    x: int

    def __init__(self, *, x: int, y: int):
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @property
    def num_cores(self) -> int:
        return self.x * self.y


@functools.lru_cache(maxsize=1024)  # a CoreRangeSet is immutable: sharing one is safe
def num_cores_to_corerangeset(
    target_num_cores: int, grid_size: CoreCoord, row_wise: bool = False
) -> CoreRangeSet:
    """The first ``target_num_cores`` cores of ``grid_size``, row by row (row_wise) or column by column."""
    if target_num_cores > grid_size.x * grid_size.y:
        raise ValueError(
            f"num_cores_to_corerangeset: {target_num_cores} cores do not fit a {grid_size.x}x{grid_size.y} grid"
        )
    ranges = []
    major = grid_size.x if row_wise else grid_size.y
    full, rest = divmod(target_num_cores, major)
    if row_wise:
        if full:
            ranges.append(CoreRange(CoreCoord(0, 0), CoreCoord(grid_size.x - 1, full - 1)))
        if rest:
            ranges.append(CoreRange(CoreCoord(0, full), CoreCoord(rest - 1, full)))
    else:
        if full:
            ranges.append(CoreRange(CoreCoord(0, 0), CoreCoord(full - 1, grid_size.y - 1)))
        if rest:
            ranges.append(CoreRange(CoreCoord(full, 0), CoreCoord(full, rest - 1)))
    return CoreRangeSet(ranges)


@dataclass(frozen=True)
class ShardSpec:
    grid: CoreRangeSet
    shape: tuple[int, int]
    orientation: ShardOrientation = ShardOrientation.ROW_MAJOR

    def __init__(self, grid: CoreRangeSet, shard_shape, shard_orientation: ShardOrientation):
        if len(shard_shape) != 2 or min(shard_shape) <= 0:
            raise ValueError(f"ShardSpec: shard_shape must be two positive ints, got {shard_shape}")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "shape", tuple(int(s) for s in shard_shape))
        object.__setattr__(self, "orientation", shard_orientation)

    def num_cores(self) -> int:
        return self.grid.num_cores()


@dataclass(frozen=True)
class MemoryConfig:
    memory_layout: TensorMemoryLayout = TensorMemoryLayout.INTERLEAVED
    buffer_type: BufferType = BufferType.DRAM
    shard_spec: ShardSpec | None = field(default=None)

    def is_sharded(self) -> bool:
        return self.memory_layout != TensorMemoryLayout.INTERLEAVED

    def __post_init__(self):
        if self.is_sharded() and self.buffer_type == BufferType.DRAM and self.shard_spec is None:
            raise ValueError("MemoryConfig: a DRAM-sharded memory config needs a shard_spec")


DRAM_MEMORY_CONFIG = MemoryConfig(TensorMemoryLayout.INTERLEAVED, BufferType.DRAM)
L1_MEMORY_CONFIG = MemoryConfig(TensorMemoryLayout.INTERLEAVED, BufferType.L1)
# Sharded configs without a shard_spec: the op derives the spec from its output shape and grid.
L1_WIDTH_SHARDED_MEMORY_CONFIG = MemoryConfig(TensorMemoryLayout.WIDTH_SHARDED, BufferType.L1)
L1_HEIGHT_SHARDED_MEMORY_CONFIG = MemoryConfig(TensorMemoryLayout.HEIGHT_SHARDED, BufferType.L1)
L1_BLOCK_SHARDED_MEMORY_CONFIG = MemoryConfig(TensorMemoryLayout.BLOCK_SHARDED, BufferType.L1)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def create_sharded_memory_config(
    shape,
    core_grid,
    strategy: ShardStrategy,
    orientation: ShardOrientation | None = None,
    use_height_and_width_as_shard_shape: bool = False,
) -> MemoryConfig:
    """Build an L1 sharded MemoryConfig as ttnn.create_sharded_memory_config does.

    ``shape`` is the tensor shape (or, with ``use_height_and_width_as_shard_shape``, the shard shape).
    """
    orientation = orientation or ShardOrientation.ROW_MAJOR
    if isinstance(core_grid, CoreGrid):
        grid = CoreRangeSet([CoreRange(CoreCoord(0, 0), CoreCoord(core_grid.x - 1, core_grid.y - 1))])
        grid_x, grid_y = core_grid.x, core_grid.y
    elif isinstance(core_grid, CoreRangeSet):
        grid = core_grid
        box = grid.bounding_box().grid_size()
        grid_x, grid_y = box.x, box.y
    else:
        raise TypeError(
            f"create_sharded_memory_config: core_grid must be CoreGrid or CoreRangeSet, got {type(core_grid).__name__}"
        )
    shape = tuple(int(s) for s in shape)
    layout = {
        ShardStrategy.HEIGHT: TensorMemoryLayout.HEIGHT_SHARDED,
        ShardStrategy.WIDTH: TensorMemoryLayout.WIDTH_SHARDED,
        ShardStrategy.BLOCK: TensorMemoryLayout.BLOCK_SHARDED,
    }[strategy]
    if use_height_and_width_as_shard_shape:
        if len(shape) != 2:
            raise ValueError(
                f"create_sharded_memory_config: shard shape must be (height, width), got {shape}"
            )
        shard_shape = shape
    else:
        height = 1
        for s in shape[:-1]:
            height *= s
        width = shape[-1]
        num_cores = grid.num_cores()
        if strategy == ShardStrategy.HEIGHT:
            shard_shape = (_round_up(-(-height // num_cores), TILE_SIZE), width)
        elif strategy == ShardStrategy.WIDTH:
            shard_shape = (height, _round_up(-(-width // num_cores), TILE_SIZE))
        else:
            rows, cols = (grid_y, grid_x) if orientation == ShardOrientation.ROW_MAJOR else (grid_x, grid_y)
            shard_shape = (_round_up(-(-height // rows), TILE_SIZE), _round_up(-(-width // cols), TILE_SIZE))
    return MemoryConfig(layout, BufferType.L1, ShardSpec(grid, shard_shape, orientation))
