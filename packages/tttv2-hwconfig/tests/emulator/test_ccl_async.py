"""ttnn.experimental.all_gather_async and fast_reduce_nc against torch (TTTv1's 2D-mesh all-reduce pair).

Expected values come from torch here: the gather is a concatenation of each group's per-device inputs,
the reduction a sum in slice order with each partial sum rounded to bfloat16 (DEST without fp32
accumulation, tt-metal fast_reduce_nc kernels/reduce_nc.cpp) or kept in float32. Exact equality is the
threshold: both are data moves and adds whose rounding the emulator defines.
"""

import pytest
import torch
from test_ccl import groups_of
from tttv2_hwconfig import ttnn


def semaphores(device, count):
    grid = device.compute_with_storage_grid_size()
    cores = ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(grid.x - 1, grid.y - 1))])
    return [ttnn.create_global_semaphore(device, cores, 0) for _ in range(count)]


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float32)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_all_gather_async_concatenates_each_group(device, axis):
    rows, cols = tuple(device.shape)
    size = {None: rows * cols, 0: rows, 1: cols}[axis]
    if size == 1:
        pytest.skip(f"{device} has one device along {axis}: all_gather_async refuses it")
    n = device.get_num_devices()
    full = bf16(torch.randn(n, 1, 32, 64))
    tensor = ttnn.from_torch(
        full,
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ShardTensorToMesh(device, dim=0),
    )
    out = ttnn.experimental.all_gather_async(
        tensor, None, 0, semaphores(device, 2), cluster_axis=axis, topology=ttnn.Topology.Linear
    )
    shards = [ttnn.to_torch(t).float() for t in ttnn.get_device_tensors(out)]
    for group in groups_of(device, axis):
        expected = torch.cat([full[i : i + 1] for i in group], dim=0)
        for i in group:
            assert torch.equal(shards[i], expected), f"device {i}"
    record = device.trace.select("ttnn.experimental.all_gather_async")[-1]
    assert record.attributes["group_size"] == size and record.ccl_bytes > 0


@pytest.mark.parametrize("fp32_acc", [False, True])
def test_fast_reduce_nc_sums_outer_dims_in_order(device, fp32_acc):
    x = bf16(torch.randn(6, 3, 32, 64) * 10)
    tensor = ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)
    config = ttnn.WormholeComputeKernelConfig(
        math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=fp32_acc
    )
    out = ttnn.experimental.fast_reduce_nc(
        tensor, dims=[0], compute_kernel_config=config, memory_config=ttnn.L1_MEMORY_CONFIG
    )
    total = x[0]
    for piece in x[1:]:
        total = total + piece if fp32_acc else bf16(total + piece)
    assert tuple(out.shape) == (1, 3, 32, 64) and out.memory_config() == ttnn.L1_MEMORY_CONFIG
    assert torch.equal(ttnn.to_torch(ttnn.get_device_tensors(out)[0]).float(), bf16(total.unsqueeze(0)))


def test_fast_reduce_nc_two_dims_run_two_ops_largest_first(device):
    x = bf16(torch.randn(2, 3, 32, 32))
    tensor = ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)
    device.trace.clear()
    out = ttnn.experimental.fast_reduce_nc(tensor, dims=[0, 1])
    records = device.trace.select("ttnn.experimental.fast_reduce_nc")
    assert [r.attributes["dim"] for r in records] == [1, 0]
    inner = bf16(bf16(x[:, 0] + x[:, 1]) + x[:, 2])
    expected = bf16(inner[0] + inner[1])
    assert tuple(out.shape) == (1, 1, 32, 32)
    assert torch.equal(ttnn.to_torch(ttnn.get_device_tensors(out)[0]).float()[0, 0], expected)
