"""Page tables of the paged KV cache: which physical cache blocks hold each user's positions.

The cache of every attention layer is ``(num_blocks, kv_heads, block_size, head_dim)``; user ``u``'s
position ``p`` lives in physical block ``page_table[u, p // block_size]`` at row ``p % block_size``
(the vLLM / TTTv1 layout). Each user owns ``ceil(max_seq_len / block_size)`` blocks, handed out in
a shuffled order so that nothing silently relies on a user's blocks being contiguous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class PageTable:
    """A static page table for ``max_batch_size`` users of up to ``max_seq_len`` positions each.

    Attributes:
        table: ``(max_batch_size, blocks_per_user)`` int32 physical block ids.
        num_blocks: physical blocks in each layer's cache.
    """

    max_batch_size: int
    max_seq_len: int
    block_size: int
    seed: int = 0
    table: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.block_size, int) or self.block_size < 1 or self.block_size % 32:
            raise ValueError(
                f"PageTable.block_size must be a positive multiple of 32 (one tile of positions), got {self.block_size!r}"
            )
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(self.num_blocks, generator=generator)
        self.table = order.reshape(self.max_batch_size, self.blocks_per_user).to(torch.int32)

    @property
    def blocks_per_user(self) -> int:
        return math.ceil(self.max_seq_len / self.block_size)

    @property
    def num_blocks(self) -> int:
        return self.max_batch_size * self.blocks_per_user

    def rows(self, user_ids: list[int]) -> torch.Tensor:
        """The page-table rows of ``user_ids`` in that order: ``(len(user_ids), blocks_per_user)`` int32."""
        for user in user_ids:
            if not 0 <= user < self.max_batch_size:
                raise ValueError(f"user id {user} is outside [0, {self.max_batch_size}) (max_batch_size)")
        return self.table[list(user_ids)]
