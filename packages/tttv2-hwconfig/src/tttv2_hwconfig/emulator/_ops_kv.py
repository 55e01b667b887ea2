"""Emulated KV-cache writes: ``ttnn.fill_cache`` / ``ttnn.update_cache`` (contiguous cache) and
``ttnn.experimental.paged_fill_cache`` / ``paged_update_cache`` (paged cache).

All four write INTO ``cache_tensor`` and return it, as the device ops do. Writes are rounded to
the cache dtype: a block-float exponent is shared by 16 values of one tile row, so rounding the
written rows alone is exactly what re-packing their tiles gives. Fills copy whole tiles: the
padding rows of the input's last tile (zeros here) land in the cache too, as on the device.
Checks follow tt-metal's ``update_cache_device_operation.cpp``; the paged ops' acceptance rules
(``paged_update.*``, ``paged_fill.*``) mirror the ``paged_cache`` device operations' validate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import _compiled
from ._op import fail, record, require_dtype, require_layout, require_on_device, require_tensor, same_device
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor, quantize
from ._types import TILE_SIZE, BufferType, DataType, Layout, ShardOrientation, TensorMemoryLayout

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


_PU = "ttnn.experimental.paged_update_cache"
_PU_SRC = (
    "ttnn/cpp/ttnn/operations/experimental/paged_cache/device/update_cache/paged_update_cache_device_operation.cpp: "
    "validate_on_program_cache_miss"
)


def _pu(rule_id: str, text: str, message: str = ""):
    return rule(f"paged_update.{rule_id}", _PU, text, _PU_SRC, message=message)


R_PU_DEVICE = _pu("on_device", "input_tensor and cache_tensor on device")
R_PU_INPUT_TILE = _pu("input_tile", "input_tensor layout TILE")
R_PU_CACHE_TILE = _pu("cache_tile", "cache_tensor layout TILE")
R_PU_CACHE_DTYPE = _pu("cache_dtype", "cache dtype FLOAT32, BFLOAT16, BFLOAT8_B or BFLOAT4_B")
R_PU_DIM0 = _pu("input_dim0", "input_tensor padded shape[0] == 1")
R_PU_CACHE_INTERLEAVED = _pu(
    "cache_interleaved", 'cache_tensor is INTERLEAVED ("Only interleaved cache is supported")'
)
R_PU_BLOCK_SIZE_PAGED = _pu(
    "block_size_needs_page_table",
    "block_size (override) only with a page_table",
    "block_size_override is only supported in paged mode (when page_table is provided)",
)
R_PU_KV_HEADS_PAGED = _pu(
    "num_kv_heads_needs_page_table",
    "num_kv_heads (override) only with a page_table",
    "num_kv_heads_override is only supported in paged mode (when page_table is provided)",
)
R_PU_MODULO_PAGED = _pu("modulo_needs_page_table", "cache_position_modulo only with a page_table")
R_PU_GEOMETRY = _pu(
    "block_geometry",
    "paged: cache kv_heads * block_size * head_dim == (num_kv_heads or cache kv_heads) * "
    "(block_size or cache block_size) * input head_dim",
)
R_PU_BLOCK_TILE = _pu("block_tile", "paged: effective block_size (block_size or cache shape[2]) % 32 == 0")
R_PU_MODULO_BLOCK = _pu(
    "modulo_block_multiple", "cache_position_modulo is a positive multiple of the effective block_size"
)
R_PU_HEAD_DIM = _pu("head_dim_match", "unpaged: input last dim == cache last dim")
R_PU_CACHE_BATCH = _pu("cache_batch", "unpaged: input padded shape[1] (batch) == cache padded shape[0]")
R_PU_IDX_TENSOR = _pu(
    "paged_needs_idx_tensor", 'paged: update_idxs_tensor is given ("Paged cache requires update_idxs tensor")'
)
R_PU_PT_DTYPE = _pu("page_table_dtype", "page_table INT32 (UINT16 when sharded)")
R_PU_PT_LAYOUT = _pu("page_table_layout", "page_table ROW_MAJOR")
R_PU_PT_BATCH = _pu(
    "page_table_batch", "page_table batch (per-core shard height when sharded) == input batch"
)
R_PU_PT_BLOCKS = _pu(
    "page_table_blocks",
    "page_table shape[1] <= cache blocks (cache_position_modulo / block_size <= cache blocks with a modulo)",
)
R_PU_ONE_SOURCE = _pu("one_index_source", "exactly one of update_idxs (list) and update_idxs_tensor")
R_PU_IDX_DTYPE = _pu("idx_dtype", "update_idxs_tensor INT32")
R_PU_IDX_LAYOUT = _pu("idx_layout", "update_idxs_tensor ROW_MAJOR")
R_PU_IDX_SHARDED = _pu("idx_sharded_l1", "a sharded update_idxs_tensor is HEIGHT_SHARDED in L1")
R_PU_IDX_DRAM = _pu("idx_interleaved_dram", "an interleaved update_idxs_tensor is in DRAM")
R_PU_IDX_COUNT = _pu("idx_count", "number of update indices == input batch")
R_PU_IDX_CORES = _pu(
    "idx_shard_cores",
    "a sharded update_idxs_tensor's shard grid num_cores == its padded shape[0]",
    "Number of cores sharded on L1 ({}) should match dimension of update_idxs at 0 ({})",
)
R_PU_INPUT_SHARDED = _pu("input_sharded", 'input_tensor is sharded ("Expect input_tensor to be sharded")')
R_PU_NOT_WIDTH = _pu("input_not_width_sharded", "input_tensor is not WIDTH_SHARDED")
R_PU_SHARD_WIDTH = _pu("input_shard_width", "input shard width == input padded last dim")
R_PU_SHARD_HEIGHT = _pu("input_shard_height", "input height (volume / last dim) % shard height == 0")
R_PU_ORIENT = _pu("input_shard_orientation", "input shard orientation ROW_MAJOR")
R_PU_SHARD_CORES = _pu("input_shard_cores", "input shard grid num_cores == users (one user per core)")
R_PU_INPUT_DTYPE = _pu("input_dtype", "input_tensor dtype FLOAT32 or BFLOAT16")
R_PU_OFFSET = _pu("batch_offset_zero", "batch_offset == 0")
not_mirrored(
    "paged_update.input_width_tile",
    _PU,
    "input padded last dim % 32 == 0",
    "implied by paged_update.input_tile: a TILE tensor's padded width is a multiple of 32",
)
not_mirrored(
    "paged_update.overrides",
    _PU,
    "share_cache (unpaged only, cache batch 1); mesh_coords",
    "share_cache and mesh_coords are not modelled (NotImplementedError before validation); block_size / "
    "num_kv_heads overrides are validated, then refused (NotImplementedError)",
)

_PF = "ttnn.experimental.paged_fill_cache"
_PF_SRC = (
    "ttnn/cpp/ttnn/operations/experimental/paged_cache/device/fill_cache/paged_fill_cache_device_operation.cpp: "
    "validate_on_program_cache_miss"
)


def _pf(rule_id: str, text: str):
    return rule(f"paged_fill.{rule_id}", _PF, text, _PF_SRC)


R_PF_DTYPE = _pf("cache_dtype", "cache dtype FLOAT32, BFLOAT16, BFLOAT8_B or BFLOAT4_B (0.81.1)")
R_PF_DTYPE_MATCH = _pf(
    "dtype_match",
    'input dtype == cache dtype (0.81.1: "... must match cache tensor dtype ({}) for paged_fill_cache")',
)
R_PF_INPUT_INTERLEAVED = _pf("input_interleaved", "input_tensor INTERLEAVED")
R_PF_PT_INTERLEAVED = _pf("page_table_interleaved", "page_table INTERLEAVED")
R_PF_PT_DTYPE = _pf("page_table_dtype", "page_table INT32")
R_PF_BATCH_IDX = _pf("batch_idx_range", "batch_idx < page_table padded shape[0]")
R_PF_GEOMETRY = _pf(
    "block_geometry",
    "cache kv_heads * block_size * head_dim == input kv_heads * (block_size or cache block_size) * head_dim",
)
R_PF_BLOCK_TILE = _pf("block_tile", "effective block_size (block_size or cache shape[2]) % 32 == 0")
R_PF_FITS = _pf("seq_fits", "input padded seq <= effective block_size * page_table shape[1]")
R_PF_BIDX_COUNT = _pf("batch_idx_tensor_count", "batch_idx_tensor has input batch (shape[0]) elements")
R_PF_BIDX_DTYPE = _pf("batch_idx_tensor_dtype", "batch_idx_tensor UINT32 or INT32")
R_PF_BIDX_LAYOUT = _pf("batch_idx_tensor_layout", "batch_idx_tensor ROW_MAJOR")
R_PF_BIDX_INTERLEAVED = _pf("batch_idx_tensor_interleaved", "batch_idx_tensor INTERLEAVED")
R_PF_BIDX_DRAM = _pf("batch_idx_tensor_dram", "batch_idx_tensor in DRAM")
not_mirrored(
    "paged_fill.head_dim_tile",
    _PF,
    "input padded last dim % 32 == 0",
    "implied: the emulator takes TILE inputs only (a TILE tensor's padded width is a multiple of 32)",
)
not_mirrored(
    "paged_fill.bounded_fill",
    _PF,
    "cache_position_modulo > 0, a multiple of block_size, <= blocks * block_size; valid_seq_len_tensor a 1-element "
    "int ROW_MAJOR DRAM tensor, only with cache_position_modulo; mesh_coords in the mesh",
    "cache_position_modulo, valid_seq_len_tensor and mesh_coords are not modelled (NotImplementedError); a "
    "block_size override is validated, then refused (NotImplementedError)",
)


def _on_device(name: str, tensor, rule_) -> None:
    require_tensor(rule_.op, name, tensor)
    check(tensor.device() is not None, rule_, f"{name} is on host")


def _layout(tensor: Tensor) -> TensorMemoryLayout:
    return tensor.memory_config().memory_layout


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
    op = _PU
    if share_cache or mesh_coords is not None:
        fail(op, "share_cache and mesh_coords are not modelled by the emulator", NotImplementedError)
    _on_device("input_tensor", input_tensor, R_PU_DEVICE)
    _on_device("cache_tensor", cache_tensor, R_PU_DEVICE)
    device = same_device(op, cache_tensor, input_tensor, update_idxs_tensor, page_table)
    check(
        input_tensor.layout == Layout.TILE,
        R_PU_INPUT_TILE,
        f"input_tensor layout is {input_tensor.layout.name}",
    )
    check(
        cache_tensor.layout == Layout.TILE,
        R_PU_CACHE_TILE,
        f"cache_tensor layout is {cache_tensor.layout.name}",
    )
    check(
        cache_tensor.dtype in _CACHE_DTYPES,
        R_PU_CACHE_DTYPE,
        f"cache_tensor dtype is {cache_tensor.dtype.name}",
    )
    for name, tensor in (("cache_tensor", cache_tensor), ("input_tensor", input_tensor)):
        if len(tensor.shape) != 4:  # emulator precondition
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")
    in_p, cache_p = input_tensor.padded_shape, cache_tensor.padded_shape
    check(in_p[0] == 1, R_PU_DIM0, f"input_tensor shape {list(input_tensor.shape)}")
    check(
        _layout(cache_tensor) == TensorMemoryLayout.INTERLEAVED,
        R_PU_CACHE_INTERLEAVED,
        f"cache_tensor is {_layout(cache_tensor).name}",
    )
    paged = page_table is not None
    if block_size is not None:
        check(paged, R_PU_BLOCK_SIZE_PAGED, f"block_size={block_size} without page_table")
    if num_kv_heads is not None:
        check(paged, R_PU_KV_HEADS_PAGED, f"num_kv_heads={num_kv_heads} without page_table")
    if cache_position_modulo is not None:
        check(paged, R_PU_MODULO_PAGED, f"cache_position_modulo={cache_position_modulo} without page_table")
    # The overrides are validated as the device does (effective block size / kv heads of the call
    # view), the write under an override view is not modelled (NotImplementedError below).
    block = block_size if block_size is not None else cache_p[2]
    if paged:
        view_heads = num_kv_heads if num_kv_heads is not None else cache_p[1]
        check(
            cache_p[1] * cache_p[2] * cache_p[3] == view_heads * block * in_p[3],
            R_PU_GEOMETRY,
            f"cache (kv_heads={cache_p[1]}, block_size={cache_p[2]}, head_dim={cache_p[3]}), "
            f"call view (kv_heads={view_heads}, block_size={block}, head_dim={in_p[3]})",
        )
        check(block % TILE_SIZE == 0, R_PU_BLOCK_TILE, f"effective block_size is {block}")
        if cache_position_modulo is not None:
            check(
                cache_position_modulo > 0 and cache_position_modulo % block == 0,
                R_PU_MODULO_BLOCK,
                f"cache_position_modulo={cache_position_modulo}, effective block_size {block}",
            )
        check(update_idxs_tensor is not None, R_PU_IDX_TENSOR, "page_table with update_idxs as a list")
        require_tensor(op, "page_table", page_table)
        expected = DataType.UINT16 if page_table.is_sharded() else DataType.INT32
        check(page_table.dtype == expected, R_PU_PT_DTYPE, f"page_table dtype is {page_table.dtype.name}")
        check(
            page_table.layout == Layout.ROW_MAJOR,
            R_PU_PT_LAYOUT,
            f"page_table layout is {page_table.layout.name}",
        )
        if len(page_table.shape) != 2:  # emulator precondition
            fail(op, f"page_table must be 2D (batch, blocks_per_user), got shape {list(page_table.shape)}")
        pt_p = page_table.padded_shape
        rows = (
            pt_p[0] // page_table.memory_config().shard_spec.num_cores()
            if page_table.is_sharded()
            else pt_p[0]
        )
        check(rows == in_p[1], R_PU_PT_BATCH, f"page_table batch {rows}, input batch {in_p[1]}")
        if cache_position_modulo is not None:
            bounded = cache_position_modulo // block
            check(
                bounded <= cache_p[0],
                R_PU_PT_BLOCKS,
                f"cache_position_modulo spans {bounded} blocks of {cache_p[0]}",
            )
        else:
            check(
                pt_p[1] <= cache_p[0],
                R_PU_PT_BLOCKS,
                f"page_table has {pt_p[1]} blocks per user, cache {cache_p[0]}",
            )
    else:
        check(in_p[-1] == cache_p[-1], R_PU_HEAD_DIM, f"input last dim {in_p[-1]}, cache {cache_p[-1]}")
        check(in_p[1] == cache_p[0], R_PU_CACHE_BATCH, f"input batch {in_p[1]}, cache batch {cache_p[0]}")
    check(
        (update_idxs_tensor is not None) != bool(update_idxs),
        R_PU_ONE_SOURCE,
        f"update_idxs={list(update_idxs)!r}, update_idxs_tensor {'given' if update_idxs_tensor is not None else 'None'}",
    )
    batch = input_tensor.shape[1]
    if update_idxs_tensor is not None:
        idx = update_idxs_tensor
        _on_device("update_idxs_tensor", idx, R_PU_DEVICE)
        check(idx.dtype == DataType.INT32, R_PU_IDX_DTYPE, f"update_idxs_tensor dtype is {idx.dtype.name}")
        check(
            idx.layout == Layout.ROW_MAJOR, R_PU_IDX_LAYOUT, f"update_idxs_tensor layout is {idx.layout.name}"
        )
        config = idx.memory_config()
        if idx.is_sharded():
            check(
                config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED
                and config.buffer_type == BufferType.L1,
                R_PU_IDX_SHARDED,
                f"update_idxs_tensor is {config.memory_layout.name} in {config.buffer_type.name}",
            )
            count = idx.shape[1] if len(idx.shape) > 1 else idx.shape[0]
            idx_cores = (config.shard_spec.num_cores(), idx.padded_shape[0])
        else:
            check(
                config.buffer_type == BufferType.DRAM,
                R_PU_IDX_DRAM,
                f"update_idxs_tensor is in {config.buffer_type.name}",
            )
            count = idx.padded_shape[0]
            idx_cores = None
        positions = _int_values(idx)[-batch:] if idx.is_sharded() else _int_values(idx)
    else:
        count = len(update_idxs)
        positions = [int(p) for p in update_idxs]
        idx_cores = None
    check(count == in_p[1], R_PU_IDX_COUNT, f"{count} update indices, input batch {in_p[1]}")
    if idx_cores is not None:
        # paged_update_cache_device_operation.cpp validate_on_program_cache_miss: "Number of cores
        # sharded on L1 ({}) should match dimension of update_idxs at 0 ({})".
        check(
            idx_cores[0] == idx_cores[1],
            R_PU_IDX_CORES,
            f"update_idxs_tensor sharded on {idx_cores[0]} cores, padded shape[0] {idx_cores[1]}",
        )
    config = input_tensor.memory_config()
    check(input_tensor.is_sharded(), R_PU_INPUT_SHARDED, f"input_tensor is {config.memory_layout.name}")
    check(
        config.memory_layout != TensorMemoryLayout.WIDTH_SHARDED,
        R_PU_NOT_WIDTH,
        "input_tensor is WIDTH_SHARDED",
    )
    shard = config.shard_spec
    check(
        shard.shape[1] == in_p[-1], R_PU_SHARD_WIDTH, f"shard width {shard.shape[1]}, input width {in_p[-1]}"
    )
    height = in_p.volume() // in_p[-1]
    check(
        height % shard.shape[0] == 0,
        R_PU_SHARD_HEIGHT,
        f"input height {height}, shard height {shard.shape[0]}",
    )
    check(
        shard.orientation == ShardOrientation.ROW_MAJOR, R_PU_ORIENT, f"orientation {shard.orientation.name}"
    )
    check(
        shard.grid.num_cores() == in_p[1],
        R_PU_SHARD_CORES,
        f"{shard.grid.num_cores()} cores, {in_p[1]} users",
    )
    check(
        input_tensor.dtype in (DataType.FLOAT32, DataType.BFLOAT16),
        R_PU_INPUT_DTYPE,
        f"input_tensor dtype is {input_tensor.dtype.name}",
    )
    check(batch_offset == 0, R_PU_OFFSET, f"batch_offset={batch_offset}")
    if block_size is not None or num_kv_heads is not None:
        fail(
            op, "writes under a block_size / num_kv_heads override view are not modelled", NotImplementedError
        )
    heads = cache_tensor.shape[1]
    if paged:
        blocks_size = cache_tensor.shape[2]
        capacity = page_table.shape[1] * blocks_size
    else:
        capacity = cache_tensor.shape[2]
    static_positions = positions

    def run(cache_tensor, input_tensor, page_table, update_idxs_tensor):
        """The write itself: reads the positions (device values) at every call, as the replay kernel."""
        positions = static_positions
        if update_idxs_tensor is not None:
            values = _int_values(update_idxs_tensor)
            positions = values[-batch:] if update_idxs_tensor.is_sharded() else values
        for user, pos in enumerate(positions):
            if pos >= capacity or (pos < 0 and pos != -1):
                # Emulator precondition (runtime values): the device would write outside the user's cache.
                fail(op, f"position {pos} of user {user} is outside the cache capacity {capacity}")

        users = [user for user, pos in enumerate(positions) if pos >= 0]
        # Users 0..n-1 (the usual live set) are a slice of the batch, not an index copy.
        user_index = slice(0, len(users)) if users == list(range(len(users))) else torch.tensor(users)
        rows_at = [
            positions[user] % cache_position_modulo if cache_position_modulo is not None else positions[user]
            for user in users
        ]

        def write(cache, data, table):
            if not users:
                return
            # One rounding pass for every user: block-float groups are 16 values along a row, so
            # stacking users on a new leading dim rounds each row exactly as alone.
            rows = quantize(_head_rows(data[0, user_index], heads), cache_tensor.dtype)
            if table is None:
                blocks, offsets = users, rows_at
            else:
                block_size = cache.shape[2]
                entries = [pos // block_size for pos in rows_at]
                if len(users) == 1:  # one element read: no index tensors
                    blocks = [int(table[users[0], entries[0]])]
                else:
                    blocks = table[users, entries].tolist()
                for user, entry, block in zip(users, entries, blocks):
                    if not 0 <= block < cache.shape[0]:
                        fail(
                            op,
                            f"page_table[{user}, {entry}] = {block} is outside the cache's {cache.shape[0]} blocks",
                        )
                offsets = [pos % block_size for pos in rows_at]
            if len(users) == 1 or len(set(zip(blocks, offsets))) < len(users):
                # One user, or two users writing one row (the last one wins): row by row.
                for row, block, offset in zip(rows, blocks, offsets):
                    cache[block, :, offset, :] = row
            else:
                cache[torch.tensor(blocks), :, torch.tensor(offsets), :] = rows

        write_in_place(cache_tensor, write, input_tensor, page_table)

    run(cache_tensor, input_tensor, page_table, update_idxs_tensor)
    _compiled.replay_with(run, cache_tensor, input_tensor, page_table, update_idxs_tensor)
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
    op = _PF
    if mesh_coords is not None or cache_position_modulo is not None or valid_seq_len_tensor is not None:
        fail(
            op,
            "mesh_coords, cache_position_modulo and valid_seq_len_tensor are not modelled by the emulator",
            NotImplementedError,
        )
    for name, tensor in (
        ("cache_tensor", cache_tensor),
        ("input_tensor", input_tensor),
        ("page_table", page_table),
    ):
        require_on_device(op, name, tensor)
    device = same_device(op, cache_tensor, input_tensor, page_table, batch_idx_tensor)
    check(cache_tensor.dtype in _CACHE_DTYPES, R_PF_DTYPE, f"cache_tensor dtype is {cache_tensor.dtype.name}")
    check(
        input_tensor.dtype == cache_tensor.dtype,
        R_PF_DTYPE_MATCH,
        f"input_tensor {input_tensor.dtype.name}, cache_tensor {cache_tensor.dtype.name}; typecast first",
    )
    check(
        _layout(input_tensor) == TensorMemoryLayout.INTERLEAVED,
        R_PF_INPUT_INTERLEAVED,
        f"input_tensor is {_layout(input_tensor).name}",
    )
    check(
        _layout(page_table) == TensorMemoryLayout.INTERLEAVED,
        R_PF_PT_INTERLEAVED,
        f"page_table is {_layout(page_table).name}",
    )
    check(page_table.dtype == DataType.INT32, R_PF_PT_DTYPE, f"page_table dtype is {page_table.dtype.name}")
    # Emulator preconditions (not TT_FATALs): tile copies of 4D TILE tensors, a 2D row-major table.
    _check_cache(op, cache_tensor)
    _check_input(op, "input_tensor", input_tensor, _CACHE_DTYPES)
    require_layout(op, "page_table", page_table, Layout.ROW_MAJOR)
    if len(page_table.shape) != 2:
        fail(op, f"page_table must be 2D (batch, blocks_per_user), got shape {list(page_table.shape)}")
    cache_p, in_p, pt_p = cache_tensor.padded_shape, input_tensor.padded_shape, page_table.padded_shape
    # The fallback batch_idx is checked even with a batch_idx_tensor
    # (paged_fill_cache_device_operation.cpp validate_on_program_cache_miss: batch_idx_fallback < page_table_shape[0]).
    check(batch_idx < pt_p[0], R_PF_BATCH_IDX, f"batch_idx={batch_idx}, page_table batch {pt_p[0]}")
    block = block_size if block_size is not None else cache_p[2]  # the device's effective block size
    check(
        cache_p[1] * cache_p[2] * cache_p[3] == in_p[1] * block * in_p[3],
        R_PF_GEOMETRY,
        f"cache (kv_heads={cache_p[1]}, block_size={cache_p[2]}, head_dim={cache_p[3]}), "
        f"input view (kv_heads={in_p[1]}, block_size={block}, head_dim={in_p[3]})",
    )
    check(block % TILE_SIZE == 0, R_PF_BLOCK_TILE, f"effective block_size is {block}")
    padded_seq = in_p[2]
    check(
        padded_seq <= block * pt_p[1],
        R_PF_FITS,
        f"input seq {input_tensor.shape[2]} (padded {padded_seq}), {pt_p[1]} blocks of {block}",
    )
    blocks_size = cache_tensor.shape[2]
    rows_in, heads, seq, dim = input_tensor.shape
    if batch_idx_tensor is not None:
        bidx = batch_idx_tensor
        check(
            bidx.padded_shape.volume() == rows_in,
            R_PF_BIDX_COUNT,
            f"{bidx.padded_shape.volume()} entries, input batch {rows_in}",
        )
        check(
            bidx.dtype in (DataType.INT32, DataType.UINT32),
            R_PF_BIDX_DTYPE,
            f"batch_idx_tensor dtype is {bidx.dtype.name}",
        )
        check(
            bidx.layout == Layout.ROW_MAJOR,
            R_PF_BIDX_LAYOUT,
            f"batch_idx_tensor layout is {bidx.layout.name}",
        )
        check(
            _layout(bidx) == TensorMemoryLayout.INTERLEAVED,
            R_PF_BIDX_INTERLEAVED,
            f"batch_idx_tensor is {_layout(bidx).name}",
        )
        check(
            bidx.memory_config().buffer_type == BufferType.DRAM,
            R_PF_BIDX_DRAM,
            f"batch_idx_tensor is in {bidx.memory_config().buffer_type.name}",
        )
        users = _int_values(bidx)
    else:
        if rows_in != 1:
            fail(op, f"input_tensor has {rows_in} rows; pass batch_idx_tensor with one user per row")
        users = [batch_idx]
    if block_size is not None or heads != cache_tensor.shape[1]:
        fail(
            op,
            "an input view with another block_size or other kv heads than the cache (same elements per block) "
            "is not modelled",
            NotImplementedError,
        )
    for user in users:
        if not 0 <= user < page_table.shape[0]:
            # Emulator precondition (runtime values of batch_idx_tensor).
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


def _head_rows(rows: torch.Tensor, heads: int) -> torch.Tensor:
    """The first ``heads`` rows (dim -2) of users' shards; rows past the logical heads are tile padding (zeros)."""
    if rows.shape[-2] >= heads:
        return rows[..., :heads, :]
    pad = rows.new_zeros((*rows.shape[:-2], heads - rows.shape[-2], rows.shape[-1]))
    return torch.cat([rows, pad], dim=-2)


def _bytes(tensor: Tensor) -> int:
    from ._tensor import device_bytes  # noqa: PLC0415

    return device_bytes(tensor.shape, tensor.dtype, tensor.layout)


__all__ = ["fill_cache", "update_cache"]
