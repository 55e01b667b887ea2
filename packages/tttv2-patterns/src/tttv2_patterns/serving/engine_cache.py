"""What ``CausalLM`` reads of its ``kv_cache``, over KV caches and page tables an engine owns.

A serving engine (vLLM) decides which physical cache blocks each request uses and hands the model a
page table every step; the model must not keep its own. ``EngineKVCache`` has the attributes
``CausalLM`` uses of a ``ModelKVCache`` (``page_table``, ``layer_caches``, ``filled``,
``page_table_tensor``, ``positions_tensor``), built from one step's page table, so ``CausalLM``'s own
``prefill_forward`` / ``decode_forward`` run unchanged on engine-owned memory.
"""

from __future__ import annotations

import torch
from tttv2_hwconfig import ttnn


class StepPageTable:
    """One step's page table: row ``i`` holds the physical blocks of the step's ``i``-th request.

    Attributes:
        table: ``(rows, blocks_per_user)`` int32.
        block_size: positions per block.
        num_blocks: physical blocks in each layer's cache.
    """

    def __init__(self, table: torch.Tensor, block_size: int, num_blocks: int):
        self.table = table
        self.block_size = block_size
        self.num_blocks = num_blocks

    @property
    def max_batch_size(self) -> int:
        return self.table.shape[0]

    @property
    def blocks_per_user(self) -> int:
        return self.table.shape[1]

    def rows(self, user_ids: list[int]) -> torch.Tensor:
        for user in user_ids:
            if not 0 <= user < self.max_batch_size:
                raise ValueError(f"row {user} is outside the step's page table of {self.max_batch_size} rows")
        return self.table[list(user_ids)]


class EngineFilledPositions:
    """The engine tracks how far each request has filled its blocks; ``CausalLM``'s own check is off.

    (A ``FilledPositions`` keyed by page-table row would be wrong here: rows are renumbered every step.)
    """

    def check_decode(self, user_ids, positions, where: str = "decode_forward") -> None:
        return None

    def after_prefill(self, user_ids, lengths) -> None:
        return None

    def after_decode(self, user_ids, positions) -> None:
        return None


class EngineKVCache:
    """Engine-owned per-layer ``PagedKVCache`` objects and one step's page table, as ``CausalLM`` reads them.

    Args:
        device: the model's (mesh) device.
        layer_caches: one ``tttv2_blocks.PagedKVCache`` per attention layer (``Generator.allocate_kv_cache``).
        page_table: ``(rows, blocks)`` int page table of this step (row ``i`` = the step's user ``i``).
    """

    def __init__(self, device, layer_caches: list, page_table: torch.Tensor):
        table = torch.as_tensor(page_table).to(torch.int32)
        if table.dim() != 2:
            raise ValueError(
                f"page_table must be (requests, blocks_per_request), got shape {list(table.shape)}"
            )
        num_blocks = layer_caches[0].num_blocks
        if table.numel() and (int(table.min()) < 0 or int(table.max()) >= num_blocks):
            raise ValueError(
                f"page_table holds blocks outside [0, {num_blocks}) (the engine's KV cache has {num_blocks} blocks)"
            )
        self.device = device
        self.layer_caches = layer_caches
        self.page_table = StepPageTable(table, layer_caches[0].block_size, num_blocks)
        self.filled = EngineFilledPositions()
        self._full_table = None

    def _to_device(self, values: torch.Tensor):
        return ttnn.from_torch(
            values.to(torch.int32).contiguous(),
            dtype=ttnn.int32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def page_table_tensor(self, user_ids: list[int] | None = None):
        """Every row of the step's page table on device (prefill), or the rows of ``user_ids`` (decode)."""
        if user_ids is None:
            if self._full_table is None:
                self._full_table = self._to_device(self.page_table.table)
            return self._full_table
        return self._to_device(self.page_table.rows(list(user_ids)))

    def positions_tensor(self, positions: list[int]):
        """Per-row decode positions as the ``(batch,)`` int32 device tensor attention takes."""
        return self._to_device(torch.tensor(positions, dtype=torch.int32))
