"""DecoderLayer on its own: Llama pre-norm and Gemma 3 sandwich-norm layers against torch references."""

import pytest
import torch
from _pcc import pcc
from tttv2_blocks import AttentionSpec, FeedForwardSpec, RMSNormSpec, RopeSpec
from tttv2_hwconfig import ttnn
from tttv2_patterns import CheckpointLayout, DecoderLayer, DecoderLayerSpec

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE = 128, 4, 2, 32, 192
GEMMA_LAYOUT = CheckpointLayout(
    ffn_norm="pre_feedforward_layernorm",
    post_attention_norm="post_attention_layernorm",
    post_ffn_norm="post_feedforward_layernorm",
)


def _layer_spec(sandwich: bool) -> DecoderLayerSpec:
    norm = RMSNormSpec(HIDDEN, 1e-6, weight_offset=1.0 if sandwich else 0.0)  # Gemma stores w, uses 1 + w
    return DecoderLayerSpec(
        attention=AttentionSpec(
            hidden_dim=HIDDEN,
            num_heads=HEADS,
            num_kv_heads=KV_HEADS,
            head_dim=HEAD_DIM,
            rope=RopeSpec(head_dim=HEAD_DIM, max_position_embeddings=128),
            sliding_window=16 if sandwich else None,
        ),
        ffn=FeedForwardSpec(HIDDEN, INTERMEDIATE, activation="gelu_tanh" if sandwich else "silu"),
        attention_norm=norm,
        ffn_norm=norm,
        post_attention_norm=norm if sandwich else None,
        post_ffn_norm=norm if sandwich else None,
    )


def _state_dict(spec: DecoderLayerSpec, layout: CheckpointLayout) -> dict[str, torch.Tensor]:
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    weights = {
        f"{layout.attention}.q_proj.weight": (q, HIDDEN),
        f"{layout.attention}.k_proj.weight": (kv, HIDDEN),
        f"{layout.attention}.v_proj.weight": (kv, HIDDEN),
        f"{layout.attention}.o_proj.weight": (HIDDEN, q),
        f"{layout.ffn}.gate_proj.weight": (INTERMEDIATE, HIDDEN),
        f"{layout.ffn}.up_proj.weight": (INTERMEDIATE, HIDDEN),
        f"{layout.ffn}.down_proj.weight": (HIDDEN, INTERMEDIATE),
    }
    state = {key: torch.randn(shape) * 0.05 for key, shape in weights.items()}
    for name in spec.submodules():
        if name.endswith("norm"):
            state[f"{getattr(layout, name)}.weight"] = 0.1 * torch.randn(HIDDEN) + (
                0.0 if spec.post_ffn_norm else 1.0
            )
    return state


@pytest.mark.parametrize("sandwich", [False, True], ids=["llama_pre_norm", "gemma3_sandwich"])
def test_layer_prefill_and_decode_match_the_torch_reference(device, sandwich):
    spec = _layer_spec(sandwich)
    layout = GEMMA_LAYOUT if sandwich else CheckpointLayout()
    layer = DecoderLayer(
        spec, DecoderLayer.ImplConfig(spec, device, strategy="accuracy"), device, module_path="layers.0"
    )
    assert (layer.post_ffn_norm is not None) == sandwich
    layer.load_weights(_state_dict(spec, layout), layout)
    layer.attention.allocate_kv_cache(max_batch=1, max_seq_len=64)
    reference = layer.torch_reference()

    seq = 40  # longer than the sliding window of the sandwich layer
    x = torch.randn(1, seq + 1, HIDDEN)
    expected = reference(x)  # whole sequence, causal: row seq is the decode step
    to_device = lambda t: ttnn.from_torch(  # noqa: E731
        t.reshape(1, 1, -1, HIDDEN), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )
    first = lambda t: ttnn.to_torch(ttnn.get_device_tensors(t)[0]).float().reshape(-1, HIDDEN)  # noqa: E731
    prefill = first(layer.forward_prefill(to_device(x[0, :seq]), user_id=0))
    decode = first(layer.forward_decode(to_device(x[0, seq:]), torch.tensor([seq])))
    # 0.99: the patterns bar; a missing sandwich norm or residual changes the output completely.
    assert pcc(expected[0, :seq], prefill) >= 0.99
    assert pcc(expected[0, seq:], decode) >= 0.99


def test_layer_construction_errors_name_the_layer_path(device):
    spec = _layer_spec(sandwich=False)
    impl = DecoderLayer.ImplConfig(spec, device)
    impl.post_ffn_norm = impl.ffn_norm  # a config for a norm the spec does not have
    with pytest.raises(ValueError, match=r"layers\[3\]\.post_ffn_norm: the spec has no post_ffn_norm"):
        DecoderLayer(spec, impl, device, module_path="layers.3")
