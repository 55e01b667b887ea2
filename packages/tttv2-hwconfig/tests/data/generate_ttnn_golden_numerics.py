"""Regenerate ``ttnn_0.81.1_golden_numerics.npz``: host conversions computed by the REAL ttnn wheel.

These golden vectors let ``tests/test_numerics.py`` check the emulator's rounding bit for bit on
any interpreter, without the real wheel (which needs python3.12). They come from an independent
implementation (tt-metal's C++ packer), never from the emulator.

Run in the conformance environment (python3.12, ``ttnn==0.81.1``, ``numpy<2``, torch)::

    TT_METAL_MOCK_CLUSTER_DESC_PATH=packages/tttv2-hwconfig/src/tttv2_hwconfig/data/mock_cluster_n150.yaml \\
        python packages/tttv2-hwconfig/tests/data/generate_ttnn_golden_numerics.py

Layout of the file: for each case ``NAME``, ``NAME/input`` holds the float32 input as int32 bit
patterns (original shape) and ``NAME/<dtype>`` the float32 result of
``ttnn.to_torch(ttnn.from_torch(x, dtype=<dtype>, layout=ttnn.TILE_LAYOUT))`` as int32 bits.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import numpy as np
import torch

OUTPUT = Path(__file__).with_name("ttnn_0.81.1_golden_numerics.npz")
DTYPES = ("bfloat16", "bfloat8_b", "bfloat4_b")


def _from_bits(bits: torch.Tensor) -> torch.Tensor:
    bits = torch.where(bits >= 2**31, bits - 2**32, bits)
    return bits.to(torch.int32).view(torch.float32)


def crafted_bits(rows: int, seed: int) -> torch.Tensor:
    """Groups of 16 around a random top exponent, mantissas often with few bits (rounding ties),
    zeros, -0, denormals, inf and NaN."""
    g = torch.Generator().manual_seed(seed)
    shape = (rows, 4, 16)
    top = torch.randint(1, 255, (rows, 4, 1), generator=g)
    below = torch.randint(0, 12, shape, generator=g) * (torch.rand(shape, generator=g) < 0.7)
    below = below + torch.randint(0, 30, shape, generator=g) * (torch.rand(shape, generator=g) < 0.1)
    exponent = (top - below).clamp(min=0)
    fraction = torch.randint(0, 1 << 23, shape, generator=g)
    kept_bits = torch.randint(0, 24, shape, generator=g)
    high_bits_only = fraction & (((1 << 23) - 1) ^ ((1 << (23 - kept_bits.clamp(max=23))) - 1))
    fraction = torch.where(torch.rand(shape, generator=g) < 0.5, high_bits_only, fraction)
    sign = torch.randint(0, 2, shape, generator=g)
    bits = (sign << 31) | (exponent << 23) | fraction
    pick = torch.rand(shape, generator=g)
    bits = torch.where(pick < 0.03, torch.zeros_like(bits), bits)
    bits = torch.where((pick >= 0.03) & (pick < 0.05), sign << 31, bits)
    bits = torch.where((pick >= 0.05) & (pick < 0.055), (sign << 31) | (0xFF << 23), bits)
    bits = torch.where(
        (pick >= 0.055) & (pick < 0.06), (sign << 31) | (0xFF << 23) | fraction.clamp(min=1), bits
    )
    return _from_bits(bits.reshape(rows, 64))


def block_float_ties(mantissa_bits: int, rows: int, seed: int) -> torch.Tensor:
    """Members exactly halfway between block-float steps (+-1 ulp) under a group max in [1, 2)."""
    g = torch.Generator().manual_seed(seed)
    step = 2.0 ** (1 - mantissa_bits)
    k = torch.randint(0, 2**mantissa_bits - 1, (rows, 64), generator=g).to(torch.float32)
    x = (k + 0.5) * step
    nudge = torch.randint(-1, 2, (rows, 64), generator=g).to(torch.int32)
    x = (x.view(torch.int32) + nudge).view(torch.float32)
    x[:, ::16] = 1.0 + torch.rand(rows, 4, generator=g) * (1 - step)
    return x * torch.where(torch.rand(rows, 64, generator=g) < 0.5, -1.0, 1.0)


def cases() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(81)
    row_scales = torch.logspace(-8, 8, 33).reshape(1, 1, 33, 1)
    huge_tiny = torch.randn(4, 48, generator=g) * 1e-30
    huge_tiny[:, 7::16] = 1e30
    denormal_mix = torch.randn(4, 40, generator=g)
    denormal_mix[:, 1::3] = torch.rand(4, 13, generator=g) * 1e-38
    return {
        "crafted_bits": crafted_bits(64, 1),
        "ties_bfloat8_b": block_float_ties(7, 16, 2),
        "ties_bfloat4_b": block_float_ties(3, 16, 3),
        "randn_row_scales_1e-8_to_1e8": torch.randn(1, 1, 33, 77, generator=g) * row_scales,
        "rank1_70": torch.randn(70, generator=g),
        "rank3_unaligned": torch.randn(2, 17, 40, generator=g),
        "all_negative": -torch.rand(3, 5, generator=g),
        "huge_and_tiny_in_one_group": huge_tiny,
        "denormals_among_normals": denormal_mix,
        "zeros_and_negative_zeros": torch.tensor([[0.0, -0.0] * 9]),
    }


def main() -> None:
    if "TT_METAL_MOCK_CLUSTER_DESC_PATH" not in os.environ:
        raise SystemExit("set TT_METAL_MOCK_CLUSTER_DESC_PATH to the shipped mock_cluster_n150.yaml first")
    import ttnn  # noqa: PLC0415

    arrays: dict[str, np.ndarray] = {"ttnn_version": np.array(importlib.metadata.version("ttnn"))}
    for name, x in cases().items():
        x = x.to(torch.float32).contiguous()
        arrays[f"{name}/input"] = x.view(torch.int32).numpy()
        for dtype in DTYPES:
            tensor = ttnn.from_torch(x, dtype=getattr(ttnn, dtype), layout=ttnn.TILE_LAYOUT)
            result = ttnn.to_torch(tensor).to(torch.float32).contiguous()
            arrays[f"{name}/{dtype}"] = result.view(torch.int32).numpy()
    np.savez_compressed(OUTPUT, **arrays)
    total = sum(a.size for key, a in arrays.items() if key.endswith("/input"))
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes, {total} input elements x {len(DTYPES)} dtypes)")


if __name__ == "__main__":
    main()
