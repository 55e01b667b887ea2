"""Checkpoint-folder checks driven by the spec, and the one rule for which files are read."""

from __future__ import annotations

import json

import pytest
import torch
from _family import TinyLlama, copy_folder, write_tiny_llama
from safetensors.torch import load_file, save_file
from tttv2_patterns import checkpoint_files
from tttv2_patterns.family import CheckpointError, check_checkpoint, expected_tensors, read_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def tiny_sharded(tmp_path_factory):
    folder = write_tiny_llama(tmp_path_factory.mktemp("sharded") / "ckpt", max_shard_size="40KB")
    assert (folder / "model.safetensors.index.json").is_file(), "transformers did not shard the tiny model"
    return folder


@pytest.fixture
def damaged(tmp_path, tiny):
    return copy_folder(tiny, tmp_path / "copy")


def _spec(folder):
    return TinyLlama.spec_from_hf_config(folder, max_batch_size=1, max_seq_len=64, check_modules=False)


def _check(folder):
    check_checkpoint(_spec(folder), read_checkpoint(folder))


def _rewrite(folder, edit):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def _hf_state_dict(folder):
    from transformers import LlamaForCausalLM  # noqa: PLC0415

    return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).state_dict()


def test_expected_tensors_come_from_the_spec_and_layout(tiny):
    required, optional = expected_tensors(_spec(tiny))
    # Independent: the names and shapes transformers itself saved.
    saved = {name: tuple(t.shape) for name, t in load_file(tiny / "model.safetensors").items()}
    assert required == saved and optional == {}


@pytest.mark.parametrize("folder", ["tiny", "tiny_sharded"])
def test_checked_tensors_equal_transformers(folder, request):
    folder = request.getfixturevalue(folder)
    checkpoint = read_checkpoint(folder)
    check_checkpoint(_spec(folder), checkpoint)
    expected = _hf_state_dict(folder)
    assert set(checkpoint) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(checkpoint[name], tensor), name


def test_tied_embeddings_need_no_lm_head(tmp_path):
    folder = write_tiny_llama(tmp_path / "tied", tie_word_embeddings=True)
    assert "lm_head.weight" not in load_file(folder / "model.safetensors")
    spec = _spec(folder)
    assert "lm_head.weight" in expected_tensors(spec)[1]
    check_checkpoint(spec, read_checkpoint(folder))


def test_every_problem_in_one_error(damaged):
    def damage(tensors):
        tensors.pop("model.layers.0.mlp.down_proj.weight")
        tensors["model.layers.1.self_attn.k_proj.weight"] = torch.zeros(64, 64)  # MHA-sized, not GQA
        tensors["model.layers.0.extra.weight"] = torch.zeros(3)
        tensors["model.norm.weight"] = torch.zeros(64, dtype=torch.int8)

    _rewrite(damaged, damage)
    with pytest.raises(CheckpointError) as error:
        _check(damaged)
    message = str(error.value)
    # Shapes worked out by hand from TINY_LLAMA: k_proj = (num_key_value_heads * head_dim, hidden) = (2 * 16, 64).
    assert "1 missing tensors: model.layers.0.mlp.down_proj.weight" in message
    assert (
        "model.layers.1.self_attn.k_proj.weight in model.safetensors: expected [32, 64], got [64, 64]"
        in message
    )
    assert "unexpected tensors (the spec does not use them): model.layers.0.extra.weight" in message
    assert "not stored as F16/BF16/F32: model.norm.weight (I8)" in message


def test_unexpected_tensors_are_allowed_when_not_strict(damaged):
    _rewrite(damaged, lambda tensors: tensors.update({"model.layers.0.extra.weight": torch.zeros(3)}))
    check_checkpoint(_spec(damaged), read_checkpoint(damaged), strict=False)


def test_ignored_buffers_are_not_unexpected(damaged):
    _rewrite(
        damaged,
        lambda tensors: tensors.update({"model.layers.0.self_attn.rotary_emb.inv_freq": torch.ones(8)}),
    )
    _check(damaged)


@pytest.mark.parametrize("damage", ["truncate", "garble_header", "empty"])
def test_corrupt_safetensors(damaged, damage):
    path = damaged / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garble_header": data[:8] + b"#not json" + data[17:]}.get(
            damage, b""
        )
    )
    with pytest.raises(CheckpointError, match="corrupt or truncated safetensors file"):
        read_checkpoint(damaged)


def test_missing_shard_is_named(tmp_path, tiny_sharded):
    folder = copy_folder(tiny_sharded, tmp_path / "copy")
    shard = sorted(folder.glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(
        CheckpointError, match=rf"shard files named in the index are missing: \['{shard.name}'\]"
    ):
        read_checkpoint(folder)


def test_pickle_checkpoints_are_never_read(damaged):
    (damaged / "model.safetensors").rename(damaged / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*pickle"):
        read_checkpoint(damaged)


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nowhere")


# --- issue 13 case 1: one rule for which files are read ---------------------------------------------------
@pytest.fixture
def ambiguous(tmp_path, tiny):
    """``model.safetensors`` AND an index whose shards hold DIFFERENT weights (another seed)."""
    folder = copy_folder(tiny, tmp_path / "ambiguous")
    other = write_tiny_llama(tmp_path / "other", max_shard_size="40KB", seed=1)
    for file in other.glob("model*.safetensors*"):
        file.rename(folder / file.name)
    assert (folder / "model.safetensors").is_file() and (folder / "model.safetensors.index.json").is_file()
    return folder


def test_rule_follows_transformers_single_file_first(ambiguous, tiny):
    assert checkpoint_files(ambiguous) == [ambiguous / "model.safetensors"]
    checkpoint = read_checkpoint(ambiguous)
    assert checkpoint.files == (ambiguous / "model.safetensors",)
    # transformers itself loads the single file from this folder: our bytes equal its bytes.
    expected = _hf_state_dict(ambiguous)
    assert torch.equal(
        expected["model.norm.weight"], load_file(tiny / "model.safetensors")["model.norm.weight"]
    )
    for name, tensor in expected.items():
        assert torch.equal(checkpoint[name], tensor), name


def test_checks_and_loader_read_the_same_files(ambiguous):
    # Break the single file only: the checks must see it (they read what the loader reads), in both orders.
    _rewrite(ambiguous, lambda tensors: tensors.pop("model.norm.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensors: model\.norm\.weight"):
        _check(ambiguous)
    (ambiguous / "model.safetensors").unlink()  # now the index is the rule's choice, and its shards are whole
    checkpoint = read_checkpoint(ambiguous)
    assert all(file.name.startswith("model-") for file in checkpoint.files)
    check_checkpoint(_spec(ambiguous), checkpoint)
    spec = _spec(ambiguous).attach_checkpoint(checkpoint)
    assert spec.checkpoint is checkpoint  # the loader is the checked object, not a second reader


def test_bad_index_is_named(tmp_path, tiny_sharded):
    folder = copy_folder(tiny_sharded, tmp_path / "copy")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weights": {}}))
    with pytest.raises(CheckpointError, match="not a valid index"):
        read_checkpoint(folder)
