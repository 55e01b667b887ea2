"""Sampling filters against HF's logits warpers (the semantics ``generate`` promises to follow)."""

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
from tttv2_patterns import SamplingParams
from tttv2_patterns.sampling import filter_logits, select_next_tokens


def _hf_filtered(logits, temperature, top_k, top_p):
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.8), (0.9, 20, 0.5), (1.0, 1, None)],
)
def test_filter_matches_hf_warpers(temperature, top_k, top_p):
    logits = torch.randn(4, 301) * 3
    ours = filter_logits(logits, SamplingParams(True, temperature, top_k, top_p))
    hf = _hf_filtered(logits, temperature, top_k, top_p)
    # Same surviving tokens, same scaled values (exact: both divide by the temperature in float32).
    assert torch.equal(torch.isinf(ours), torch.isinf(hf))
    kept = ~torch.isinf(hf)
    torch.testing.assert_close(ours[kept], hf[kept])


def test_greedy_is_argmax():
    logits = torch.randn(3, 50)
    assert torch.equal(select_next_tokens(logits, SamplingParams()), logits.argmax(-1))


def test_sampling_is_seeded_and_stays_inside_top_k():
    logits = torch.randn(2, 100)
    params = SamplingParams(do_sample=True, temperature=1.0, top_k=3)
    first = [select_next_tokens(logits, params, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(first[0], first[1])
    allowed = torch.topk(logits, 3).indices
    draws = torch.stack(
        [select_next_tokens(logits, params, torch.Generator().manual_seed(s)) for s in range(50)]
    )
    for user in range(2):
        assert set(draws[:, user].tolist()) <= set(allowed[user].tolist())
        assert len(set(draws[:, user].tolist())) > 1  # it does sample


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"top_k": -1}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_params_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SamplingParams(do_sample=True, **kwargs)
