"""Emulated KV-cache writes: ``ttnn.fill_cache`` / ``ttnn.update_cache`` (contiguous cache) and
``ttnn.experimental.paged_fill_cache`` / ``paged_update_cache`` (paged cache).

All four write INTO ``cache_tensor`` and return it, as the device ops do. Writes are rounded to
the cache dtype: a block-float exponent is shared by 16 values of one tile row, so rounding the
written rows alone is exactly what re-packing their tiles gives. Fills copy whole tiles: the
padding rows of the input's last tile (zeros here) land in the cache too, as on the device.
Checks follow tt-metal's ``update_cache_device_operation.cpp`` and the ``paged_cache`` device ops.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._op import fail, record, require_dtype, require_layout, require_on_device, same_device
from ._tensor import Tensor, quantize
from ._types import TILE_SIZE, BufferType, DataType, Layout, TensorMemoryLayout

_CACHE_DTYPES = (DataType.FLOAT32, DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.BFLOAT4_B)


def write_in_place(cache: Tensor, fn: Callable[..., None], *args) -> None:
    """Run ``fn(cache_shard, *arg_shards)`` on every device, mutating the cache shards.

    Devices whose cache shard and arguments are the same objects share one write. A cache shard
    object shared by devices that receive different data is copied first (copy-on-write), so a
    replicated cache can take per-device writes.
    """
    count = cache.num_shards
    plans: list[tuple[tuple[int, ...], list]] = []
    for index in range(count):
        arg_shards = [
            (a.shards[index if a.num_shards > 1 else 0] if isinstance(a, Tensor) else a) for a in args
        ]
        key = (id(cache.shards[index]),) + tuple(id(a) for a in arg_shards if isinstance(a, torch.Tensor))
        plans.append((key, arg_shards))
    targets: dict[tuple[int, ...], torch.Tensor] = {}
    claimed: set[int] = set()
    new_shards = []
    for index, (key, _) in enumerate(plans):
        if key not in targets:
            shard = cache.shards[index]
            targets[key] = shard.clone() if id(shard) in claimed else shard
            claimed.add(id(shard))
        new_shards.append(targets[key])
    done: set[tuple[int, ...]] = set()
    for key, arg_shards in plans:
        if key not in done:
            fn(targets[key], *arg_shards)
            done.add(key)
    cache._shards = new_shards  # noqa: SLF001 - the emulator owns Tensor internals


def _int_values(tensor: Tensor) -> list[int]:
    return [int(v) for v in tensor.shards[0].reshape(-1).tolist()]


def _check_cache(op: str, cache: Tensor, dtypes=_CACHE_DTYPES) -> None:
    require_on_device(op, "cache_tensor", cache)
    require_layout(op, "cache_tensor", cache, Layout.TILE)
    require_dtype(op, "cache_tensor", cache, *dtypes)
    if len(cache.shape) != 4:
        fail(op, f"cache_tensor must be 4D, got shape {list(cache.shape)}")
    if cache.memory_config().memory_layout != TensorMemoryLayout.INTERLEAVED:
        fail(op, f"cache_tensor must be interleaved, got {cache.memory_config().memory_layout.name}")


def _check_input(op: str, name: str, tensor: Tensor, dtypes) -> None:
    require_on_device(op, name, tensor)
    require_layout(op, name, tensor, Layout.TILE)
    require_dtype(op, name, tensor, *dtypes)
    if len(tensor.shape) != 4:
        fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")


def _padded_rows(data: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero-pad ``dim`` to a whole tile, as a tile copy writes it."""
    extra = -data.shape[dim] % TILE_SIZE
    if not extra:
        return data
    pad_shape = list(data.shape)
    pad_shape[dim] = extra
    return torch.cat([data, data.new_zeros(pad_shape)], dim=dim)


# --- contiguous cache ----------------------------------------------------------------------------


def fill_cache(cache_tensor: Tensor, input_tensor: Tensor, batch_idx: int, *, update_idx: int = 0) -> Tensor:
    """Write a prefill ``input_tensor (1, heads, seq, head_dim)`` into user ``batch_idx`` of
    ``cache_tensor (batch, heads, max_seq_len, head_dim)`` at rows ``update_idx..`` (tile aligned)."""
    op = "ttnn.fill_cache"
    _check_cache(op, cache_tensor, (DataType.FLOAT32, DataType.BFLOAT16, DataType.BFLOAT8_B))
    _check_input(op, "input_tensor", input_tensor, (DataType.FLOAT32, DataType.BFLOAT16, DataType.BFLOAT8_B))
    device = same_device(op, cache_tensor, input_tensor)
    if input_tensor.dtype != cache_tensor.dtype:
        fail(
            op,
            f"input_tensor dtype {input_tensor.dtype.name} must equal the cache dtype {cache_tensor.dtype.name} (typecast first)",
        )
    cache_shape, input_shape = cache_tensor.shape, input_tensor.shape
    if input_shape[0] != 1 or input_shape[1] != cache_shape[1] or input_shape[-1] != cache_shape[-1]:
        fail(
            op,
            f"input_tensor {list(input_shape)} must be [1, {cache_shape[1]}, seq, {cache_shape[-1]}] for cache {list(cache_shape)}",
        )
    if not 0 <= batch_idx < cache_shape[0]:
        fail(op, f"batch_idx {batch_idx} is outside the cache batch {cache_shape[0]}")
    if update_idx % TILE_SIZE:
        fail(op, f"update_idx {update_idx} must be a multiple of {TILE_SIZE}")
    rows = input_tensor.padded_shape[-2]
    if update_idx + rows > cache_tensor.padded_shape[-2]:
        fail(op, f"{rows} rows from update_idx {update_idx} do not fit the cache length {cache_shape[-2]}")

    def write(cache, data):
        block = _padded_rows(data[0], 1)[:, : cache.shape[2] - update_idx]
        cache[batch_idx, :, update_idx : update_idx + block.shape[1]] = block

    write_in_place(cache_tensor, write, input_tensor)
    record(op, device, [input_tensor], [], bytes_moved=2 * _bytes(input_tensor))
    return cache_tensor


def update_cache(
    cache: Tensor, input: Tensor, update_idx: int, *, batch_offset: int = 0, compute_kernel_config=None
) -> Tensor:  # noqa: A002
    """Write one decode token per user: ``input (1, heads, 32[users], head_dim)`` into
    ``cache (batch, heads, max_seq_len, head_dim)`` at row ``update_idx`` for users
    ``batch_offset..batch_offset+batch`` of the input."""
    op = "ttnn.update_cache"
    _check_cache(op, cache, (DataType.FLOAT32, DataType.BFLOAT16, DataType.BFLOAT8_B))
    _check_input(op, "input", input, (DataType.FLOAT32, DataType.BFLOAT16, DataType.BFLOAT8_B))
    device = same_device(op, cache, input)
    if input.shape[0] != 1 or input.shape[1] != cache.shape[1] or input.shape[-1] != cache.shape[-1]:
        fail(
            op,
            f"input {list(input.shape)} must be [1, {cache.shape[1]}, users, {cache.shape[-1]}] for cache {list(cache.shape)}",
        )
    batch = cache.shape[0]
    if batch > input.padded_shape[-2]:
        fail(op, f"cache batch {batch} exceeds the input's {input.padded_shape[-2]} user rows")
    if batch < 32 and batch_offset + batch > 32:
        fail(op, f"batch_offset {batch_offset} + cache batch {batch} must be <= 32")
    if batch >= 32 and batch_offset:
        fail(op, "batch_offset must be 0 when the cache batch is >= 32")
    if not 0 <= update_idx < cache.shape[2]:
        fail(op, f"update_idx {update_idx} is outside the cache length {cache.shape[2]}")
    if input.shape[-2] < batch_offset + batch:
        fail(
            op, f"input has {input.shape[-2]} user rows, needs batch_offset + batch = {batch_offset + batch}"
        )

    def write(cache_shard, data):
        rows = data[0, :, batch_offset : batch_offset + batch, :].permute(1, 0, 2)  # (batch, heads, dim)
        cache_shard[:, :, update_idx, :] = quantize(rows, cache.dtype)

    write_in_place(cache, write, input)
    record(op, device, [input], [])
    return cache


# --- paged cache ---------------------------------------------------------------------------------


def _check_page_table(op: str, page_table: Tensor) -> None:
    require_on_device(op, "page_table", page_table)
    require_layout(op, "page_table", page_table, Layout.ROW_MAJOR)
    require_dtype(
        op, "page_table", page_table, DataType.UINT16 if page_table.is_sharded() else DataType.INT32
    )
    if len(page_table.shape) != 2:
        fail(op, f"page_table must be 2D (batch, blocks_per_user), got shape {list(page_table.shape)}")


def paged_update_cache(
    cache_tensor: Tensor,
    input_tensor: Tensor,
    *,
    update_idxs=[],  # noqa: B006 - the real default
    update_idxs_tensor: Tensor | None = None,
    share_cache: bool | None = None,
    page_table: Tensor | None = None,
    batch_offset: int = 0,
    compute_kernel_config=None,
    mesh_coords=None,
    block_size: int | None = None,
    num_kv_heads: int | None = None,
    cache_position_modulo: int | None = None,
) -> Tensor:
    """Write one decode token per user into a (paged) KV cache.

    ``input_tensor (1, batch, kv_heads[32], head_dim)`` HEIGHT_SHARDED one user per core, bfloat16
    or float32 (repacked to the cache dtype here). Without ``page_table`` the cache is
    ``(batch, kv_heads, max_seq_len, head_dim)``; with it ``(num_blocks, kv_heads, block_size,
    head_dim)`` and user b's position p goes to block ``page_table[b, p // block_size]``, row
    ``p % block_size``. Positions come from ``update_idxs`` (list) or ``update_idxs_tensor``
    (int32, row-major); position -1 skips the user.
    """
    op = "ttnn.experimental.paged_update_cache"
    if share_cache or mesh_coords is not None or block_size is not None or num_kv_heads is not None:
        fail(
            op,
            "share_cache, mesh_coords, block_size and num_kv_heads are not modelled by the emulator",
            NotImplementedError,
        )
    _check_cache(op, cache_tensor)
    _check_input(op, "input_tensor", input_tensor, (DataType.FLOAT32, DataType.BFLOAT16))
    device = same_device(op, cache_tensor, input_tensor, update_idxs_tensor, page_table)
    if input_tensor.shape[0] != 1:
        fail(op, f"input_tensor must be [1, batch, kv_heads, head_dim], got {list(input_tensor.shape)}")
    if input_tensor.padded_shape[-1] != cache_tensor.padded_shape[-1]:
        fail(
            op,
            f"input_tensor head_dim {input_tensor.shape[-1]} must equal the cache's {cache_tensor.shape[-1]}",
        )
    heads = cache_tensor.shape[1]
    if input_tensor.shape[2] != heads:
        fail(op, f"input_tensor has {input_tensor.shape[2]} kv heads, the cache has {heads}")
    if not input_tensor.is_sharded():
        fail(op, "input_tensor must be sharded (HEIGHT_SHARDED, one user per core)")
    config = input_tensor.memory_config()
    if config.memory_layout == TensorMemoryLayout.WIDTH_SHARDED:
        fail(op, "input_tensor must not be WIDTH_SHARDED")
    if config.shard_spec.shape[1] != input_tensor.padded_shape[-1]:
        fail(
            op,
            f"input_tensor shard width {config.shard_spec.shape[1]} must equal head_dim {input_tensor.padded_shape[-1]}",
        )
    if batch_offset != 0:
        fail(op, f"batch_offset must be 0, got {batch_offset}")
    batch = input_tensor.shape[1]
    if bool(update_idxs) == (update_idxs_tensor is not None):
        fail(op, "pass exactly one of update_idxs (list) or update_idxs_tensor")
    if update_idxs_tensor is not None:
        require_on_device(op, "update_idxs_tensor", update_idxs_tensor)
        require_dtype(op, "update_idxs_tensor", update_idxs_tensor, DataType.INT32)
        require_layout(op, "update_idxs_tensor", update_idxs_tensor, Layout.ROW_MAJOR)
        if (
            not update_idxs_tensor.is_sharded()
            and update_idxs_tensor.memory_config().buffer_type != BufferType.DRAM
        ):
            fail(op, "an interleaved update_idxs_tensor must be in DRAM")
        positions = _int_values(update_idxs_tensor)
    else:
        positions = [int(p) for p in update_idxs]
    if len(positions) != batch:
        fail(op, f"{len(positions)} update positions for a batch of {batch}")
    if page_table is not None:
        _check_page_table(op, page_table)
        if page_table.shape[0] != batch:
            fail(op, f"page_table batch {page_table.shape[0]} must equal the input batch {batch}")
        if page_table.shape[1] > cache_tensor.shape[0]:
            fail(
                op,
                f"page_table has {page_table.shape[1]} blocks per user, the cache only {cache_tensor.shape[0]} blocks",
            )
        blocks_size = cache_tensor.shape[2]
        capacity = page_table.shape[1] * blocks_size
        if cache_position_modulo is not None and (
            cache_position_modulo % blocks_size or cache_position_modulo > capacity
        ):
            fail(
                op,
                f"cache_position_modulo {cache_position_modulo} must be a multiple of the block size {blocks_size} and <= {capacity}",
            )
    else:
        if cache_tensor.shape[0] != batch:
            fail(
                op,
                f"the cache batch {cache_tensor.shape[0]} must equal the input batch {batch} (no page_table)",
            )
        if cache_position_modulo is not None:
            fail(op, "cache_position_modulo needs a page_table")
        capacity = cache_tensor.shape[2]
    for user, pos in enumerate(positions):
        if pos >= capacity or (pos < 0 and pos != -1):
            fail(op, f"position {pos} of user {user} is outside the cache capacity {capacity}")

    def write(cache, data, table):
        for user, pos in enumerate(positions):
            if pos < 0:
                continue
            row = quantize(data[0, user, :heads, :], cache_tensor.dtype)
            if table is None:
                cache[user, :, pos, :] = row
                continue
            if cache_position_modulo is not None:
                pos %= cache_position_modulo
            block = int(table[user, pos // cache.shape[2]])
            if not 0 <= block < cache.shape[0]:
                fail(
                    op,
                    f"page_table[{user}, {pos // cache.shape[2]}] = {block} is outside the cache's {cache.shape[0]} blocks",
                )
            cache[block, :, pos % cache.shape[2], :] = row

    write_in_place(cache_tensor, write, input_tensor, page_table)
    record(op, device, [input_tensor], [], cores_used=batch)
    return cache_tensor


def paged_fill_cache(
    cache_tensor: Tensor,
    input_tensor: Tensor,
    page_table: Tensor,
    *,
    batch_idx_tensor: Tensor | None = None,
    batch_idx: int = 0,
    compute_kernel_config=None,
    mesh_coords=None,
    block_size: int | None = None,
    cache_position_modulo: int | None = None,
    valid_seq_len_tensor: Tensor | None = None,
) -> Tensor:
    """Copy prefill K or V ``input_tensor (n, kv_heads, seq, head_dim)`` into a paged cache
    ``(num_blocks, kv_heads, block_size, head_dim)``: position p of input row r goes to block
    ``page_table[user, p // block_size]`` where user is ``batch_idx`` (n == 1) or
    ``batch_idx_tensor[r]``. A raw tile copy: ``input_tensor.dtype`` must equal the cache dtype.
    """
    op = "ttnn.experimental.paged_fill_cache"
    if (
        mesh_coords is not None
        or block_size is not None
        or cache_position_modulo is not None
        or valid_seq_len_tensor is not None
    ):
        fail(
            op,
            "mesh_coords, block_size, cache_position_modulo and valid_seq_len_tensor are not modelled by the emulator",
            NotImplementedError,
        )
    _check_cache(op, cache_tensor)
    _check_input(op, "input_tensor", input_tensor, _CACHE_DTYPES)
    device = same_device(op, cache_tensor, input_tensor, page_table, batch_idx_tensor)
    if input_tensor.dtype != cache_tensor.dtype:
        fail(
            op,
            f"input_tensor dtype {input_tensor.dtype.name} must equal the cache dtype {cache_tensor.dtype.name}; typecast first",
        )
    if input_tensor.is_sharded():
        fail(op, "input_tensor must be interleaved")
    _check_page_table(op, page_table)
    if page_table.is_sharded():
        fail(op, "page_table must be interleaved")
    rows_in, heads, seq, dim = input_tensor.shape
    if heads != cache_tensor.shape[1] or dim != cache_tensor.shape[3]:
        fail(
            op,
            f"input_tensor {list(input_tensor.shape)} must have the cache's {cache_tensor.shape[1]} kv heads and head_dim {cache_tensor.shape[3]}",
        )
    blocks_size = cache_tensor.shape[2]
    if blocks_size % TILE_SIZE:
        fail(op, f"the cache block size {blocks_size} must be a multiple of {TILE_SIZE}")
    padded_seq = input_tensor.padded_shape[2]
    if padded_seq > blocks_size * page_table.shape[1]:
        fail(
            op,
            f"input seq {seq} (padded {padded_seq}) does not fit {page_table.shape[1]} blocks of {blocks_size}",
        )
    if batch_idx_tensor is not None:
        require_on_device(op, "batch_idx_tensor", batch_idx_tensor)
        require_dtype(op, "batch_idx_tensor", batch_idx_tensor, DataType.INT32, DataType.UINT32)
        users = _int_values(batch_idx_tensor)
        if len(users) != rows_in:
            fail(op, f"batch_idx_tensor has {len(users)} entries for {rows_in} input rows")
    else:
        if rows_in != 1:
            fail(op, f"input_tensor has {rows_in} rows; pass batch_idx_tensor with one user per row")
        users = [batch_idx]
    for user in users:
        if not 0 <= user < page_table.shape[0]:
            fail(op, f"batch index {user} is outside the page table's {page_table.shape[0]} users")
    positions = torch.arange(padded_seq)

    def write(cache, data, table):
        for row, user in enumerate(users):
            blocks = table[user, positions // blocks_size].to(torch.int64)
            if blocks.min() < 0 or blocks.max() >= cache.shape[0]:
                fail(
                    op,
                    f"page_table row {user} refers to blocks {blocks.min().item()}..{blocks.max().item()}, the cache has {cache.shape[0]}",
                )
            values = _padded_rows(data[row], 1)  # (heads, padded_seq, dim)
            cache[blocks, :, positions % blocks_size, :] = values.permute(1, 0, 2)

    write_in_place(cache_tensor, write, input_tensor, page_table)
    record(op, device, [input_tensor], [], bytes_moved=2 * _bytes(input_tensor))
    return cache_tensor


def _bytes(tensor: Tensor) -> int:
    from ._tensor import device_bytes  # noqa: PLC0415

    return device_bytes(tensor.shape, tensor.dtype, tensor.layout)


__all__ = ["fill_cache", "update_cache"]
