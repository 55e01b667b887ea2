"""generate(): sampling (seeded, within top-k of HF's own logits), stop tokens per user, string prompts."""

import pytest
import torch
from test_causal_lm import GREEDY_PROMPTS
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from tttv2_patterns import CausalLM


@pytest.fixture
def model(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    return CausalLM(spec, CausalLM.ImplConfig(spec, device, strategy="accuracy"), device, progress=False)


def _hf_greedy(hf_model, prompt, steps):
    with torch.no_grad():
        return hf_model.generate(torch.tensor([prompt]), max_new_tokens=steps, do_sample=False)[
            0, len(prompt) :
        ].tolist()


def test_top_k_1_sampling_is_greedy(llama_checkpoint, model):
    hf_model, _ = llama_checkpoint
    prompts = GREEDY_PROMPTS[:2]  # HF margins >= 0.02 for 16 steps (see test_causal_lm)
    out = model.generate(prompts, max_new_tokens=6, do_sample=True, temperature=0.7, top_k=1, seed=3)
    assert out.token_ids == [_hf_greedy(hf_model, p, 6) for p in prompts]


def test_sampling_is_seeded_and_stays_in_hf_top_k(llama_checkpoint, model):
    hf_model, _ = llama_checkpoint
    prompt = [12, 34, 56]
    kwargs = dict(max_new_tokens=8, do_sample=True, temperature=1.5, top_k=5, seed=11)
    first = model.generate([prompt], **kwargs).token_ids[0]
    assert model.generate([prompt], **kwargs).token_ids[0] == first  # same seed, same tokens
    others = {tuple(model.generate([prompt], **{**kwargs, "seed": s}).token_ids[0]) for s in range(4)}
    assert len(others) > 1  # it samples
    # Teacher-forced HF: every sampled token is among HF's 6 most likely (top-5 plus slack for near-ties).
    with torch.no_grad():
        logits = hf_model(torch.tensor([prompt + first[:-1]])).logits[0, len(prompt) - 1 :]
    for step, token in enumerate(first):
        assert token in logits[step].topk(6).indices.tolist(), f"step {step}: {token} not in HF top-k"


def test_stop_tokens_end_each_user_separately(llama_checkpoint, model):
    hf_model, _ = llama_checkpoint
    prompts = GREEDY_PROMPTS[:2]
    expected = [_hf_greedy(hf_model, p, 10) for p in prompts]
    stop = expected[0][2]  # user 0's third token
    assert stop not in expected[1]
    out = model.generate(prompts, max_new_tokens=10, stop_token_ids=[[stop], []])
    assert out.token_ids[0] == expected[0][: expected[0].index(stop) + 1]  # kept, as in HF
    assert out.token_ids[1] == expected[1]
    assert out.finished == [True, False]
    same_for_all = model.generate(prompts, max_new_tokens=10, eos_token_id=stop)
    assert same_for_all.token_ids == out.token_ids


@pytest.fixture
def word_tokenizer():
    """A word-level tokenizer over the tiny vocab ("w0".."w498"), built offline; eos = "w498"."""
    tokenizer = Tokenizer(models.WordLevel({f"w{i}": i for i in range(499)}, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="w498", unk_token="w0")


def test_string_prompts_need_and_use_a_tokenizer(llama_checkpoint, model, word_tokenizer):
    hf_model, _ = llama_checkpoint
    texts = [" ".join(f"w{t}" for t in p) for p in GREEDY_PROMPTS[:2]]
    out = model.generate(texts, max_new_tokens=5, tokenizer=word_tokenizer)
    assert out.prompt_token_ids == GREEDY_PROMPTS[:2]
    expected = [_hf_greedy(hf_model, p, 5) for p in GREEDY_PROMPTS[:2]]
    assert out.token_ids == expected
    assert out.text == [" ".join(f"w{t}" for t in ids if t != 498) for ids in expected]
    assert list(out) == out.token_ids  # iterating yields each user's tokens
    with pytest.raises(ValueError, match="string prompts need tokenizer="):
        model.generate("w1 w2", max_new_tokens=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be an int >= 1"),
        ({"do_sample": True, "temperature": 0.0}, "temperature must be a number > 0"),
        ({"stop_token_ids": [[1], [2], [3]]}, "3 per-user lists for 1 users"),
    ],
)
def test_bad_generate_arguments(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.generate([[1, 2]], **{"max_new_tokens": 2, **kwargs})
