"""Emulated KV-cache writes (fill_cache, update_cache, paged_fill_cache, paged_update_cache) vs torch.

Expected caches are built with plain torch indexing. Writes are compared EXACTLY (atol=0) after
rounding the reference through ``ttnn.from_torch`` in the cache dtype: a cache write must store
precisely the value the device format can hold, nothing else changes.
"""

import pytest
import torch
from tttv2_hwconfig import ttnn


def to_dev(t, device, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, memory_config=None, mesh_mapper=None):
    return ttnn.from_torch(
        t,
        dtype=dtype,
        layout=layout,
        device=device,
        memory_config=memory_config or ttnn.DRAM_MEMORY_CONFIG,
        mesh_mapper=mesh_mapper,
    )


def rounded(t, dtype):
    return ttnn.to_torch(ttnn.from_torch(t, dtype=dtype, layout=ttnn.TILE_LAYOUT)).float()


def int_tensor(values, device):
    return to_dev(
        torch.tensor(values, dtype=torch.int32), device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT
    )


def per_user_sharded(device, tensor):
    batch, width = tensor.shape[1], tensor.shape[-1]
    grid = ttnn.num_cores_to_corerangeset(batch, device.compute_with_storage_grid_size(), row_wise=True)
    config = ttnn.create_sharded_memory_config(
        (32, width), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )
    return to_dev(tensor, device, memory_config=config)


def cache_values(cache):
    return ttnn.to_torch(cache).float()


@pytest.mark.parametrize("cache_dtype", [ttnn.bfloat16, ttnn.bfloat8_b])
def test_fill_cache_writes_user_rows_and_tile_padding(device, cache_dtype):
    start = torch.randn(3, 2, 96, 32)
    cache = to_dev(start, device, dtype=cache_dtype)
    data = torch.randn(1, 2, 33, 32)
    out = ttnn.fill_cache(cache, to_dev(data, device, dtype=cache_dtype), 1, update_idx=32)
    assert out is cache
    expected = rounded(start, cache_dtype)
    expected[1, :, 32:65] = rounded(data, cache_dtype)[0]
    expected[1, :, 65:96] = 0.0  # the rest of the last input tile (its padding) is copied too
    torch.testing.assert_close(cache_values(cache), expected, atol=0, rtol=0)


def test_update_cache_writes_one_row_per_user(device):
    cache = to_dev(torch.zeros(4, 2, 64, 32), device, dtype=ttnn.bfloat8_b)
    tokens = rounded(torch.randn(1, 2, 32, 32), ttnn.bfloat16)  # the input itself is bfloat16
    ttnn.update_cache(cache, to_dev(tokens, device), 10, batch_offset=3)
    expected = torch.zeros(4, 2, 64, 32)
    expected[:, :, 10] = rounded(tokens[0, :, 3:7].permute(1, 0, 2).contiguous(), ttnn.bfloat8_b)
    torch.testing.assert_close(cache_values(cache), expected, atol=0, rtol=0)


def test_paged_update_cache_shuffled_table_and_skip(device):
    batch, heads, block, per_user, dim = 3, 2, 32, 2, 64
    table = torch.randperm(batch * per_user).reshape(batch, per_user).to(torch.int32)
    cache = to_dev(torch.zeros(batch * per_user, heads, block, dim), device, dtype=ttnn.bfloat8_b)
    tokens = rounded(torch.randn(1, batch, heads, dim), ttnn.bfloat16)  # the input itself is bfloat16
    positions = [0, 45, -1]
    ttnn.experimental.paged_update_cache(
        cache,
        per_user_sharded(device, tokens),
        update_idxs_tensor=int_tensor(positions, device),
        page_table=to_dev(table, device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT),
    )
    expected = torch.zeros(batch * per_user, heads, block, dim)
    for user, pos in enumerate(positions):
        if pos >= 0:
            expected[table[user, pos // block], :, pos % block] = rounded(tokens[0, user], ttnn.bfloat8_b)
    torch.testing.assert_close(cache_values(cache), expected, atol=0, rtol=0)


def test_paged_update_cache_unpaged_list_positions(device):
    cache = to_dev(torch.zeros(2, 1, 64, 32), device)
    tokens = torch.randn(1, 2, 1, 32)
    ttnn.experimental.paged_update_cache(cache, per_user_sharded(device, tokens), update_idxs=[63, 4])
    expected = torch.zeros(2, 1, 64, 32)
    expected[0, :, 63] = rounded(tokens[0, 0], ttnn.bfloat16)
    expected[1, :, 4] = rounded(tokens[0, 1], ttnn.bfloat16)
    torch.testing.assert_close(cache_values(cache), expected, atol=0, rtol=0)


@pytest.mark.parametrize("seq", [1, 33, 77])
def test_paged_fill_cache_shuffled_table(device, seq):
    heads, block, per_user, dim = 2, 32, 3, 32
    table = torch.randperm(2 * per_user).reshape(2, per_user).to(torch.int32)
    cache = to_dev(torch.zeros(2 * per_user, heads, block, dim), device, dtype=ttnn.bfloat8_b)
    data = torch.randn(1, heads, seq, dim)
    ttnn.experimental.paged_fill_cache(
        cache,
        to_dev(data, device, dtype=ttnn.bfloat8_b),
        to_dev(table, device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT),
        batch_idx=1,
    )
    expected = torch.zeros(2 * per_user, heads, block, dim)
    values = rounded(data, ttnn.bfloat8_b)[0]
    for pos in range(seq):
        expected[table[1, pos // block], :, pos % block] = values[:, pos]
    torch.testing.assert_close(cache_values(cache), expected, atol=0, rtol=0)


def test_cache_writes_copy_on_write_for_per_device_data(device):
    """A replicated cache receiving head-sharded data ends up holding each device's own heads."""
    n = device.get_num_devices()
    cache = to_dev(torch.zeros(1, 1, 32, 32), device)  # replicated: one shared shard object
    data = torch.randn(1, n, 32, 32)
    table = to_dev(
        torch.zeros(1, 1, dtype=torch.int32), device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT
    )
    ttnn.experimental.paged_fill_cache(
        cache, to_dev(data, device, mesh_mapper=ttnn.ShardTensorToMesh(device, dim=1)), table
    )
    stored = ttnn.to_torch(cache, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=1)).float()
    torch.testing.assert_close(stored, rounded(data, ttnn.bfloat16), atol=0, rtol=0)


def test_kv_write_emulator_preconditions(device):
    """Checks that are not TT_FATALs but would corrupt the cache on device; the paged ops' TT_FATAL
    rules are exercised by tests/emulator/rules/cases_kv.py."""
    cache = to_dev(torch.zeros(2, 1, 32, 32), device, dtype=ttnn.bfloat8_b)
    table = to_dev(
        torch.zeros(1, 1, dtype=torch.int32), device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT
    )
    tokens = torch.zeros(1, 1, 1, 32)
    with pytest.raises(ValueError, match="capacity 32"):
        ttnn.experimental.paged_update_cache(
            cache,
            per_user_sharded(device, tokens),
            update_idxs_tensor=int_tensor([32], device),
            page_table=table,
        )
    with pytest.raises(ValueError, match="update_idx 16 must be a multiple"):
        ttnn.fill_cache(
            cache, to_dev(torch.zeros(1, 1, 32, 32), device, dtype=ttnn.bfloat8_b), 0, update_idx=16
        )
    with pytest.raises(ValueError, match="batch_idx 5"):
        ttnn.fill_cache(cache, to_dev(torch.zeros(1, 1, 32, 32), device, dtype=ttnn.bfloat8_b), 5)
