"""ttnn.all_gather / reduce_scatter / all_reduce against torch over explicit device groups.

The reference builds each device's expected data from the per-device inputs and a group list
computed here from the mesh shape (row-major device order), independently of the emulator.
On N150/P150 every group has one device: the collectives are copies with no link traffic.
"""

import math

import pytest
import torch
from tttv2_hwconfig import open_device, ttnn


def groups_of(device, axis):
    rows, cols = tuple(device.shape)
    if axis is None:
        return [list(range(rows * cols))]
    if axis == 0:
        return [[r * cols + c for r in range(rows)] for c in range(cols)]
    return [[r * cols + c for c in range(cols)] for r in range(rows)]


def per_device(device, shape, dtype=ttnn.float32):
    """A distinct tensor on every device: returns (ttnn tensor, list of torch tensors)."""
    n = device.get_num_devices()
    full = torch.randn(n * shape[0], *shape[1:])
    if dtype == ttnn.bfloat16:
        full = full.to(torch.bfloat16).to(torch.float32)
    tensor = ttnn.from_torch(
        full,
        dtype=dtype,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ShardTensorToMesh(device, dim=0),
    )
    return tensor, list(torch.chunk(full, n, dim=0))


def outputs(tensor):
    return [ttnn.to_torch(t).to(torch.float32) for t in ttnn.get_device_tensors(tensor)]


AXES = [None, 0, 1]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("dim", [3, 2, 0])
def test_all_gather(device, axis, dim):
    tensor, inputs = per_device(device, (1, 1, 32, 64))
    out = ttnn.all_gather(tensor, dim, cluster_axis=axis)
    got = outputs(out)
    for group in groups_of(device, axis):
        expected = torch.cat([inputs[i] for i in group], dim=dim)
        for i in group:
            assert torch.equal(got[i], expected)  # gathering copies values exactly


@pytest.mark.parametrize("axis", AXES)
def test_reduce_scatter(device, axis):
    groups = groups_of(device, axis)
    n = len(groups[0])
    tensor, inputs = per_device(device, (1, 1, 32, 64 * n))
    got = outputs(ttnn.reduce_scatter(tensor, 3, cluster_axis=axis))
    for group in groups:
        total = sum(inputs[i] for i in group)
        for k, i in enumerate(group):
            # float32 reduction: only summation order differs from torch.
            torch.testing.assert_close(got[i], total[..., k * 64 : (k + 1) * 64], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("dtype", [ttnn.float32, ttnn.bfloat16])
def test_all_reduce(device, axis, dtype):
    tensor, inputs = per_device(device, (1, 1, 33, 64), dtype)
    got = outputs(ttnn.all_reduce(tensor, cluster_axis=axis))
    for group in groups_of(device, axis):
        total = sum(inputs[i] for i in group)
        partial_max = max(sum(inputs[i] for i in group[:k]).abs().max() for k in range(1, len(group) + 1))
        # float32: summation order only. bfloat16 is reduced in bfloat16: each of the n-1 adds rounds its
        # partial sum by at most half an ulp (2^-8 relative), so the error is bounded by (n-1) * 2^-8 * max|partial|.
        bound = 1e-5 if dtype == ttnn.float32 else max(len(group) - 1, 1) * 2**-8 * float(partial_max)
        for i in group:
            assert (got[i] - total).abs().max() <= bound


# --- groups holding identical inputs compute once and share their outputs -----------------------------


def row_replicated(device, shape):
    """Distinct data per mesh column, the SAME shard objects in every mesh row (TTTv2's TG layout).

    Returns (ttnn tensor, list of each column's torch data).
    """
    rows, cols = tuple(device.shape)
    full = torch.randn(*shape[:-1], shape[-1] * cols)
    tensor = ttnn.from_torch(
        full,
        dtype=ttnn.float32,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ShardTensor2dMesh(device, mesh_shape=(rows, cols), dims=(None, 3)),
    )
    return tensor, list(torch.chunk(full, cols, dim=3))


COLLECTIVES = {
    "all_gather": lambda t, axis: ttnn.all_gather(t, 3, cluster_axis=axis),
    "reduce_scatter": lambda t, axis: ttnn.reduce_scatter(t, 3, cluster_axis=axis),
    "all_reduce": lambda t, axis: ttnn.all_reduce(t, cluster_axis=axis),
}


def expected_row_replicated(name, group, columns, k):
    """What device ``group[k]`` holds after collective ``name`` when device i holds columns[i % cols]."""
    members = [columns[i % len(columns)] for i in group]
    if name == "all_gather":
        return torch.cat(members, dim=3)
    total = sum(members)
    return torch.chunk(total, len(group), dim=3)[k] if name == "reduce_scatter" else total


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", list(COLLECTIVES))
def test_groups_with_identical_inputs_share_outputs(device, axis, name):
    """Two devices get the same output object exactly when their groups hold the same inputs in the same
    order (and, for reduce_scatter, they sit at the same place in their groups); values match torch."""
    cols = tuple(device.shape)[1]
    groups = groups_of(device, axis)
    n = len(groups[0])
    tensor, columns = row_replicated(device, (1, 1, 32, 32 * n))
    out = COLLECTIVES[name](tensor, axis)
    # The data identity of device i's output, from the test's own model of the input (column i % cols).
    identity = {}
    for group in groups:
        signature = tuple(i % cols for i in group)
        for k, i in enumerate(group):
            identity[i] = (signature, k) if name == "reduce_scatter" else signature
            # float32 reduction: only summation order differs from torch.
            torch.testing.assert_close(
                out.shards[i], expected_row_replicated(name, group, columns, k), rtol=1e-5, atol=1e-5
            )
    for i in range(len(out.shards)):
        for j in range(i):
            assert (out.shards[i] is out.shards[j]) == (identity[i] == identity[j]), (i, j)


def test_tg_row_all_reduce_of_row_replicated_input_is_one_shared_object():
    """TG (8x4): heads over columns, replicated over rows; the row all_reduce is computed once, not 8x."""
    with open_device("TG") as tg:
        assert tuple(tg.shape) == (8, 4)
        tensor, columns = row_replicated(tg, (1, 1, 32, 64))
        out = ttnn.all_reduce(tensor, cluster_axis=1)
        assert len({id(shard) for shard in out.shards}) == 1  # one torch object on all 32 devices
        torch.testing.assert_close(out.shards[0], sum(columns), rtol=1e-5, atol=1e-5)
        # ... so a following op also computes once (shard_map dedups by object identity).
        doubled = ttnn.add(out, out)
        assert len({id(shard) for shard in doubled.shards}) == 1


def expected_link_bytes(n, piece_bytes, topology):
    if n == 1:
        return 0
    steps = math.ceil((n - 1) / 2) if topology == "Ring" else n - 1
    return steps * piece_bytes


@pytest.mark.parametrize("axis", AXES)
def test_ccl_bytes_recorded_per_chip(device, axis):
    n = len(groups_of(device, axis)[0])
    tensor, _ = per_device(device, (1, 1, 32, 64 * n), ttnn.bfloat16)
    device.trace.clear()
    ttnn.all_gather(tensor, 3, cluster_axis=axis, topology=ttnn.Topology.Linear)
    ttnn.reduce_scatter(tensor, 3, cluster_axis=axis, topology=ttnn.Topology.Ring)
    gather, scatter = device.trace.records
    shard_bytes = (64 * n // 32) * 2048  # bfloat16 tiles of the per-device input
    assert gather.ccl_bytes == expected_link_bytes(n, shard_bytes, "Linear")
    assert scatter.ccl_bytes == expected_link_bytes(n, shard_bytes // n, "Ring")
    assert gather.attributes["cluster_axis"] == axis and gather.attributes["group_size"] == n


def test_replicated_input_gathers_copies(device):
    x = torch.randn(1, 1, 32, 32)
    tensor = ttnn.from_torch(x, dtype=ttnn.float32, layout=ttnn.TILE_LAYOUT, device=device)
    n = device.get_num_devices()
    out = ttnn.all_gather(tensor, 3)
    assert out.shape == (1, 1, 32, 32 * n)
    assert torch.equal(outputs(out)[0], x.repeat(1, 1, 1, n))


def test_bad_cluster_axis(device):
    tensor, _ = per_device(device, (1, 1, 32, 32))
    with pytest.raises(ValueError, match="ttnn.all_gather: cluster_axis must be None, 0"):
        ttnn.all_gather(tensor, 3, cluster_axis=2)


def test_bad_dim(device):
    tensor, _ = per_device(device, (1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"ttnn.all_gather: dim must be an int in \[-4, 4\)"):
        ttnn.all_gather(tensor, 4)


# The collectives' TT_FATAL rules (dtype, divisibility, on-device, ...) are exercised by
# tests/emulator/rules/cases_ccl.py.


# TTTv1 (ccl.py get_num_links link_dict; model_config.py ccl_topology), typed in, not read from the catalog.
TTTV1_COLLECTIVES = {
    # name: {cluster_axis: (ttnn.Topology name, num_links)}; single-chip groups run Linear with no links
    "N150": {None: ("Linear", 0), 0: ("Linear", 0), 1: ("Linear", 0)},
    "P150": {None: ("Linear", 0), 0: ("Linear", 0), 1: ("Linear", 0)},
    "N300": {None: ("Linear", 1), 1: ("Linear", 1)},
    "T3K": {None: ("Ring", 1), 1: ("Ring", 1)},
    "TG": {None: ("Linear", 3), 0: ("Linear", 4), 1: ("Linear", 3)},
    "P300": {None: ("Linear", 2), 1: ("Linear", 2)},
    "P150x4": {None: ("Linear", 2), 1: ("Linear", 2)},
}


def test_default_topology_and_num_links_are_the_catalogs_and_recorded(device):
    expected = TTTV1_COLLECTIVES.get(device.spec.name)
    if expected is None:
        pytest.skip(f"no TTTv1 collective settings typed in for {device.spec.name}")
    for axis, (topology, links) in expected.items():
        n = len(groups_of(device, axis)[0])
        tensor, _ = per_device(device, (n, 1, 32, 64), ttnn.bfloat16)
        device.trace.clear()
        ttnn.all_gather(tensor, 3, cluster_axis=axis)
        ttnn.reduce_scatter(tensor, 0, cluster_axis=axis)
        ttnn.all_reduce(tensor, cluster_axis=axis)
        for record in device.trace.records:
            got = (record.attributes["topology"], record.attributes["num_links"])
            assert got == (topology, links), (
                f"{record.name} cluster_axis={axis}: expected {(topology, links)}, got {got}"
            )


def test_explicit_num_links_is_recorded_and_read_by_the_perf_model():
    from tttv2_hwconfig import predict_op_latency_s

    with open_device("TG") as device:
        tensor, _ = per_device(device, (1, 1, 32, 4096), ttnn.bfloat16)
        device.trace.clear()
        ttnn.all_gather(tensor, 3, cluster_axis=0, num_links=4)
        ttnn.all_gather(tensor, 3, cluster_axis=0, num_links=1)
        four, one = device.trace.records
        assert (four.attributes["num_links"], one.attributes["num_links"]) == (4, 1)
        assert predict_op_latency_s(one, "TG") > predict_op_latency_s(four, "TG")


def test_num_links_over_the_devices_links_is_refused():
    with open_device("N300") as device:
        tensor, _ = per_device(device, (1, 1, 32, 64), ttnn.bfloat16)
        with pytest.raises(ValueError, match=r"rule all_gather\.links_available") as info:
            ttnn.all_gather(tensor, 3, num_links=2)
        assert "N300 has 1 link(s)" in str(info.value)
