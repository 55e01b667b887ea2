"""Emulated ``ttnn.transformer`` attention ops: flash attention (prefill, chunked) and flash decode.

Argument checks follow tt-metal's ``sdpa_device_operation.cpp`` and
``sdpa_decode_device_operation.cpp``; numerics are described in ``_attention_math``.
"""

from __future__ import annotations

import math

import torch

from . import _compiled
from ._attention_math import (
    attend,
    bytes_per_element,
    causal_allowed,
    fp32_dest_acc,
    math_fidelity,
    round_up,
)
from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig, ShardSpec, num_cores_to_corerangeset
from ._op import (
    fail,
    new_tensor,
    record,
    require_dtype,
    require_on_device,
    require_tensor,
    round_shards,
    same_device,
    shard_map,
)
from ._ops_matmul import stored_fraction_bits
from ._rules import check, not_mirrored, rule
from ._sdpa_config import check_sdpa_program_config
from ._tensor import Tensor
from ._types import TILE_SIZE, BufferType, DataType, Layout, ShardOrientation, TensorMemoryLayout

_SDPA_DTYPES = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.BFLOAT4_B)

_S_SRC = "ttnn/cpp/ttnn/operations/transformer/sdpa/device/sdpa_device_operation.cpp: validate_on_program_cache_miss"
_D_SRC = (
    "ttnn/cpp/ttnn/operations/transformer/sdpa_decode/device/sdpa_decode_device_operation.cpp: "
    "validate_on_program_cache_miss"
)
_D_WRAP = "ttnn/cpp/ttnn/operations/transformer/sdpa_decode/sdpa_decode.cpp: invoke"
_PREFILL = "ttnn.transformer.scaled_dot_product_attention"
_CHUNKED = "ttnn.transformer.chunked_scaled_dot_product_attention"
_DECODE = "ttnn.transformer.scaled_dot_product_attention_decode"
_PAGED = "ttnn.transformer.paged_scaled_dot_product_attention_decode"


class _Rules:
    """One op's rules: ``R.<name>`` is the Rule ``"<prefix>.<name>"``."""

    def __init__(self, prefix: str, op: str, source: str, table: dict[str, str]):
        for name, text in table.items():
            setattr(self, name, rule(f"{prefix}.{name}", op, text, source))


_OPERANDS = {
    "on_device": 'q, k and v are on device ("Operands to SDPA need to be on device")',
    "tile": 'q, k and v are TILE ("Inputs to SDPA must be tilized")',
    "dtype": "q, k and v are BFLOAT16, BFLOAT8_B or BFLOAT4_B",
    "interleaved": "q, k and v are DRAM/L1 interleaved, not sharded",
    "no_padding": "batch, num_heads and head_dim are unpadded (only the sequence dim may be padded)",
    "gqa": "Q num_heads >= K num_heads and divisible by it",
    "v_heads": "K and V num_heads match",
    "kv_head_dim": "K and V head_dim equal Q head_dim",
    "q_chunk_tile": "program_config.q_chunk_size % 32 == 0",
    "k_chunk_tile": "program_config.k_chunk_size % 32 == 0",
}
RS = _Rules(
    "sdpa",
    _PREFILL,
    _S_SRC,
    {
        **_OPERANDS,
        "causal_or_mask": "is_causal and attn_mask are not both given",
        "mask_tile": "attn_mask is TILE",
        "mask_dtype": "attn_mask is BFLOAT16, BFLOAT8_B or BFLOAT4_B",
        "mask_dram": "attn_mask is in DRAM",
        "mask_batch": "attn_mask batch is 1 or Q batch",
        "window_or_mask": "sliding_window_size and attn_mask are not both given",
        "mask_heads": "attn_mask num_heads is 1 or Q num_heads",
        "mask_q_seq": "attn_mask dim 2 == Q sequence length",
        "mask_k_seq": "attn_mask dim 3 == K sequence length",
        "causal_same_seq": "causal: Q and K sequence lengths are equal",
        "kv_batch": "K and V batch equal Q batch",
        "v_seq": "K and V sequence lengths match",
        "sink_tile": "attention_sink is TILE",
        "sink_dtype": "attention_sink is BFLOAT16, BFLOAT8_B or BFLOAT4_B",
        "sink_dram": "attention_sink is in DRAM",
        "sink_shape": "attention_sink shape is [1, Q num_heads, 1, 1]",
    },
)
RC = _Rules(
    "sdpa_chunked",
    _CHUNKED,
    _S_SRC,
    {
        **_OPERANDS,
        "start_non_negative": "chunk_start_idx (int) >= 0",
        "page_table_layout": "page_table is ROW_MAJOR",
        "page_table_dtype": "page_table is INT32",
        "page_size": "K page size (dim 2) equals V page size",
        "page_table_batch": "page_table batch == Q batch",
        "start_q_chunk": "chunk_start_idx (int) % q_chunk_size == 0",
        "start_k_chunk": "chunk_start_idx (int) % k_chunk_size == 0",
        "kv_length": "blocks_per_user * block_size >= Q seq + chunk_start_idx (>= Q seq for a start tensor)",
    },
)
_DECODE_COMMON = {
    "on_device": "q, k and v are on device",
    "dtype": "q, k and v are BFLOAT16, BFLOAT8_B or BFLOAT4_B",
    "kv_tile": 'k and v are TILE ("Inputs to SDPA must be tilized except for Q")',
    "q_memory": "q is HEIGHT_SHARDED when sharded, else in DRAM",
    "kv_dram": "k and v are in DRAM",
    "output_memory": "a sharded memory_config is HEIGHT_SHARDED",
    "causal_no_mask": "causal: no attn_mask",
    "mask_padded_heads": "attn_mask padded dim 2 == Q padded heads",
    "mask_heads": "attn_mask dim 2 == Q heads",
    "mask_k_chunk": "attn_mask: k_chunk_size > 0 and attn_mask padded dim 3 % k_chunk_size == 0",
    "mask_dtype": "attn_mask is BFLOAT16, BFLOAT8_B or BFLOAT4_B",
    "kv_heads": "K and V have the same number of heads",
    "gqa_output": "GQA (K heads > 1): memory_config is not sharded",
    "gqa_q_dtype": "GQA: q is BFLOAT16",
    "gqa_multiple": "GQA: Q heads % K heads == 0",
    "sink_rank": "attention_sink is 2D",
    "sink_heads": "attention_sink padded dim 0 == Q padded heads",
    "sink_width": "attention_sink dim 1 == 32 (one tile wide)",
    "sink_dtype": "attention_sink is BFLOAT16",
    "sink_tile": "attention_sink is TILE",
    "sink_dram": "attention_sink is in DRAM",
    "k_chunk_pow2": "a user k_chunk_size is a power of 2 (" + _D_WRAP + ")",
    "k_chunk_tile": "k_chunk_size % 32 == 0",
}
RD = _Rules(
    "sdpa_decode",
    _DECODE,
    _D_SRC,
    {
        **_DECODE_COMMON,
        "mask_seq": "attn_mask padded dim 3 == K padded sequence length",
        "kv_batch": "K and V batch == Q batch (dim 1)",
        "q_dim0": "Q dim 0 == 1 (decode)",
        "v_seq": "K and V sequence lengths match",
        "k_seq_chunk": "K padded sequence length % k_chunk_size == 0 (the default: its largest power-of-2 divisor, <= 512)",
        "head_dim": "K and V head_dim == Q head_dim",
        "cur_pos_range": "every cur_pos (list) < K sequence length",
    },
)
RP = _Rules(
    "paged_sdpa_decode",
    _PAGED,
    _D_SRC,
    {
        **_DECODE_COMMON,
        "cur_pos_required": "causal: cur_pos_tensor is given",
        "cur_pos_dtype": "cur_pos_tensor is INT32",
        "cur_pos_layout": "cur_pos_tensor is ROW_MAJOR",
        "cur_pos_batch": "an interleaved cur_pos_tensor has Q batch entries",
        "page_table_dtype": "page_table INT32 (UINT16 when sharded)",
        "page_table_layout": "page_table ROW_MAJOR",
        "page_table_batch": "page_table batch (per-core shard height when sharded) == Q batch",
        "block_size": "K and V block sizes (dim 2) match",
        "head_dim": "Q, K and V head_dim match",
        "noncausal_k_chunk": "non-causal: k_chunk_size > 0 and blocks_per_user * block_size % k_chunk_size == 0",
    },
)
for _op, _prefix in ((_DECODE, "sdpa_decode"), (_PAGED, "paged_sdpa_decode")):
    not_mirrored(
        f"{_prefix}.share_cache",
        _op,
        "share_cache: K/V batch 1, not with paged attention",
        "share_cache is not modelled (NotImplementedError)",
    )
not_mirrored(
    "sdpa_chunked.no_mask",
    _CHUNKED,
    "no attn_mask in chunked mode",
    "chunked_scaled_dot_product_attention has no attn_mask argument: the rule cannot be violated through it",
)


def _memory(tensor: Tensor):
    return tensor.memory_config()


def _not_modelled(op: str, **arguments) -> None:
    for name, value in arguments.items():
        if value not in (None, 0, False):
            fail(
                op,
                f"{name} is not modelled by the emulator (see emulator/divergences.py)",
                NotImplementedError,
            )


def _check_operands(op: str, R, operands) -> None:
    """On device, TILE, dtype, interleaved (the prefill ops' basic tensor properties)."""
    for name, tensor in operands:
        require_tensor(op, name, tensor)
        check(tensor.device() is not None, R.on_device, f"{name} is on host")
    for name, tensor in operands:
        check(tensor.layout == Layout.TILE, R.tile, f"{name} layout is {tensor.layout.name}")
        check(tensor.dtype in _SDPA_DTYPES, R.dtype, f"{name} dtype is {tensor.dtype.name}")
        check(not tensor.is_sharded(), R.interleaved, f"{name} is {_memory(tensor).memory_layout.name}")
        if len(tensor.shape) != 4:  # emulator precondition
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")


def _check_no_padding(R, operands) -> None:
    for name, tensor in operands:
        # A TILE tensor pads only its last two dims: batch/heads are never padded, head_dim is when % 32.
        check(
            tensor.shape[-1] == tensor.padded_shape[-1],
            R.no_padding,
            f"{name} head_dim {tensor.shape[-1]} is padded to {tensor.padded_shape[-1]}",
        )


def _check_chunk_sizes(R, program_config) -> None:
    if program_config is None:
        return
    for name, rule_ in (("q_chunk_size", R.q_chunk_tile), ("k_chunk_size", R.k_chunk_tile)):
        value = getattr(program_config, name)
        check(value % TILE_SIZE == 0, rule_, f"program_config.{name}={value}")


def _check_kv(R, q, k, v, *, nqh: int, nkv: int) -> None:
    check(v.shape[1] == k.shape[1], R.v_heads, f"K heads {k.shape[1]}, V heads {v.shape[1]}")
    check(
        k.shape[3] == q.shape[3] and v.shape[3] == q.shape[3],
        R.kv_head_dim,
        f"Q head_dim {q.shape[3]}, K {k.shape[3]}, V {v.shape[3]}",
    )
    check(nqh >= nkv and nqh % nkv == 0, R.gqa, f"Q num_heads {nqh}, K num_heads {nkv}")


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


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
    operands = (
        ("input_tensor_q", input_tensor_q),
        ("input_tensor_k", input_tensor_k),
        ("input_tensor_v", input_tensor_v),
    )
    _check_operands(op, RS, operands)
    _check_memory_config(op, memory_config)
    device = same_device(op, input_tensor_q, input_tensor_k, input_tensor_v, attn_mask, attention_sink)
    check_sdpa_program_config(op, program_config, device)
    q, k, v = input_tensor_q, input_tensor_k, input_tensor_v
    b, nqh, sq, dh = q.shape
    nkv, sk = k.shape[1], k.shape[2]
    check(not (is_causal and attn_mask is not None), RS.causal_or_mask, "is_causal=True with attn_mask")
    check(
        not (sliding_window_size and attn_mask is not None),
        RS.window_or_mask,
        f"sliding_window_size={sliding_window_size} with attn_mask",
    )
    if attn_mask is not None:
        require_on_device(op, "attn_mask", attn_mask)
        check(attn_mask.layout == Layout.TILE, RS.mask_tile, f"attn_mask layout is {attn_mask.layout.name}")
        check(attn_mask.dtype in _SDPA_DTYPES, RS.mask_dtype, f"attn_mask dtype is {attn_mask.dtype.name}")
        check(
            _memory(attn_mask).buffer_type == BufferType.DRAM,
            RS.mask_dram,
            f"attn_mask is in {_memory(attn_mask).buffer_type.name}",
        )
        if len(attn_mask.shape) != 4:  # emulator precondition
            fail(op, f"attn_mask must be 4D, got shape {list(attn_mask.shape)}")
        mb, mh, ms, mk = attn_mask.shape
        check(mb in (1, b), RS.mask_batch, f"attn_mask batch {mb}, Q batch {b}")
        check(mh in (1, nqh), RS.mask_heads, f"attn_mask heads {mh}, Q heads {nqh}")
        check(ms == sq, RS.mask_q_seq, f"attn_mask dim 2 is {ms}, Q seq {sq}")
        check(mk == sk, RS.mask_k_seq, f"attn_mask dim 3 is {mk}, K seq {sk}")
    if is_causal:
        check(sq == sk, RS.causal_same_seq, f"Q seq {sq}, K seq {sk}")
    check(k.shape[0] == b and v.shape[0] == b, RS.kv_batch, f"Q batch {b}, K {k.shape[0]}, V {v.shape[0]}")
    check(v.shape[2] == sk, RS.v_seq, f"K seq {sk}, V seq {v.shape[2]}")
    _check_kv(RS, q, k, v, nqh=nqh, nkv=nkv)
    _check_chunk_sizes(RS, program_config)
    if attention_sink is not None:
        sink = attention_sink
        require_on_device(op, "attention_sink", sink)
        check(sink.layout == Layout.TILE, RS.sink_tile, f"attention_sink layout is {sink.layout.name}")
        check(sink.dtype in _SDPA_DTYPES, RS.sink_dtype, f"attention_sink dtype is {sink.dtype.name}")
        check(
            _memory(sink).buffer_type == BufferType.DRAM,
            RS.sink_dram,
            f"attention_sink is in {_memory(sink).buffer_type.name}",
        )
        check(tuple(sink.shape) == (1, nqh, 1, 1), RS.sink_shape, f"attention_sink shape {list(sink.shape)}")
    _check_no_padding(RS, operands)
    if sliding_window_size and not is_causal:
        fail(
            op,
            "sliding_window_size without is_causal (a centred window) is not modelled by the emulator",
            NotImplementedError,
        )

    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    allowed = causal_allowed(torch.arange(sq), sk, sliding_window_size) if is_causal else None
    q_bits = stored_fraction_bits(q.dtype)
    kv_bits = max(stored_fraction_bits(k.dtype), stored_fraction_bits(v.dtype))

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
            q_bits=q_bits,
            kv_bits=kv_bits,
            output_bfloat16=input_tensor_q.dtype == DataType.BFLOAT16,
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
    operands = (
        ("input_tensor_q", input_tensor_q),
        ("input_tensor_k", input_tensor_k),
        ("input_tensor_v", input_tensor_v),
    )
    _check_operands(op, RC, operands)
    _check_memory_config(op, memory_config)
    device = same_device(
        op, input_tensor_q, input_tensor_k, input_tensor_v, page_table_tensor, chunk_start_idx_tensor
    )
    check_sdpa_program_config(op, program_config, device)
    if (chunk_start_idx is None) == (chunk_start_idx_tensor is None):
        fail(op, "pass exactly one of chunk_start_idx (int) or chunk_start_idx_tensor")
    if chunk_start_idx_tensor is not None:
        require_dtype(op, "chunk_start_idx_tensor", chunk_start_idx_tensor, DataType.INT32)
        if tuple(chunk_start_idx_tensor.shape) != (1,):
            fail(op, f"chunk_start_idx_tensor must have shape [1], got {list(chunk_start_idx_tensor.shape)}")
        start = int(chunk_start_idx_tensor.shards[0].reshape(-1)[0])
    else:
        start = int(chunk_start_idx)
    # The start rules apply to an int chunk_start_idx only; a tensor's value is read at run time
    # (sdpa_device_operation.cpp: validate_on_program_cache_miss, validate_chunked_mode, legacy_chunked).
    legacy = chunk_start_idx_tensor is None
    if legacy:
        check(start >= 0, RC.start_non_negative, f"chunk_start_idx={start}")
    elif start < 0:  # emulator precondition (a runtime value)
        fail(op, f"chunk_start_idx_tensor holds {start}, must be >= 0")
    table = page_table_tensor
    require_on_device(op, "page_table_tensor", table)
    check(
        table.layout == Layout.ROW_MAJOR,
        RC.page_table_layout,
        f"page_table_tensor layout is {table.layout.name}",
    )
    check(
        table.dtype == DataType.INT32, RC.page_table_dtype, f"page_table_tensor dtype is {table.dtype.name}"
    )
    if len(table.shape) != 2:  # emulator precondition
        fail(op, f"page_table_tensor must be 2D (batch, blocks_per_user), got shape {list(table.shape)}")
    q, k, v = input_tensor_q, input_tensor_k, input_tensor_v
    b, nqh, sq, dh = q.shape
    nkv, block_size = k.shape[1], k.shape[2]
    check(v.shape[2] == block_size, RC.page_size, f"K page size {block_size}, V {v.shape[2]}")
    check(table.shape[0] == b, RC.page_table_batch, f"page_table_tensor batch {table.shape[0]}, Q batch {b}")
    _check_kv(RC, q, k, v, nqh=nqh, nkv=nkv)
    _check_chunk_sizes(RC, program_config)
    if program_config is not None and legacy:
        q_chunk, k_chunk = program_config.q_chunk_size, program_config.k_chunk_size
        check(start % q_chunk == 0, RC.start_q_chunk, f"chunk_start_idx={start}, q_chunk_size={q_chunk}")
        check(start % k_chunk == 0, RC.start_k_chunk, f"chunk_start_idx={start}, k_chunk_size={k_chunk}")
    kv_length = table.shape[1] * block_size
    check(
        kv_length >= sq + (start if legacy else 0),
        RC.kv_length,
        f"the page table covers {kv_length} positions, Q {sq} from {start if legacy else 0}",
    )
    _check_no_padding(RC, operands)
    if kv_length < sq + start:  # emulator precondition (chunk_start_idx_tensor's runtime value)
        fail(op, f"the page table covers {kv_length} positions, Q {sq} from chunk_start_idx_tensor {start}")
    if program_config is not None and not legacy:
        chunks = (program_config.q_chunk_size, program_config.k_chunk_size)
        if start % chunks[0] or start % chunks[1]:  # unchecked by tt-metal; the kernels assume it (#35225)
            fail(
                op,
                f"chunk_start_idx_tensor {start} not a multiple of q/k_chunk_size {chunks} is not modelled",
                NotImplementedError,
            )
    if v.shape[0] != k.shape[0]:  # emulator precondition: one pool of blocks for K and V
        fail(op, f"input_tensor_v has {v.shape[0]} blocks, input_tensor_k {k.shape[0]}")

    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    k_len = start + sq
    allowed = causal_allowed(torch.arange(start, start + sq), k_len, sliding_window_size)
    q_bits = stored_fraction_bits(input_tensor_q.dtype)
    kv_bits = max(stored_fraction_bits(k.dtype), stored_fraction_bits(v.dtype))

    def compute(q, k_cache, v_cache, table):
        keys = _gather_pages(op, k_cache, table, k_len)
        values = _gather_pages(op, v_cache, table, k_len)
        return attend(
            q, keys, values, scale_value, allowed, fidelity, q_bits=q_bits, kv_bits=kv_bits,
            output_bfloat16=input_tensor_q.dtype == DataType.BFLOAT16,
        )  # fmt: skip

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


def _used_blocks(op: str, cache: torch.Tensor, table: torch.Tensor, length: int) -> torch.Tensor:
    """The page-table entries holding each user's first ``length`` positions, (batch, used) int64,
    refused when one names a block outside the cache (runtime values: the device would read out of bounds)."""
    num_blocks, block_size = cache.shape[0], cache.shape[2]
    blocks = table[:, : -(-length // block_size)].to(torch.int64)
    if blocks.numel() and (blocks.min() < 0 or blocks.max() >= num_blocks):
        fail(
            op,
            f"page table refers to blocks {blocks.min().item()}..{blocks.max().item()}, the cache has {num_blocks}",
        )
    return blocks


def _gather_blocks(op: str, cache: torch.Tensor, table: torch.Tensor, length: int) -> torch.Tensor:
    """The cache blocks holding each user's (row of ``table``) first ``length`` positions, in order:
    (users, blocks, kv_heads, block_size, head_dim). An ``index_select`` of whole blocks is a memcpy
    (a strided source would be copied whole first)."""
    _, heads, block_size, dim = cache.shape
    blocks = _used_blocks(op, cache, table, length)
    return cache.index_select(0, blocks.reshape(-1)).reshape(*blocks.shape, heads, block_size, dim)


def _gather_pages(
    op: str,
    cache: torch.Tensor,
    table: torch.Tensor,
    length: int,
    live: list[int] | None = None,
    role: str = "k",
) -> torch.Tensor:
    """The first ``length`` positions of every user: (batch, kv_heads, length, head_dim), each user's
    and head's positions one contiguous matrix (a view of the gathered blocks, cut at ``length``).

    ``live``: the users the kernel reads (flash decode: position >= 0; None: all). A skipped user's
    positions are zeros: every one of its keys is masked, so its output is zeros whatever they hold,
    and the other users' matmuls keep their batch count (and so their bits). ``role``: which of the
    op's caches this is ("k" / "v"); the result then lives in a buffer reused by the next call of
    that role (:class:`_IdleZeroBuffers`).
    """
    batch = table.shape[0]
    users = None if live is None or len(live) == batch else torch.tensor(live, dtype=torch.int64)
    gathered = _gather_blocks(op, cache, table if users is None else table[users], length)
    gathered = gathered.permute(0, 2, 1, 3, 4)  # (users, heads, blocks, block_size, dim)
    _, heads, used, block_size, dim = gathered.shape
    if users is not None:
        shape = (batch, heads, used, block_size, dim)
        out = cache.new_zeros(shape) if cache.is_meta else _IDLE_ZEROS.take(role, shape, cache.dtype, live)
        out[users] = gathered
        gathered = out
    return gathered.reshape(batch, heads, used * block_size, dim)[:, :, :length]


class _IdleZeroBuffers:
    """Reused (batch, ...) buffers whose idle users' rows are zeros, for :func:`_gather_pages`.

    A fresh zeroed buffer per call cost more than the attention itself at batch 1 (one per layer,
    K and V; the allocation's page faults and fill). The live users' rows are overwritten by every
    caller; only rows of users that were live in the previous call and are idle now are zeroed
    again. A buffer is read before the next call of the same ``role`` (K or V) and shape.
    """

    def __init__(self):
        self._buffers: dict = {}

    def take(self, role: str, shape: tuple, dtype: torch.dtype, live: list[int]) -> torch.Tensor:
        key = (role, shape, dtype)
        entry = self._buffers.get(key)
        if entry is None:
            if len(self._buffers) >= 16:  # a bounded pool: shapes follow the sequence length
                self._buffers.clear()
            entry = self._buffers[key] = [torch.zeros(shape, dtype=dtype), set()]
        buffer, dirty = entry
        live_set = set(live)
        stale = sorted(dirty - live_set)
        if stale:
            buffer[torch.tensor(stale, dtype=torch.int64)] = 0
        entry[1] = live_set
        return buffer


_IDLE_ZEROS = _IdleZeroBuffers()


def _positions(op: str, batch: int, cur_pos, cur_pos_tensor, is_causal: bool):
    """Per-user positions as a python list (the values are the same on every device)."""
    if not is_causal:
        return None
    if bool(cur_pos) == (cur_pos_tensor is not None):
        fail(op, "causal decode needs exactly one of cur_pos (list) or cur_pos_tensor")
    if cur_pos_tensor is not None:
        values = [int(p) for p in cur_pos_tensor.shards[0].reshape(-1).tolist()]
        name = "cur_pos_tensor"
    else:
        values = [int(p) for p in cur_pos]
        name = "cur_pos"
    if len(values) != batch:  # emulator precondition: one position per user
        fail(op, f"{name} has {len(values)} positions, Q has batch {batch}")
    return values


def _check_decode_on_device(op, R, q, k, v) -> None:
    """q, k and v are on device: checked before ``same_device`` so a host operand names the rule
    (sdpa_decode_device_operation.cpp: validate_on_program_cache_miss, "Operands to SDPA need to be on device!")."""
    for name, tensor in (("input_tensor_q", q), ("input_tensor_k", k), ("input_tensor_v", v)):
        require_tensor(op, name, tensor)
        check(tensor.device() is not None, R.on_device, f"{name} is on host")


def _check_decode_inputs(
    op, R, q, k, v, *, memory_config, attn_mask, is_causal, attention_sink, k_chunk: int
):
    """The rules both decode ops share (sdpa_decode_device_operation.cpp, validate)."""
    operands = (("input_tensor_q", q), ("input_tensor_k", k), ("input_tensor_v", v))
    for name, tensor in operands:
        check(tensor.dtype in _SDPA_DTYPES, R.dtype, f"{name} dtype is {tensor.dtype.name}")
        if len(tensor.shape) != 4:  # emulator precondition
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")
    for name, tensor in operands[1:]:
        check(tensor.layout == Layout.TILE, R.kv_tile, f"{name} layout is {tensor.layout.name}")
    q_config = _memory(q)
    if q.is_sharded():
        check(
            q_config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED,
            R.q_memory,
            f"input_tensor_q is {q_config.memory_layout.name}",
        )
    else:
        check(
            q_config.buffer_type == BufferType.DRAM,
            R.q_memory,
            f"interleaved input_tensor_q in {q_config.buffer_type.name}",
        )
    for name, tensor in operands[1:]:
        check(
            _memory(tensor).buffer_type == BufferType.DRAM,
            R.kv_dram,
            f"{name} is in {_memory(tensor).buffer_type.name}",
        )
    _check_memory_config(op, memory_config)
    if memory_config is not None and memory_config.is_sharded():
        check(
            memory_config.memory_layout == TensorMemoryLayout.HEIGHT_SHARDED,
            R.output_memory,
            f"memory_config is {memory_config.memory_layout.name}",
        )
    q_p = q.padded_shape
    if is_causal:
        check(attn_mask is None, R.causal_no_mask, "is_causal=True with attn_mask")
    elif attn_mask is not None:
        require_on_device(op, "attn_mask", attn_mask)
        m_p = attn_mask.padded_shape
        check(
            m_p[2] == q_p[2], R.mask_padded_heads, f"attn_mask padded dim 2 {m_p[2]}, Q padded heads {q_p[2]}"
        )
        check(
            attn_mask.shape[2] == q.shape[2],
            R.mask_heads,
            f"attn_mask dim 2 {attn_mask.shape[2]}, Q heads {q.shape[2]}",
        )
        if R is RD:
            check(
                m_p[3] == k.padded_shape[2],
                RD.mask_seq,
                f"attn_mask dim 3 {m_p[3]}, K seq {k.padded_shape[2]}",
            )
        check(
            k_chunk > 0 and m_p[3] % k_chunk == 0,
            R.mask_k_chunk,
            f"attn_mask dim 3 {m_p[3]}, k_chunk_size {k_chunk}",
        )
        check(attn_mask.dtype in _SDPA_DTYPES, R.mask_dtype, f"attn_mask dtype is {attn_mask.dtype.name}")
    nkv = k.shape[1]
    check(v.shape[1] == nkv, R.kv_heads, f"K heads {nkv}, V heads {v.shape[1]}")
    if nkv > 1:
        check(
            memory_config is None or not memory_config.is_sharded(),
            R.gqa_output,
            f"memory_config is {memory_config.memory_layout.name if memory_config is not None else None}",
        )
        check(q.dtype == DataType.BFLOAT16, R.gqa_q_dtype, f"input_tensor_q dtype is {q.dtype.name}")
        check(q.shape[2] % nkv == 0, R.gqa_multiple, f"Q heads {q.shape[2]}, K heads {nkv}")
    if attention_sink is not None:
        sink = attention_sink
        require_on_device(op, "attention_sink", sink)
        check(len(sink.shape) == 2, R.sink_rank, f"attention_sink shape {list(sink.shape)}")
        check(
            sink.padded_shape[0] == q_p[2],
            R.sink_heads,
            f"attention_sink padded dim 0 {sink.padded_shape[0]}, Q {q_p[2]}",
        )
        check(sink.padded_shape[1] == TILE_SIZE, R.sink_width, f"attention_sink dim 1 {sink.padded_shape[1]}")
        check(sink.dtype == DataType.BFLOAT16, R.sink_dtype, f"attention_sink dtype is {sink.dtype.name}")
        check(sink.layout == Layout.TILE, R.sink_tile, f"attention_sink layout is {sink.layout.name}")
        check(
            _memory(sink).buffer_type == BufferType.DRAM,
            R.sink_dram,
            f"attention_sink is in {_memory(sink).buffer_type.name}",
        )
    if q.shape[-1] % TILE_SIZE:  # emulator precondition: head_dim fills whole tiles
        fail(
            op,
            f"input_tensor_q head_dim {q.shape[-1]} must be a multiple of {TILE_SIZE}",
            NotImplementedError,
        )


def _user_k_chunk(R, program_config) -> int:
    """The wrapper's k_chunk_size from program_config (0 when not given)."""
    if program_config is None or not program_config.k_chunk_size:
        return 0
    chunk = program_config.k_chunk_size
    check(chunk & (chunk - 1) == 0, R.k_chunk_pow2, f"program_config.k_chunk_size={chunk}")
    check(chunk % TILE_SIZE == 0, R.k_chunk_tile, f"program_config.k_chunk_size={chunk}")
    return chunk


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
    cur_pos,
    cur_pos_tensor,
    attention_sink,
    scale,
    sliding_window_size,
    memory_config,
    program_config,
    compute_kernel_config,
):
    """Flash decode of ``q`` against the contiguous (``page_table`` None) or paged K/V cache.

    The per-user positions are device values (``cur_pos_tensor``): the compute (``run``) reads them,
    and is handed to a trace capture as the op's replay kernel (``_compiled.replay_with``), so a
    replay runs only it, with every argument check done once at capture.
    """
    batch, nh, dh = q.shape[1], q.shape[2], q.shape[3]
    nkv = k.shape[1]
    seq_len = page_table.shape[1] * k.shape[2] if page_table is not None else k.shape[2]
    if attn_mask is not None and list(attn_mask.shape) != [1, batch, nh, seq_len]:
        # Emulator precondition: the mask is read as one additive row per user and head.
        fail(op, f"attn_mask shape {list(attn_mask.shape)} must be [1, {batch}, {nh}, {seq_len}]")
    scale_value = _scale(scale, dh)
    fidelity = math_fidelity(compute_kernel_config)
    out_dtype = q.dtype
    # Every user stays in the batched matmuls, idle ones too: torch's batched matmul picks its kernel
    # by the batch count, so computing fewer users would change the others' bits.
    q_bits = stored_fraction_bits(q.dtype)
    kv_bits = max(stored_fraction_bits(k.dtype), stored_fraction_bits(v.dtype))

    def run(q, k, v, page_table, cur_pos_tensor, attn_mask, attention_sink):
        positions = _positions(op, batch, cur_pos, cur_pos_tensor, is_causal)
        if positions is not None:
            for user, pos in enumerate(positions):
                if pos >= seq_len:
                    # Emulator precondition (runtime values; the unpaged cur_pos list is a rule).
                    fail(op, f"position {pos} of user {user} is outside the K sequence length {seq_len}")
        length = (max(positions) + 1) if positions is not None else seq_len
        length = max(length, 1)
        if positions is not None and min(positions) == length - 1 and sliding_window_size in (None, 0):
            allowed = None  # every user is at the last position: every key is visible to every user
        elif positions is not None:
            pos = torch.tensor(positions)
            keys_idx = torch.arange(length).unsqueeze(0)
            allowed = keys_idx <= pos.unsqueeze(1)
            if sliding_window_size:
                allowed &= keys_idx > (pos.unsqueeze(1) - sliding_window_size)
            allowed &= (pos >= 0).unsqueeze(1)  # position -1: the user is skipped
            allowed = allowed[:, None, None, :]  # (batch, 1, 1, length)
        else:
            allowed = None

        live = None if positions is None else [user for user, pos in enumerate(positions) if pos >= 0]

        def compute(q_shard, k_shard, v_shard, table, mask, sink):
            if table is not None:
                keys = _gather_pages(op, k_shard, table, length, live, "k")
                values = _gather_pages(op, v_shard, table, length, live, "v")
            else:  # the contiguous cache (batch, kv_heads, seq, head_dim)
                keys, values = k_shard[:, :, :length], v_shard[:, :, :length]
            out = attend(
                q_shard[0].unsqueeze(2),  # (batch, nh, 1, dh)
                keys,
                values,
                scale_value,
                allowed,
                fidelity,
                additive_mask=mask[0].unsqueeze(2)[..., :length] if mask is not None else None,
                sink=None if sink is None else sink[:, 0],
                q_bits=q_bits,
                kv_bits=kv_bits,
                output_bfloat16=out_dtype == DataType.BFLOAT16,
            )
            return out.squeeze(2).unsqueeze(0)  # (1, batch, nh, dh)

        shards = shard_map(compute, q, k, v, page_table, attn_mask, attention_sink)
        if out_dtype == DataType.BFLOAT16:  # attend rounded P V to bfloat16 already
            return [shards], positions
        return [round_shards(shards, out_dtype)], positions

    tensors = (q, k, v, page_table, cur_pos_tensor, attn_mask, attention_sink)
    (shards,), positions = run(*tensors)
    _compiled.replay_with(lambda *current: run(*current)[0], *tensors)
    device = q.device()
    out_config = _decode_output_memory_config(memory_config, batch, dh, device)
    out = new_tensor(op, shards, out_dtype, Layout.TILE, device, out_config, already_rounded=True)
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
    """Unpaged decode's default (sdpa_decode.cpp, get_chunk_size): the largest power of two dividing
    seq_len, at least 2 and at most 512."""
    return min(512, max(2, seq_len & -seq_len)) if seq_len else 2


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
    op = _DECODE
    _not_modelled(op, share_cache=share_cache)
    q, k, v = input_tensor_q, input_tensor_k, input_tensor_v
    _check_decode_on_device(op, RD, q, k, v)
    device = same_device(op, q, k, v, cur_pos_tensor, attn_mask)
    check_sdpa_program_config(op, program_config, device, allow_zero_k_chunk=True)
    user_chunk = _user_k_chunk(RD, program_config)
    require_tensor(op, "input_tensor_k", k)
    seq_len = k.shape[-2]
    k_chunk = user_chunk or _default_k_chunk(seq_len)
    if not user_chunk:
        check(
            k_chunk % TILE_SIZE == 0,
            RD.k_chunk_tile,
            f"the default k_chunk_size for K seq {seq_len} is {k_chunk}",
        )
    _check_decode_inputs(
        op,
        RD,
        q,
        k,
        v,
        memory_config=memory_config,
        attn_mask=attn_mask,
        is_causal=is_causal,
        attention_sink=attention_sink,
        k_chunk=k_chunk,
    )
    batch = q.padded_shape[1]
    check(
        k.shape[0] == batch and v.shape[0] == batch,
        RD.kv_batch,
        f"Q batch {batch}, K {k.shape[0]}, V {v.shape[0]}",
    )
    check(q.padded_shape[0] == 1, RD.q_dim0, f"input_tensor_q shape {list(q.shape)}")
    check(k.padded_shape[-2] == v.padded_shape[-2], RD.v_seq, f"K seq {k.shape[-2]}, V seq {v.shape[-2]}")
    check(
        k.padded_shape[2] % k_chunk == 0, RD.k_seq_chunk, f"K seq {k.padded_shape[2]}, k_chunk_size {k_chunk}"
    )
    check(
        k.shape[-1] == q.shape[-1] and v.shape[-1] == q.shape[-1],
        RD.head_dim,
        f"Q head_dim {q.shape[-1]}, K {k.shape[-1]}, V {v.shape[-1]}",
    )
    for p_ in cur_pos:
        check(
            int(p_) < k.padded_shape[-2], RD.cur_pos_range, f"cur_pos {int(p_)}, K seq {k.padded_shape[-2]}"
        )
    return _decode(
        op,
        input_tensor_q,
        input_tensor_k,
        input_tensor_v,
        None,
        is_causal=is_causal,
        attn_mask=attn_mask,
        cur_pos=cur_pos,
        cur_pos_tensor=cur_pos_tensor,
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
    op = _PAGED
    _not_modelled(
        op,
        paged_cache_geometry=paged_cache_geometry,
        cache_position_modulo=cache_position_modulo,
        spec_multi_pos_tiles=spec_multi_pos_tiles,
    )
    q, k, v, table = input_tensor_q, input_tensor_k, input_tensor_v, page_table_tensor
    _check_decode_on_device(op, RP, q, k, v)
    device = same_device(op, q, k, v, table, cur_pos_tensor, attn_mask)
    check_sdpa_program_config(op, program_config, device, allow_zero_k_chunk=True)
    k_chunk = _user_k_chunk(RP, program_config)
    _check_decode_inputs(
        op,
        RP,
        q,
        k,
        v,
        memory_config=memory_config,
        attn_mask=attn_mask,
        is_causal=is_causal,
        attention_sink=attention_sink,
        k_chunk=k_chunk,
    )
    batch = q.padded_shape[1]
    if is_causal:
        check(cur_pos_tensor is not None, RP.cur_pos_required, "is_causal=True without cur_pos_tensor")
        pos = cur_pos_tensor
        require_on_device(op, "cur_pos_tensor", pos)
        check(pos.dtype == DataType.INT32, RP.cur_pos_dtype, f"cur_pos_tensor dtype is {pos.dtype.name}")
        check(
            pos.layout == Layout.ROW_MAJOR, RP.cur_pos_layout, f"cur_pos_tensor layout is {pos.layout.name}"
        )
        if not pos.is_sharded():
            check(
                pos.padded_shape[-1] == batch,
                RP.cur_pos_batch,
                f"cur_pos_tensor {list(pos.shape)}, Q batch {batch}",
            )
    require_on_device(op, "page_table_tensor", table)
    expected = DataType.UINT16 if table.is_sharded() else DataType.INT32
    check(table.dtype == expected, RP.page_table_dtype, f"page_table_tensor dtype is {table.dtype.name}")
    check(
        table.layout == Layout.ROW_MAJOR,
        RP.page_table_layout,
        f"page_table_tensor layout is {table.layout.name}",
    )
    if len(table.shape) != 2:  # emulator precondition
        fail(op, f"page_table_tensor must be 2D (batch, blocks_per_user), got shape {list(table.shape)}")
    rows = (
        table.padded_shape[0] // _memory(table).shard_spec.num_cores()
        if table.is_sharded()
        else table.padded_shape[0]
    )
    # Stricter than validate on purpose: for an interleaved table it takes B from the table itself (a
    # tautology), but the program factory runs q_shape[1] users into a table-batch output
    # (sdpa_decode_program_factory.cpp: create; sdpa_decode_device_operation.cpp: compute_output_specs).
    check(rows == batch, RP.page_table_batch, f"page_table_tensor batch {rows}, Q batch {batch}")
    k_p, v_p = k.padded_shape, v.padded_shape
    check(k_p[2] == v_p[2], RP.block_size, f"K block size {k_p[2]}, V {v_p[2]}")
    check(
        k_p[3] == v_p[3] and k_p[3] == q.padded_shape[3],
        RP.head_dim,
        f"Q {q.padded_shape[3]}, K {k_p[3]}, V {v_p[3]}",
    )
    check(k_chunk % TILE_SIZE == 0, RP.k_chunk_tile, f"k_chunk_size={k_chunk}")
    if not is_causal:
        length = table.padded_shape[1] * k_p[2]
        check(
            k_chunk > 0 and length % k_chunk == 0,
            RP.noncausal_k_chunk,
            f"paged K length {length}, k_chunk_size {k_chunk}",
        )
    if k_p[2] % TILE_SIZE:  # emulator precondition (a TILE cache's padded block size is whole tiles)
        fail(op, f"block size {k.shape[2]} (dim 2 of the K cache) must be a multiple of {TILE_SIZE}")
    return _decode(
        op,
        input_tensor_q,
        input_tensor_k,
        input_tensor_v,
        page_table_tensor,
        is_causal=is_causal,
        attn_mask=attn_mask,
        cur_pos=(),
        cur_pos_tensor=cur_pos_tensor,
        attention_sink=attention_sink,
        scale=scale,
        sliding_window_size=sliding_window_size,
        memory_config=memory_config,
        program_config=program_config,
        compute_kernel_config=compute_kernel_config,
    )


__all__: list[str] = []  # exported through ``transformer``
