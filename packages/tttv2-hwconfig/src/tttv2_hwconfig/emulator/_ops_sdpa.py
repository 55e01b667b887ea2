"""Emulated ``ttnn.transformer`` attention ops: flash attention (prefill, chunked) and flash decode.

Argument checks follow tt-metal's ``sdpa_device_operation.cpp`` and
``sdpa_decode_device_operation.cpp``; numerics are described in ``_attention_math``.
"""

from __future__ import annotations

import math

import torch

from ._attention_math import attend, bytes_per_element, causal_allowed, fp32_dest_acc, math_fidelity, round_up
from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig, ShardSpec, num_cores_to_corerangeset
from ._op import (
    fail,
    new_tensor,
    record,
    require_dtype,
    require_layout,
    require_on_device,
    same_device,
    shard_map,
)
from ._sdpa_config import check_sdpa_program_config
from ._tensor import Tensor
from ._types import TILE_SIZE, BufferType, DataType, Layout, ShardOrientation, TensorMemoryLayout

_SDPA_DTYPES = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.BFLOAT4_B)


def _not_modelled(op: str, **arguments) -> None:
    for name, value in arguments.items():
        if value not in (None, 0, False):
            fail(
                op,
                f"{name} is not modelled by the emulator (see emulator/divergences.py)",
                NotImplementedError,
            )


def _check_operand(op: str, name: str, tensor, *, layouts=(Layout.TILE,)) -> None:
    require_on_device(op, name, tensor)
    require_layout(op, name, tensor, *layouts)
    require_dtype(op, name, tensor, *_SDPA_DTYPES)
    if len(tensor.shape) != 4:
        fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


def _check_head_dim(op: str, name: str, tensor: Tensor) -> None:
    # Only the sequence dim may be padded: head_dim must fill whole tiles.
    if tensor.shape[-1] % TILE_SIZE:
        fail(
            op,
            f"{name} head_dim {tensor.shape[-1]} must be a multiple of {TILE_SIZE} (only the sequence dim may be padded)",
        )


def _grid_cores(program_config, device) -> int:
    grid = (
        program_config.compute_with_storage_grid_size
        if program_config is not None
        else device.compute_with_storage_grid_size()
    )
    return grid.x * grid.y


def _scale(scale, head_dim: int) -> float:
    return float(scale) if scale is not None else 1.0 / math.sqrt(head_dim)


# --- prefill -------------------------------------------------------------------------------------


def scaled_dot_product_attention(
    input_tensor_q: Tensor,
    input_tensor_k: Tensor,
    input_tensor_v: Tensor,
    *,
    attn_mask: Tensor | None = None,
    is_causal: bool = True,
    scale: float | None = None,
    sliding_window_size: int | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
    attention_sink: Tensor | None = None,
    cu_window_seqlens: Tensor | None = None,
    windowed_q_token_offset: int = 0,
    windowed_q_token_offset_tensor: Tensor | None = None,
    output_concat_heads: bool = False,
    attn_mask_block_map: Tensor | None = None,
) -> Tensor:
    """Flash attention over ``q (b, nqh, s, dh)``, ``k/v (b, nkv, s, dh)``; returns ``(b, nqh, s, dh)``.

    Causal by default (a query attends to keys at positions <= its own; with ``sliding_window_size``
    w only to the last w of them). ``is_causal=False`` with ``attn_mask`` (additive, broadcast over
    batch/heads) for custom masks. GQA/MQA: ``nqh`` must be a multiple of ``nkv``.
    """
    op = "ttnn.transformer.scaled_dot_product_attention"
    _not_modelled(
        op,
        cu_window_seqlens=cu_window_seqlens,
        windowed_q_token_offset=windowed_q_token_offset,
        windowed_q_token_offset_tensor=windowed_q_token_offset_tensor,
        attn_mask_block_map=attn_mask_block_map,
    )
    for name, tensor in (
        ("input_tensor_q", input_tensor_q),
        ("input_tensor_k", input_tensor_k),
        ("input_tensor_v", input_tensor_v),
    ):
        _check_operand(op, name, tensor)
        if tensor.is_sharded():
            fail(op, f"{name} must be DRAM/L1 interleaved, got {tensor.memory_config().memory_layout.name}")
        _check_head_dim(op, name, tensor)
    _check_memory_config(op, memory_config)
    device = same_device(op, input_tensor_q, input_tensor_k, input_tensor_v, attn_mask, attention_sink)
    check_sdpa_program_config(op, program_config, device)
    b, nqh, sq, dh = input_tensor_q.shape
    kb, nkv, sk, kdh = input_tensor_k.shape
    if tuple(input_tensor_v.shape) != tuple(input_tensor_k.shape):
        fail(
            op,
            f"input_tensor_v shape {list(input_tensor_v.shape)} must equal input_tensor_k shape {list(input_tensor_k.shape)}",
        )
    if kb != b or kdh != dh:
        fail(
            op,
            f"input_tensor_k shape {list(input_tensor_k.shape)} does not match input_tensor_q {list(input_tensor_q.shape)} in batch/head_dim",
        )
    if nqh < nkv or nqh % nkv:
        fail(op, f"Q num_heads ({nqh}) must be a multiple of K num_heads ({nkv})")
    if is_causal and sq != sk:
        fail(op, f"causal attention needs Q and K of the same sequence length, got {sq} and {sk}")
    if is_causal and attn_mask is not None:
        fail(op, "is_causal and attn_mask are mutually exclusive; pass is_causal=False with attn_mask")
    if sliding_window_size and attn_mask is not None:
        fail(op, "sliding_window_size and attn_mask cannot both be given; bake the window into attn_mask")
    if sliding_window_size and not is_causal:
        fail(
            op,
            "sliding_window_size without is_causal (a centred window) is not modelled by the emulator",
            NotImplementedError,
        )
    if sliding_window_size is not None and sliding_window_size < 0:
        fail(op, f"sliding_window_size must be positive, got {sliding_window_size}")
    if attn_mask is not None:
        _check_operand(op, "attn_mask", attn_mask)
        if attn_mask.memory_config().buffer_type != BufferType.DRAM:
            fail(op, "attn_mask must be in DRAM")
        mb, mh, ms, mk = attn_mask.shape
        if mb not in (1, b) or mh not in (1, nqh) or ms != sq or mk != sk:
            fail(op, f"attn_mask shape {list(attn_mask.shape)} must be [1|{b}, 1|{nqh}, {sq}, {sk}]")
    if attention_sink is not None:
        _check_operand(op, "attention_sink", attention_sink)
        if tuple(attention_sink.shape) != (1, nqh, 1, 1):
            fail(op, f"attention_sink shape {list(attention_sink.shape)} must be [1, {nqh}, 1, 1]")

    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    allowed = causal_allowed(torch.arange(sq), sk, sliding_window_size) if is_causal else None

    def compute(q, k, v, mask, sink):
        out = attend(
            q,
            k,
            v,
            scale_value,
            allowed,
            fidelity,
            additive_mask=mask,
            sink=None if sink is None else sink.reshape(-1),
        )
        if output_concat_heads:
            out = out.permute(0, 2, 1, 3).reshape(b, 1, sq, nqh * dh)
        return out

    shards = shard_map(compute, input_tensor_q, input_tensor_k, input_tensor_v, attn_mask, attention_sink)
    out = new_tensor(
        op, shards, input_tensor_q.dtype, Layout.TILE, device, memory_config or DRAM_MEMORY_CONFIG
    )
    sq_p, sk_p = round_up(sq, TILE_SIZE), round_up(sk, TILE_SIZE)
    visible = 0.5 if is_causal else 1.0  # causal flash attention skips the chunks above the diagonal
    if sliding_window_size and is_causal:
        visible = min(visible, round_up(sliding_window_size, TILE_SIZE) / sk_p)
    record(
        op,
        device,
        [input_tensor_q, input_tensor_k, input_tensor_v, attn_mask],
        [out],
        flops=int(4 * b * nqh * sq_p * sk_p * dh * visible),
        math_fidelity=fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_dest_acc(compute_kernel_config) else DataType.BFLOAT16,
        cores_used=min(_grid_cores(program_config, device), b * nqh * max(1, sq_p // TILE_SIZE)),
    )
    return out


def chunked_scaled_dot_product_attention(
    input_tensor_q: Tensor,
    input_tensor_k: Tensor,
    input_tensor_v: Tensor,
    page_table_tensor: Tensor,
    chunk_start_idx: int | None = None,
    *,
    chunk_start_idx_tensor: Tensor | None = None,
    scale: float | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
    paged_cache_geometry=None,
    sliding_window_size: int | None = None,
    attention_sink: Tensor | None = None,
) -> Tensor:
    """Causal attention of a Q chunk at absolute positions ``chunk_start_idx + i`` over a paged K/V cache.

    Shapes: ``q (b, nqh, chunk_len, dh)``, caches ``(num_blocks, nkv, block_size, dh)``,
    ``page_table_tensor (b, blocks_per_user)`` int32 row-major. Returns ``(b, nqh, chunk_len, dh)``.
    """
    op = "ttnn.transformer.chunked_scaled_dot_product_attention"
    _not_modelled(op, paged_cache_geometry=paged_cache_geometry, attention_sink=attention_sink)
    for name, tensor in (
        ("input_tensor_q", input_tensor_q),
        ("input_tensor_k", input_tensor_k),
        ("input_tensor_v", input_tensor_v),
    ):
        _check_operand(op, name, tensor)
        _check_head_dim(op, name, tensor)
    _check_memory_config(op, memory_config)
    device = same_device(
        op, input_tensor_q, input_tensor_k, input_tensor_v, page_table_tensor, chunk_start_idx_tensor
    )
    check_sdpa_program_config(op, program_config, device)
    _check_page_table(op, "page_table_tensor", page_table_tensor)
    if (chunk_start_idx is None) == (chunk_start_idx_tensor is None):
        fail(op, "pass exactly one of chunk_start_idx (int) or chunk_start_idx_tensor")
    if chunk_start_idx_tensor is not None:
        require_dtype(op, "chunk_start_idx_tensor", chunk_start_idx_tensor, DataType.INT32)
        if tuple(chunk_start_idx_tensor.shape) != (1,):
            fail(op, f"chunk_start_idx_tensor must have shape [1], got {list(chunk_start_idx_tensor.shape)}")
        start = int(chunk_start_idx_tensor.shards[0].reshape(-1)[0])
    else:
        start = int(chunk_start_idx)
    if start < 0:
        fail(op, f"chunk_start_idx must be non-negative, got {start}")
    b, nqh, sq, dh = input_tensor_q.shape
    _, nkv, block_size, kdh = input_tensor_k.shape
    if tuple(input_tensor_v.shape) != tuple(input_tensor_k.shape):
        fail(
            op,
            f"input_tensor_v shape {list(input_tensor_v.shape)} must equal input_tensor_k shape {list(input_tensor_k.shape)}",
        )
    if kdh != dh:
        fail(op, f"K head_dim {kdh} must equal Q head_dim {dh}")
    if nqh < nkv or nqh % nkv:
        fail(op, f"Q num_heads ({nqh}) must be a multiple of K num_heads ({nkv})")
    pages = page_table_tensor.shape
    if pages[0] != b:
        fail(op, f"page_table_tensor batch {pages[0]} must equal Q batch {b}")
    kv_length = pages[1] * block_size
    if kv_length < sq + start:
        fail(
            op,
            f"the page table covers {kv_length} positions, fewer than chunk_start_idx + Q length = {start} + {sq}",
        )
    if program_config is not None:
        for name in ("q_chunk_size", "k_chunk_size"):
            size = getattr(program_config, name)
            if start % size:
                fail(op, f"chunk_start_idx {start} must be a multiple of program_config.{name}={size}")

    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    k_len = start + sq
    allowed = causal_allowed(torch.arange(start, start + sq), k_len, sliding_window_size)

    def compute(q, k_cache, v_cache, table):
        keys = _gather_pages(op, k_cache, table, k_len)
        values = _gather_pages(op, v_cache, table, k_len)
        return attend(q, keys, values, scale_value, allowed, fidelity)

    shards = shard_map(compute, input_tensor_q, input_tensor_k, input_tensor_v, page_table_tensor)
    out = new_tensor(
        op, shards, input_tensor_q.dtype, Layout.TILE, device, memory_config or DRAM_MEMORY_CONFIG
    )
    sq_p, k_p = round_up(sq, TILE_SIZE), round_up(k_len, TILE_SIZE)
    kv_bytes = int(2 * b * nkv * k_p * dh * bytes_per_element(input_tensor_k.dtype))
    q_bytes = int(2 * b * nqh * sq_p * dh * bytes_per_element(input_tensor_q.dtype))
    record(
        op,
        device,
        [input_tensor_q, page_table_tensor],
        [out],
        flops=int(4 * b * nqh * sq_p * (k_p - sq_p / 2) * dh),
        math_fidelity=fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_dest_acc(compute_kernel_config) else DataType.BFLOAT16,
        cores_used=min(_grid_cores(program_config, device), b * nqh * max(1, sq_p // TILE_SIZE)),
        bytes_moved=kv_bytes + q_bytes,
        chunk_start_idx=start,
    )
    return out


# --- decode --------------------------------------------------------------------------------------


def _check_page_table(op: str, name: str, page_table: Tensor) -> None:
    require_on_device(op, name, page_table)
    require_layout(op, name, page_table, Layout.ROW_MAJOR)
    if page_table.is_sharded():
        require_dtype(op, name, page_table, DataType.UINT16)
    else:
        require_dtype(op, name, page_table, DataType.INT32)
    if len(page_table.shape) != 2:
        fail(op, f"{name} must be 2D (batch, blocks_per_user), got shape {list(page_table.shape)}")


def _gather_pages(op: str, cache: torch.Tensor, table: torch.Tensor, length: int) -> torch.Tensor:
    """The first ``length`` positions of every user: (batch, kv_heads, length, head_dim)."""
    num_blocks, heads, block_size, dim = cache.shape
    used = -(-length // block_size)
    blocks = table[:, :used].to(torch.int64)
    if used and (blocks.min() < 0 or blocks.max() >= num_blocks):
        fail(
            op,
            f"page table refers to blocks {blocks.min().item()}..{blocks.max().item()}, the cache has {num_blocks}",
        )
    gathered = cache[blocks.reshape(-1)].reshape(table.shape[0], used, heads, block_size, dim)
    gathered = gathered.permute(0, 2, 1, 3, 4).reshape(table.shape[0], heads, used * block_size, dim)
    return gathered[:, :, :length]


def _positions(op: str, batch: int, cur_pos, cur_pos_tensor, is_causal: bool):
    """Per-user positions as a python list (the values are the same on every device)."""
    if not is_causal:
        return None
    if bool(cur_pos) == (cur_pos_tensor is not None):
        fail(op, "causal decode needs exactly one of cur_pos (list) or cur_pos_tensor")
    if cur_pos_tensor is not None:
        require_on_device(op, "cur_pos_tensor", cur_pos_tensor)
        require_dtype(op, "cur_pos_tensor", cur_pos_tensor, DataType.INT32)
        require_layout(op, "cur_pos_tensor", cur_pos_tensor, Layout.ROW_MAJOR)
        values = [int(p) for p in cur_pos_tensor.shards[0].reshape(-1).tolist()]
        name = "cur_pos_tensor"
    else:
        values = [int(p) for p in cur_pos]
        name = "cur_pos"
    if len(values) != batch:
        fail(op, f"{name} has {len(values)} positions, Q has batch {batch}")
    return values


def _check_decode_inputs(op, q, k, v, memory_config, attn_mask, is_causal):
    require_on_device(op, "input_tensor_q", q)
    require_dtype(op, "input_tensor_q", q, *_SDPA_DTYPES)
    if len(q.shape) != 4 or q.shape[0] != 1:
        fail(op, f"input_tensor_q must be [1, batch, heads, head_dim], got {list(q.shape)}")
    if q.is_sharded():
        if q.memory_config().memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
            fail(
                op,
                f"input_tensor_q must be HEIGHT_SHARDED when sharded, got {q.memory_config().memory_layout.name}",
            )
    elif q.memory_config().buffer_type != BufferType.DRAM:
        fail(op, "input_tensor_q must be DRAM interleaved when not sharded")
    for name, tensor in (("input_tensor_k", k), ("input_tensor_v", v)):
        _check_operand(op, name, tensor)
        if tensor.memory_config().buffer_type != BufferType.DRAM or tensor.is_sharded():
            fail(op, f"{name} must be DRAM interleaved")
    if tuple(k.shape) != tuple(v.shape):
        fail(op, f"input_tensor_v shape {list(v.shape)} must equal input_tensor_k shape {list(k.shape)}")
    if k.shape[-1] != q.shape[-1]:
        fail(op, f"K head_dim {k.shape[-1]} must equal Q head_dim {q.shape[-1]}")
    _check_head_dim(op, "input_tensor_q", q)
    _check_memory_config(op, memory_config)
    nh, nkv = q.shape[2], k.shape[1]
    if nkv > 1:
        if memory_config is not None and memory_config.is_sharded():
            fail(op, "a sharded output is not supported with GQA (more than one KV head)")
        if q.dtype != DataType.BFLOAT16:
            fail(op, f"GQA expects a BFLOAT16 input_tensor_q, got {q.dtype.name}")
    if nh % nkv:
        fail(op, f"Q heads ({nh}) must be a multiple of K heads ({nkv})")
    if is_causal and attn_mask is not None:
        fail(op, "attn_mask is only valid with is_causal=False")
    if (
        memory_config is not None
        and memory_config.is_sharded()
        and memory_config.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED
    ):
        fail(
            op,
            f"the output memory_config must be HEIGHT_SHARDED when sharded, got {memory_config.memory_layout.name}",
        )


def _decode_output_memory_config(memory_config, batch: int, head_dim: int, device):
    if memory_config is None:
        return DRAM_MEMORY_CONFIG
    if memory_config.is_sharded() and memory_config.shard_spec is None:
        grid = num_cores_to_corerangeset(batch, device.compute_with_storage_grid_size(), row_wise=True)
        return MemoryConfig(
            memory_config.memory_layout,
            memory_config.buffer_type,
            ShardSpec(grid, (TILE_SIZE, head_dim), ShardOrientation.ROW_MAJOR),
        )
    return memory_config


def _decode(
    op,
    q,
    k,
    v,
    page_table,
    *,
    is_causal,
    attn_mask,
    positions,
    attention_sink,
    scale,
    sliding_window_size,
    memory_config,
    program_config,
    compute_kernel_config,
):
    batch, nh, dh = q.shape[1], q.shape[2], q.shape[3]
    nkv = k.shape[1]
    seq_len = page_table.shape[1] * k.shape[2] if page_table is not None else k.shape[2]
    if attn_mask is not None:
        _check_operand(op, "attn_mask", attn_mask)
        if list(attn_mask.shape) != [1, batch, nh, seq_len]:
            fail(op, f"attn_mask shape {list(attn_mask.shape)} must be [1, {batch}, {nh}, {seq_len}]")
    if positions is not None:
        for user, pos in enumerate(positions):
            if pos >= seq_len:
                fail(op, f"position {pos} of user {user} is outside the K sequence length {seq_len}")
    if attention_sink is not None:
        require_on_device(op, "attention_sink", attention_sink)
        require_dtype(op, "attention_sink", attention_sink, DataType.BFLOAT16)
        if len(attention_sink.shape) != 2 or attention_sink.padded_shape[0] != round_up(nh, TILE_SIZE):
            fail(
                op,
                f"attention_sink must be [{nh}, 32] (padded heads x one tile), got {list(attention_sink.shape)}",
            )
    length = (max(positions) + 1) if positions is not None else seq_len
    length = max(length, 1)
    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    if positions is not None:
        pos = torch.tensor(positions)
        keys_idx = torch.arange(length).unsqueeze(0)
        allowed = keys_idx <= pos.unsqueeze(1)
        if sliding_window_size:
            allowed &= keys_idx > (pos.unsqueeze(1) - sliding_window_size)
        allowed &= (pos >= 0).unsqueeze(1)  # position -1: the user is skipped
        allowed = allowed[:, None, None, :]  # (batch, 1, 1, length)
    else:
        allowed = None

    def compute(q_shard, k_shard, v_shard, table, mask, sink):
        queries = q_shard[0].unsqueeze(2)  # (batch, nh, 1, dh)
        if table is not None:
            keys = _gather_pages(op, k_shard, table, length)
            values = _gather_pages(op, v_shard, table, length)
        else:
            keys, values = k_shard[:, :, :length], v_shard[:, :, :length]
        additive = mask[0].unsqueeze(2)[..., :length] if mask is not None else None
        out = attend(
            queries,
            keys,
            values,
            scale_value,
            allowed,
            fidelity,
            additive_mask=additive,
            sink=None if sink is None else sink[:, 0],
        )
        return out.squeeze(2).unsqueeze(0)  # (1, batch, nh, dh)

    shards = shard_map(compute, q, k, v, page_table, attn_mask, attention_sink)
    device = q.device()
    out_config = _decode_output_memory_config(memory_config, batch, dh, device)
    out = new_tensor(op, shards, q.dtype, Layout.TILE, device, out_config)
    visible = [p + 1 for p in positions if p >= 0] if positions is not None else [seq_len] * batch
    if sliding_window_size:
        visible = [min(n, sliding_window_size) for n in visible]
    chunk = TILE_SIZE
    if program_config is not None and program_config.k_chunk_size:
        chunk = program_config.k_chunk_size
    read_positions = sum(round_up(n, chunk) for n in visible)
    kv_bytes = int(2 * nkv * read_positions * dh * bytes_per_element(k.dtype))
    record(
        op,
        device,
        [q],
        [out],
        flops=4 * nkv * TILE_SIZE * read_positions * dh,  # each KV head's query group fills one 32-row tile
        math_fidelity=fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_dest_acc(compute_kernel_config) else DataType.BFLOAT16,
        cores_used=min(_grid_cores(program_config, device), batch * nkv * 8),
        bytes_moved=kv_bytes + 2 * batch * round_up(nh, TILE_SIZE) * dh * 2,
    )
    return out


def _default_k_chunk(seq_len: int) -> int:
    """Unpaged decode's default: min(512, largest power of two dividing seq_len)."""
    return min(512, seq_len & -seq_len) if seq_len else TILE_SIZE


def scaled_dot_product_attention_decode(
    input_tensor_q: Tensor,
    input_tensor_k: Tensor,
    input_tensor_v: Tensor,
    *,
    is_causal: bool = True,
    attn_mask: Tensor | None = None,
    cur_pos=[],  # noqa: B006 - the real default
    cur_pos_tensor: Tensor | None = None,
    attention_sink: Tensor | None = None,
    scale: float | None = None,
    sliding_window_size: int | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
    share_cache: bool | None = None,
) -> Tensor:
    """Flash decode: one new query token per user against a contiguous KV cache.

    Shapes: ``q (1, batch, heads, head_dim)`` (heads padded to 32 in the tile), caches
    ``(batch, kv_heads, max_seq_len, head_dim)``. User ``b`` attends to positions
    ``0..cur_pos[b]`` (the last ``sliding_window_size`` of them with a window); position -1 skips
    the user (its output is zeros here, unspecified on device). Returns ``(1, batch, heads, head_dim)``.
    """
    op = "ttnn.transformer.scaled_dot_product_attention_decode"
    _not_modelled(op, share_cache=share_cache)
    _check_decode_inputs(
        op, input_tensor_q, input_tensor_k, input_tensor_v, memory_config, attn_mask, is_causal
    )
    device = same_device(op, input_tensor_q, input_tensor_k, input_tensor_v, cur_pos_tensor, attn_mask)
    check_sdpa_program_config(op, program_config, device, allow_zero_k_chunk=True)
    batch = input_tensor_q.shape[1]
    if input_tensor_k.shape[0] != batch:
        fail(op, f"input_tensor_k batch {input_tensor_k.shape[0]} must equal Q batch {batch}")
    seq_len = input_tensor_k.shape[2]
    k_chunk = (
        program_config.k_chunk_size
        if program_config is not None and program_config.k_chunk_size
        else _default_k_chunk(seq_len)
    )
    if k_chunk % TILE_SIZE or round_up(seq_len, TILE_SIZE) % k_chunk:
        fail(
            op, f"K sequence length {seq_len} must be a multiple of k_chunk_size {k_chunk} (a multiple of 32)"
        )
    positions = _positions(op, batch, cur_pos, cur_pos_tensor, is_causal)
    return _decode(
        op,
        input_tensor_q,
        input_tensor_k,
        input_tensor_v,
        None,
        is_causal=is_causal,
        attn_mask=attn_mask,
        positions=positions,
        attention_sink=attention_sink,
        scale=scale,
        sliding_window_size=sliding_window_size,
        memory_config=memory_config,
        program_config=program_config,
        compute_kernel_config=compute_kernel_config,
    )


def paged_scaled_dot_product_attention_decode(
    input_tensor_q: Tensor,
    input_tensor_k: Tensor,
    input_tensor_v: Tensor,
    page_table_tensor: Tensor,
    *,
    is_causal: bool = True,
    attn_mask: Tensor | None = None,
    cur_pos_tensor: Tensor | None = None,
    attention_sink: Tensor | None = None,
    scale: float | None = None,
    sliding_window_size: int | None = None,
    memory_config: MemoryConfig | None = None,
    program_config=None,
    compute_kernel_config=None,
    paged_cache_geometry=None,
    cache_position_modulo: int | None = None,
    spec_multi_pos_tiles: int = 0,
) -> Tensor:
    """Flash decode against a paged KV cache.

    Shapes: ``q (1, batch, heads, head_dim)``, caches ``(num_blocks, kv_heads, block_size, head_dim)``,
    ``page_table_tensor (batch, blocks_per_user)`` int32 row-major: position p of user b lives in block
    ``page_table[b, p // block_size]`` at row ``p % block_size``. ``cur_pos_tensor`` (batch,) int32.
    """
    op = "ttnn.transformer.paged_scaled_dot_product_attention_decode"
    _not_modelled(
        op,
        paged_cache_geometry=paged_cache_geometry,
        cache_position_modulo=cache_position_modulo,
        spec_multi_pos_tiles=spec_multi_pos_tiles,
    )
    _check_decode_inputs(
        op, input_tensor_q, input_tensor_k, input_tensor_v, memory_config, attn_mask, is_causal
    )
    device = same_device(
        op, input_tensor_q, input_tensor_k, input_tensor_v, page_table_tensor, cur_pos_tensor, attn_mask
    )
    check_sdpa_program_config(op, program_config, device, allow_zero_k_chunk=True)
    _check_page_table(op, "page_table_tensor", page_table_tensor)
    batch = input_tensor_q.shape[1]
    if page_table_tensor.shape[0] != batch:
        fail(op, f"page_table_tensor batch {page_table_tensor.shape[0]} must equal Q batch {batch}")
    if input_tensor_k.shape[2] % TILE_SIZE:
        fail(
            op,
            f"block size {input_tensor_k.shape[2]} (dim 2 of the K cache) must be a multiple of {TILE_SIZE}",
        )
    if not is_causal:
        if program_config is None or not program_config.k_chunk_size:
            fail(op, "paged non-causal decode needs program_config with a positive k_chunk_size")
        if (page_table_tensor.shape[1] * input_tensor_k.shape[2]) % program_config.k_chunk_size:
            fail(op, "the paged K length must be a multiple of program_config.k_chunk_size")
    if is_causal and cur_pos_tensor is None:
        fail(op, "paged causal decode needs cur_pos_tensor")
    positions = _positions(op, batch, (), cur_pos_tensor, is_causal)
    return _decode(
        op,
        input_tensor_q,
        input_tensor_k,
        input_tensor_v,
        page_table_tensor,
        is_causal=is_causal,
        attn_mask=attn_mask,
        positions=positions,
        attention_sink=attention_sink,
        scale=scale,
        sliding_window_size=sliding_window_size,
        memory_config=memory_config,
        program_config=program_config,
        compute_kernel_config=compute_kernel_config,
    )


__all__: list[str] = []  # exported through ``transformer``
