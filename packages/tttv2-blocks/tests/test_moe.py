"""MoE against HF's sparse-MoE modules (Mixtral, Qwen2-MoE, Qwen3-MoE) and its torch reference.

Threshold PCC >= 0.9999 (accuracy strategy): bfloat16 weights at HiFi4 with fp32 accumulation and
float32 router logits; the remaining error is bfloat16 activations (~2^-9 relative per value).
Each variant test also builds the block with the WRONG routing variant (top-k 1 vs 2,
renormalisation flipped) and asserts it falls below the threshold, so the test fails if the
variant were ignored. Every case reports the smallest router margin (k-th minus (k+1)-th
probability) so a routing flip from a near-tie is visible rather than hidden.
"""

import dataclasses
import pathlib
import re

import pytest
import torch
from _pcc import pcc
from transformers import MixtralConfig, Qwen2MoeConfig, Qwen3MoeConfig
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
from transformers.models.qwen2_moe.modeling_qwen2_moe import Qwen2MoeSparseMoeBlock
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock
from tttv2_blocks import MoE, MoESpec, get_default_impl_config
from tttv2_blocks.weights import WeightError
from tttv2_hwconfig import ttnn

HIDDEN, EXPERT_I, SHARED_I, EXPERTS = 64, 64, 128, 8
THRESHOLD = 0.9999


def unfuse(state_dict: dict, num_experts: int) -> dict:
    """transformers-5 fused experts (``experts.gate_up_proj (E, 2I, H)``, ``experts.down_proj (E, H, I)``) -> per-expert keys."""
    out = {k: v for k, v in state_dict.items() if not k.startswith("experts.")}
    gate_up, down = state_dict["experts.gate_up_proj"], state_dict["experts.down_proj"]
    inner = gate_up.shape[1] // 2
    for e in range(num_experts):
        out[f"experts.{e}.gate_proj.weight"] = gate_up[e, :inner]
        out[f"experts.{e}.up_proj.weight"] = gate_up[e, inner:]
        out[f"experts.{e}.down_proj.weight"] = down[e]
    return out


def randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * p.shape[-1] ** -0.5)
    return module.eval()


def experts_for(device, experts: int = EXPERTS) -> int:
    """``experts`` (default 8, Mixtral's count), rounded up to a multiple of the mesh's devices (TG: 32),
    since expert parallelism needs the experts to split evenly over the devices."""
    n = device.get_num_devices()
    return experts if experts % n == 0 else n * -(-experts // n)


def mixtral(top_k=2, experts=EXPERTS):
    config = MixtralConfig(
        hidden_size=HIDDEN, intermediate_size=EXPERT_I, num_local_experts=experts, num_experts_per_tok=top_k
    )
    return MoESpec(HIDDEN, experts, top_k, EXPERT_I, renormalize=True), randomize(
        MixtralSparseMoeBlock(config)
    )


def qwen2_moe(norm=False, experts=EXPERTS):
    config = Qwen2MoeConfig(
        hidden_size=HIDDEN,
        moe_intermediate_size=EXPERT_I,
        shared_expert_intermediate_size=SHARED_I,
        num_experts=experts,
        num_experts_per_tok=2,
        norm_topk_prob=norm,
    )
    spec = MoESpec(
        HIDDEN, experts, 2, EXPERT_I, renormalize=norm, shared_intermediate_dim=SHARED_I, shared_gate=True
    )
    return spec, randomize(Qwen2MoeSparseMoeBlock(config))


def qwen3_moe(norm=True, experts=EXPERTS):
    config = Qwen3MoeConfig(
        hidden_size=HIDDEN,
        moe_intermediate_size=EXPERT_I,
        num_experts=experts,
        num_experts_per_tok=2,
        norm_topk_prob=norm,
    )
    return MoESpec(HIDDEN, experts, 2, EXPERT_I, renormalize=norm), randomize(Qwen3MoeSparseMoeBlock(config))


def hf_out(hf, x):
    with torch.no_grad():
        out = hf(x.reshape(1, -1, HIDDEN))
    return (out[0] if isinstance(out, tuple) else out).reshape(x.shape)


def router_margin(hf, x, k):
    probs = torch.softmax(x.reshape(-1, HIDDEN) @ hf.gate.weight.detach().T, dim=-1)
    top = torch.topk(probs, k + 1, dim=-1).values
    return float((top[:, k - 1] - top[:, k]).min())


def run_block(spec, hf, device, xs, mode, strategy="accuracy", state_dict=None):
    block = MoE(spec, get_default_impl_config(spec, device, strategy=strategy), device)
    block.load_weights(unfuse(dict(hf.state_dict()), spec.num_experts) if state_dict is None else state_dict)
    return block, run(block, device, xs, mode)


def run(block, device, xs, mode):
    """``block.forward_<mode>`` over each replicated input; every device must hold the same output."""
    ys = []
    for x in xs:
        tt = ttnn.from_torch(
            x,
            dtype=ttnn.bfloat16,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(device),
        )
        out = getattr(block, f"forward_{mode}")(tt)
        shards = [ttnn.to_torch(t).float() for t in ttnn.get_device_tensors(out)]
        for i, s in enumerate(shards[1:], 1):
            assert torch.equal(s, shards[0]), f"device {i} holds a different output than device 0"
        ys.append(shards[0])
    return torch.cat(ys, dim=2)


CASES = {
    "mixtral": (mixtral, {"top_k": 1}),
    "qwen2_moe": (qwen2_moe, {"norm": True}),
    "qwen3_moe": (qwen3_moe, {"norm": False}),
}


@pytest.mark.parametrize("mode,rows,steps", [("decode", 32, 2), ("prefill", 64, 1)])
@pytest.mark.parametrize("variant", list(CASES))
def test_moe_matches_hf_and_wrong_variant_does_not(device, variant, mode, rows, steps):
    make, wrong = CASES[variant]
    spec, hf = make(experts=experts_for(device))
    xs = [torch.randn(1, 1, rows, HIDDEN) for _ in range(steps)]
    x = torch.cat(xs, dim=2)
    expected = hf_out(hf, x)
    block, y = run_block(spec, hf, device, xs, mode)
    torch.testing.assert_close(block.torch_reference()(x), expected, rtol=1e-4, atol=1e-4)
    margin = router_margin(hf, x, spec.top_k)
    got = pcc(expected, y)
    print(f"{variant} {mode} {device}: PCC {got:.6f}, min router margin {margin:.2e}")
    assert got >= THRESHOLD, f"{variant} {mode}: PCC {got:.6f} < {THRESHOLD} (min router margin {margin:.2e})"
    # The same block with the wrong routing variant must not pass against HF.
    wrong_spec = dataclasses.replace(
        spec,
        **{
            "top_k" if "top_k" in wrong else "renormalize": (
                wrong["top_k"] if "top_k" in wrong else not spec.renormalize
            )
        },
    )
    _, y_wrong = run_block(wrong_spec, hf, device, xs, mode)
    wrong_pcc = pcc(expected, y_wrong)
    print(f"  wrong variant {wrong}: PCC {wrong_pcc:.6f}")
    assert wrong_pcc < THRESHOLD, f"{variant}: wrong variant {wrong_spec} still matches HF"


def test_docs_example_runs(capsys):
    text = (pathlib.Path(__file__).parents[1] / "docs" / "moe.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/moe.md", "exec"), {})
    assert float(capsys.readouterr().out.split()[-1]) >= THRESHOLD


def test_spec_and_mesh_errors(device):
    with pytest.raises(ValueError, match="top_k must be < num_experts"):
        MoESpec(HIDDEN, 4, 4, EXPERT_I)
    with pytest.raises(ValueError, match="shared_gate=True needs a shared expert"):
        MoESpec(HIDDEN, 4, 2, EXPERT_I, shared_gate=True)
    if device.get_num_devices() > 1:
        spec = MoESpec(HIDDEN, device.get_num_devices() + 1, 1, EXPERT_I)
        with pytest.raises(ValueError, match="must split evenly"):
            MoE(spec, get_default_impl_config(spec, device), device)


def test_performance_strategy(device):
    """Performance: bfloat4_b gate/up at LoFi (TTTv1's Mixtral); like the gated FFN (test_ffn.py) >= 0.98."""
    if experts_for(device) != EXPERTS:
        pytest.skip(
            f"Mixtral's {EXPERTS} experts do not split over {device.get_num_devices()} devices; a 32-expert "
            "random model measures PCC 0.970 with bfloat4_b gate/up on N150 and TG alike (the weights, not "
            "the mesh), below this test's 0.98 bar for Mixtral's 8"
        )
    spec, hf = mixtral()
    xs = [torch.randn(1, 1, 32, HIDDEN)]
    _, y = run_block(spec, hf, device, xs, "decode", strategy="performance")
    got = pcc(hf_out(hf, xs[0]), y)
    assert got >= 0.98, f"performance decode PCC {got:.5f} < 0.98"


@pytest.mark.parametrize("variant", list(CASES))
def test_weight_shapes_are_the_hf_checkpoint(variant):
    spec, hf = CASES[variant][0]()
    weights = unfuse(dict(hf.state_dict()), spec.num_experts)
    assert {k: tuple(v.shape) for k, v in weights.items()} == spec.weight_shapes()


def test_fused_in_memory_experts_load_like_per_expert_keys(device):
    """transformers 5 fuses experts in memory; the block reads that layout as it reads the checkpoint's."""
    spec, hf = qwen3_moe(experts=experts_for(device))
    fused = dict(hf.state_dict())
    assert "experts.gate_up_proj" in fused
    xs = [torch.randn(1, 1, 32, HIDDEN)]
    _, expected = run_block(spec, hf, device, xs, "decode")
    _, got = run_block(spec, hf, device, xs, "decode", state_dict=fused)
    assert torch.equal(got, expected)
    with pytest.raises(WeightError, match="experts.down_proj"):
        MoE(spec, get_default_impl_config(spec, device), device).load_weights(
            {k: v for k, v in fused.items() if k != "experts.down_proj"}
        )
