"""What ``prefill_forward``, ``decode_forward`` and ``generate`` return."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ForwardOutput:
    """Result of one prefill or decode step for a set of users.

    Attributes:
        logits: ``(users, vocab)`` float32 logits of each user's last position; None when the step
            was asked not to read them back (``decode_forward(return_logits=False)``).
        next_tokens: ``(users,)`` int64 next token of each user, chosen on the device: greedy
            (``ttnn.argmax``) unless ``sampling=`` asked for ``ttnn.sampling``.
        positions: per user, the cache position the next token goes to (prompt length after prefill,
            +1 after each decode step).
        user_ids: the KV-cache slot (page-table row) of each user.

    ``model.decode_forward(out)`` feeds ``next_tokens`` at ``positions``; pass ``token_ids=`` to feed
    sampled tokens instead and ``cache_position=`` to override positions.
    """

    logits: torch.Tensor | None
    next_tokens: torch.Tensor
    positions: list[int]
    user_ids: list[int]

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass
class GenerateOutput:
    """Result of ``generate``; iterating it yields each user's generated token ids.

    Attributes:
        token_ids: per user, the generated token ids (without the prompt; a stop token that ended
            a user's generation is included, as in HF).
        prompt_token_ids: per user, the prompt token ids.
        text: per user, the decoded generated text when a tokenizer was given, else None.
        finished: per user, True if a stop token ended generation before ``max_new_tokens``.
    """

    token_ids: list[list[int]]
    prompt_token_ids: list[list[int]]
    text: list[str] | None = None
    finished: list[bool] | None = None

    def __iter__(self):
        return iter(self.token_ids)

    def __len__(self) -> int:
        return len(self.token_ids)

    def __getitem__(self, index):
        return self.token_ids[index]
