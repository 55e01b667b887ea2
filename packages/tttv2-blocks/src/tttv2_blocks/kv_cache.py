"""Paged KV cache of one attention layer.

Each device holds ``keys`` and ``values`` of shape ``(num_blocks, kv_heads_per_device,
block_size, head_dim_padded)``. A page table (``(users, blocks_per_user)`` int32) maps user ``u``'s
position ``p`` to physical block ``page_table[u, p // block_size]``, row ``p % block_size`` (the
vLLM / TTTv1 layout)::

    page_table = [[5, 0, 3],        user 0: positions 0..31 in block 5, 32..63 in block 0, ...
                  [2, 4, 1]]        user 1: ...

Without a page table the cache uses ``identity_page_table`` (user ``u`` owns blocks
``u * blocks_per_user ...``), i.e. a contiguous per-user cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tttv2_hwconfig import ttnn

from tttv2_blocks.strict_fields import StrictFields

TILE = 32
# paged_update_cache / paged SDPA accept these cache dtypes (tt-metal device-op validation).
KV_CACHE_DTYPES = (ttnn.bfloat16, ttnn.bfloat8_b, ttnn.bfloat4_b)


@dataclass(frozen=True)
class KVCacheSpec:
    """Capacity of a KV cache: how many users, how many positions each.

    Attributes:
        max_batch: users (decode slots); at most 32 decode together.
        max_seq_len: positions per user.
    """

    max_batch: int
    max_seq_len: int

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("max_batch", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"KVCacheSpec.{name} must be a positive int, got {value!r}")


@dataclass
class KVCacheImplConfig(StrictFields):
    """TTNN choices of the KV cache.

    Attributes:
        dtype: cache dtype (bfloat8_b as TTTv1; bfloat16 for accuracy, bfloat4_b to save DRAM).
        block_size: positions per page, a multiple of 32.
        num_blocks: physical blocks per device; ``None`` = enough for every user at full length.
    """

    dtype: object = ttnn.bfloat8_b
    block_size: int = 32
    num_blocks: int | None = None


def check_kv_cache_impl(impl: KVCacheImplConfig, path: str) -> None:
    """Raise naming ``path`` when the cache config cannot run."""
    if not isinstance(impl, KVCacheImplConfig):
        raise TypeError(f"{path}: expected a KVCacheImplConfig, got {type(impl).__name__}")
    if impl.dtype not in KV_CACHE_DTYPES:
        names = [d.name for d in KV_CACHE_DTYPES]
        raise ValueError(
            f"{path}.dtype: {getattr(impl.dtype, 'name', impl.dtype)} is not a KV cache dtype; expected one of {names}"
        )
    if not isinstance(impl.block_size, int) or impl.block_size < TILE or impl.block_size % TILE:
        raise ValueError(f"{path}.block_size must be a positive multiple of {TILE}, got {impl.block_size!r}")
    if impl.num_blocks is not None and (not isinstance(impl.num_blocks, int) or impl.num_blocks < 1):
        raise ValueError(f"{path}.num_blocks must be a positive int or None, got {impl.num_blocks!r}")


def identity_page_table(max_batch: int, blocks_per_user: int) -> torch.Tensor:
    """User ``u`` owns blocks ``u * blocks_per_user .. (u + 1) * blocks_per_user - 1``: ``(max_batch, blocks_per_user)`` int32."""
    return torch.arange(max_batch * blocks_per_user, dtype=torch.int32).reshape(max_batch, blocks_per_user)


class PagedKVCache:
    """K and V caches of one attention layer on a (mesh) device.

    Attributes:
        keys, values: ttnn tensors ``(num_blocks, kv_heads_per_device, block_size, head_dim_padded)``
            per device (the KV heads are split over the tensor-parallel devices).
        spec: the ``KVCacheSpec`` it was sized for.
        block_size, num_blocks, blocks_per_user: geometry.
        page_table: the default page table (``identity_page_table``), a torch tensor.
    """

    def __init__(
        self,
        spec: KVCacheSpec,
        impl: KVCacheImplConfig,
        device,
        kv_heads_per_device: int,
        head_dim_padded: int,
    ):
        spec.validate()
        check_kv_cache_impl(impl, "PagedKVCache")
        self.spec = spec
        self.dtype = impl.dtype
        self.block_size = impl.block_size
        self.blocks_per_user = math.ceil(spec.max_seq_len / impl.block_size)
        self.num_blocks = impl.num_blocks or spec.max_batch * self.blocks_per_user
        if impl.num_blocks is not None and impl.num_blocks < self.blocks_per_user:
            raise ValueError(
                f"PagedKVCache.num_blocks: {impl.num_blocks} blocks cannot hold one user of {spec.max_seq_len} positions "
                f"({self.blocks_per_user} blocks of {impl.block_size})"
            )
        self.device = device
        shape = (self.num_blocks, kv_heads_per_device, self.block_size, head_dim_padded)
        # Every device starts from the same zeros; writes split them per device (the emulator copies
        # on write, real devices hold separate buffers anyway).
        self.keys = ttnn.zeros(
            shape,
            dtype=impl.dtype,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
        )
        self.values = ttnn.zeros(
            shape,
            dtype=impl.dtype,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
        )
        self.page_table = (
            identity_page_table(spec.max_batch, self.blocks_per_user)
            if self.num_blocks >= spec.max_batch * self.blocks_per_user
            else None
        )

    @property
    def capacity(self) -> int:
        """Positions one page-table row addresses."""
        return self.blocks_per_user * self.block_size

    def page_table_rows(self, user_ids) -> torch.Tensor:
        """Rows of the default page table for ``user_ids``."""
        if self.page_table is None:
            raise ValueError(
                f"PagedKVCache: num_blocks={self.num_blocks} is smaller than max_batch x blocks_per_user; pass an explicit page_table"
            )
        for user in user_ids:
            if not 0 <= user < self.spec.max_batch:
                raise ValueError(
                    f"PagedKVCache: user id {user} is outside [0, {self.spec.max_batch}) (max_batch)"
                )
        return self.page_table[list(user_ids)]

    def deallocate(self) -> None:
        ttnn.deallocate(self.keys)
        ttnn.deallocate(self.values)
