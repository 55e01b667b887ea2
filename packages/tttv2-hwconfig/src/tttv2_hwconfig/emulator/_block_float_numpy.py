"""The int32 block-float rounding of ``_numerics`` on numpy, for small tensors.

A bfloat8_b write of one decode row (a KV-cache row, a 1 x 1536 activation) is ~25 integer passes
over a few hundred values: torch spends ~2.5 us of dispatch on each, numpy well under 1 us. The
steps are ``_numerics._round_to_block_float_int32``'s, with the same int32 wrap-around; the import
check in ``_numerics`` compares this function with the int64 reference before it is used.
"""

from __future__ import annotations

try:
    import numpy as np
except ImportError:  # numpy is optional: the torch path runs alone without it
    np = None

import torch

GROUP_SIZE = 16


def round_to_block_float(x: torch.Tensor, mantissa_bits: int, pad_bits: int) -> torch.Tensor:
    """``x`` (float32, rank >= 1) rounded to a block float; ``pad_bits``: the tile padding's float32 bits."""
    bits = x.detach().contiguous().numpy().view(np.int32)
    width = bits.shape[-1]
    extra = (-width) % GROUP_SIZE
    if extra:
        pad = pad_bits - 2**32 if pad_bits >= 2**31 else pad_bits
        bits = np.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, extra)], constant_values=pad)
    grouped = bits.reshape(*bits.shape[:-1], -1, GROUP_SIZE)
    exponent = (grouped >> 23) & 0xFF
    shared_exponent = exponent.max(axis=-1, keepdims=True)
    normal = np.minimum(exponent, 1)  # +-0 and denormals pack as +0
    shift = np.minimum(shared_exponent - exponent, 31)
    mantissa = (((grouped & 0x7FFFFF) | (1 << 23)) * normal) >> shift
    drop_bits = 24 - mantissa_bits
    lsb = (mantissa >> drop_bits) & 1
    magnitude = np.minimum(
        (mantissa + ((1 << (drop_bits - 1)) - 1) + lsb) >> drop_bits, (1 << mantissa_bits) - 1
    )
    decoded = magnitude.astype(np.float32).view(np.int32) + ((shared_exponent - (126 + mantissa_bits)) << 23)
    decoded = (decoded | (grouped & np.int32(-(2**31)))) * np.minimum(magnitude, 1)
    out = np.ascontiguousarray(decoded.reshape(bits.shape)[..., :width])
    return torch.from_numpy(out.view(np.float32)).reshape(x.shape)
