"""Trace safety: ``host_reads_forbidden`` reports every host read of device data, naming the op."""

import pytest
import torch
from tttv2_hwconfig import (
    HostReadError,
    HostWriteError,
    host_reads_forbidden,
    host_transfers_forbidden,
    op_scope,
    ttnn,
    watch_host_transfers,
)


def dev(t, device, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT):
    return ttnn.from_torch(t, dtype=dtype, layout=layout, device=device)


READS = [
    ("ttnn.to_torch", lambda t, d: ttnn.to_torch(t, mesh_composer=ttnn.ConcatMeshToTensor(d, dim=0))),
    ("ttnn.to_torch", lambda t, d: t.to_torch(mesh_composer=ttnn.ConcatMeshToTensor(d, dim=0))),
    ("ttnn.from_device", lambda t, d: ttnn.from_device(t)),
    ("ttnn.from_device", lambda t, d: t.cpu()),
    ("ttnn.Tensor.item", lambda t, d: ttnn.slice(t, [0, 0, 0, 0], [1, 1, 1, 1]).item()),
    ("ttnn.Tensor.to_list", lambda t, d: t.to_list()),
    (
        "ttnn.copy_device_to_host_tensor",
        lambda t, d: ttnn.copy_device_to_host_tensor(
            t, ttnn.from_torch(torch.zeros(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)
        ),
    ),
]


@pytest.mark.parametrize(("op", "read"), READS)
def test_every_host_read_inside_the_scope_fails_naming_the_op_and_scope(device, op, read):
    x = dev(torch.randn(1, 1, 32, 32), device)
    with host_reads_forbidden("Attention.forward_decode"), op_scope("layers.0.attention"):
        with pytest.raises(
            HostReadError, match=rf"^{op}: reads .* inside Attention.forward_decode .*layers.0.attention"
        ) as excinfo:
            read(x, device)
    assert excinfo.value.op == op
    read(x, device)  # outside the scope the read is fine


def test_dump_tensor_of_a_device_tensor_is_a_host_read(device, tmp_path):
    x = dev(torch.randn(1, 1, 32, 32), device)
    with host_reads_forbidden("forward"), pytest.raises(HostReadError, match="^ttnn.dump_tensor"):
        ttnn.dump_tensor(tmp_path / "x.bin", x)


def test_host_tensors_and_device_ops_are_not_reads(device):
    x = dev(torch.randn(1, 1, 32, 32), device)
    on_host = ttnn.from_torch(torch.randn(1, 1, 32, 32), dtype=ttnn.bfloat16)
    with host_reads_forbidden("forward"):
        ttnn.add(x, x)
        ttnn.to_torch(on_host)  # host data: nothing crosses the device boundary
        dev(torch.ones(1, 1, 32, 32), device)  # a write: host_reads_forbidden allows writes


def test_transfers_forbidden_also_refuses_writes(device):
    with (
        host_transfers_forbidden("decode step"),
        pytest.raises(HostWriteError, match="^ttnn.from_torch: writes"),
    ):
        dev(torch.ones(1, 1, 32, 32), device)


def test_watch_host_transfers_lists_reads_and_writes(device):
    with watch_host_transfers() as seen, op_scope("lm_head"):
        x = dev(torch.randn(1, 1, 32, 32), device)
        ttnn.to_torch(ttnn.get_device_tensors(x)[0]) if device.get_num_devices() > 1 else ttnn.to_torch(x)
        ttnn.from_device(x)
    directions = [(t.op, t.direction) for t in seen]
    assert ("ttnn.from_torch", "write") in directions and ("ttnn.from_device", "read") in directions
    assert all(t.scope == "lm_head" for t in seen)
