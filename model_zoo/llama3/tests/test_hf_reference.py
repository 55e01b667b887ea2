"""The HF reference runner: its greedy loop must match transformers' generate; teacher forcing must agree."""

from __future__ import annotations

import pytest
import torch
from tttv2_llama3 import ModelFactory
from tttv2_patterns.family import CheckpointError
from tttv2_testing.hf import HFReference, truncate_at_eos

NEW_TOKENS = 8


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return HFReference(tiny_checkpoint)


@pytest.fixture(scope="module")
def chat_reference(tiny_chat_checkpoint):
    return HFReference(tiny_chat_checkpoint)


def test_runs_float32_eager(reference):
    assert reference.model.dtype == torch.float32
    assert reference.model.config._attn_implementation == "eager"


def test_greedy_matches_transformers_generate(reference):
    prompts = torch.tensor([[1, 5, 9, 17, 33], [1, 60, 2, 99, 7]])
    ours = reference.greedy_generate(prompts, NEW_TOKENS)
    theirs = reference.model.generate(prompts, max_new_tokens=NEW_TOKENS, do_sample=False)[
        :, prompts.shape[1] :
    ]
    assert torch.equal(ours, theirs)


def test_teacher_forced_top1_reproduces_the_greedy_continuation(reference):
    # Full-sequence forward (no cache) vs the cached decode loop: same argmax at every generated position.
    prompt = torch.tensor([[1, 11, 22, 33]])
    continuation = reference.greedy_generate(prompt, NEW_TOKENS)
    full = torch.cat([prompt, continuation], dim=1)
    top1 = reference.teacher_forced_topk(full, k=1)[0, :, 0]
    assert torch.equal(top1[prompt.shape[1] - 1 : -1], continuation[0])


def test_teacher_forced_topk_shape_and_order(reference):
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    top = reference.teacher_forced_topk(ids, k=5)
    logits = reference.logits(ids)
    assert top.shape == (1, 6, 5)
    gathered = logits.gather(-1, top)
    assert torch.all(gathered[..., :-1] >= gathered[..., 1:])  # best first


def test_stop_at_eos(reference):
    prompt = torch.tensor([[1, 5, 9]])
    full = reference.greedy_generate(prompt, NEW_TOKENS, stop_at_eos=False)[0].tolist()
    eos = full[3]
    reference.eos_token_ids = (eos,)
    try:
        stopped = reference.greedy_generate(prompt, NEW_TOKENS)[0].tolist()
    finally:
        reference.eos_token_ids = ()
    assert stopped == full[: full.index(eos) + 1]


def test_ragged_prompts_are_rejected(reference):
    with pytest.raises(ValueError, match=r"same length .*\[2, 3\]"):
        reference.greedy_generate([[1, 2], [1, 2, 3]], 2)


def test_layer_submodules_are_the_hf_modules(reference):
    layer = reference.model.model.layers[1]
    modules = reference.layer_submodules(1)
    assert modules["self_attn"] is layer.self_attn
    assert modules["mlp"] is layer.mlp
    assert modules["input_layernorm"] is layer.input_layernorm
    assert modules["post_attention_layernorm"] is layer.post_attention_layernorm
    with pytest.raises(IndexError, match="out of range: the model has 2 layers"):
        reference.layer_submodules(2)


def test_chat_template_is_applied(chat_reference):
    # Hand-tokenized "<|user|> hello world </s> <|assistant|>" with the tiny word list in conftest.
    assert chat_reference.has_chat_template
    assert chat_reference.encode("hello world") == [3, 17, 18, 2, 4]
    assert chat_reference.encode("hello world", chat=False) == [17, 18]


def test_decode_stops_at_eos(chat_reference):
    assert chat_reference.eos_token_ids == (2,)
    assert chat_reference.decode([15, 16, 2, 17]) == "about sea"
    assert truncate_at_eos([16, 2, 18], (2,), keep_eos=True) == [16, 2]


def test_no_tokenizer_is_explained(reference):
    assert reference.tokenizer is None
    with pytest.raises(ValueError, match="no tokenizer files"):
        reference.encode("hello")


def test_bad_checkpoint_gets_our_error_not_transformers(copy_checkpoint, tiny_checkpoint):
    folder = copy_checkpoint(tiny_checkpoint)
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        ModelFactory.hf_reference(folder)
