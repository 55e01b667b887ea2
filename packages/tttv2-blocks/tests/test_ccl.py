"""The ``collective`` ImplConfig choice: TTTv1's 2D-mesh all-reduce (all_gather_async + fast_reduce_nc).

Each block that all-reduces (attention, FFN, MoE) runs once with the default ``"all_reduce"`` and once
with ``"all_gather_reduce"``. Thresholds: the new path must match the block's torch reference at the
block's own threshold (attention 0.99 "performance", FFN 0.99 bfp8/LoFi-free "accuracy" gated 0.999, MoE
0.9999 as in their test files), and since both compositions add the same partial sums in the same
group order with the same bfloat16 rounding, its outputs must equal the default path's bit for bit
(a weaker comparison could not tell a dropped or doubled device shard from rounding noise anyway:
those move PCC by far more than 1e-3). On N150 there is nothing to reduce: both paths run no collective.
"""

import pytest
import torch
from _attention_refs import HFAttention, from_device, to_device
from _pcc import pcc
from test_attention import build
from test_ffn import HIDDEN, outputs_on_every_device, swiglu
from test_ffn import to_device as ffn_to_device
from test_moe import HIDDEN as MOE_HIDDEN
from test_moe import THRESHOLD, experts_for, mixtral, unfuse
from tttv2_blocks import FeedForward, MoE, get_default_impl_config
from tttv2_blocks.ccl import ALL_REDUCE_COMPOSITIONS, AllReduce
from tttv2_hwconfig import ttnn

GATHER, REDUCE = "ttnn.experimental.all_gather_async", "ttnn.experimental.fast_reduce_nc"


def reduce_axes(device, *, block: str) -> int:
    """How many all-reduce steps the block runs: FFN two on a 2D mesh, attention and MoE one."""
    rows, cols = tuple(device.shape)
    if rows * cols == 1:
        return 0
    return 2 if block == "ffn" and rows > 1 and cols > 1 else 1


def run_ffn(device, collective, xs, spec, weights):
    impl = get_default_impl_config(spec, device, strategy="accuracy")
    impl.collective = collective
    ffn = FeedForward(spec, impl, device)
    ffn.load_weights(weights)
    device.trace.clear()
    ys = [outputs_on_every_device(ffn.forward_decode(ffn_to_device(x, device))) for x in xs]
    return ffn, torch.cat(ys, dim=2)


def test_ffn_all_gather_reduce_matches_reference_and_default(device):
    spec, _, weights = swiglu()
    xs = [torch.randn(1, 1, 32, HIDDEN) for _ in range(2)]
    ffn, default = run_ffn(device, "all_reduce", xs, spec, weights)
    _, gathered = run_ffn(device, "all_gather_reduce", xs, spec, weights)
    steps = reduce_axes(device, block="ffn")
    assert len(device.trace.select(GATHER)) == len(device.trace.select(REDUCE)) == 2 * steps
    assert not device.trace.select("ttnn.all_reduce")
    expected = ffn.torch_reference()(torch.cat(xs, dim=2))
    assert pcc(expected, gathered) >= 0.999, f"PCC {pcc(expected, gathered):.5f} < 0.999"
    assert torch.equal(default, gathered), "all_gather_reduce differs from all_reduce"


def test_attention_all_gather_reduce_matches_reference_and_default(device):
    hf = HFAttention("llama")
    outs = {}
    for collective in ALL_REDUCE_COMPOSITIONS:
        torch.manual_seed(1)
        attention = build(device, hf, collective=collective)
        reference = attention.torch_reference()
        prompt = torch.randn(9, 128)
        prefill = from_device(attention.forward_prefill(to_device(prompt, device), user_id=0))
        positions = torch.tensor([9, 0])
        device.trace.clear()
        x = torch.randn(2, 128)
        decode = from_device(attention.forward_decode(to_device(x, device), positions))
        if collective == "all_gather_reduce":
            steps = reduce_axes(device, block="attention")
            assert len(device.trace.select(GATHER)) == len(device.trace.select(REDUCE)) == steps
            assert not device.trace.select("ttnn.all_reduce")
            assert pcc(reference.prefill(prompt, user_id=0), prefill) >= 0.99
            assert pcc(reference.decode(x, positions), decode) >= 0.99
        outs[collective] = (prefill, decode)
    for default, gathered in zip(outs["all_reduce"], outs["all_gather_reduce"]):
        assert torch.equal(default, gathered), "all_gather_reduce differs from all_reduce"


def run_moe(spec, hf, device, x, mode, collective):
    impl = get_default_impl_config(spec, device, strategy="accuracy")
    impl.collective = collective
    block = MoE(spec, impl, device)
    block.load_weights(unfuse(dict(hf.state_dict()), spec.num_experts))
    device.trace.clear()
    tt = ttnn.from_torch(
        x,
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ReplicateTensorToMesh(device),
    )
    return block, outputs_on_every_device(getattr(block, f"forward_{mode}")(tt))


@pytest.mark.parametrize("mode,rows", [("decode", 32), ("prefill", 64)])
def test_moe_all_gather_reduce_matches_reference_and_default(device, mode, rows):
    spec, hf = mixtral(experts=experts_for(device))
    x = torch.randn(1, 1, rows, MOE_HIDDEN)
    block, default = run_moe(spec, hf, device, x, mode, "all_reduce")
    _, gathered = run_moe(spec, hf, device, x, mode, "all_gather_reduce")
    assert len(device.trace.select(REDUCE)) == reduce_axes(device, block="moe")
    assert not device.trace.select("ttnn.all_reduce")
    expected = block.torch_reference()(x)
    assert pcc(expected, gathered) >= THRESHOLD, f"PCC {pcc(expected, gathered):.6f} < {THRESHOLD}"
    assert torch.equal(default, gathered), "all_gather_reduce differs from all_reduce"


def test_unknown_collective_names_the_field(device):
    spec, _, _ = swiglu()
    impl = get_default_impl_config(spec, device)
    impl.collective = "ring_reduce"
    with pytest.raises(
        ValueError, match=r"FeedForward\.collective: collective must be one of .*'ring_reduce'"
    ):
        FeedForward(spec, impl, device)


def test_one_device_group_is_skipped(device):
    """TTTv1 skips a collective over one device; all_gather_async would refuse it."""
    reduce = AllReduce(device, "all_gather_reduce")
    x = ttnn.from_torch(torch.randn(1, 1, 32, 64), layout=ttnn.TILE_LAYOUT, device=device)
    rows, cols = tuple(device.shape)
    for axis, size in ((0, rows), (1, cols)):
        if size == 1:
            assert reduce(x, axis) is x
