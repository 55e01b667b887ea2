"""Bit-exact host conversions of TTNN data formats, on torch.

Every function takes a float32 tensor and returns a float32 tensor holding exactly the values the
real ``ttnn`` 0.81.1 host conversion stores, i.e. what
``ttnn.to_torch(ttnn.from_torch(x, dtype=..., layout=ttnn.TILE_LAYOUT)).float()`` returns. The
conformance suite (``tests/conformance/test_conformance_numerics.py``) checks this bit for bit
against the real wheel.

bfloat16
    Round to nearest, ties to even, on the float32 bit pattern (``bits + 0x7FFF + lsb``, keep the
    top 16 bits). Denormals are kept (rounded like any other value), overflow goes to +-inf, and
    every NaN becomes the canonical positive quiet NaN ``0x7FC00000`` (torch's own
    ``.to(torch.bfloat16)`` gives ``0xFFFF0000`` for NaN; the real ttnn does not).

bfloat8_b / bfloat4_b (block floats, ``mantissa_bits`` = 7 / 3)
    A 32x32 tile is four 16x16 faces; each 16-element row of a face shares one 8-bit exponent and
    each element keeps a sign bit and ``mantissa_bits`` bits of magnitude (explicit leading bit, no
    hidden bit). Face rows are 16 consecutive elements of one tensor row starting at a column that
    is a multiple of 16, so the grouping only depends on the last dimension; rank-1 tensors are
    one row. Tile padding is filled with 0.0, whose exponent field is 0, so padding never raises a
    shared exponent (and the padded-out values are dropped again by ``to_torch``).

    Packing (tt-metal ``convert_u32_to_bfp``, is_exp_a=False), per element with float32 bits
    ``s | e (8 bits) | f (23 bits)`` and group exponent ``E = max(e)`` over the 16 elements:

    1. +-0 and float32 denormals (``e == 0``) encode as +0 (flush to zero; bfloat16 keeps
       denormals, block floats do not -- measured on the real wheel).
    2. ``m = (1 << 23) | f`` (explicit leading one).
    3. ``m >>= (E - e)`` -- alignment to the shared exponent truncates; the bits shifted out are
       lost before rounding (no sticky bit).
    4. Keep the top ``mantissa_bits`` of the 24-bit ``m`` with round-to-nearest, ties-to-even on
       the remaining bits; a carry out of the top bit saturates at ``2**mantissa_bits - 1``
       (the exponent is not bumped).
    5. A magnitude that rounds to 0 drops its sign (no -0).

    Unpacking (tt-metal ``convert_bfp_to_u32``): a non-zero magnitude ``q`` is normalised to its
    leading one, giving float32 exponent ``E - (mantissa_bits - 1 - floor(log2 q))`` and the
    remaining bits as the top of the fraction. With ``E == 255`` (an inf/NaN in the group) this
    yields inf or NaN bit patterns rather than overflowing: the element that was inf stays inf,
    a NaN stays NaN if one of its top mantissa bits survives the rounding and becomes inf
    otherwise, and finite neighbours become 0 unless their exponent is within ``mantissa_bits``
    of 255. Because denormals are flushed, the decoded exponent never goes below 1.

    Tile padding: with a non-zero ``pad_value`` the pad joins the last, partial group of every row
    (width not a multiple of 16) and can raise its shared exponent; ``pad_value`` models that.

All block-float work is integer arithmetic on int64 copies of the bit patterns, fully vectorized.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from . import _block_float_numpy

__all__ = [
    "DTYPE_ROUNDERS",
    "round_to_bfloat16",
    "round_to_bfloat4_b",
    "round_to_bfloat8_b",
    "round_to_block_float",
    "round_to_float32",
]

_CANONICAL_NAN_BITS = 0x7FC00000
_GROUP_SIZE = 16  # elements sharing one exponent: one row of a 16x16 face
_SUPPORTED_MANTISSA_BITS = (3, 7)  # bfloat4_b, bfloat8_b


def _float_bits(x: torch.Tensor) -> torch.Tensor:
    """Unsigned float32 bit patterns of ``x`` as int64 (no sign extension)."""
    return x.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def _bits_to_float(bits: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_float_bits` (``bits`` holds values in ``[0, 2**32)``)."""
    signed = torch.where(bits >= 2**31, bits - 2**32, bits)
    return signed.to(torch.int32).view(torch.float32)


def _check_float32(x: torch.Tensor, where: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"{where}: expected a float32 tensor, got {x.dtype}")


def round_to_float32(x: torch.Tensor) -> torch.Tensor:
    """float32 is stored as is; returns a float32 copy of ``x`` (any float dtype accepted)."""
    return x.to(torch.float32).clone()


def _round_to_bfloat16_bits(x: torch.Tensor) -> torch.Tensor:
    """Round float32 values to bfloat16 exactly as the ttnn host conversion does (bit arithmetic).

    Args:
        x: float32 tensor of any shape.

    Returns:
        float32 tensor of the same shape holding bfloat16 values (round to nearest even,
        NaN -> canonical quiet NaN).
    """
    bits = _float_bits(x)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    is_nan = (bits & 0x7FFFFFFF) > 0x7F800000
    rounded = torch.where(is_nan, torch.full_like(rounded, _CANONICAL_NAN_BITS), rounded)
    return _bits_to_float(rounded)


def bfloat16_values(x: torch.Tensor) -> torch.Tensor:
    """A torch bfloat16 tensor as float32, NaNs canonical: what :func:`round_to_bfloat16` returns for
    the same values (the conversion is exact; only NaN payloads need rewriting)."""
    if x.dtype != torch.bfloat16:
        raise TypeError(f"bfloat16_values: expected a bfloat16 tensor, got {x.dtype}")
    # One in-place pass, no ``if nan.any()`` (a host sync); infinities are kept as they are.
    return x.to(torch.float32).nan_to_num_(nan=float("nan"), posinf=float("inf"), neginf=float("-inf"))


def _round_to_bfloat16_cast(data: torch.Tensor) -> torch.Tensor:
    """torch's float32 -> bfloat16 cast (round to nearest even, ~10x faster than the bit-level path).

    It differs from the ttnn host conversion only in the NaN bit pattern (torch's vectorized cast
    writes 0xFFFF0000), so NaNs are rewritten to the canonical 0x7FC00000 afterwards.
    """
    return bfloat16_values(data.to(torch.bfloat16))


def _fast_bfloat16_is_exact() -> bool:
    """Check the torch cast against the bit-exact reference once (ties, denormals, overflow, NaN)."""
    bits = torch.tensor(
        [
            0x3F808000,
            0x3F818000,
            0x3F80FFFF,
            0x00000001,
            0x80400000,
            0x007FFFFF,
            0x7F7FFFFF,
            0xFF7F8000,
            0x7F800000,
            0xFF800000,
            0x7FC00001,
            0xFFFFFFFF,
            0x00008000,
            0x80018000,
            0x3F7FFF80,
        ],
        dtype=torch.int64,
    )
    values = torch.where(bits >= 2**31, bits - 2**32, bits).to(torch.int32).view(torch.float32)
    values = torch.cat([values, torch.randn(4096) * 1e-38, torch.randn(4096)])
    expected = _round_to_bfloat16_bits(values).view(torch.int32)
    return torch.equal(_round_to_bfloat16_cast(values).view(torch.int32), expected)


_ROUND_TO_BFLOAT16 = _round_to_bfloat16_cast if _fast_bfloat16_is_exact() else _round_to_bfloat16_bits


def round_to_bfloat16(x: torch.Tensor) -> torch.Tensor:
    """Round float32 values to bfloat16 exactly as the ttnn host conversion does.

    Round to nearest even, NaN -> canonical quiet NaN. Uses torch's cast (about 10x faster) when
    an import-time check finds it bit-identical to the bit-level rounding, which it falls back to.

    Args:
        x: float32 tensor of any shape.

    Returns:
        float32 tensor of the same shape holding bfloat16 values.
    """
    _check_float32(x, "round_to_bfloat16")
    if x.is_meta:  # shapes-only run: no values to round
        return x
    return _ROUND_TO_BFLOAT16(x)


def _pad_last_dim_to_groups(bits: torch.Tensor, pad_bits: int) -> torch.Tensor:
    """Pad the last dim to a multiple of the group size with the tile padding value's bits.

    Only the last dim matters: rows added by tile padding form groups of their own.
    """
    pad = (-bits.shape[-1]) % _GROUP_SIZE
    if pad:
        bits = torch.nn.functional.pad(bits, (0, pad), value=pad_bits)
    return bits


def _pack_block_float(bits: torch.Tensor, mantissa_bits: int) -> tuple[torch.Tensor, ...]:
    """Encode grouped float32 bits ``(..., groups, 16)`` -> (sign, magnitude, shared exponent)."""
    sign = bits >> 31
    exponent = (bits >> 23) & 0xFF
    shared_exponent = exponent.amax(dim=-1, keepdim=True)

    mantissa = (bits & 0x7FFFFF) | (1 << 23)
    # Shifts of 24 or more leave nothing of a 24-bit mantissa; clamp keeps torch's shift defined.
    mantissa = mantissa >> (shared_exponent - exponent).clamp(max=31)

    drop_bits = 24 - mantissa_bits
    remainder = mantissa & ((1 << drop_bits) - 1)
    magnitude = mantissa >> drop_bits
    tie = 1 << (drop_bits - 1)
    round_up = (remainder > tie) | ((remainder == tie) & ((magnitude & 1) == 1))
    magnitude = (magnitude + round_up.to(torch.int64)).clamp(max=(1 << mantissa_bits) - 1)

    # +-0 and float32 denormals (exponent field 0) both pack as +0.
    is_zero = exponent == 0
    magnitude = torch.where(is_zero, torch.zeros_like(magnitude), magnitude)
    sign = torch.where(magnitude == 0, torch.zeros_like(sign), sign)
    return sign, magnitude, shared_exponent


def _unpack_block_float(
    sign: torch.Tensor, magnitude: torch.Tensor, shared_exponent: torch.Tensor, mantissa_bits: int
) -> torch.Tensor:
    """Decode (sign, magnitude, shared exponent) to float32 bit patterns (int64 in [0, 2**32))."""
    nonzero = magnitude > 0
    # floor(log2(q)) for 1 <= q < 2**7 is exact through frexp of a float.
    _, frexp_exponent = torch.frexp(magnitude.clamp(min=1).to(torch.float32))
    leading_one = frexp_exponent.to(torch.int64) - 1
    normalize_shift = (mantissa_bits - 1) - leading_one
    exponent = shared_exponent - normalize_shift
    fraction = (magnitude << (normalize_shift + 1)) & ((1 << mantissa_bits) - 1)
    # C++ does this in uint32: a negative exponent wraps into the sign bit.
    out = ((sign << 31) | ((exponent << 23) & 0xFFFFFFFF) | (fraction << (23 - mantissa_bits))) & 0xFFFFFFFF
    return torch.where(nonzero, out, torch.zeros_like(out))


_value_branches_off = False  # True while a trace capture records torch programs (``_compiled``)


def value_branches(enabled: bool) -> bool:
    """Allow (default) or forbid shortcuts that branch on tensor values (a host sync); returns the old state.

    A recorded torch program (trace capture) must not depend on the captured values; the shortcut
    gives the same bits as the general path, so results do not change.
    """
    global _value_branches_off
    previous = not _value_branches_off
    _value_branches_off = not enabled
    return previous


@functools.cache
def _pad_bits(pad_value: float) -> int:
    """float32 bit pattern of ``pad_value`` (cached: a tensor round trip per call would be a host sync)."""
    return int(_float_bits(torch.tensor([pad_value], dtype=torch.float32)).item())


def round_to_block_float(x: torch.Tensor, mantissa_bits: int, *, pad_value: float = 0.0) -> torch.Tensor:
    """Round to a TTNN block-float format (tiled, shared exponent per 16 elements of a face row).

    Args:
        x: float32 tensor, shape ``(..., height, width)``; rank 1 is one row, rank 0 one value.
        mantissa_bits: 7 for bfloat8_b, 3 for bfloat4_b.
        pad_value: tile padding value (``ttnn.from_torch(pad_value=...)``, default 0.0). A pad
            with a larger exponent than the data raises the shared exponent of the last,
            partially filled group of each row and so changes the stored data.

    Returns:
        float32 tensor of the same shape with the values the real ttnn stores.
    """
    _check_float32(x, "round_to_block_float")
    if mantissa_bits not in _SUPPORTED_MANTISSA_BITS:
        raise ValueError(
            f"round_to_block_float: mantissa_bits must be one of {_SUPPORTED_MANTISSA_BITS} "
            f"(bfloat4_b, bfloat8_b), got {mantissa_bits}"
        )
    if x.numel() == 0 or x.is_meta:  # meta: a shapes-only run has no values to round
        return x.clone()
    if (
        pad_value == 0.0
        and x.numel() > 1024
        and not _value_branches_off
        and bool((x == x.reshape(-1)[0]).all())
    ):
        # A constant (zeros/full, e.g. a fresh KV cache): every group shares the value's own exponent
        # and zero padding never raises it, so rounding one element is exact.
        value = round_to_block_float(x.reshape(-1)[:1], mantissa_bits)
        return value.expand(x.shape).contiguous()

    if _ROUND_SMALL_BLOCK_FLOAT is not None and x.numel() <= SMALL_BLOCK_FLOAT_VALUES:
        from ._compiled import leaf  # noqa: PLC0415 - _compiled imports this module

        return leaf(_ROUND_SMALL_BLOCK_FLOAT, x, mantissa_bits, pad_value)
    return _ROUND_TO_BLOCK_FLOAT(x, mantissa_bits, pad_value)


def _round_to_block_float_int64(x: torch.Tensor, mantissa_bits: int, pad_value: float) -> torch.Tensor:
    """The reference block-float rounding: pack and unpack on int64 bit patterns, step by step."""
    rows = x.reshape(1) if x.dim() == 0 else x
    width = rows.shape[-1]
    pad_bits = _pad_bits(pad_value)
    bits = _pad_last_dim_to_groups(_float_bits(rows), pad_bits)
    grouped = bits.reshape(*bits.shape[:-1], -1, _GROUP_SIZE)
    sign, magnitude, shared_exponent = _pack_block_float(grouped, mantissa_bits)
    out = _unpack_block_float(sign, magnitude, shared_exponent, mantissa_bits)
    out = out.reshape(bits.shape)[..., :width]
    return _bits_to_float(out).reshape(x.shape)


def _round_to_block_float_int32(x: torch.Tensor, mantissa_bits: int, pad_value: float) -> torch.Tensor:
    """The same rounding in fewer, int32 passes (about 4x faster; bit-identical, checked at import).

    Packing is the reference's on int32 (every intermediate fits: 24-bit mantissas, 8-bit exponents).
    Unpacking uses that the decoded bit pattern of a magnitude ``q > 0`` is float32 ``q``'s with
    ``E - 126 - mantissa_bits`` added to its exponent field, wrapping in 32 bits exactly as the
    reference's uint32 arithmetic (its fraction field is ``q``'s bits below the leading one in both).
    """
    rows = x.reshape(1) if x.dim() == 0 else x
    width = rows.shape[-1]
    pad = _pad_bits(pad_value)
    bits = rows.contiguous().view(torch.int32)
    extra = (-width) % _GROUP_SIZE
    if extra:
        bits = torch.nn.functional.pad(bits, (0, extra), value=pad - 2**32 if pad >= 2**31 else pad)
    grouped = bits.reshape(*bits.shape[:-1], -1, _GROUP_SIZE)
    exponent = (grouped >> 23) & 0xFF
    shared_exponent = exponent.amax(dim=-1, keepdim=True)
    # +-0 and denormals pack as +0: their mantissa is zeroed (times 0/1, cheaper than a masked fill).
    normal = exponent.clamp(max=1)
    mantissa = (((grouped & 0x7FFFFF) | (1 << 23)) * normal) >> (shared_exponent - exponent).clamp_(max=31)
    drop_bits = 24 - mantissa_bits
    # Round to nearest even by carry: adding half a step less one, plus the kept lsb, carries into
    # the kept bits exactly when the reference's remainder > tie, or == tie with an odd lsb.
    lsb = (mantissa >> drop_bits) & 1
    magnitude = ((mantissa + ((1 << (drop_bits - 1)) - 1)).add_(lsb) >> drop_bits).clamp_(
        max=(1 << mantissa_bits) - 1
    )
    decoded = magnitude.to(torch.float32).view(torch.int32) + (
        (shared_exponent - (126 + mantissa_bits)) << 23
    )
    # The sign bit, then zero magnitudes to +0 (times 0/1 again).
    decoded = (decoded | (grouped & (-(2**31)))) * magnitude.clamp(max=1)
    out = decoded.reshape(bits.shape)[..., :width]
    return out.view(torch.float32).reshape(x.shape)


def _round_to_block_float_small(x: torch.Tensor, mantissa_bits: int, pad_value: float) -> torch.Tensor:
    """The int32 rounding on numpy (``_block_float_numpy``): the same bits, less dispatch per pass."""
    return _block_float_numpy.round_to_block_float(
        x.reshape(1) if x.dim() == 0 else x, mantissa_bits, _pad_bits(pad_value)
    ).reshape(x.shape)


def _fast_block_float_is_exact(fast_rounding=None) -> bool:
    """Check a fast rounding (default: the int32 one) against the int64 reference once: ties,
    saturation, denormals, tiny and huge groups (exponent wrap), inf and NaN, both formats, with and
    without a pad value."""
    fast_rounding = fast_rounding or _round_to_block_float_int32
    special = torch.tensor(
        [0x3F808000, 0x3F818000, 0x3FFFFFFF, 0x00000001, 0x80400000, 0x007FFFFF, 0x7F7FFFFF, 0xFF7F8000,
         0x7F800000, 0xFF800000, 0x7FC00001, 0xFFFFFFFF, 0x00800000, 0x80800000, 0x01000000, 0x03800000,
         0x80000000, 0x00000000, 0x7F000000, 0x3F800000],
        dtype=torch.int64,
    )  # fmt: skip
    values = torch.where(special >= 2**31, special - 2**32, special).to(torch.int32).view(torch.float32)
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([1e-38, 1e-36, 1e-30, 1e-3, 1.0, 1e3, 1e30, 3e38]).repeat_interleave(256)
    data = torch.cat([values.repeat(8), torch.randn(scales.numel(), generator=generator) * scales])
    mixed = data[torch.randperm(data.numel(), generator=generator)]
    for x in (
        data.reshape(-1, 16),
        mixed.reshape(-1, 16),
        mixed[: 37 * (mixed.numel() // 37)].reshape(-1, 37),
    ):
        for mantissa_bits in _SUPPORTED_MANTISSA_BITS:
            for pad_value in (0.0, 1e30):
                fast = fast_rounding(x, mantissa_bits, pad_value).view(torch.int32)
                if not torch.equal(
                    fast, _round_to_block_float_int64(x, mantissa_bits, pad_value).view(torch.int32)
                ):
                    return False
    return True


_ROUND_TO_BLOCK_FLOAT = (
    _round_to_block_float_int32 if _fast_block_float_is_exact() else _round_to_block_float_int64
)
# Tensors up to this many values round on numpy (one decode row of activations or KV heads), when
# numpy is installed and its rounding passes the same check; larger ones stay on torch.
SMALL_BLOCK_FLOAT_VALUES = 8192  # numpy is faster up to ~16k values (4096: 41 vs 70 us, 16384: even)
_ROUND_SMALL_BLOCK_FLOAT = (
    _round_to_block_float_small
    if _block_float_numpy.np is not None and _fast_block_float_is_exact(_round_to_block_float_small)
    else None
)


def round_to_bfloat8_b(x: torch.Tensor) -> torch.Tensor:
    """:func:`round_to_block_float` with 7 mantissa bits (bfloat8_b)."""
    return round_to_block_float(x, mantissa_bits=7)


def round_to_bfloat4_b(x: torch.Tensor) -> torch.Tensor:
    """:func:`round_to_block_float` with 3 mantissa bits (bfloat4_b)."""
    return round_to_block_float(x, mantissa_bits=3)


DTYPE_ROUNDERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "float32": round_to_float32,
    "bfloat16": round_to_bfloat16,
    "bfloat8_b": round_to_bfloat8_b,
    "bfloat4_b": round_to_bfloat4_b,
}
"""Float dtype name (``ttnn.DataType`` name in lower case) -> rounding function."""
