"""``ttnn.MemoryConfig`` <-> JSON, so cached tensors go back where they were (no pickle in cache files)."""

from __future__ import annotations

from tttv2_hwconfig import ttnn


def memory_config_to_json(config) -> dict:
    """Layout, buffer type and shard spec (grid ranges, shard shape, orientation) of a memory config."""
    shard = config.shard_spec
    return {
        "memory_layout": config.memory_layout.name,
        "buffer_type": config.buffer_type.name,
        "shard_spec": None
        if shard is None
        else {
            "grid": [[r.start.x, r.start.y, r.end.x, r.end.y] for r in shard.grid.ranges()],
            "shape": list(shard.shape),
            "orientation": shard.orientation.name,
        },
    }


def memory_config_from_json(data: dict):
    """The ``ttnn.MemoryConfig`` that ``memory_config_to_json`` described."""
    shard_spec = None
    if data["shard_spec"] is not None:
        shard = data["shard_spec"]
        grid = ttnn.CoreRangeSet(
            {
                ttnn.CoreRange(ttnn.CoreCoord(sx, sy), ttnn.CoreCoord(ex, ey))
                for sx, sy, ex, ey in shard["grid"]
            }
        )
        shard_spec = ttnn.ShardSpec(grid, tuple(shard["shape"]), ttnn.ShardOrientation[shard["orientation"]])
    return ttnn.MemoryConfig(
        ttnn.TensorMemoryLayout[data["memory_layout"]], ttnn.BufferType[data["buffer_type"]], shard_spec
    )
