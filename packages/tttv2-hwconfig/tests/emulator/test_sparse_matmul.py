"""ttnn.sparse_matmul beyond its rules (those are in rules/cases_sparse_matmul.py): the op record,
trace replay with new sparsity, and shapes-only runs."""

import pytest
import torch
from tttv2_hwconfig import shapes_only, ttnn

A_SHAPE, B_SHAPE = (1, 2, 32, 64), (1, 4, 64, 96)


def config():
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(3, 1),
        in0_block_w=2,
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=1,
        per_core_N=1,
        fuse_batch=False,
        mcast_in0=True,
    )


def tile(device, data):
    return ttnn.from_torch(data, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)


def mask(device, values):
    return ttnn.from_torch(
        torch.tensor(values, dtype=torch.float32).reshape(1, 2, 1, 4), dtype=ttnn.bfloat16, device=device
    )


def test_record_charges_the_active_pairs_only(device):
    a, b = tile(device, torch.randn(A_SHAPE)), tile(device, torch.randn(B_SHAPE))
    records = []
    for values in ([1, 1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 1, 0]):
        ttnn.sparse_matmul(a, b, sparsity=mask(device, values), program_config=config())
        records.append(device.trace.records[-1])
    full, sparse = records
    assert full.attributes["active_pairs"] == 8 and sparse.attributes["active_pairs"] == 2
    assert full.flops == 4 * sparse.flops == 8 * 2 * 32 * 64 * 96
    # Per pair: one A matrix (32x64 bf16 tiles) and one expert (64x96); plus sparsity and the full output.
    pair = 2 * 2048 + 6 * 2048
    assert full.bytes_moved - sparse.bytes_moved == 6 * pair


def test_replay_uses_the_new_sparsity(device):
    a, b = tile(device, torch.randn(A_SHAPE)), tile(device, torch.randn(B_SHAPE))
    s = mask(device, [1, 0, 0, 0, 0, 0, 0, 0])

    def run():
        return ttnn.sparse_matmul(a, b, sparsity=s, program_config=config())

    run()
    trace_id = ttnn.begin_trace_capture(device, cq_id=0)
    out = run()
    ttnn.end_trace_capture(device, trace_id, cq_id=0)
    new = [0, 1, 0, 1, 1, 0, 0, 0]
    host = ttnn.from_torch(torch.tensor(new, dtype=torch.float32).reshape(1, 2, 1, 4), dtype=ttnn.bfloat16)
    ttnn.copy_host_to_device_tensor(host, s)
    ttnn.execute_trace(device, trace_id, cq_id=0, blocking=True)
    replayed = ttnn.to_torch(ttnn.get_device_tensors(out)[0])
    eager = ttnn.to_torch(ttnn.get_device_tensors(run())[0])
    assert torch.equal(replayed, eager)
    active = replayed.reshape(2, 4, 32, 96).abs().sum(dim=(-1, -2)) > 0
    assert active.flatten().tolist() == [bool(v) for v in new]
    ttnn.release_trace(device, trace_id)


def test_shapes_only_counts_every_pair(device):
    with shapes_only():
        a, b = tile(device, torch.randn(A_SHAPE)), tile(device, torch.randn(B_SHAPE))
        out = ttnn.sparse_matmul(
            a, b, sparsity=mask(device, [1, 0, 0, 0, 0, 0, 0, 0]), program_config=config()
        )
    assert tuple(out.shape) == (1, 2, 1, 4, 32, 96) and out.shards[0].is_meta
    assert device.trace.records[-1].attributes["active_pairs"] == 8  # no values: the upper bound


def test_a_fused_activation_is_refused_not_guessed(device):
    a, b = tile(device, torch.randn(A_SHAPE)), tile(device, torch.randn(B_SHAPE))
    pc = config()
    pc.fused_activation = ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU)
    with pytest.raises(NotImplementedError, match="fused_activation is not modelled"):
        ttnn.sparse_matmul(a, b, sparsity=mask(device, [1] * 8), program_config=pc)
