"""The CausalLM ImplConfig tree: mirrors the spec, per-layer overrides, strategy switch, path-named errors."""

import pytest
from tttv2_blocks import get_default_impl_config
from tttv2_blocks.config import PRECISION
from tttv2_hwconfig import ttnn
from tttv2_patterns import CausalLM, CausalLMImplConfig, DecoderLayerImplConfig
from tttv2_patterns.config_tree import leaves, set_path


def _linear_weight_dtypes(device, scope: str) -> set[str]:
    """Weight dtypes of the ttnn.linear ops recorded under one module path (second input = weight)."""
    return {r.input_dtypes[1] for r in device.trace.records if r.name == "ttnn.linear" and r.scope == scope}


def test_tree_mirrors_the_spec(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    impl = CausalLM.ImplConfig(spec, device)
    assert len(impl.layers) == len(spec.layers)
    assert all(isinstance(layer, DecoderLayerImplConfig) for layer in impl.layers)
    for path, block_spec in spec.module_specs().items():
        assert type(impl.module_config(path)) is type(get_default_impl_config(block_spec, device)), path
    # The same default as asking the one public entry point (fractal API).
    assert isinstance(get_default_impl_config(spec, device), CausalLMImplConfig)


def test_model_exposes_modules_with_paths_and_their_configs(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    impl = CausalLM.ImplConfig(spec, device)
    model = CausalLM(spec, impl, device, progress=False)
    assert model.layers[1].attention.module_path == "layers.1.attention"
    assert model.layers[0].ffn_norm.module_path == "layers.0.ffn_norm"
    assert [model.embedding.module_path, model.final_norm.module_path, model.lm_head.module_path] == [
        "embedding",
        "final_norm",
        "lm_head",
    ]
    assert model.layers[1].attention.impl_config is impl.layers[1].attention
    assert model.layers[0].post_attention_norm is None  # a Llama layer has no sandwich norms
    assert list(model.blocks())[:5] == [
        "embedding",
        "layers.0.attention_norm",
        "layers.0.attention",
        "layers.0.ffn_norm",
        "layers.0.ffn",
    ]


def test_one_layer_override_changes_that_layer_only(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    impl = CausalLM.ImplConfig(spec, device, strategy="accuracy")
    assert impl.layers[0].attention.qkv_proj.dtype == ttnn.bfloat16  # accuracy default (PRECISION table)
    impl.layers[0].attention.qkv_proj.dtype = ttnn.bfloat8_b
    assert impl.overrides() == {"layers[0].attention.qkv_proj.dtype": ttnn.bfloat8_b}
    model = CausalLM(spec, impl, device, progress=False)
    device.trace.clear()
    model.prefill_forward([[1, 2, 3]])
    assert _linear_weight_dtypes(device, "layers.0.attention") == {
        "bfloat8_b",
        "bfloat16",
    }  # qkv bfp8, o bf16
    assert _linear_weight_dtypes(device, "layers.1.attention") == {"bfloat16"}


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("layers[1].attention.qkv_proj.dtype", ttnn.uint32, r"^layers\[1\]\.attention\.qkv_proj\.dtype: "),
        ("layers[0].ffn_norm.weight_dtype", ttnn.bfloat8_b, r"^layers\[0\]\.ffn_norm\.weight_dtype: "),
        ("lm_head.max_columns_per_matmul", 33, r"^lm_head\.max_columns_per_matmul "),
        # The design doc's example line sets a field the attention config does not have.
        (
            "layers[0].attention.activation",
            "gelu",
            r"^layers\[0\]\.attention\.activation: .*AttentionImplConfig has no field",
        ),
    ],
)
def test_bad_override_error_names_the_path(llama_spec_with_checkpoint, device, path, value, message):
    impl = CausalLM.ImplConfig(llama_spec_with_checkpoint, device)
    with pytest.raises((ValueError, TypeError), match=message):  # unknown fields fail at assignment
        set_path(impl, path, value)
        CausalLM(llama_spec_with_checkpoint, impl, device, progress=False)


def test_strategy_rederives_defaults_and_keeps_overrides(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    override_last = CausalLM.ImplConfig(spec, device, strategy="accuracy")
    override_last.layers[0].ffn.down_proj.dtype = ttnn.bfloat16
    override_last.strategy = "performance"
    assert override_last.layers[0].ffn.down_proj.dtype == ttnn.bfloat16  # kept
    performance = PRECISION["performance"]
    assert override_last.layers[1].ffn.down_proj.dtype == performance["ffn_down"].weight_dtype  # re-derived
    assert override_last.layers[0].attention.qkv_proj.dtype == performance["attention_qkv"].weight_dtype

    strategy_first = CausalLM.ImplConfig(spec, device, strategy="performance")
    strategy_first.layers[0].ffn.down_proj.dtype = ttnn.bfloat16
    assert leaves(override_last) == leaves(strategy_first)  # the order does not matter
    with pytest.raises(ValueError, match="unknown strategy 'fastest'"):
        override_last.strategy = "fastest"


def test_impl_config_must_match_device_and_spec(llama_spec_with_checkpoint, device, device_name):
    spec = llama_spec_with_checkpoint
    other = "N300" if device_name != "N300" else "N150"
    with pytest.raises(ValueError, match=f"derived for {other} but the model is built on {device_name}"):
        CausalLM(spec, CausalLM.ImplConfig(spec, other), device, progress=False)
    impl = CausalLM.ImplConfig(spec, device)
    impl.layers.pop()
    with pytest.raises(ValueError, match="layers: the ImplConfig has 1 layers, the spec has 2"):
        CausalLM(spec, impl, device, progress=False)
