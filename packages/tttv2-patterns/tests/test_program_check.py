"""Build-time program check: a program config that overflows L1 is refused when the model is built,
naming the module, instead of at the first prefill (shapes-only dry run, no weights)."""

import pytest
from _family import TINY_LLAMA, TinyLlama
from tttv2_hwconfig import ttnn
from tttv2_patterns.program_check import ProgramCheckError, check_programs

# Llama-3-8B widths, one layer: the 2D-mcast up projection below needs ~2.5 MB of circular buffers per core.
WIDE = {**TINY_LLAMA, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 1,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 1024,
        "model_type": "llama", "architectures": ["LlamaForCausalLM"]}  # fmt: skip


def _spec():
    return TinyLlama.spec_from_hf_config(WIDE, max_batch_size=1, max_seq_len=1024, check_modules=False)


def _overflowing_up_proj():
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(8, 8),
        in0_block_w=128,  # all of K (4096 / 32) in one block: 2 x 4 x 128 bf16 tiles of in0 alone is 2 MB
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=4,
        per_core_N=56,
        transpose_mcast=False,
        fused_activation=None,
        fuse_batch=True,
    )


def test_default_programs_pass():
    spec = _spec()
    check_programs(spec, TinyLlama.default_impl_config(spec, "N150"), "N150")


def test_l1_overflow_is_refused_at_build_time_with_the_module_path():
    spec = _spec()
    impl_config = TinyLlama.default_impl_config(spec, "N150")
    impl_config.layers[0].ffn.up_proj.prefill_program_config = _overflowing_up_proj()
    with pytest.raises(
        ProgramCheckError, match=r"^layers\.0\.ffn: its prefill of 1024 tokens on N150"
    ) as caught:
        check_programs(spec, impl_config, "N150")
    assert caught.value.module_path == "layers.0.ffn"
    assert "rule matmul.l1_circular_buffers" in str(caught.value)


def test_from_huggingface_runs_the_check(tmp_path, monkeypatch):
    """The kit's build entry point calls the check (here made to fail) before converting any weight."""
    import tttv2_patterns.program_check as program_check  # noqa: PLC0415
    from _family import write_tiny_llama  # noqa: PLC0415

    folder = write_tiny_llama(tmp_path / "ckpt", num_hidden_layers=1)
    calls = []

    def refuse(spec, impl_config, device_name, **kwargs):
        calls.append(device_name)
        raise ProgramCheckError("layers.0.ffn: refused", "layers.0.ffn", "prefill")

    monkeypatch.setattr(program_check, "check_programs", refuse)
    with pytest.raises(ProgramCheckError):
        TinyLlama.from_huggingface(folder, "N300", tensor_cache=False, progress=False)
    assert calls == ["N300"]
