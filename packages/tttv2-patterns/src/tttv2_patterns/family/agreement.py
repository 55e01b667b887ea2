"""How closely a model's tokens follow the HF reference's tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenAgreement:
    """Position-by-position comparison of two greedy continuations of the same prompt.

    Attributes:
        matched: positions where both produced the same token.
        compared: positions compared (the reference's length).
        first_divergence: index of the first differing position, or None if none differs.
    """

    matched: int
    compared: int
    first_divergence: int | None

    @property
    def rate(self) -> float:
        return self.matched / self.compared if self.compared else 1.0

    def __str__(self) -> str:
        where = "none" if self.first_divergence is None else f"token {self.first_divergence}"
        return f"{self.matched}/{self.compared} tokens match (first divergence: {where})"


def token_agreement(candidate: Sequence[int], reference: Sequence[int]) -> TokenAgreement:
    """Compare ``candidate`` with ``reference`` over the reference's positions.

    A candidate shorter than the reference counts the missing positions as mismatches.
    """
    reference = [int(t) for t in reference]
    candidate = [int(t) for t in candidate][: len(reference)]
    matches = [c == r for c, r in zip(candidate, reference)] + [False] * (len(reference) - len(candidate))
    first = next((i for i, same in enumerate(matches) if not same), None)
    return TokenAgreement(matched=sum(matches), compared=len(reference), first_divergence=first)
