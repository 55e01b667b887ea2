"""Issue 13 cases 3 and 5: decode past the filled KV cache, and misspelt ImplConfig fields."""

import pytest
import torch
from _llama import llama_spec
from tttv2_blocks import UnknownFieldError
from tttv2_hwconfig import ttnn
from tttv2_patterns import CachePositionError, CausalLM


@pytest.fixture
def model(llama_checkpoint, device):
    hf_model, path = llama_checkpoint
    return CausalLM(llama_spec(hf_model.config).attach_checkpoint(path), device=device, progress=False)


def test_decode_past_the_filled_positions_is_refused(model):
    """Reproduces case 3: decode_forward at a position past the prefill attended stale KV silently."""
    out = model.prefill_forward([[5, 17, 300], [7, 8, 9, 10, 11]])  # users 0 and 1 fill 3 and 5
    with pytest.raises(
        CachePositionError, match=r"user 0: cache position 7 is past the 3 positions it has filled"
    ):
        model.decode_forward(out, cache_position=[7, 5])
    with pytest.raises(
        CachePositionError, match=r"user 2: cache position 1 is past the 0 .*prefill it first"
    ):
        model.decode_forward(token_ids=[1], cache_position=[1], user_ids=[2])
    step = model.decode_forward(out)  # at the filled lengths: fine
    assert step.positions == [4, 6]
    model.decode_forward(step)
    with pytest.raises(CachePositionError, match=r"user 1: cache position 9 is past the 7 positions"):
        model.decode_forward(token_ids=[3], cache_position=[9], user_ids=[1])
    model.decode_forward(token_ids=[3], cache_position=[2], user_ids=[1])  # rewinding is allowed
    with pytest.raises(CachePositionError, match=r"user 1: cache position 4 is past the 3 positions"):
        model.decode_forward(token_ids=[3], cache_position=[4], user_ids=[1])  # ... and truncates


def test_rewound_decode_equals_a_fresh_run(model):
    """Decoding again at an earlier position gives the logits of a run that never went further."""
    prompt = [5, 17, 300, 2]
    out = model.prefill_forward([prompt])
    first = model.decode_forward(out)
    model.decode_forward(first)
    again = model.decode_forward(token_ids=out.next_tokens, cache_position=[4], user_ids=[0])
    assert torch.equal(again.logits, first.logits)  # same inputs, same cache prefix: bit-identical


def test_generate_checks_positions_too(model):
    model.prefill_forward([[1, 2]], user_ids=[3])
    assert len(model.generate([[5, 6, 7]], max_new_tokens=3)[0]) == 3  # generate prefills then decodes


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            "impl.lm_haed = impl.lm_head",
            r"^lm_haed: CausalLMImplConfig has no field .*did you mean 'lm_head'",
        ),
        (
            "impl.layers[0].atention = impl.layers[0].attention",
            r"^layers\[0\]\.atention: DecoderLayerImplConfig has no field .*did you mean 'attention'",
        ),
        (
            "impl.layers[1].attention.qkv_prj = None",
            r"^layers\[1\]\.attention\.qkv_prj: AttentionImplConfig .*did you mean 'qkv_proj'",
        ),
        (
            "impl.layers[0].ffn.up_proj.dtyp = ttnn.bfloat16",
            r"^layers\[0\]\.ffn\.up_proj\.dtyp: LinearImplConfig .*did you mean 'dtype'",
        ),
    ],
)
def test_misspelt_impl_config_field_is_refused_at_assignment(llama_checkpoint, edit, message):
    """Reproduces case 5: a typo on the model- or layer-level ImplConfig was accepted silently."""
    hf_model, _ = llama_checkpoint
    impl = CausalLM.ImplConfig(llama_spec(hf_model.config), "N150")
    with pytest.raises(UnknownFieldError, match=message):
        exec(edit, {"impl": impl, "ttnn": ttnn})
    assert not impl.overrides()  # nothing was set


def test_paths_follow_strategy_changes(llama_checkpoint):
    hf_model, _ = llama_checkpoint
    impl = CausalLM.ImplConfig(llama_spec(hf_model.config), "N150")
    impl.strategy = "accuracy"  # re-derives every node
    with pytest.raises(AttributeError, match=r"^layers\[1\]\.ffn_norm\.weight_dtyp"):
        impl.layers[1].ffn_norm.weight_dtyp = ttnn.bfloat16
