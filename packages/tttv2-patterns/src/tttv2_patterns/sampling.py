"""Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p.

Semantics follow HF ``generate``: temperature divides the logits, top-k keeps the k largest,
top-p keeps the smallest set of most likely tokens whose probability reaches ``top_p`` (at least
one token), then a token is drawn from the renormalised distribution with a seeded
``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How to pick the next token.

    Attributes:
        do_sample: False = greedy (argmax; ties go to the lowest token id).
        temperature: > 0; logits are divided by it before top-k/top-p.
        top_k: keep only the ``top_k`` most likely tokens (None or 0 = all).
        top_p: keep the smallest set whose cumulative probability reaches ``top_p`` (None or 1.0 = all).
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self):
        if not isinstance(self.temperature, int | float) or not self.temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {self.temperature!r}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
            raise ValueError(f"top_k must be None or an int >= 0, got {self.top_k!r}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be None or in (0, 1], got {self.top_p!r}")


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature-scaled logits with everything outside top-k / top-p set to -inf.

    Args:
        logits: ``(batch, vocab)`` float logits.

    Returns:
        ``(batch, vocab)`` float32 logits ready for softmax.
    """
    scores = logits.to(torch.float32) / params.temperature
    if params.top_k:
        k = min(params.top_k, scores.shape[-1])
        kth_largest = torch.topk(scores, k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth_largest, float("-inf"))
    if params.top_p is not None and params.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first token always stays.
        drop_sorted = (cumulative - sorted_scores.softmax(dim=-1)) >= params.top_p
        drop_sorted[..., 0] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores


def select_next_tokens(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Next token per row of ``(batch, vocab)`` logits -> ``(batch,)`` int64."""
    if logits.dim() != 2:
        raise ValueError(f"select_next_tokens: logits must be (batch, vocab), got shape {list(logits.shape)}")
    if not params.do_sample:
        return torch.argmax(logits, dim=-1)
    probabilities = filter_logits(logits, params).softmax(dim=-1)
    return torch.multinomial(probabilities, num_samples=1, generator=generator).squeeze(-1)
