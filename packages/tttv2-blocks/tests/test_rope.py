"""RoPE: frequencies vs HF ``ROPE_INIT_FUNCTIONS`` and the Rope device block vs HF ``apply_rotary_pos_emb``.

Thresholds: frequencies are float32 math on both sides (atol 1e-6 relative to values <= 1).
The device rotation runs on bfloat16 inputs and tables and rounds three bfloat16 products,
so it agrees with float32 HF to ~1e-2 absolute for |x| <= 4; we check PCC >= 0.9999 and atol 3e-2.
"""

import math

import pytest
import torch
from _pcc import pcc
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb
from tttv2_blocks import Rope, RopeImplConfig, RopeScaling, RopeSpec, get_default_impl_config
from tttv2_blocks.rope import hf_to_meta_permutation, padded_head_dim
from tttv2_hwconfig import ttnn

SCALINGS = [
    {"rope_type": "linear", "factor": 4.0},
    {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    },
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
    {
        "rope_type": "yarn",
        "factor": 8.0,
        "original_max_position_embeddings": 128,
        "beta_fast": 16,
        "beta_slow": 2,
        "mscale": 1.0,
        "mscale_all_dim": 0.7,
    },
]


def hf_config(head_dim=64, rope=None, theta=500000.0):
    parameters = {"rope_type": "default", "rope_theta": theta, **(rope or {})}
    return LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        head_dim=head_dim,
        max_position_embeddings=512,
        rope_parameters=parameters,
    )


@pytest.mark.parametrize("scaling", SCALINGS, ids=lambda s: s["rope_type"])
def test_scaled_frequencies_match_hf(scaling):
    config = hf_config(rope=scaling)
    inv_freq, attention_factor = ROPE_INIT_FUNCTIONS[scaling["rope_type"]](config, "cpu")
    spec = RopeSpec.from_hf_config(config)
    assert spec.scaling.kind == scaling["rope_type"]
    torch.testing.assert_close(spec.inv_freq(), inv_freq.float(), atol=1e-7, rtol=1e-6)
    assert math.isclose(spec.attention_scaling(), attention_factor, rel_tol=1e-6)


@pytest.mark.parametrize("partial", [1.0, 0.5, 0.25])
def test_default_and_partial_cos_sin_match_hf_rotary_embedding(partial):
    from transformers import PhiConfig
    from transformers.models.phi.modeling_phi import PhiRotaryEmbedding

    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": partial}
    config = PhiConfig(
        hidden_size=128, num_attention_heads=2, max_position_embeddings=512, rope_parameters=rope
    )
    rotary = PhiRotaryEmbedding(config)
    positions = torch.arange(300)
    cos, sin = rotary(torch.zeros(1, 300, 64), positions[None])
    spec = RopeSpec.from_hf_config(config)
    assert spec.rotary_dim == int(64 * partial) == cos.shape[-1]
    angles = spec.angles(positions)
    torch.testing.assert_close(torch.cat([angles.cos()] * 2, -1).float(), cos[0], atol=2e-5, rtol=0)
    torch.testing.assert_close(torch.cat([angles.sin()] * 2, -1).float(), sin[0], atol=2e-5, rtol=0)


def test_meta_permutation_turns_rotate_half_into_adjacent_pairs():
    """Rotating the permuted head with adjacent pairs == permuting the HF rotate-half result."""
    spec = RopeSpec(head_dim=80, partial_rotary_factor=0.4)
    x = torch.randn(5, 80)
    positions = torch.arange(5)
    hf = spec_reference(spec, x, positions)
    perm = hf_to_meta_permutation(80, spec.rotary_dim)
    cos, sin = spec.device_cos_sin(positions, 80)
    meta = x[:, perm]
    rotated = meta.reshape(5, 40, 2).flip(-1) * torch.tensor([-1.0, 1.0])
    torch.testing.assert_close(meta * cos + rotated.reshape(5, 80) * sin, hf[:, perm], atol=1e-5, rtol=1e-5)


def spec_reference(spec, x, positions):
    cos, sin = spec.angles(positions).cos().float(), spec.angles(positions).sin().float()
    rot = spec.rotary_dim
    q, _ = apply_rotary_pos_emb(
        x[None, None, :, :rot],
        x[None, None, :, :rot],
        torch.cat([cos] * 2, -1)[None],
        torch.cat([sin] * 2, -1)[None],
    )
    return torch.cat([q[0, 0], x[:, rot:]], dim=-1)


def to_meta(x, spec):
    """HF-ordered heads (..., d) -> device layout (..., d_pad)."""
    perm = hf_to_meta_permutation(spec.head_dim, spec.rotary_dim)
    pad = padded_head_dim(spec.head_dim) - spec.head_dim
    return torch.nn.functional.pad(x[..., perm], (0, pad))


def from_meta(x, spec):
    inverse = torch.argsort(hf_to_meta_permutation(spec.head_dim, spec.rotary_dim))
    return x[..., : spec.head_dim][..., inverse]


@pytest.mark.parametrize("head_dim, seq", [(64, 1), (80, 33), (128, 77)])
@pytest.mark.parametrize("scaling", [None, SCALINGS[1]], ids=["default", "llama3"])
def test_rope_prefill_on_device_matches_hf(device, head_dim, seq, scaling):
    config = hf_config(head_dim=head_dim, rope=scaling)
    spec = RopeSpec.from_hf_config(config)
    rope = Rope(spec, get_default_impl_config(spec, device), device)
    start = 40
    x = torch.randn(1, 3, seq, head_dim).to(torch.bfloat16).float()
    cos, sin = LlamaRotaryEmbedding(config)(x, torch.arange(start, start + seq)[None])
    expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
    tt_x = ttnn.from_torch(to_meta(x, spec), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)
    out = from_meta(
        ttnn.to_torch(ttnn.get_device_tensors(rope.forward_prefill(tt_x, start_pos=start))[0]).float(), spec
    )
    assert pcc(expected, out) >= 0.9999
    torch.testing.assert_close(out, expected, atol=3e-2, rtol=3e-2)


def test_rope_decode_per_user_positions_matches_hf(device):
    config = hf_config(head_dim=64, rope=SCALINGS[2])
    spec = RopeSpec.from_hf_config(config)
    rope = Rope(spec, RopeImplConfig(max_seq_len=512), device)
    positions = torch.tensor([0, 5, 300, 511, 17])
    batch, heads = len(positions), 3
    x = torch.randn(1, batch, heads, 64).to(torch.bfloat16).float()
    cos, sin = LlamaRotaryEmbedding(config)(x, positions[None])  # (1, batch, 64): one position per user
    expected, _ = apply_rotary_pos_emb(x, x, cos, sin, unsqueeze_dim=2)
    grid = ttnn.num_cores_to_corerangeset(batch, device.compute_with_storage_grid_size(), row_wise=True)
    per_user = ttnn.create_sharded_memory_config(
        (32, 64), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )
    tt_x = ttnn.from_torch(
        to_meta(x, spec), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=per_user
    )
    out = from_meta(
        ttnn.to_torch(ttnn.get_device_tensors(rope.forward_decode(tt_x, positions))[0]).float(), spec
    )
    assert pcc(expected, out) >= 0.9999
    torch.testing.assert_close(out, expected, atol=3e-2, rtol=3e-2)


def test_rope_torch_reference_matches_hf(device):
    config = hf_config(head_dim=64, rope=SCALINGS[0])
    spec = RopeSpec.from_hf_config(config)
    rope = Rope(spec, RopeImplConfig(max_seq_len=64), device)
    x = torch.randn(2, 4, 10, 64)
    positions = torch.arange(3, 13)
    cos, sin = LlamaRotaryEmbedding(config)(x, positions[None])
    expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
    torch.testing.assert_close(rope.torch_reference()(x, positions), expected, atol=1e-5, rtol=1e-5)


def test_tables_are_sized_and_checked(device):
    spec = RopeSpec(head_dim=64, max_position_embeddings=128)
    rope = Rope(spec, RopeImplConfig(), device)
    assert list(rope.cos_table.shape) == [1, 1, 128, 64]
    with pytest.raises(ValueError, match="outside the rope tables"):
        rope.prefill_rot_mats(100, 40)
    with pytest.raises(ValueError, match="outside the rope tables"):
        rope.decode_rot_mats(torch.tensor([5, 128]))
    kernel = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=True)
    with pytest.raises(ValueError, match="Rope.compute_kernel_config: head_dim > 128"):
        Rope(RopeSpec(head_dim=256), RopeImplConfig(compute_kernel_config=kernel, max_seq_len=32), device)


def test_spec_and_scaling_validation():
    with pytest.raises(ValueError, match="RopeSpec.partial_rotary_factor"):
        RopeSpec(head_dim=64, partial_rotary_factor=1.5)
    with pytest.raises(ValueError, match="rotary_dim"):
        RopeSpec(head_dim=64, partial_rotary_factor=0.3)  # 19 dims: odd
    with pytest.raises(ValueError, match="RopeScaling.kind"):
        RopeScaling(kind="ntk", factor=2.0)
    with pytest.raises(ValueError, match="original_max_position_embeddings"):
        RopeScaling(kind="llama3", factor=8.0)
    with pytest.raises(ValueError, match="rope_type 'longrope' is not supported"):
        RopeScaling.from_hf({"rope_type": "longrope", "factor": 2.0})
    assert RopeScaling.from_hf({"rope_type": "default", "rope_theta": 1e4}) is None


def test_docs_example_runs():
    """The example in docs/rope.md runs as written."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "rope.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(code, "docs/rope.md", "exec"), {})


def test_layers_share_one_rope_per_device(device):
    spec = RopeSpec(head_dim=64, max_position_embeddings=64)
    first = Rope.shared(spec, RopeImplConfig(), device)
    assert Rope.shared(RopeSpec(head_dim=64, max_position_embeddings=64), RopeImplConfig(), device) is first
    assert Rope.shared(spec, RopeImplConfig(max_seq_len=32), device) is not first


def test_shapes_only_tables_are_never_shared_with_a_numeric_model(device):
    """A shapes-only build (meta tables, no values) first must not hand its tables to a numeric build."""
    from tttv2_hwconfig import shapes_only

    spec = RopeSpec(head_dim=64, max_position_embeddings=48)
    with shapes_only():
        meta = Rope.shared(spec, RopeImplConfig(), device)
    real = Rope.shared(spec, RopeImplConfig(), device)
    assert real is not meta and Rope.shared(spec, RopeImplConfig(), device) is real
    cos = ttnn.to_torch(real.cos_table, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=0))
    assert cos.device.type == "cpu" and torch.isfinite(cos).all()


def test_decode_lookup_uses_uint32_rotation_index_and_bf16_tables(device, monkeypatch):
    """The real ttnn.embedding takes only UINT32/BFLOAT16 indices and BFLOAT16 weights
    (embedding_device_operation.cpp, validate): every decode lookup must feed it those."""
    rope = Rope(RopeSpec(head_dim=64, max_position_embeddings=64), RopeImplConfig(), device)
    seen = []
    real_embedding = ttnn.embedding

    def recording_embedding(index, weight, **kwargs):
        seen.append((index.dtype, weight.dtype))
        return real_embedding(index, weight, **kwargs)

    monkeypatch.setattr(ttnn, "embedding", recording_embedding)
    positions = torch.tensor([3, 17, 40])
    index = rope.rot_idxs(positions)
    assert index.dtype == ttnn.uint32 and list(index.shape) == [1, 3]
    cos, sin = rope.decode_rot_mats(index)
    assert seen == [(ttnn.uint32, ttnn.bfloat16)] * 2
    expected_cos, _ = rope.spec.device_cos_sin(positions, rope.head_dim_padded)
    got = ttnn.to_torch(cos).float().reshape(3, -1)  # embedding copies bf16 table rows: exact
    torch.testing.assert_close(got, expected_cos.to(torch.bfloat16).float(), atol=0, rtol=0)
    # Host positions go through the same UINT32 index.
    rope.decode_rot_mats(positions)
    assert seen[-1] == (ttnn.uint32, ttnn.bfloat16)
    # The int32 cur_pos tensor the cache/SDPA ops read is refused with the fix named.
    with pytest.raises(ValueError, match="must be UINT32"):
        rope.decode_rot_mats(rope.position_tensor(positions))
