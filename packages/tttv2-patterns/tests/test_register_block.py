"""A family's own block: spec -> block registration, and the model-width check of custom specs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from tttv2_blocks import AttentionSpec, FeedForward, FeedForwardSpec, RMSNormSpec, get_default_impl_config
from tttv2_patterns import DecoderLayer, DecoderLayerSpec, ModelDimError, register_block
from tttv2_testing import compute_pcc

DIM = 64


@dataclass(frozen=True)
class ScaledFFNSpec:
    """A family-owned FFN: a SwiGLU whose output is doubled (stands in for an MoE)."""

    hidden_dim: int
    intermediate_dim: int

    def validate(self) -> None:
        FeedForwardSpec(self.hidden_dim, self.intermediate_dim).validate()

    def weight_shapes(self):
        h, i = self.hidden_dim, self.intermediate_dim
        return {"gate_proj.weight": (i, h), "up_proj.weight": (i, h), "down_proj.weight": (h, i)}


class ScaledFFN(FeedForward):
    def __init__(self, spec, impl_config, device):
        super().__init__(FeedForwardSpec(spec.hidden_dim, spec.intermediate_dim), impl_config, device)
        self.family_spec = spec

    def forward_prefill(self, x, *args, **kwargs):
        from tttv2_hwconfig import ttnn  # noqa: PLC0415

        return ttnn.multiply(super().forward_prefill(x, *args, **kwargs), 2.0)


def _default(spec, device, mode="both", strategy="default"):
    return get_default_impl_config(
        FeedForwardSpec(spec.hidden_dim, spec.intermediate_dim), device, mode, strategy
    )


register_block(ScaledFFNSpec, ScaledFFN, default_impl_config=_default)


def _layer_spec(ffn):
    return DecoderLayerSpec(
        attention=AttentionSpec(hidden_dim=DIM, num_heads=4, num_kv_heads=2),
        ffn=ffn,
        attention_norm=RMSNormSpec(DIM),
        ffn_norm=RMSNormSpec(DIM),
    )


def test_registered_block_is_built_in_a_layer_and_runs(device):
    layer = DecoderLayer(_layer_spec(ScaledFFNSpec(DIM, 96)), device=device, module_path="layers.0")
    assert isinstance(layer.ffn, ScaledFFN)
    weights = {
        name: 0.1 * torch.randn(shape) for name, shape in ScaledFFNSpec(DIM, 96).weight_shapes().items()
    }
    layer.ffn.load_weights(weights)
    from tttv2_hwconfig import ttnn  # noqa: PLC0415

    x = torch.randn(1, 1, 32, DIM)
    out = ttnn.to_torch(
        layer.ffn.forward_prefill(
            ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)
        )
    )
    gate, up, down = weights["gate_proj.weight"], weights["up_proj.weight"], weights["down_proj.weight"]
    expected = 2.0 * (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T  # independent torch math
    # bfloat4_b gate/up weights in the performance defaults give PCC ~0.987 on random weights; 0.98
    # still fails a wrong FFN (PCC ~0), and the norm ratio fails the block without its doubling (0.5).
    assert compute_pcc(expected, out.float()) > 0.98
    assert 0.9 < float(out.float().norm() / expected.norm()) < 1.1


def test_registering_a_spec_to_two_blocks_is_refused():
    with pytest.raises(TypeError, match="already the spec of"):
        register_block(ScaledFFNSpec, FeedForward)


def test_custom_ffn_of_the_wrong_width_fails_validate():
    with pytest.raises(ModelDimError, match=r"disagree on the model dim: .*'ffn': 32"):
        _layer_spec(ScaledFFNSpec(32, 96)).validate()


def test_custom_spec_without_a_width_is_named():
    @dataclass(frozen=True)
    class NoWidth:
        def validate(self):
            pass

    with pytest.raises(ModelDimError, match=r"DecoderLayerSpec\.ffn: NoWidth declares no model width"):
        _layer_spec(NoWidth()).validate()
