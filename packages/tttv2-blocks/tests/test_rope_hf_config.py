"""``RopeSpec.from_hf_config`` on transformers-5 per-layer-type ``rope_parameters`` (Gemma 3).

The expected frequencies come from HF's own ``Gemma3RotaryEmbedding`` (an independent
implementation); both sides are float32 math, so they agree to float32 rounding (atol 1e-7 on
values <= 1, rtol 1e-6).
"""

from types import SimpleNamespace

import pytest
import torch
from transformers import Gemma3TextConfig, LlamaConfig
from transformers.models.gemma3.modeling_gemma3 import Gemma3RotaryEmbedding
from tttv2_blocks import RopeConfigError, RopeSpec

LOCAL, GLOBAL = "sliding_attention", "full_attention"


def gemma3_config(full_attention_rope=None):
    return Gemma3TextConfig(
        hidden_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        num_hidden_layers=6,
        max_position_embeddings=512,
        rope_parameters={
            LOCAL: {"rope_type": "default", "rope_theta": 10000.0},
            GLOBAL: full_attention_rope or {"rope_type": "default", "rope_theta": 1000000.0},
        },
    )


@pytest.mark.parametrize(
    "full_attention_rope",
    [None, {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}],
    ids=["gemma3-270m", "gemma3-4b-linear"],
)
@pytest.mark.parametrize("layer_type", [LOCAL, GLOBAL])
def test_gemma3_per_layer_type_rope_matches_hf(layer_type, full_attention_rope):
    config = gemma3_config(full_attention_rope)
    rotary = Gemma3RotaryEmbedding(config)
    spec = RopeSpec.from_hf_config(config, layer_type=layer_type)
    expected = config.rope_parameters[layer_type]
    assert spec.theta == expected["rope_theta"]
    assert (spec.scaling.kind if spec.scaling else "default") == expected["rope_type"]
    torch.testing.assert_close(
        spec.inv_freq(), getattr(rotary, f"{layer_type}_inv_freq").float(), atol=1e-7, rtol=1e-6
    )
    assert spec.attention_scaling() == getattr(rotary, f"{layer_type}_attention_scaling")


def test_layer_types_get_different_thetas():
    """The bug this guards: every Gemma 3 layer silently got theta 10000."""
    config = gemma3_config()
    thetas = {t: RopeSpec.from_hf_config(config, layer_type=t).theta for t in set(config.layer_types)}
    assert thetas == {LOCAL: 10000.0, GLOBAL: 1000000.0}


def test_per_layer_type_parameters_without_layer_type_raise():
    with pytest.raises(
        RopeConfigError, match=r"one rope per layer type \['full_attention', 'sliding_attention'\]"
    ):
        RopeSpec.from_hf_config(gemma3_config())


def test_unknown_layer_type_raises():
    with pytest.raises(RopeConfigError, match="no rope parameters for layer_type 'chunked_attention'"):
        RopeSpec.from_hf_config(gemma3_config(), layer_type="chunked_attention")


def test_unmappable_rope_configs_raise():
    # A plain object: HF config classes refuse some of these values on assignment already.
    config = SimpleNamespace(hidden_size=128, num_attention_heads=2, max_position_embeddings=512)
    config.rope_parameters = {LOCAL: {"rope_type": "default"}, GLOBAL: {"rope_theta": 1e6}}
    with pytest.raises(RopeConfigError, match=r"\['sliding_attention'\]: missing rope_theta"):
        RopeSpec.from_hf_config(config, layer_type=LOCAL)
    config.rope_parameters = {LOCAL: {"rope_theta": 1e4}, "rope_theta": 1e6}
    with pytest.raises(RopeConfigError, match="mixes per-layer-type dicts"):
        RopeSpec.from_hf_config(config, layer_type=LOCAL)
    config.rope_parameters = [1e4]
    with pytest.raises(RopeConfigError, match="expected a dict, got list"):
        RopeSpec.from_hf_config(config)
    config.rope_parameters = {LOCAL: {"rope_type": "longrope", "rope_theta": 1e4, "factor": 2.0}}
    with pytest.raises(ValueError, match="rope_type 'longrope' is not supported"):
        RopeSpec.from_hf_config(config, layer_type=LOCAL)


def test_flat_parameters_serve_any_layer_type():
    config = LlamaConfig(
        hidden_size=128,
        num_attention_heads=2,
        max_position_embeddings=512,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
    )
    assert RopeSpec.from_hf_config(config, layer_type=GLOBAL) == RopeSpec.from_hf_config(config)
    assert RopeSpec.from_hf_config(config).theta == 500000.0
