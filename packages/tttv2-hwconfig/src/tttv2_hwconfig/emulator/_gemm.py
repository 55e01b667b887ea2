"""Which host GEMM the emulated matrix engine runs on: float32, or bfloat16 where that is the same math.

The emulated matmul is "products of the operands' (truncated) values, exact, summed in float32,
rounded once" (``_ops_matmul``). When both operands hold bfloat16 values (at most 7 fraction bits
after the fidelity truncation) and the result is rounded to bfloat16 before anything reads it,
torch's bfloat16 GEMM computes that same thing - exact bfloat16 x bfloat16 products, float32
accumulation, one round-to-nearest-even - reading half the bytes, on the CPU's bfloat16 dot-product
instructions (x86 AVX512-BF16 / AMX, Arm BF16). Only the order of the float32 additions differs,
which the device's differs from both (the fidelity contract: accumulation order unspecified).

It is used only where the CPU has those instructions (elsewhere torch emulates bfloat16 and is
slower than float32) and after an import-time check against float64 arithmetic;
``TTTV2_EMULATOR_BF16_GEMM=0`` / ``=1`` turns it off / on regardless of the CPU.

A weight (a cached bfloat16 operand) is reordered once into oneDNN's blocked layout
(:func:`pack_weight`, the packing torch's own CPU compiler uses for frozen linears) and multiplied
with :func:`packed_linear`: ``torch.matmul`` reorders it again at every call, which cost about half
of each decode matmul. The packed GEMM passes the same import-time check; where the op is missing
or fails it, the plain bfloat16 GEMM runs.
"""

from __future__ import annotations

import os
import platform

import torch

ENV_VAR = "TTTV2_EMULATOR_BF16_GEMM"
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # /proc/cpuinfo: x86 "flags", Arm "Features"


def _cpu_has_bfloat16_dot() -> bool:
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return bool(_BF16_CPU_FLAGS.intersection(value.split()))
    except OSError:
        return False
    return False


def _gemm_is_float32_accumulation(gemm=torch.matmul) -> bool:
    """bfloat16 GEMM vs the exact products summed in float64 then rounded to bfloat16: every element
    within one bfloat16 step of it, and nearly all equal (only the accumulation order may differ)."""
    generator = torch.Generator().manual_seed(20261204)
    for m, k, n in ((1, 576, 160), (32, 1536, 96), (7, 64, 45)):
        a = torch.randn(m, k, generator=generator).to(torch.bfloat16)
        b = torch.randn(k, n, generator=generator).to(torch.bfloat16)
        exact = (a.double() @ b.double()).float().to(torch.bfloat16).float()
        got = gemm(a, b).float()
        step = exact.abs().clamp_min(1e-30) * 2.0**-7
        if not bool(((got - exact).abs() <= step).all()) or float((got == exact).float().mean()) < 0.99:
            return False
    return True


def _enabled() -> bool:
    choice = os.environ.get(ENV_VAR, "").strip()
    if choice in ("0", "1"):
        return choice == "1"
    if choice:
        raise ValueError(f"{ENV_VAR}={choice!r}: expected 0 (float32 GEMM) or 1 (bfloat16 GEMM)")
    return _cpu_has_bfloat16_dot() and _gemm_is_float32_accumulation()


BFLOAT16_GEMM = _enabled()


def pack_weight(weight_nk: torch.Tensor) -> torch.Tensor:
    """``weight_nk`` (out_features, in_features) bfloat16, in oneDNN's blocked layout (an opaque tensor)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight_nk.contiguous())


def packed_linear(a: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """``a`` (..., in_features) bfloat16 times a :func:`pack_weight` result: (..., out_features) bfloat16."""
    return torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")


def _packed_enabled() -> bool:
    if not BFLOAT16_GEMM or not torch.backends.mkldnn.is_available():
        return False
    try:
        return _gemm_is_float32_accumulation(lambda a, b: packed_linear(a, pack_weight(b.t())))
    except (AttributeError, RuntimeError, NotImplementedError):  # op missing from this torch build
        return False


PACKED_WEIGHTS = _packed_enabled()


# Multiply-adds per matrix below which torch's bfloat16 GEMM is slower than its float32 one (oneDNN's
# per-call cost): the flash-decode products (3 x 64 x 41, at 1 or 96 matrices) take 18 / 40 us in
# bfloat16 against 3.5 / 17 us in float32 on one core. Weights (cached, packed once) always qualify.
BFLOAT16_MIN_MACS = 1 << 20


def worth_bfloat16(macs_per_matrix: int) -> bool:
    """Whether an uncached product of this size runs faster on the bfloat16 GEMM."""
    return macs_per_matrix >= BFLOAT16_MIN_MACS
