"""``predict_model`` on a tiny Llama config: batch 1 and a full decode batch of 32 users.

The prediction decodes every user of the batch at ``prompt_len``; all of them must count as
prefilled (one prefill program is recorded, TTFT is per user), or the decode is refused as reading
stale KV entries. No threshold on the figures themselves: the calibration tests own those.
"""

import pytest
from _family import (
    TINY_LLAMA,
    TinyLlama,
    tiny_family_only,  # noqa: F401 - the fixture, used by every test here
)
from _family import TINY_LLAMA_CONFIG as CONFIG
from tttv2_patterns import model_families
from tttv2_patterns.predict import predict_model

pytestmark = pytest.mark.usefixtures("tiny_family_only")


def test_a_decode_batch_of_32_users_is_predicted(device_name):
    one = predict_model(CONFIG, device=device_name, batch=1, prompt_len=32)
    full = predict_model(CONFIG, device=device_name, batch=32, prompt_len=32)
    assert (one.batch, full.batch) == (1, 32)
    # The decode batch is always 32 rows on the device: the same op program at batch 1 and 32.
    assert full.decode_ops == one.decode_ops
    assert full.decode_step_s >= one.decode_step_s > 0
    assert full.ttft_s == pytest.approx(one.ttft_s, rel=0.05)  # one user's prefill either way


def test_tttv1_program_pays_host_sampling_at_batch_above_one(device_name):
    # TTTv1's demo reads the 32-row logits back and samples on the host when batch > 1; TTTv2 does not.
    from tttv2_hwconfig.perf_model import host_sampling_s

    v1_one = predict_model(CONFIG, device=device_name, batch=1, prompt_len=32, program="tttv1-precision")
    v1_full = predict_model(CONFIG, device=device_name, batch=32, prompt_len=32, program="tttv1-precision")
    v2_full = predict_model(CONFIG, device=device_name, batch=32, prompt_len=32)
    expected = host_sampling_s(device_name, 32, TINY_LLAMA["vocab_size"])
    assert expected > 0
    assert (v1_one.host_sampling_s, v2_full.host_sampling_s) == (0.0, 0.0)
    assert v1_full.host_sampling_s == pytest.approx(expected)
    device_only = v1_full.decode.total_latency_s + v1_full.ttft_s - v1_full.prefill.total_latency_s
    assert v1_full.decode_step_s == pytest.approx(device_only + expected)


def test_decode_position_moves_the_step_along_the_generation():
    config = {**CONFIG, "max_position_embeddings": 2048}

    def kv_time(prediction):
        return sum(op.memory_s for op in prediction.decode.ops if "scaled_dot_product_attention" in op.name)

    first = predict_model(config, device="N150", batch=32, prompt_len=32)
    later = predict_model(config, device="N150", batch=32, prompt_len=32, decode_position=1000)
    # SDPA decode reads the KV cache in k_chunk_size chunks: 1001 positions are more chunks than 33.
    assert kv_time(later) > 2 * kv_time(first) > 0
    assert later.decode_ops == first.decode_ops
    with pytest.raises(ValueError, match="decode_position must be >= prompt_len"):
        predict_model(config, device="N150", prompt_len=32, decode_position=31)


@pytest.mark.parametrize(
    ("architecture", "attention_dtype"),
    [("LlamaForCausalLM", "bfloat8_b"), ("Qwen2ForCausalLM", "bfloat16")],
)
def test_tttv1_precision_accuracy_follows_tttv1_per_model(device, architecture, attention_dtype):
    # TTTv1 ModelOptimizations.accuracy: Llama 3 bfp8 attention + bfp8 HiFi2 MLP, other models bf16 attention.
    from tttv2_hwconfig import ttnn

    builder = model_families.FamilyBuilder(architecture, TinyLlama)
    spec = builder.spec(CONFIG, max_batch_size=1, max_seq_len=64)
    impl = builder.impl_config(spec, device, "accuracy", "tttv1-precision")
    layer = impl.layers[0]
    assert layer.attention.qkv_proj.dtype == getattr(ttnn, attention_dtype)
    if architecture == "LlamaForCausalLM":
        assert layer.ffn.gate_proj.dtype == ttnn.bfloat8_b
        assert not layer.ffn.gate_proj.compute_kernel_config.fp32_dest_acc_en


def test_tttv1_precision_all_reduces_as_tttv1_on_2d_meshes_only(device):
    # TTTv1 ccl.py tt_all_reduce: all_gather_async + fast_reduce_nc on a 2D mesh, reduce-scatter on 1D meshes.
    builder = model_families.FamilyBuilder("LlamaForCausalLM", TinyLlama)
    spec = builder.spec(CONFIG, max_batch_size=1, max_seq_len=64)
    rows, cols = tuple(device.shape)
    expected = "all_gather_reduce" if rows > 1 and cols > 1 else "all_reduce"
    impl = builder.impl_config(spec, device, "performance", "tttv1-precision")
    assert {(layer.attention.collective, layer.ffn.collective) for layer in impl.layers} == {
        (expected, expected)
    }
    # TTTv1 runs no DRAM-sharded decode matmul on TG (attention.py / mlp.py: "TODO ... when TG supports
    # DRAM sharded matmuls"); elsewhere its decode matmuls are DRAM-sharded.
    sharded = not (rows > 1 and cols > 1)
    assert {
        (layer.attention.decode_dram_sharded, layer.ffn.decode_dram_sharded) for layer in impl.layers
    } == {(sharded, sharded)}
    default = builder.impl_config(spec, device, "performance")
    assert {layer.ffn.collective for layer in default.layers} == {"all_reduce"}


def test_cli_names_why_a_model_cannot_be_predicted(tmp_path, capsys):
    import json

    from tttv2_patterns.predict_cli import main

    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    assert main(["--config", str(tmp_path), "--device", "N150", "--prompt-len", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tttv2-predict: cannot predict") and "max_position_embeddings" in err, err
