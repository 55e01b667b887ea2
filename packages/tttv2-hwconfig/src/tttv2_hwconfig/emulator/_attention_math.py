"""Shared numerics of the emulated attention kernels (flash attention, flash decode, rotary).

Approximations, stated once (the kernels' exact arithmetic is not published as a spec):
- Q K^T and P V run through the matmul emulation's math-fidelity model (``_ops_matmul``: operand
  mantissas truncated to what each fidelity phase sees, phases summed in float32), with Q and P as
  in0 (SrcB) and K^T and V as in1 (SrcA), from the operands' stored values.
- The flash-attention kernels keep scores and probabilities in bfloat16 intermediate circular
  buffers, so both are rounded to bfloat16; softmax itself runs in float32 (the device uses an
  exp approximation that is not modelled).
- The output is rounded to the output dtype by the op (``new_tensor``).
"""

from __future__ import annotations

import torch

from . import _numerics
from ._types import TILE_BYTES, TILE_SIZE, DataType, MathFidelity

NEG_INF = float("-inf")


def math_fidelity(compute_kernel_config, default=MathFidelity.HiFi2):
    """The config's fidelity; ``default`` when there is no config or its fidelity is unset (Invalid)."""
    fidelity = (
        getattr(compute_kernel_config, "math_fidelity", None) if compute_kernel_config is not None else None
    )
    if fidelity is None or getattr(fidelity, "name", "") == "Invalid":
        return default
    return fidelity


def fp32_dest_acc(compute_kernel_config, default: bool = False) -> bool:
    if compute_kernel_config is None:
        return default
    return bool(getattr(compute_kernel_config, "fp32_dest_acc_en", default))


def _matmul(
    a: torch.Tensor, b: torch.Tensor, fidelity, a_bits: int, b_bits: int, *, transpose_b=False, rounded=False
) -> torch.Tensor:
    from ._ops_matmul import _fidelity_matmul  # noqa: PLC0415 - the shared fidelity model

    return _fidelity_matmul(
        a.contiguous(),
        b,
        fidelity,
        False,
        transpose_b,
        a_bits=a_bits,
        b_bits=b_bits,
        cache_b=False,
        rounded_to_bfloat16=rounded,
    )


def _per_group_rows(mask: torch.Tensor, q_heads: int, kv_heads: int, q_len: int) -> torch.Tensor:
    """A mask broadcastable to ``(batch, q_heads, q_len, k_len)`` laid out like the grouped scores,
    ``(batch or 1, kv_heads or 1, group * q_len, k_len)``: query head ``h`` is row block ``h % group``
    of KV head ``h // group``."""
    while mask.dim() < 4:
        mask = mask.unsqueeze(0)
    group = q_heads // kv_heads
    batch, heads, rows, k_len = mask.shape
    mask = mask.expand(batch, heads, q_len, k_len)
    if heads == 1:
        if group > 1 and q_len == 1:
            return mask.expand(batch, 1, group, k_len)  # a view: one row per query head of the group
        return mask.repeat(1, 1, group, 1) if group > 1 else mask
    return mask.reshape(batch, kv_heads, group * q_len, k_len)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    allowed: torch.Tensor | None,
    fidelity,
    additive_mask: torch.Tensor | None = None,
    sink: torch.Tensor | None = None,
    *,
    q_bits: int = 23,
    kv_bits: int = 23,
    output_bfloat16: bool = False,
) -> torch.Tensor:
    """softmax(scale * Q K^T + mask) V with grouped KV heads.

    Each KV head's group of query heads is one matmul against it (``group * q_len`` rows), as the
    kernels read one K/V chunk for the heads that share it; K and V are never copied per query head.

    Args:
        q: (batch, q_heads, q_len, head_dim).
        k, v: (batch, kv_heads, k_len, head_dim), any strides; q_heads must be a multiple of kv_heads.
        allowed: bool, broadcastable to (batch, q_heads, q_len, k_len); False masks a key out.
        additive_mask: float, broadcastable to the scores; added before softmax.
        sink: (q_heads,) per-head sink logit that joins the softmax denominator without a value.
        q_bits, kv_bits: the most fraction bits of Q's and of K's and V's values (their dtypes',
            ``_ops_matmul.stored_fraction_bits``): truncations keeping them all are skipped.
        output_bfloat16: the op rounds the result to bfloat16 (so P V may run as a bfloat16 GEMM).

    Rows with no allowed key produce zeros (the device skips them).
    """
    batch, q_heads, q_len, head_dim = q.shape
    kv_heads = k.shape[1]
    group = q_heads // kv_heads
    queries = q.reshape(batch, kv_heads, group * q_len, head_dim)
    scores = _numerics.round_to_bfloat16(
        _matmul(queries, k, fidelity, q_bits, kv_bits, transpose_b=True) * scale
    )
    if additive_mask is not None:
        additive = additive_mask.to(scores.device)  # .to: meta scores in a shapes-only run
        scores = scores + _per_group_rows(additive, q_heads, kv_heads, q_len)
    if allowed is not None:
        scores = scores.masked_fill(
            ~_per_group_rows(allowed.to(scores.device), q_heads, kv_heads, q_len), NEG_INF
        )
    if sink is not None:
        sink_rows = sink.to(scores.device, scores.dtype).reshape(kv_heads, group, 1).expand(-1, -1, q_len)
        sink_col = sink_rows.reshape(1, kv_heads, group * q_len, 1).expand(batch, -1, -1, -1)
        scores = torch.cat([scores, sink_col], dim=-1)
    probs = torch.softmax(scores, dim=-1)
    probs = torch.nan_to_num(probs, nan=0.0)  # rows with every key masked
    if sink is not None:
        probs = probs[..., :-1]
    probs = _numerics.round_to_bfloat16(probs)
    out = _matmul(probs, v, fidelity, 7, kv_bits, rounded=output_bfloat16)  # probs: bfloat16 values
    return out.reshape(batch, q_heads, q_len, head_dim)


def causal_allowed(q_positions: torch.Tensor, k_len: int, sliding_window: int | None) -> torch.Tensor:
    """(q_len, k_len) bool: key j is visible to the query at absolute position p when j <= p
    and, with a sliding window w, j > p - w."""
    keys = torch.arange(k_len).unsqueeze(0)
    pos = q_positions.unsqueeze(1)
    allowed = keys <= pos
    if sliding_window:
        allowed &= keys > pos - sliding_window
    return allowed


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def bytes_per_element(dtype: DataType) -> float:
    return TILE_BYTES[dtype] / (TILE_SIZE * TILE_SIZE)
