"""Host-side record of how many KV-cache positions each user has filled, checked before a decode.

A decode step at position ``p`` writes ``p`` and attends positions ``0..p``; positions past what the
user's prefill and decode steps wrote hold stale entries (another user's old prompt, or zeros), so
attending them returns plausible logits silently. The record is plain Python ints updated by the
entry points themselves: no device read, so traced decode stays trace-safe.
"""

from __future__ import annotations


class CachePositionError(ValueError):
    """A decode position past what a user has filled in the KV cache."""


class FilledPositions:
    """Per KV-cache slot, the number of positions written (0 = nothing prefilled yet)."""

    def __init__(self, max_batch_size: int):
        self.filled = [0] * max_batch_size

    def check_decode(self, user_ids: list[int], positions: list[int], where: str = "decode_forward") -> None:
        """Refuse a position that would attend unwritten entries (``position > filled``)."""
        for user, position in zip(user_ids, positions):
            filled = self.filled[user]
            if position > filled:
                hint = "prefill it first" if filled == 0 else f"decode at cache_position <= {filled}"
                raise CachePositionError(
                    f"{where}: user {user}: cache position {position} is past the {filled} positions it has "
                    f"filled; positions {filled}..{position - 1} hold stale KV entries ({hint})"
                )

    def after_prefill(self, user_ids: list[int], lengths: list[int]) -> None:
        for user, length in zip(user_ids, lengths):
            self.filled[user] = length

    def after_decode(self, user_ids: list[int], positions: list[int]) -> None:
        # Decoding at p rewrites p; what lay beyond belongs to an abandoned continuation.
        for user, position in zip(user_ids, positions):
            self.filled[user] = position + 1
