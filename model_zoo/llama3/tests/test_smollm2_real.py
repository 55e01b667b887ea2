"""The real SmolLM2-135M-Instruct conversion (slow: ~30-60 s on 2 shared cores; run with --run-slow).

The converted weights are checked against the GGUF file dequantized by the ``gguf`` library itself,
independently of transformers' converter (including llama.cpp's q/k row permutation).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from tttv2_llama3 import SMOLLM2, ensure_smollm2_checkpoint
from tttv2_patterns.family import read_checkpoint

pytestmark = pytest.mark.slow


def _unpermute_llama_cpp_rows(weight: torch.Tensor, heads: int) -> torch.Tensor:
    # llama.cpp's convert script interleaves each head's two rotary halves; HF keeps them as halves.
    rows, cols = weight.shape
    return weight.reshape(heads, rows // heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    start = time.perf_counter()
    folder = ensure_smollm2_checkpoint(tmp_path_factory.mktemp("cache") / "smollm2")
    print(f"\nSmolLM2 GGUF -> HF safetensors conversion took {time.perf_counter() - start:.1f} s")
    return folder


@pytest.fixture(scope="module")
def gguf_tensors():
    from gguf import GGUFReader

    return {tensor.name: tensor for tensor in GGUFReader(str(SMOLLM2.gguf_path())).tensors}


def test_config_of_the_converted_checkpoint(converted):
    from tttv2_patterns.family import read_hf_config
    from tttv2_patterns.family.hf_specs import rope_spec

    config = read_hf_config(converted)
    checkpoint = read_checkpoint(converted)
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (30, 576, 1536)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (9, 3, 64)
    assert config.vocab_size == 49152
    assert config.tie_word_embeddings and "lm_head.weight" not in checkpoint
    rope = rope_spec(config)
    assert (rope.theta, rope.scaling) == (100000.0, None)
    assert config.eos_token_ids == (2,)
    assert {checkpoint.dtype(name) for name in checkpoint} == {"BF16"}


@pytest.mark.parametrize(
    ("gguf_name", "hf_name", "heads"),
    [
        ("token_embd.weight", "model.embed_tokens.weight", None),  # Q8_0
        ("output_norm.weight", "model.norm.weight", None),  # F32
        ("blk.7.attn_v.weight", "model.layers.7.self_attn.v_proj.weight", None),  # Q4_1
        ("blk.29.ffn_down.weight", "model.layers.29.mlp.down_proj.weight", None),  # Q4_1
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 9),  # Q4_1, permuted
        ("blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight", 3),  # Q4_1, permuted
    ],
)
def test_weights_are_the_dequantized_gguf_rounded_to_bfloat16(
    converted, gguf_tensors, gguf_name, hf_name, heads
):
    from gguf.quants import dequantize

    tensor = gguf_tensors[gguf_name]
    expected = torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
    if heads is not None:
        expected = _unpermute_llama_cpp_rows(expected, heads)
    checkpoint = read_checkpoint(converted)
    # Exact: the checkpoint must hold the GGUF values, rounded once to bfloat16 and nothing else.
    assert torch.equal(checkpoint[hf_name], expected.to(torch.bfloat16))


def test_hf_reference_answers_a_question(converted):
    from tttv2_testing.hf import HFReference

    reference = HFReference(converted)
    prompt = reference.encode("What is the capital of France?")
    start = time.perf_counter()
    new_ids = reference.greedy_generate([prompt], 16)[0]
    seconds = time.perf_counter() - start
    print(
        f"\nHF eager fp32 CPU: {len(new_ids)} tokens in {seconds:.2f} s ({len(new_ids) / seconds:.1f} tokens/s)"
    )
    # A garbled conversion (e.g. wrong q/k permutation) produces no coherent answer.
    assert "Paris" in reference.decode(new_ids)
