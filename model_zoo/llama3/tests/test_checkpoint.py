"""Reading HF checkpoint folders: tensors must equal what transformers saved; every bad folder is named."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM
from tttv2_llama3 import CheckpointError, open_checkpoint


def _hf_state_dict(folder):
    # The independent reference: transformers' own loader on the same folder.
    return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).state_dict()


@pytest.mark.parametrize("lazy", [True, False])
def test_single_file_tensors_equal_transformers(tiny_checkpoint, lazy):
    expected = _hf_state_dict(tiny_checkpoint)
    with open_checkpoint(tiny_checkpoint, lazy=lazy) as checkpoint:
        assert set(checkpoint.keys()) == set(expected)
        for name, tensor in expected.items():
            assert checkpoint.shape(name) == tuple(tensor.shape), name
            # Bit-exact: both read the same float32 bytes.
            assert torch.equal(checkpoint.get_tensor(name), tensor), name


def test_sharded_tensors_equal_transformers(tiny_sharded_checkpoint):
    expected = _hf_state_dict(tiny_sharded_checkpoint)
    with open_checkpoint(tiny_sharded_checkpoint) as checkpoint:
        assert len(checkpoint.files) > 1
        assert set(checkpoint.keys()) == set(expected)
        for name, tensor in expected.items():
            assert torch.equal(checkpoint.get_tensor(name), tensor), name


def test_state_dict_prefix_selects_one_layer(tiny_checkpoint):
    with open_checkpoint(tiny_checkpoint) as checkpoint:
        layer = checkpoint.state_dict("model.layers.1.", strip_prefix=True)
        assert set(layer) == {
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
            "self_attn.o_proj.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight",
            "input_layernorm.weight",
            "post_attention_layernorm.weight",
        }


def test_config_is_parsed(tiny_checkpoint):
    config = open_checkpoint(tiny_checkpoint).config
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads) == (64, 4, 2)
    assert config.head_dim == 64 // 4
    assert config.tie_word_embeddings is False


def test_tied_embeddings_need_no_lm_head(make_tiny_llama):
    folder = make_tiny_llama("tied", tie_word_embeddings=True)
    assert "lm_head.weight" not in load_file(folder / "model.safetensors")
    with open_checkpoint(folder) as checkpoint:
        assert checkpoint.config.tie_word_embeddings
        assert "lm_head.weight" not in checkpoint


def test_missing_config(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json: missing"):
        open_checkpoint(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        open_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("damage", ["truncate", "garble_header", "empty"])
def test_corrupt_safetensors_names_the_file(copy_checkpoint, tiny_checkpoint, damage):
    folder = copy_checkpoint(tiny_checkpoint)
    path = folder / "model.safetensors"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garble_header":
        path.write_bytes(data[:8] + b"#not json" + data[17:])
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated safetensors file"):
        open_checkpoint(folder)


def test_corrupt_shard_names_the_shard(copy_checkpoint, tiny_sharded_checkpoint):
    folder = copy_checkpoint(tiny_sharded_checkpoint)
    shard = sorted(folder.glob("model-*.safetensors"))[1]
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=shard.name):
        open_checkpoint(folder)


def test_missing_shard_is_named(copy_checkpoint, tiny_sharded_checkpoint):
    folder = copy_checkpoint(tiny_sharded_checkpoint)
    shard = sorted(folder.glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(CheckpointError, match=rf"shard files named in the index are missing: {shard.name}"):
        open_checkpoint(folder)


def test_index_placing_a_tensor_in_the_wrong_shard(copy_checkpoint, tiny_sharded_checkpoint):
    folder = copy_checkpoint(tiny_sharded_checkpoint)
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shards = sorted(set(index["weight_map"].values()))
    name = next(n for n, s in index["weight_map"].items() if s == shards[0])
    index["weight_map"][name] = shards[1]
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=rf"{shards[1]}: the index places 1 tensors .*{name}"):
        open_checkpoint(folder)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, r"unsupported model_type 'gpt2'"),
        ({"architectures": ["LlamaForSequenceClassification"]}, r"unsupported architectures"),
    ],
)
def test_unsupported_architecture_lists_supported_ones(copy_checkpoint, tiny_checkpoint, changes, message):
    folder = copy_checkpoint(tiny_checkpoint)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    with pytest.raises(CheckpointError, match=message) as error:
        open_checkpoint(folder)
    for supported in ("'llama'", "LlamaForCausalLM", "Llama 3", "SmolLM2"):
        assert supported in str(error.value)


def _rewrite_tensors(folder, edit):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def test_misshaped_tensor_is_named_with_expected_and_actual_shape(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    name = "model.layers.1.self_attn.k_proj.weight"

    def make_k_proj_full_width(tensors):
        tensors[name] = torch.zeros(64, 64)  # MHA-sized instead of GQA-sized

    _rewrite_tensors(folder, make_k_proj_full_width)
    # Expected shape worked out by hand from TINY_LLAMA: (num_key_value_heads * head_dim, hidden) = (2 * 16, 64).
    with pytest.raises(
        CheckpointError, match=rf"{name} in model\.safetensors: expected \(32, 64\), got \(64, 64\)"
    ):
        open_checkpoint(folder)


def test_missing_tensor_is_named(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    _rewrite_tensors(folder, lambda tensors: tensors.pop("model.layers.0.mlp.down_proj.weight"))
    with pytest.raises(CheckpointError, match=r"1 missing tensors: model\.layers\.0\.mlp\.down_proj\.weight"):
        open_checkpoint(folder)


def test_unexpected_tensor_is_an_error_unless_not_strict(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    _rewrite_tensors(folder, lambda tensors: tensors.update({"model.layers.0.extra.weight": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensors .*model\.layers\.0\.extra\.weight"):
        open_checkpoint(folder)
    with open_checkpoint(folder, strict=False) as checkpoint:
        assert checkpoint.shape("model.layers.0.extra.weight") == (3,)


def test_non_float_tensor_is_rejected(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    name = "model.norm.weight"
    _rewrite_tensors(folder, lambda tensors: tensors.update({name: torch.zeros(64, dtype=torch.int8)}))
    with pytest.raises(CheckpointError, match=rf"not stored as F16/BF16/F32: {name} \(I8\)"):
        open_checkpoint(folder)


def test_quantized_config_is_rejected(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="quantized checkpoint .*'gptq'"):
        open_checkpoint(folder)


def test_pickle_checkpoints_are_never_read(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*pickle"):
        open_checkpoint(folder)
