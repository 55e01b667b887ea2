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


def _matmul(a: torch.Tensor, b: torch.Tensor, fidelity, a_bits: int = 23, b_bits: int = 23) -> torch.Tensor:
    from ._ops_matmul import _fidelity_matmul  # noqa: PLC0415 - the shared fidelity model

    return _fidelity_matmul(
        a.contiguous(), b.contiguous(), fidelity, False, False, a_bits=a_bits, b_bits=b_bits, cache_b=False
    )


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
) -> torch.Tensor:
    """softmax(scale * Q K^T + mask) V with grouped KV heads.

    Args:
        q: (batch, q_heads, q_len, head_dim).
        k, v: (batch, kv_heads, k_len, head_dim); q_heads must be a multiple of kv_heads.
        allowed: bool, broadcastable to (batch, q_heads, q_len, k_len); False masks a key out.
        additive_mask: float, broadcastable to the scores; added before softmax.
        sink: (q_heads,) per-head sink logit that joins the softmax denominator without a value.
        q_bits, kv_bits: the most fraction bits of Q's and of K's and V's values (their dtypes',
            ``_ops_matmul.stored_fraction_bits``): truncations keeping them all are skipped.

    Rows with no allowed key produce zeros (the device skips them).
    """
    group = q.shape[1] // k.shape[1]
    k_t = k.transpose(-1, -2)  # (batch, kv_heads, head_dim, k_len)
    if group > 1:
        # K^T of every query head made contiguous in one copy (the same tensor as repeat_interleave
        # then a contiguous transpose: the matmul below sees the same operand).
        k_t = k_t.unsqueeze(2).expand(-1, -1, group, -1, -1).reshape(k.shape[0], -1, *k_t.shape[2:])
        v = v.repeat_interleave(group, dim=1)
    return attend_heads(
        q, k_t, v, scale, allowed, fidelity, additive_mask, sink, q_bits=q_bits, kv_bits=kv_bits
    )


def attend_heads(
    q: torch.Tensor,
    k_t: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    allowed: torch.Tensor | None,
    fidelity,
    additive_mask: torch.Tensor | None = None,
    sink: torch.Tensor | None = None,
    *,
    q_bits: int = 23,
    kv_bits: int = 23,
) -> torch.Tensor:
    """:func:`attend` with K and V already laid out per query head: ``k_t (batch, q_heads, head_dim,
    k_len)`` (K transposed), ``v (batch, q_heads, k_len, head_dim)``."""
    scores = _numerics.round_to_bfloat16(_matmul(q, k_t, fidelity, q_bits, kv_bits) * scale)
    if additive_mask is not None:
        scores = scores + additive_mask.to(scores.device)  # .to: meta scores in a shapes-only run
    if allowed is not None:
        scores = scores.masked_fill(~allowed.to(scores.device), NEG_INF)
    if sink is not None:
        sink_col = sink.to(scores.device).reshape(1, -1, 1, 1).expand(scores.shape[0], -1, scores.shape[2], 1)
        scores = torch.cat([scores, sink_col.to(scores.dtype)], dim=-1)
    probs = torch.softmax(scores, dim=-1)
    probs = torch.nan_to_num(probs, nan=0.0)  # rows with every key masked
    if sink is not None:
        probs = probs[..., :-1]
    probs = _numerics.round_to_bfloat16(probs)
    return _matmul(probs, v, fidelity, 7, kv_bits)  # probs are bfloat16 values: 7 fraction bits


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
