"""The model's paged KV cache: one cache per attention layer, one page table shared by all layers."""

from __future__ import annotations

import torch
from tttv2_blocks import KVCacheSpec
from tttv2_hwconfig import ttnn

from tttv2_patterns.filled_positions import FilledPositions
from tttv2_patterns.page_table import PageTable


class ModelKVCache:
    """Allocates every layer's paged cache for ``max_batch_size`` users x ``max_seq_len`` positions.

    The block size (positions per page) is ``impl.layers[i].attention.kv_cache.block_size``; every
    layer must use the same one because the page table is shared.

    Attributes:
        page_table: the ``PageTable`` (``table``: ``(max_batch_size, blocks_per_user)`` int32).
        layer_caches: each attention block's ``tttv2_blocks`` cache (``keys``, ``values``).
        filled: ``FilledPositions``, how many positions each user has written (host-side).
    """

    def __init__(self, model):
        spec, impl = model.spec, model.impl_config
        attentions = [layer.attention for layer in model.layers]
        block_sizes = {a.impl_config.kv_cache.block_size for a in attentions}
        if len(block_sizes) > 1:
            first = attentions[0].impl_config.kv_cache.block_size
            index = next(i for i, a in enumerate(attentions) if a.impl_config.kv_cache.block_size != first)
            raise ValueError(
                f"layers[{index}].attention.kv_cache.block_size: {attentions[index].impl_config.kv_cache.block_size} differs "
                f"from layers[0]'s {first}; all layers share one page table, so they need one block size"
            )
        self.device = model.device
        self.page_table = PageTable(spec.max_batch_size, spec.max_seq_len, block_sizes.pop())
        for index, attention in enumerate(attentions):
            num_blocks = attention.impl_config.kv_cache.num_blocks
            if num_blocks is not None and num_blocks < self.page_table.num_blocks:
                raise ValueError(
                    f"layers[{index}].attention.kv_cache.num_blocks: {num_blocks} blocks cannot hold max_batch_size="
                    f"{spec.max_batch_size} users x max_seq_len={spec.max_seq_len} ({self.page_table.num_blocks} blocks "
                    f"of {self.page_table.block_size}); set it to None or at least {self.page_table.num_blocks}"
                )
        cache_spec = KVCacheSpec(max_batch=spec.max_batch_size, max_seq_len=spec.max_seq_len)
        self.layer_caches = [attention.allocate_kv_cache(cache_spec) for attention in attentions]
        self._impl = impl
        self.filled = FilledPositions(spec.max_batch_size)
        self._full_table = self._to_device(self.page_table.table)
        self._row_tables: dict[tuple[int, ...], object] = {}

    def _to_device(self, values: torch.Tensor, dtype=None):
        return ttnn.from_torch(
            values,
            dtype=dtype or ttnn.int32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def page_table_tensor(self, user_ids: list[int] | None = None):
        """The page table on device: every user's row (prefill), or the rows of ``user_ids`` in order (decode)."""
        if user_ids is None:
            return self._full_table
        key = tuple(user_ids)
        if key not in self._row_tables:  # decode batches repeat: keep their tables on device
            self._row_tables[key] = self._to_device(self.page_table.rows(list(user_ids)))
        return self._row_tables[key]

    def positions_tensor(self, positions: list[int]):
        """Per-user decode positions as the ``(batch,)`` int32 device tensor attention takes."""
        return self._to_device(torch.tensor(positions, dtype=torch.int32))
