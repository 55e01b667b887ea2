"""Turning what users pass as prompts into one list of token ids per user."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tttv2_hwconfig import ttnn


def _ids_from_tensor(tensor: torch.Tensor, where: str) -> list[list[int]]:
    if tensor.is_floating_point() or tensor.is_complex():
        raise TypeError(f"{where}: token ids must be an integer tensor, got dtype {tensor.dtype}")
    if tensor.dim() == 1:
        return [tensor.tolist()]
    if tensor.dim() == 2:
        return tensor.tolist()
    raise ValueError(f"{where}: token ids must be (seq,) or (users, seq), got shape {list(tensor.shape)}")


def prompt_token_ids(prompts, where: str = "prompt_ids") -> list[list[int]]:
    """One list of token ids per user.

    Accepts a 1-D (one user) or 2-D (users, seq) integer ``torch.Tensor`` or host ``ttnn.Tensor``
    (``ttnn.from_torch(torch.tensor([1, 2, 3, 4]))`` is a uint32 host tensor), a list of ints (one
    user), or a list of lists / tensors (users with different prompt lengths).

    Raises:
        TypeError / ValueError naming ``where`` and the offending user.
    """
    if isinstance(prompts, ttnn.Tensor):
        prompts = ttnn.to_torch(prompts)
    if isinstance(prompts, torch.Tensor):
        users = _ids_from_tensor(prompts, where)
    elif isinstance(prompts, Sequence) and not isinstance(prompts, str | bytes):
        if not prompts:
            raise ValueError(f"{where}: no prompts given")
        if all(isinstance(t, int) for t in prompts):
            users = [list(prompts)]
        else:
            users = []
            for index, user in enumerate(prompts):
                if isinstance(user, ttnn.Tensor):
                    user = ttnn.to_torch(user)
                if isinstance(user, torch.Tensor):
                    user = _ids_from_tensor(user.flatten(), f"{where}[{index}]")[0]
                if not isinstance(user, Sequence) or not all(isinstance(t, int) for t in user):
                    raise TypeError(f"{where}[{index}]: expected a list of int token ids, got {user!r:.80}")
                users.append(list(user))
    else:
        raise TypeError(
            f"{where}: expected token ids (torch/ttnn tensor, list of ints, or list of lists), got {type(prompts).__name__}"
        )
    for index, user in enumerate(users):
        if not user:
            raise ValueError(f"{where}[{index}]: empty prompt")
        if min(user) < 0:
            raise ValueError(f"{where}[{index}]: negative token id {min(user)}")
    return [[int(t) for t in user] for user in users]
