"""Implementation-config building blocks shared by every block: strategies, precision, linear configs.

A block's ``XxxImplConfig`` is a dataclass with one field per TTNN sub-op. Linear sub-ops use
``LinearImplConfig``; program and memory configs left as ``None`` are derived at call time from the
actual shapes and the device grid (see ``tttv2_blocks.program_configs``), never from a per-model table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tttv2_hwconfig import ttnn

from tttv2_blocks.strict_fields import StrictFields

Strategy = Literal["default", "performance", "accuracy"]
Mode = Literal["prefill", "decode", "both"]
STRATEGIES: tuple[str, ...] = ("default", "performance", "accuracy")
MODES: tuple[str, ...] = ("prefill", "decode", "both")


def check_strategy_and_mode(strategy: str, mode: str, where: str) -> str:
    """Validate ``strategy``/``mode``; return the concrete strategy ("default" means "performance")."""
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if mode not in MODES:
        raise ValueError(f"{where}: unknown mode {mode!r}; expected one of {MODES}")
    return "performance" if strategy == "default" else strategy


def compute_kernel_config(
    math_fidelity, *, fp32_dest_acc_en: bool, packer_l1_acc: bool = True, math_approx_mode: bool = False
):
    return ttnn.WormholeComputeKernelConfig(
        math_fidelity=math_fidelity,
        math_approx_mode=math_approx_mode,
        fp32_dest_acc_en=fp32_dest_acc_en,
        packer_l1_acc=packer_l1_acc,
    )


@dataclass(frozen=True)
class Precision:
    """Weight dtype and math fidelity of one op group under one strategy."""

    weight_dtype: object
    math_fidelity: object
    fp32_dest_acc_en: bool


# TTTv1's published precision choices (models/tt_transformers/tt/model_config.py, ModelOptimizations):
# performance = bfloat4_b FF1/FF3 with LoFi, bfloat8_b elsewhere with HiFi2; accuracy = bfloat8_b FFN
# and LM head, bfloat16 attention weights and KV cache, HiFi4 with fp32 accumulation.
PRECISION: dict[str, dict[str, Precision]] = {
    "performance": {
        "ffn_gate_up": Precision(ttnn.bfloat4_b, ttnn.MathFidelity.LoFi, False),
        "ffn_down": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, False),
        # TTTv1 ModelOptimizations._default_settings: WQKV/WO/KV cache BFP8; LI_QKV, LI_O and SDPA_DECODE
        # "HIFI2" = compute_kernel_config_hifi2 (HiFi2, fp32_dest_acc_en=True); SDPA_PREFILL HIFI4.
        "attention_qkv": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, True),
        "attention_out": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, True),
        "attention_sdpa": Precision(
            ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, True
        ),  # decode; weight_dtype = KV cache dtype
        "attention_sdpa_prefill": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi4, True),
        "lm_head": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, False),
        # TTTv1 models/common/rmsnorm.py: every norm runs HiFi2 with fp32_dest_acc_en=True.
        "norm": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi2, True),
        "embedding": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi2, False),
    },
    "accuracy": {
        # TTTv1 ModelOptimizations.accuracy leaves the MLP at BFP8 weights with HIFI2_FP16. TTTv2's
        # accuracy strategy promises fp32 accumulation everywhere, so the MLP gets HiFi4 + fp32 acc
        # (bfloat8_b weights are exact from HiFi2 up; HiFi4 keeps 10 activation fraction bits, not 6).
        "ffn_gate_up": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi4, True),
        "ffn_down": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi4, True),
        "attention_qkv": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
        "attention_out": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
        # TTTv1 ModelOptimizations.accuracy (generic models): WQKV, WO and KV cache BF16, HIFI4 everywhere.
        "attention_sdpa": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
        "attention_sdpa_prefill": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
        # TTTv1 lm_head.py: HiFi2 without fp32 accumulation, bfloat8_b weights; the accuracy strategy
        # adds HiFi4 and fp32 accumulation (the logits decide the tokens).
        "lm_head": Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi4, True),
        "norm": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
        "embedding": Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True),
    },
}


@dataclass
class LinearImplConfig(StrictFields):
    """TTNN choices for one ``ttnn.linear`` sub-op (a weight matrix and its matmul).

    Attributes:
        dtype: weight dtype on device.
        compute_kernel_config: math fidelity and accumulation.
        activation_dtype: dtype of the op's output.
        prefill_program_config / decode_program_config: matmul program config; ``None`` derives one
            from the actual shapes and the device grid at call time.
        prefill_memory_config / decode_memory_config: output memory config; ``None`` derives one
            (DRAM interleaved for prefill, L1 width-sharded for decode).
    """

    dtype: object
    compute_kernel_config: object
    activation_dtype: object = field(default_factory=lambda: ttnn.bfloat16)
    prefill_program_config: object | None = None
    decode_program_config: object | None = None
    prefill_memory_config: object | None = None
    decode_memory_config: object | None = None

    @classmethod
    def from_precision(cls, precision: Precision) -> LinearImplConfig:
        return cls(
            dtype=precision.weight_dtype,
            compute_kernel_config=compute_kernel_config(
                precision.math_fidelity, fp32_dest_acc_en=precision.fp32_dest_acc_en
            ),
        )


WEIGHT_DTYPES = (ttnn.bfloat16, ttnn.bfloat8_b, ttnn.bfloat4_b, ttnn.float32)


def check_weight_dtype(path: str, dtype, allowed=WEIGHT_DTYPES) -> None:
    """Raise naming ``path`` when ``dtype`` is not one the op accepts for weights."""
    if dtype not in allowed:
        names = [getattr(d, "name", str(d)) for d in allowed]
        raise ValueError(
            f"{path}: dtype {getattr(dtype, 'name', dtype)} cannot be used here; the op accepts {names}"
        )
