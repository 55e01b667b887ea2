"""open_device over the catalog, device properties, and L1/DRAM accounting of the emulated allocator."""

import pytest
import torch
from tttv2_hwconfig import (
    OutOfMemoryError,
    close_device,
    default_device_name,
    device_spec,
    list_devices,
    open_device,
    ttnn,
)


@pytest.mark.parametrize("name", list_devices())
def test_open_every_catalog_device(name):
    spec = device_spec(name)
    with open_device(name) as device:
        rows, cols = spec.mesh_shape
        assert tuple(device.shape) == (rows, cols)
        assert device.get_num_devices() == rows * cols
        grid = device.compute_with_storage_grid_size()
        assert (grid.x, grid.y) == tuple(spec.compute_grid)
        assert tuple(device.dram_grid_size()) == tuple(spec.dram_grid)
        assert device.arch().name.lower() == spec.arch


@pytest.mark.parametrize(
    ("name", "mesh", "grid"),
    [
        # Public figures: N150/N300 Wormhole 8x8 worker grid (one row of 8x10 reserved for dispatch on n150:
        # tt-metal reports 8x8), TG = 8x4 Wormholes, P150 Blackhole 11x10 (tt-metal compute_with_storage_grid_size).
        ("N150", (1, 1), (8, 8)),
        ("N300", (1, 2), (8, 8)),
        ("T3K", (1, 8), (8, 8)),
        ("TG", (8, 4), None),
        ("P150", (1, 1), (11, 10)),
    ],
)
def test_known_mesh_shapes_and_grids(name, mesh, grid):
    with open_device(name) as device:
        assert tuple(device.shape) == mesh
        if grid is not None:
            size = device.compute_with_storage_grid_size()
            assert (size.x, size.y) == grid


def test_names_are_case_insensitive():
    with open_device("t3k") as device:
        assert device.spec.name == "T3K"


def test_unknown_device_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown device 'N999'.*N150"):
        open_device("N999")


def test_context_manager_closes_the_device():
    with open_device("N150") as device:
        x = ttnn.from_torch(
            torch.ones(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
        )
    with pytest.raises(RuntimeError, match="device N150 is closed"):
        ttnn.rms_norm(x)


def test_close_device_closes():
    device = open_device("N300")
    close_device(device)
    with pytest.raises(RuntimeError, match="closed"):
        device.check_open("test")


def test_default_device_comes_from_env(monkeypatch):
    monkeypatch.setenv("TTTV2_DEVICE", "T3K")
    assert default_device_name() == "T3K"
    with open_device() as device:
        assert device.spec.name == "T3K"
    monkeypatch.delenv("TTTV2_DEVICE")
    assert default_device_name() == "N150"


def test_emulate_false_without_hardware_fails():
    with pytest.raises(RuntimeError, match="no Tenstorrent hardware"):
        open_device("N150", emulate=False)


# --- memory accounting ----------------------------------------------------------------------------


def l1_sharded_config(width_tiles, cores=2):
    """``width_tiles`` bfloat16 tiles in one row on each of ``cores`` cores: 2048 * width_tiles bytes per core."""
    return ttnn.create_sharded_memory_config(
        shape=(32, 32 * width_tiles),
        core_grid=ttnn.CoreGrid(x=cores, y=1),
        strategy=ttnn.ShardStrategy.WIDTH,
        use_height_and_width_as_shard_shape=True,
    ), cores


def test_allocating_past_l1_fails_naming_op_and_sizes():
    with open_device("N150") as device:
        width_tiles = 64  # 128 KiB per core per tensor
        config, cores = l1_sharded_config(width_tiles)
        per_core = width_tiles * 2048
        capacity = device.allocator.l1_capacity  # usable L1: catalog size minus the reserved region
        fits = capacity // per_core
        data = torch.zeros(1, 1, 32, 32 * width_tiles * cores)
        kept = [
            ttnn.from_torch(
                data, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=config
            )
            for _ in range(fits)
        ]
        assert max(device.allocator.l1_used) == fits * per_core
        with pytest.raises(
            OutOfMemoryError,
            match=rf"ttnn.from_torch: out of L1 .*\({per_core} bytes on core .*{fits * per_core} of {capacity}",
        ):
            ttnn.from_torch(
                data, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=config
            )
        assert len(kept) == fits


def test_deallocate_frees_l1():
    with open_device("N150") as device:
        config, cores = l1_sharded_config(16)
        before = list(device.allocator.l1_used)
        x = ttnn.from_torch(
            torch.zeros(1, 1, 32, 32 * 16 * cores),
            dtype=ttnn.bfloat16,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            memory_config=config,
        )
        grew = [used - b for used, b in zip(device.allocator.l1_used, before)]
        assert grew[:cores] == [16 * 2048] * cores and not any(grew[cores:])
        ttnn.deallocate(x)
        assert device.allocator.l1_used == before


def test_op_outputs_are_accounted_and_freed_when_dropped():
    with open_device("N150") as device:
        x = ttnn.from_torch(
            torch.randn(1, 1, 64, 64), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
        )
        before = device.allocator.dram_used
        y = ttnn.rms_norm(x, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        assert device.allocator.dram_used == before + 4 * 2048  # four bfloat16 tiles
        del y
        assert device.allocator.dram_used == before


def test_dram_exhaustion_names_sizes():
    with open_device("N150") as device:
        device.allocator.dram_used = device.spec.dram_bytes_per_chip - 1024  # pretend DRAM is nearly full
        with pytest.raises(OutOfMemoryError, match=r"out of DRAM allocating .*\(2048 bytes\) on N150"):
            ttnn.from_torch(torch.zeros(32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)
