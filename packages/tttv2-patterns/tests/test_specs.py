"""CausalLMSpec / DecoderLayerSpec validation, checkpoint shape checks, tied embeddings."""

import dataclasses

import pytest
import torch
from _llama import llama_spec, save_tiny_llama
from _pcc import pcc
from safetensors.torch import load_file, save_file
from tttv2_blocks import AttentionSpec
from tttv2_patterns import CausalLM, Checkpoint, CheckpointLayout


def _rewrite(checkpoint_dir, edit):
    path = checkpoint_dir / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def test_validate_names_a_misshaped_tensor_without_reading_weights(llama_checkpoint, tmp_path):
    hf_model, _ = llama_checkpoint
    save_tiny_llama(tmp_path)
    _rewrite(tmp_path, lambda t: t.update({"model.layers.1.mlp.up_proj.weight": torch.zeros(255, 128)}))
    spec = llama_spec(hf_model.config).attach_checkpoint(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"layers\.1\.ffn: checkpoint tensor model\.layers\.1\.mlp\.up_proj\.weight has shape \[255, 128\], "
        r"expected \[256, 128\]",
    ):
        spec.validate()
    assert spec.checkpoint.tensors_read == 0  # shapes come from the safetensors header


def test_validate_names_missing_and_unexpected_tensors(llama_checkpoint, tmp_path):
    hf_model, _ = llama_checkpoint
    save_tiny_llama(tmp_path)
    _rewrite(tmp_path, lambda t: t.pop("model.layers.0.self_attn.k_proj.weight"))
    spec = llama_spec(hf_model.config).attach_checkpoint(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"model\.layers\.0\.self_attn\.k_proj\.weight is missing \(expected shape \[64, 128\]\)",
    ):
        spec.validate()
    save_tiny_llama(tmp_path)
    _rewrite(tmp_path, lambda t: t.update({"model.layers.0.self_attn.q_proj.bias": torch.zeros(128)}))
    spec = llama_spec(hf_model.config).attach_checkpoint(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"layers\.0\.attention: checkpoint has tensors the spec does not use: \['model\.layers\.0\.self_attn\.q_proj\.bias'\]",
    ):
        spec.validate()


def test_building_with_a_bad_checkpoint_fails_before_converting(llama_checkpoint, tmp_path, device):
    hf_model, _ = llama_checkpoint
    save_tiny_llama(tmp_path)
    _rewrite(tmp_path, lambda t: t.update({"lm_head.weight": torch.zeros(500, 128)}))
    spec = llama_spec(hf_model.config).attach_checkpoint(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"lm_head: checkpoint tensor lm_head\.weight has shape \[500, 128\], expected \[499, 128\]",
    ):
        CausalLM(spec, device=device, progress=False)
    assert spec.checkpoint.tensors_read == 0


def test_spec_tree_errors_name_the_path(llama_checkpoint):
    hf_model, _ = llama_checkpoint
    spec = llama_spec(hf_model.config)
    spec.layers[1].attention = AttentionSpec(
        hidden_dim=64, num_heads=2
    )  # patched in place, as in the design doc
    with pytest.raises(
        ValueError, match=r"layers\[1\]: sub-specs disagree on the model dim: .*'attention': 64"
    ):
        spec.validate()
    spec = llama_spec(hf_model.config)
    spec.layers[0].ffn = None
    with pytest.raises(ValueError, match=r"layers\[0\]\.ffn: required"):
        spec.validate()
    with pytest.raises(ValueError, match=r"max_batch_size must be an int in \[1, 32\]"):
        dataclasses.replace(llama_spec(hf_model.config), max_batch_size=33).validate()


def test_tied_word_embeddings_read_the_embedding_matrix(tmp_path, device):
    torch.manual_seed(3)
    hf_model = save_tiny_llama(tmp_path, tie_word_embeddings=True)
    assert "lm_head.weight" not in Checkpoint.from_path(tmp_path)  # HF drops the tied copy
    spec = llama_spec(hf_model.config).attach_checkpoint(tmp_path)
    assert spec.tie_word_embeddings
    spec.validate()
    model = CausalLM(spec, CausalLM.ImplConfig(spec, device, strategy="accuracy"), device, progress=False)
    prompt = [7, 8, 9, 400]
    with torch.no_grad():
        expected = hf_model(torch.tensor([prompt])).logits[0, -1]
    assert pcc(expected, model.prefill_forward([prompt]).logits[0]) >= 0.99  # same bar as test_causal_lm


def test_checkpoint_layout_prefixes():
    layout = CheckpointLayout()
    assert layout.prefix("layers.3.attention") == "model.layers.3.self_attn"
    assert layout.prefix("layers.0.ffn_norm") == "model.layers.0.post_attention_layernorm"
    assert layout.prefix("lm_head") == "lm_head"
    gemma = CheckpointLayout(
        ffn_norm="pre_feedforward_layernorm", post_attention_norm="post_attention_layernorm"
    )
    assert gemma.prefix("layers.1.post_attention_norm") == "model.layers.1.post_attention_layernorm"
    with pytest.raises(ValueError, match="unknown module path 'layers.0.mystery'"):
        layout.prefix("layers.0.mystery")


def test_checkpoint_layout_hf_module_paths():
    mixtral = CheckpointLayout(ffn="block_sparse_moe", hf_module_names=(("ffn", "mlp"),))
    assert mixtral.prefix("layers.2.ffn") == "model.layers.2.block_sparse_moe"  # where the tensors are
    assert mixtral.hf_module_path("layers.2.ffn") == "model.layers.2.mlp"  # where HF keeps the module
    assert mixtral.hf_module_path("layers.2.attention") == "model.layers.2.self_attn"
    assert mixtral.hf_module_path("final_norm") == "model.norm"
    with pytest.raises(ValueError, match="hf_module_names.*'lm_head'"):
        CheckpointLayout(hf_module_names=(("lm_head", "output"),))
