"""The sparse expert path of MoE (``MoEImplConfig.path = "sparse"``): Qwen3-MoE's 128 experts, top-8.

Against HF ``Qwen3MoeSparseMoeBlock`` on a tiny config (128 experts, hidden 64, expert inner 64),
threshold PCC >= 0.9999 with the accuracy strategy (bfloat16 weights, HiFi4, fp32 accumulation,
float32 router logits), as ``test_moe.py``. The wrong routing variants (top-7, renormalisation
off) must fall below it.

Near-ties: with 128 experts the 8th and 9th router logits of a token are often close (a gap of
1e-3 in 64 tokens is common), and an input or weight rounded to bfloat16 moves a logit by ~2^-9 of
its size: enough to swap the two experts and change that token's output by ~30 % (measured: two of
64 tokens, gaps 1.1e-3 and 2.8e-3, with float32 HF weights and inputs). Qwen3-MoE checkpoints and
the activations between layers are bfloat16, so these tests give HF bfloat16-valued weights and
inputs: the device then sees exactly HF's numbers and the logits agree to float32 summation order
(~1e-6). The smallest logit gap is printed, and a failure lists the tokens whose gap is below
``TIE_GAP``, so a flip from a genuine tie is reported rather than hidden by a lower threshold.

Sparse vs dense: same weights and routing; the only difference is the order of the bfloat16
additions over a device's experts (the dense path rounds after each of its L local experts, the
sparse path sums the L scaled outputs in one reduction), so the bound is
``L * 2^-8 * max|out|`` (L roundings of at most half a bfloat16 ulp of a partial sum <= max|out|).

Skipped work: the emulator records how many (token block, expert) pairs each device's
``sparse_matmul`` computed; it must equal the count from the torch router's own top-k.
"""

import dataclasses

import pytest
import torch
from _pcc import pcc
from test_moe import HIDDEN, experts_for, hf_out, randomize, router_margin, run, unfuse
from transformers import Qwen3MoeConfig
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock
from tttv2_blocks import MoE, MoESpec, get_default_impl_config, program_configs
from tttv2_blocks.moe import default_path
from tttv2_hwconfig import ttnn
from tttv2_hwconfig.emulator._rules import RuleViolation

THRESHOLD = 0.9999
TIE_GAP = 1e-4  # logit gaps below this are reported as near-ties (float32 summation order is ~1e-6)
EXPERTS, TOP_K, EXPERT_I = 128, 8, 64


def qwen3_moe(experts=EXPERTS, top_k=TOP_K):
    config = Qwen3MoeConfig(
        hidden_size=HIDDEN,
        moe_intermediate_size=EXPERT_I,
        num_experts=experts,
        num_experts_per_tok=top_k,
        norm_topk_prob=True,
    )
    spec = MoESpec(HIDDEN, experts, top_k, EXPERT_I, renormalize=True)
    hf = randomize(Qwen3MoeSparseMoeBlock(config))
    with torch.no_grad():
        for p in hf.parameters():
            p.copy_(p.to(torch.bfloat16).float())  # a bfloat16 checkpoint
    return spec, hf


def bf16_randn(*shape):
    return torch.randn(*shape).to(torch.bfloat16).float()


def logit_gaps(hf, x, k):
    """Per token: k-th minus (k+1)-th router logit (float32, HF's weights)."""
    top = torch.topk(x.reshape(-1, HIDDEN) @ hf.gate.weight.detach().T, k + 1, dim=-1).values
    return top[:, k - 1] - top[:, k]


def build(spec, hf, device, path, strategy="accuracy"):
    impl = get_default_impl_config(spec, device, strategy=strategy)
    impl.path = path
    block = MoE(spec, impl, device)
    block.load_weights(unfuse(dict(hf.state_dict()), spec.num_experts))
    return block


# (mode, rows per call, calls): decode batches of 32 users; prefill of 2 sparsity blocks; a prefill
# that is not a multiple of 32 rows (one block of 40 rows).
SHAPES = [("decode", 32, 2), ("prefill", 64, 1), ("prefill", 40, 1)]


@pytest.mark.parametrize("mode,rows,steps", SHAPES)
def test_sparse_qwen3_moe_matches_hf_and_wrong_routing_does_not(device, mode, rows, steps):
    spec, hf = qwen3_moe()
    xs = [bf16_randn(1, 1, rows, HIDDEN) for _ in range(steps)]
    x = torch.cat(xs, dim=2)
    expected = hf_out(hf, x)
    block = build(spec, hf, device, "sparse")
    assert block.sparse is not None and not block.experts
    torch.testing.assert_close(block.torch_reference()(x), expected, rtol=1e-4, atol=1e-4)
    got = pcc(expected, run(block, device, xs, mode))
    gaps = logit_gaps(hf, x, TOP_K)
    ties = {int(t): f"{float(gaps[t]):.1e}" for t in torch.nonzero(gaps < TIE_GAP).flatten()}
    print(
        f"qwen3_moe 128x top-8 sparse {mode} {rows} rows {device}: PCC {got:.6f}, "
        f"min logit gap {float(gaps.min()):.2e}, min prob margin {router_margin(hf, x, TOP_K):.2e}"
    )
    assert got >= THRESHOLD, (
        f"sparse {mode}: PCC {got:.6f} < {THRESHOLD}; near-tie tokens (gap < {TIE_GAP}): {ties}"
    )
    for wrong in ({"top_k": TOP_K - 1}, {"renormalize": False}):
        wrong_block = build(dataclasses.replace(spec, **wrong), hf, device, "sparse")
        wrong_pcc = pcc(expected, run(wrong_block, device, xs, mode))
        print(f"  wrong routing {wrong}: PCC {wrong_pcc:.6f}")
        assert wrong_pcc < THRESHOLD, f"sparse path with wrong routing {wrong} still matches HF"


@pytest.mark.parametrize("mode,rows,steps", SHAPES[:2])
def test_sparse_equals_dense_within_the_addition_order_bound(device, mode, rows, steps):
    spec, hf = qwen3_moe(experts=experts_for(device, 16), top_k=4)  # few experts keep the dense loop short
    xs = [bf16_randn(1, 1, rows, HIDDEN) for _ in range(steps)]
    dense = run(build(spec, hf, device, "dense"), device, xs, mode)
    sparse = run(build(spec, hf, device, "sparse"), device, xs, mode)
    local = spec.num_experts // device.get_num_devices()
    bound = local * 2**-8 * float(dense.abs().max())
    diff = float((sparse - dense).abs().max())
    print(
        f"sparse vs dense {mode} {device}: max |diff| {diff:.3e}, bound {bound:.3e}, PCC {pcc(dense, sparse):.7f}"
    )
    assert diff <= bound, f"sparse and dense differ by {diff:.3e} > {bound:.3e}"
    # Tighter in aggregate: one token routed to a different expert alone gives PCC ~0.999 here.
    assert pcc(dense, sparse) >= 0.99999, f"sparse vs dense PCC {pcc(dense, sparse):.7f} < 0.99999"


def _routed_pairs(hf, x, spec, num_devices, rows_per_block):
    """Per device: (token block, local expert) pairs the torch router's top-k routes to."""
    logits = x.reshape(-1, HIDDEN) @ hf.gate.weight.detach().T
    chosen = torch.topk(torch.softmax(logits, dim=-1), spec.top_k, dim=-1).indices
    local = spec.num_experts // num_devices
    counts = [0] * num_devices
    for block in chosen.split(rows_per_block):
        for expert in torch.unique(block).tolist():
            counts[expert // local] += 1
    return counts


@pytest.mark.parametrize("mode,rows", [("decode", 1), ("decode", 32), ("prefill", 64)])
def test_sparse_matmul_computes_only_the_routed_pairs(device, mode, rows):
    spec, hf = qwen3_moe()
    x = bf16_randn(1, 1, rows, HIDDEN)
    block = build(spec, hf, device, "sparse")
    start = len(device.trace.records)
    run(block, device, [x], mode)
    records = [r for r in device.trace.records[start:] if r.name == "ttnn.sparse_matmul"]
    assert len(records) == 3, [r.name for r in records]  # gate, up, down
    n = device.get_num_devices()
    expected = _routed_pairs(hf, x, spec, n, 32)
    local = spec.num_experts // n
    for record in records:
        per_device = list(record.attributes["active_pairs_per_device"])
        assert per_device == expected, f"{record.name}: computed pairs {per_device}, router routes {expected}"
        assert record.attributes["pairs"] == -(-rows // 32) * local
    print(
        f"{mode} {rows} rows {device}: pairs computed per device {expected} of {record.attributes['pairs']}"
    )
    if rows == 1:
        assert sum(expected) == TOP_K  # one token: exactly its top-8 experts run, 120 of 128 are skipped


@pytest.mark.parametrize(
    "experts,top_k,expected",
    [
        (8, 2, {"N150": "sparse", "N300": "sparse", "T3K": "dense", "TG": "dense"}),
        (128, 8, {"N150": "sparse", "N300": "sparse", "T3K": "sparse", "TG": "sparse"}),
        (16, 2, {"N150": "sparse", "N300": "sparse", "T3K": "dense", "TG": "dense"}),  # T3K: 2 per chip
    ],
)
def test_default_path_is_sparse_from_three_experts_per_device(device, device_name, experts, top_k, expected):
    spec = MoESpec(HIDDEN, experts, top_k, EXPERT_I)
    if device_name not in expected:
        pytest.skip(f"no expectation written for {device_name}")
    assert default_path(spec, device) == expected[device_name]
    assert get_default_impl_config(spec, device).path == expected[device_name]


def test_unknown_path_is_refused(device):
    spec = MoESpec(HIDDEN, experts_for(device, 8), 2, EXPERT_I)
    impl = get_default_impl_config(spec, device)
    impl.path = "auto"
    with pytest.raises(ValueError, match=r"MoE.path must be one of \('dense', 'sparse'\), got 'auto'"):
        MoE(spec, impl, device)


def test_traced_sparse_decode_replays_new_routing_bit_for_bit(device):
    """A captured decode replays with new tokens (so new sparsity) exactly as an eager decode."""
    spec, hf = qwen3_moe()
    block = build(spec, hf, device, "sparse")

    def to_device(x):
        return ttnn.from_torch(
            x,
            dtype=ttnn.bfloat16,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(device),
        )

    x_dev = to_device(bf16_randn(1, 1, 32, HIDDEN))
    block.forward_decode(x_dev)  # compile run
    trace_id = ttnn.begin_trace_capture(device, cq_id=0)
    out = block.forward_decode(x_dev)
    ttnn.end_trace_capture(device, trace_id, cq_id=0)
    for _ in range(2):
        x = bf16_randn(1, 1, 32, HIDDEN)
        host = ttnn.from_torch(
            x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, mesh_mapper=ttnn.ReplicateTensorToMesh(device)
        )
        ttnn.copy_host_to_device_tensor(host, x_dev)
        ttnn.execute_trace(device, trace_id, cq_id=0, blocking=True)
        replayed = ttnn.to_torch(ttnn.get_device_tensors(out)[0]).float()
        eager = ttnn.to_torch(ttnn.get_device_tensors(block.forward_decode(to_device(x)))[0]).float()
        assert torch.equal(replayed, eager)
        assert pcc(hf_out(hf, x), replayed) >= THRESHOLD
    ttnn.release_trace(device, trace_id)


def test_sparse_path_overrides_that_cannot_work_name_the_config_path(device):
    spec = MoESpec(HIDDEN, experts_for(device, 8), 2, EXPERT_I)
    grid = device.compute_with_storage_grid_size()
    impl = get_default_impl_config(spec, device)
    impl.path = "sparse"
    impl.down_proj.decode_program_config = program_configs.matmul_2d_config(32, EXPERT_I, HIDDEN, grid)
    with pytest.raises(
        ValueError, match=r"MoE\.down_proj\.decode_program_config: the sparse path runs ttnn\.sparse_matmul"
    ):
        MoE(spec, impl, device)
    impl = get_default_impl_config(spec, device)
    impl.path = "sparse"
    impl.up_proj.prefill_program_config = program_configs.sparse_matmul_config(32, HIDDEN, EXPERT_I, grid)
    impl.up_proj.prefill_program_config.fused_activation = ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU)
    with pytest.raises(
        ValueError, match=r"MoE\.up_proj\.prefill_program_config: fused_activation must be None"
    ):
        MoE(spec, impl, device)
    impl = get_default_impl_config(spec, device)
    impl.path = "sparse"
    impl.gate_proj.dtype = ttnn.uint32
    with pytest.raises(ValueError, match=r"MoE\.gate_proj\.dtype"):
        MoE(spec, impl, device)


def test_a_given_sparse_program_config_is_used(device):
    """A user's 1D config reaches ttnn.sparse_matmul (a config the op refuses fails there, naming the rule)."""
    spec, hf = qwen3_moe(experts=experts_for(device, 16), top_k=4)
    impl = get_default_impl_config(spec, device, strategy="accuracy")
    impl.path = "sparse"
    impl.up_proj.decode_program_config = program_configs.sparse_matmul_config(
        32, HIDDEN, EXPERT_I, ttnn.CoreCoord(1, 1), fp32_dest_acc_en=True
    )
    block = MoE(spec, impl, device)
    block.load_weights(unfuse(dict(hf.state_dict()), spec.num_experts))
    x = bf16_randn(1, 1, 32, HIDDEN)
    start = len(device.trace.records)
    y = run(block, device, [x], "decode")
    assert pcc(hf_out(hf, x), y) >= THRESHOLD
    used = [r.cores_used for r in device.trace.records[start:] if r.name == "ttnn.sparse_matmul"]
    assert used[1] == 1 and used[0] > 1, used  # up_proj on the one core its config names; gate_proj derived
    impl.up_proj.decode_program_config.in0_block_w = 3  # K = 2 tiles
    with pytest.raises(RuleViolation, match="sparse_matmul.kt_in0_block_w"):
        run(block, device, [x], "decode")
