"""Bad input to ModelFactory / the model: a clear error naming what is wrong, and nothing half-written.

Every failure is checked for two things: the message (what, where, expected vs actual) and the
state left behind (no tensor-cache directory, or only complete entries, and no device work).
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file
from tttv2_hwconfig import ttnn
from tttv2_llama3 import ModelFactory
from tttv2_patterns.family import CheckpointError, ConfigError, TextCausalLM, UnmappedModuleError
from tttv2_patterns.family.module_mapping import check_module_mapping


def _build(folder, device_name, **kwargs):
    kwargs = {"strategy": "accuracy", "progress": False, "max_batch_size": 2, "max_seq_len": 64, **kwargs}
    return ModelFactory.from_huggingface(folder, device_name, **kwargs)


def _tensor_cache_root():
    return os.path.join(os.environ["TTTV2_CACHE"], "tensor_cache")


def _entries(cache_dir):
    """Every file under the cache directory (complete entries hold a manifest.json)."""
    return sorted(str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*") if p.is_file())


def _rewrite_tensors(folder, edit):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]},
            r"model_type: 'qwen2' is not handled",
        ),
        (
            {"architectures": ["LlamaForSequenceClassification"]},
            r"architectures: \['LlamaForSequenceClassification'\] are not handled",
        ),
    ],
)
def test_unsupported_architecture(copy_checkpoint, tiny_checkpoint, device_name, changes, message):
    folder = copy_checkpoint(tiny_checkpoint)
    _edit_config(folder, **changes)
    with pytest.raises(CheckpointError, match=message) as error:
        _build(folder, device_name)
    assert "llama3 handles architectures ['LlamaForCausalLM']" in str(error.value)
    assert not os.path.exists(_tensor_cache_root())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.pop("model.layers.1.mlp.up_proj.weight"),
            r"1 missing tensors: model\.layers\.1\.mlp\.up_proj\.weight",
        ),
        (
            lambda t: t.update({"model.layers.0.self_attn.rotary.weight": torch.zeros(4)}),
            r"unexpected tensors .*model\.layers\.0\.self_attn\.rotary\.weight",
        ),
        (
            # (intermediate_size, hidden) = (96, 64) from TINY_LLAMA, worked out by hand
            lambda t: t.update({"model.layers.1.mlp.gate_proj.weight": torch.zeros(64, 64)}),
            r"model\.layers\.1\.mlp\.gate_proj\.weight in model\.safetensors: expected \[96, 64\], got \[64, 64\]",
        ),
    ],
    ids=["missing", "unexpected", "misshaped"],
)
def test_bad_tensors_are_named(copy_checkpoint, tiny_checkpoint, device_name, edit, message):
    folder = copy_checkpoint(tiny_checkpoint)
    _rewrite_tensors(folder, edit)
    with pytest.raises(CheckpointError, match=message):
        _build(folder, device_name)
    assert not os.path.exists(_tensor_cache_root())


def test_corrupt_safetensors(copy_checkpoint, tiny_checkpoint, device_name):
    folder = copy_checkpoint(tiny_checkpoint)
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated safetensors file"):
        _build(folder, device_name)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        _build(folder, device_name, validate=False)  # even unvalidated specs need readable headers
    assert not os.path.exists(_tensor_cache_root())


def test_unknown_device_name(tiny_checkpoint):
    with pytest.raises(ValueError, match=r"unknown device 'N151'; valid device names: .*N150") as error:
        _build(tiny_checkpoint, "N151")
    assert "T3K" in str(error.value)
    assert not os.path.exists(_tensor_cache_root())


def test_unknown_strategy(tiny_checkpoint, device_name):
    with pytest.raises(
        ValueError, match=r"strategy must be one of \('default', 'performance', 'accuracy'\), got 'fast'"
    ):
        _build(tiny_checkpoint, device_name, strategy="fast")


def test_cache_longer_than_the_checkpoint_context(tiny_checkpoint, device_name):
    with pytest.raises(
        ValueError,
        match=r"max_seq_len=512 is longer than the checkpoint's context \(max_position_embeddings=256\)",
    ):
        _build(tiny_checkpoint, device_name, max_seq_len=512)


def test_prompt_longer_than_the_cache(tiny_chat_checkpoint, device_name):
    with _build(tiny_chat_checkpoint, device_name, max_seq_len=32) as model:
        model.device.trace.clear()
        too_long = list(range(5, 38))  # 33 tokens for a 32-position cache
        with pytest.raises(
            ValueError, match=r"prompt of 33 tokens is longer than the KV cache \(max_seq_len=32\)"
        ):
            model.prefill_forward([[1, 2], too_long])
        with pytest.raises(
            ValueError, match=r"prompt of 33 tokens \+ max_new_tokens=4 needs 36 cache positions"
        ):
            model.generate([too_long], max_new_tokens=4)
        text = " ".join(["hello world"] * 20)  # chat-formatted: 40+ tokens
        with pytest.raises(ValueError, match=r"longer than the KV cache \(max_seq_len=32\)"):
            model(text)
        assert len(model.device.trace) == 0  # nothing ran on the device


def test_unmapped_hf_module_is_named(tiny_checkpoint):
    from transformers import LlamaForCausalLM

    class MysteryMixer(torch.nn.Module):
        def forward(self, x):
            return x

    hf = LlamaForCausalLM.from_pretrained(tiny_checkpoint)
    hf.model.layers[1].mlp = MysteryMixer()
    with pytest.raises(
        UnmappedModuleError,
        match=r"1 HF module\(s\) have no TTTv2 mapping: model\.layers\.1\.mlp \(MysteryMixer\)",
    ):
        check_module_mapping(hf, ModelFactory.hf_modules)


def test_unsupported_activation_is_named(copy_checkpoint, tiny_checkpoint, device_name):
    folder = copy_checkpoint(tiny_checkpoint)
    _edit_config(folder, hidden_act="quick_gelu")
    with pytest.raises(
        ConfigError, match=r"hidden_act: activation 'quick_gelu' has no TTTv2 FeedForward equivalent"
    ):
        _build(folder, device_name)
    assert not os.path.exists(_tensor_cache_root())


def test_override_that_cannot_run_names_the_config_path(tiny_checkpoint, device_name):
    spec = ModelFactory.from_huggingface(
        tiny_checkpoint, device_name, validate=False, max_batch_size=2, max_seq_len=64
    )
    impl = ModelFactory.default_impl_config(spec, device_name, "accuracy")
    impl.layers[1].attention.kv_cache.dtype = ttnn.float32
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.attention\.kv_cache\.dtype: FLOAT32 is not a KV cache dtype"
    ):
        TextCausalLM(spec, impl, device_name, progress=False)


def test_failure_during_conversion_leaves_only_complete_cache_entries(
    tiny_checkpoint, device_name, tmp_path, monkeypatch
):
    from tttv2_blocks import FeedForward
    from tttv2_hwconfig import is_shapes_only

    cache_dir = tmp_path / "cache"
    original = FeedForward.load_weights

    def fail_in_layer_1(self, state_dict):
        if self.module_path == "layers.1.ffn" and not is_shapes_only():  # not the build's dry run
            raise RuntimeError("disk full")
        return original(self, state_dict)

    monkeypatch.setattr(FeedForward, "load_weights", fail_in_layer_1)
    with pytest.raises(RuntimeError, match="disk full"):
        _build(tiny_checkpoint, device_name, cache_dir=cache_dir)
    files = _entries(cache_dir)
    assert not any(
        ".tmp-" in f or f.startswith("layers.1.ffn/") and not f.endswith(".lock") for f in files
    ), files
    built = {f.split("/")[0] for f in files if f.endswith("manifest.json")}
    assert "layers.0.ffn" in built and "layers.1.ffn" not in built

    monkeypatch.setattr(FeedForward, "load_weights", original)
    with _build(tiny_checkpoint, device_name, cache_dir=cache_dir) as model:
        kinds = {path: kind for path, kind, _ in model.tensor_cache.events}
    assert kinds["layers.0.ffn"] == "hit" and kinds["layers.1.ffn"] == "built"
