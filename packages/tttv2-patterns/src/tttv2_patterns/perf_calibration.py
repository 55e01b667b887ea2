"""Calibration of the perf model's free constants against TTTv1's published decode speeds.

Inputs (the only figures fitted): tenstorrent/tt-metal ``models/tt_transformers/PERF.md``, table
"Performance" (TTTv1, performance mode, batch 1, prefill 128 tokens), decode tokens/s/user, in
``CALIBRATION_ROWS``. Nothing else is fitted; ``perf_heldout.py`` holds the held-out rows.

The predicted program is TTTv2's own op program (shapes-only run of the family's model) at TTTv1's
published precisions (``program="tttv1-precision"``: the blocks' performance defaults), replayed
from a trace as TTTv1's decode is. A traced step's PREDICTED time is::

    step_s = A + sum_bfp4_ops max(other_i, dram_i + bfp4_dram_i * bfp4_stream_slowdown)
             + (n_ops - n_matmul) * op_fixed_s + n_matmul * matmul_op_fixed_s
             + n_ccl * ccl_fixed_s + step_fixed_s

(``A``: every cited term of the ops without a bfloat4_b DRAM operand, collectives included; the
matmuls reading bfp4 weights keep their terms apart, ``other_i`` their compute / L1 time;
``n_ops``: ops of the step, ``n_matmul`` those on the matrix engine, ``n_ccl`` the collectives).
The fit picks ``op_fixed_s``, ``matmul_op_fixed_s``, ``step_fixed_s`` and ``bfp4_stream_slowdown``
minimising the largest relative residual in tokens/s/user (the target is a per-row bound), by a
deterministic grid search: the slowdown on a grid, the three fixed times (linear) on a grid
refined around their best point. ``ccl_fixed_s`` is not fitted: it is tt-metal issue #11398's
measured collective dispatch latency, and ``host_untraced_op_s`` / ``host_sampling_s_per_logit``
are not fitted (no untraced figure is published; the host time is measured); all three are kept
from ``perf_fit.json``.

    python -m tttv2_patterns.perf_calibration            # fit, print residuals
    python -m tttv2_patterns.perf_calibration --write    # also update tttv2_hwconfig/data/perf_fit.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tttv2_hwconfig.perf_model import FIT_FILE, PerfConstants

SOURCE = (
    "tenstorrent/tt-metal models/tt_transformers/PERF.md, Performance table (TTTv1, batch 1, prefill 128)"
)
# (model config name in the llama3 family, device, published decode tokens/s/user)
CALIBRATION_ROWS = (
    ("Llama-3.2-1B", "N150", 87.8),
    ("Llama-3.2-1B", "N300", 105.9),
    ("Llama-3.2-1B", "T3K", 119.8),
    ("Llama-3.1-8B", "N150", 28.3),
    ("Llama-3.1-8B", "N300", 44.2),
    ("Llama-3.1-8B", "T3K", 64.3),
)
# TTTv1's published speeds are averages over a generation: PERF.md "all the performance metrics below
# were taken for a maximum generation of 200 tokens, i.e., 200 decode iterations", and
# demo/simple_text_demo.py times iterations 1..199 (iteration 0 is the compile), iteration i decoding
# at position prefill_len + i. The mean step therefore attends prompt_len + 100 KV positions.
TTTV1_GENERATED_TOKENS = 200


def tttv1_decode_position(prompt_len: int) -> int:
    """KV position of TTTv1's mean timed decode step after a ``prompt_len``-token prefill."""
    return prompt_len + TTTV1_GENERATED_TOKENS // 2


# PERF.md's rows: a 128-token prefill, the decode step traced and at TTTv1's mean timed position.
PERF_MD_PROMPT_LEN = 128


def predict_perf_md_row(
    model: str, device: str, *, batch: int = 1, strategy: str = "performance", program: str = "tttv1-precision",
    constants: PerfConstants | None = None,
):  # fmt: skip
    """``predict_model`` of one PERF.md row: the llama3 family's shipped ``model`` config on ``device``
    as PERF.md measured it (calibration, held-out, TTFT and TTTv2-vs-TTTv1 tables all use this)."""
    from tttv2_patterns.model_families import family_for  # noqa: PLC0415
    from tttv2_patterns.predict import predict_model  # noqa: PLC0415

    config = family_for({"architectures": ["LlamaForCausalLM"]}).configs()[model]
    return predict_model(
        config, device, batch=batch, prompt_len=PERF_MD_PROMPT_LEN, strategy=strategy, program=program,
        traced=True, constants=constants, decode_position=tttv1_decode_position(PERF_MD_PROMPT_LEN),
    )  # fmt: skip


# Where TTTv2's predicted program differs from TTTv1's (PERF.md states TTTv1's settings).
PROGRAM_DIFFERENCES = (
    "MLP precision: TTTv1 bfp8 MLP in layer 32 of the 8B; TTTv2 tttv1-precision: bfp4 gate/up/down in every layer",
    "op program: TTTv2's own ops (counts in the table), not TTTv1's fused/prefetched decode",
)


@dataclass(frozen=True)
class CalibrationPoint:
    """One published row and the constant-free parts of its PREDICTED step time."""

    model: str
    device: str
    published_tokens_per_s: float
    base_s: float  # A: every cited term of the ops without a bfloat4_b DRAM operand
    ops: int
    collectives: int
    matmul_ops: int = 0  # of ``ops``, those on the matrix engine (perf_model.is_matrix_engine_op)
    # (compute-or-L1 s, other DRAM s, bfloat4_b DRAM s at slowdown 1, how many ops) of the ops reading
    # bfp4 from DRAM, equal ops counted once (every decoder layer repeats the same few)
    bfp4_ops: tuple[tuple[float, float, float, int], ...] = ()

    def bfp4_s(self, slowdown: float) -> float:
        """Roofline seconds of the ops that read bfloat4_b DRAM operands, at ``slowdown``."""
        return sum(count * max(other, dram + bfp4 * slowdown) for other, dram, bfp4, count in self.bfp4_ops)

    def predicted_s(self, constants: PerfConstants) -> float:
        matmul_fixed = constants.fixed_s("matmul")
        return (
            self.base_s
            + self.bfp4_s(constants.bfp4_stream_slowdown)
            + (self.ops - self.matmul_ops) * constants.op_fixed_s
            + self.matmul_ops * matmul_fixed
            + self.collectives * constants.ccl_fixed_s
            + constants.step_fixed_s
        )

    def residual(self, constants: PerfConstants) -> float:
        """(predicted - published) / published tokens/s/user."""
        return (1.0 / self.predicted_s(constants)) / self.published_tokens_per_s - 1.0


def measure_points(rows=CALIBRATION_ROWS) -> list[CalibrationPoint]:
    """Shapes-only runs of each row's model on its device, with the fitted constants set to zero."""
    from tttv2_hwconfig.perf_model import is_ccl_op, is_matrix_engine_op  # noqa: PLC0415

    zero = PerfConstants(op_fixed_s=0.0, ccl_fixed_s=0.0, host_untraced_op_s=0.0, step_fixed_s=0.0)
    points = []
    for model, device, published in rows:
        result = predict_perf_md_row(model, device, constants=zero)
        collectives = sum(1 for op in result.decode.ops if is_ccl_op(op.name))
        matmuls = sum(1 for op in result.decode.ops if is_matrix_engine_op(op.name))
        bfp4 = [op for op in result.decode.ops if op.bfp4_memory_s > 0]
        counts = Counter(
            (max(op.compute_s, op.l1_s), op.memory_s - op.bfp4_memory_s, op.bfp4_memory_s) for op in bfp4
        )
        terms = tuple((*term, count) for term, count in counts.items())
        base = result.decode_step_s - sum(op.latency_s for op in bfp4)
        points.append(
            CalibrationPoint(model, device, published, base, result.decode_ops, collectives, matmuls, terms)
        )
    return points


# Search box of the fit (seconds): per-op times up to 50 us, per-step time up to 20 ms. Every op costs
# at least the catalog's dispatch time ([ISSUE-12074]: ~4000 cycles per op under trace): left free,
# the fit prices element-wise ops at 0 and matmuls at 38 us, which no kernel does.
_RANGES = ((None, 50e-6), (None, 50e-6), (0.0, 20e-3))  # op_fixed, matmul_op_fixed, step_fixed
_GRID = 81
# bfp4_stream_slowdown: 1 (bfp4 weights stream at the DRAM-sharded rate) to 2.5, on a 0.1 grid, then
# refined on a 0.01 grid around the best.
_SLOWDOWNS = (1.0, 2.5, 16)
_SLOWDOWN_REFINE = 21


def fit(points: list[CalibrationPoint], keep: PerfConstants) -> PerfConstants:
    """(op_fixed_s, matmul_op_fixed_s, step_fixed_s, bfp4_stream_slowdown) minimising the largest
    |residual|.

    Both per-op constants are at least the catalog's ``dispatch_overhead_s`` of the rows' devices,
    the step time >= 0, the slowdown in [1, 2.5]; the other constants come from ``keep``.
    """
    import numpy as np  # noqa: PLC0415 - the "calibration" extra

    if not any(p.bfp4_ops for p in points):  # nothing reads bfp4: the slowdown changes no row
        return _fit_fixed_times(points, keep, 1.0)[1]

    def best(slowdowns) -> PerfConstants:  # the smallest error; on a tie, the smaller slowdown
        fits = [_fit_fixed_times(points, keep, float(s)) for s in slowdowns]
        return min(fits, key=lambda fitted: (fitted[0], fitted[1].bfp4_stream_slowdown))[1]

    low, high, count = _SLOWDOWNS
    coarse = best(np.linspace(low, high, count)).bfp4_stream_slowdown
    step = (high - low) / (count - 1)
    return best(np.linspace(max(low, coarse - step), min(high, coarse + step), _SLOWDOWN_REFINE))


def _fit_fixed_times(
    points: list[CalibrationPoint], keep: PerfConstants, slowdown: float
) -> tuple[float, PerfConstants]:
    """The largest |residual| and the best (op_fixed_s, matmul_op_fixed_s, step_fixed_s) at ``slowdown``."""
    import numpy as np  # noqa: PLC0415 - the "calibration" extra
    from tttv2_hwconfig import device_spec  # noqa: PLC0415

    published = np.array([p.published_tokens_per_s for p in points])
    base = np.array([p.base_s + p.bfp4_s(slowdown) + p.collectives * keep.ccl_fixed_s for p in points])
    matmuls = np.array([p.matmul_ops for p in points], dtype=float)
    others = np.array([p.ops for p in points], dtype=float) - matmuls

    floor = min(device_spec(p.device).dispatch_overhead_s for p in points)
    ranges = [(floor if lo is None else lo, hi) for lo, hi in _RANGES]
    lower = [lo for lo, _ in ranges]
    for _ in range(6):  # grid, then zoom in on the best cell
        op, mm, step = (np.linspace(lo, hi, _GRID) for lo, hi in ranges)
        pred = (
            base
            + op[:, None, None, None] * others
            + mm[None, :, None, None] * matmuls
            + step[None, None, :, None]
        )
        error = np.abs(1.0 / (pred * published) - 1.0).max(axis=-1)
        best = np.unravel_index(np.argmin(error), error.shape)
        grids = (op, mm, step)
        ranges = [
            (max(low, g[i] - 2 * (g[1] - g[0])), g[i] + 2 * (g[1] - g[0]))
            for g, i, low in zip(grids, best, lower)
        ]
    op_best, mm_best, step_best = (float(g[i]) for g, i in zip(grids, best))
    return float(error[best]), PerfConstants(
        op_best,
        keep.ccl_fixed_s,
        keep.host_untraced_op_s,
        step_best,
        matmul_op_fixed_s=mm_best,
        host_sampling_s_per_logit=keep.host_sampling_s_per_logit,
        bfp4_stream_slowdown=slowdown,
    )


def residual_table(points: list[CalibrationPoint], constants: PerfConstants) -> str:
    lines = [
        f"Calibration (PREDICTED vs published; {SOURCE})",
        f"{'model':<14} {'device':<6} {'published':>9} {'PREDICTED':>9} {'residual':>8} {'ops':>5} {'matmul':>6} "
        f"{'ccl':>4}",
    ]
    for p in points:
        lines.append(
            f"{p.model:<14} {p.device:<6} {p.published_tokens_per_s:>9.1f} {1 / p.predicted_s(constants):>9.1f} "
            f"{100 * p.residual(constants):>7.1f}% {p.ops:>5} {p.matmul_ops:>6} {p.collectives:>4}"
        )
    lines.append(
        f"fitted: op_fixed_s={constants.op_fixed_s * 1e6:.2f} us, "
        f"matmul_op_fixed_s={constants.fixed_s('matmul') * 1e6:.2f} us, "
        f"step_fixed_s={constants.step_fixed_s * 1e3:.3f} ms, "
        f"bfp4_stream_slowdown={constants.bfp4_stream_slowdown:.4f} "
        f"(ccl_fixed_s={constants.ccl_fixed_s * 1e6:.2f} us, cited, not fitted); "
        f"largest |residual| {100 * max(abs(p.residual(constants)) for p in points):.1f}%"
    )
    lines += [f"differs from TTTv1: {d}" for d in PROGRAM_DIFFERENCES]
    return "\n".join(lines)


def fit_file() -> Path:
    return Path(str(resources.files("tttv2_hwconfig").joinpath("data", FIT_FILE)))


def write_fit(points: list[CalibrationPoint], constants: PerfConstants, path: Path | None = None) -> None:
    path = path or fit_file()
    previous = json.loads(path.read_text()) if path.is_file() else {}
    data = {
        "op_fixed_s": constants.op_fixed_s,
        "matmul_op_fixed_s": constants.matmul_op_fixed_s,
        "ccl_fixed_s": constants.ccl_fixed_s,
        "host_untraced_op_s": constants.host_untraced_op_s,
        "ccl_fixed_s_source": previous.get("ccl_fixed_s_source", ""),
        "host_untraced_op_s_source": previous.get("host_untraced_op_s_source", ""),
        "step_fixed_s": constants.step_fixed_s,
        "host_sampling_s_per_logit": constants.host_sampling_s_per_logit,
        "host_sampling_s_per_logit_source": previous.get("host_sampling_s_per_logit_source", ""),
        "bfp4_stream_slowdown": constants.bfp4_stream_slowdown,
        "source": f"FITTED by tttv2_patterns.perf_calibration on {SOURCE}",
        "points": [p.__dict__ for p in points],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def stored_points(path: Path | None = None) -> list[CalibrationPoint]:
    """The calibration points recorded in ``perf_fit.json`` by the last ``--write``."""
    data = json.loads((path or fit_file()).read_text())
    return [
        CalibrationPoint(**{**point, "bfp4_ops": tuple(tuple(term) for term in point.get("bfp4_ops", ()))})
        for point in data.get("points", [])
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update tttv2_hwconfig/data/perf_fit.json")
    args = parser.parse_args(argv)
    points = measure_points()
    constants = fit(points, PerfConstants.fitted())
    print(residual_table(points, constants))
    if args.write:
        write_fit(points, constants)
        print(f"wrote {fit_file()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
