"""Decode speed, TTTv2 on the emulator vs HF transformers on this CPU: ``python -m tttv2_patterns.family.benchmarks.decode [--model NAME]``.

Same checkpoint, same prompt, same process and thread count, at batch 1 and 32 (configurable):

- HF eager float32: one prefill of the prompt replicated per user, a warm-up step, then ``--steps``
  timed decode steps (median reported: the machine is shared and single steps can stall), one in
  each round of the TTTv2 modes' steps (``--hf-separately``: all before TTTv2 is built);
- TTTv2 (the family's ``ModelFactory``, ``--strategy``) on the emulated ``--device``: every user prefilled, a
  warm-up step, then ``--steps`` timed ``decode_forward`` steps (wall clock of the emulator), plus
  the PREDICTED device time of one decode step from its op trace (roofline model, not measured).
  ``--modes``: ``traced`` (the default decode: a captured trace, replayed as its torch program),
  ``replay-ops`` (the same trace, each op function re-run at replay: the reference path) and
  ``untraced`` (every op dispatched each step); their timed steps are interleaved, one of each in turn.

The last line is the target ratio: emulated decode tokens/s at batch 1 over HF's.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tttv2_patterns.family.model_choice import add_model_arguments, resolve_model
from tttv2_patterns.family.prompts import EVERYDAY_PROMPTS


@dataclass(frozen=True)
class DecodeMeasurement:
    """Measured decode speed of one batch size (wall clock, this CPU)."""

    batch: int
    steps: int
    step_seconds: tuple[float, ...]

    @property
    def median_step_s(self) -> float:
        return statistics.median(self.step_seconds)

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / self.median_step_s

    @property
    def tokens_per_s(self) -> float:
        return self.batch / self.median_step_s


class HFDecodeSteps:
    """Greedy decode of HF ``model`` for ``batch`` copies of one prompt, one timed step at a time.

    The prompt is prefilled and one warm-up step run at construction; each :meth:`step` feeds the
    previous argmax token, like generation, and returns its wall-clock seconds.
    """

    @torch.inference_mode()
    def __init__(self, model, prompt_ids: Sequence[int], batch: int):
        self.model = model
        ids = torch.tensor([list(prompt_ids)] * batch, dtype=torch.long)
        output = model(input_ids=ids, use_cache=True)
        self.cache, self.token = output.past_key_values, output.logits[:, -1].argmax(-1, keepdim=True)
        self.step()  # warm-up step, not timed by callers

    @torch.inference_mode()
    def step(self) -> float:
        start = time.perf_counter()
        output = self.model(input_ids=self.token, past_key_values=self.cache, use_cache=True)
        self.cache, self.token = output.past_key_values, output.logits[:, -1].argmax(-1, keepdim=True)
        return time.perf_counter() - start


def measure_hf_decode(model, prompt_ids: Sequence[int], batch: int, steps: int) -> DecodeMeasurement:
    """Time ``steps`` greedy decode steps of HF ``model`` for ``batch`` copies of one prompt.

    Each step feeds the previous argmax token, like generation; the median step time is reported
    because the machine is shared and single steps can stall.
    """
    decoder = HFDecodeSteps(model, prompt_ids, batch)
    times = [decoder.step() for _ in range(steps)]
    return DecodeMeasurement(batch=batch, steps=steps, step_seconds=tuple(times))


def measure_tttv2_decode(model, prompt_ids: Sequence[int], batch: int, steps: int, device_name: str):
    """Time ``steps`` TTTv2 decode steps for ``batch`` users of one prompt; also PREDICT one step's device time.

    Returns:
        ``(DecodeMeasurement, predicted_step_s)``; ``predicted_step_s`` is None on real hardware (no op trace).
    """
    from tttv2_hwconfig import predict_trace  # noqa: PLC0415

    out = model.prefill_forward([list(prompt_ids)] * batch)
    out = model.decode_forward(out)  # warm-up step, not timed
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        out = model.decode_forward(out)
        times.append(time.perf_counter() - start)
    trace = getattr(model.device, "trace", None)
    predicted = None
    if trace is not None:
        trace.clear()
        model.decode_forward(out)
        predicted = predict_trace(list(trace.records), device_name).total_latency_s
        trace.clear()
    return DecodeMeasurement(batch=batch, steps=steps, step_seconds=tuple(times)), predicted


MODES = ("traced", "replay-ops", "untraced")


@contextlib.contextmanager
def _decode_mode(model, mode: str):
    """Decode ``model`` traced (compiled replay), traced with op-by-op replay, or untraced."""
    from tttv2_hwconfig.emulator import _ops_trace  # noqa: PLC0415 - emulator internals, benchmark only

    previous = model.enable_trace, _ops_trace.compiled_replay
    model.enable_trace = mode != "untraced"
    _ops_trace.compiled_replay = mode == "traced"
    try:
        yield
    finally:
        model.enable_trace, _ops_trace.compiled_replay = previous


HF_MODE = "hf"  # the key of the HF reference's steps when they are interleaved with the modes


def measure_tttv2_modes(
    model, prompt_ids, batch: int, steps: int, device_name: str, modes: Sequence[str], hf_model=None
) -> dict:
    """:func:`measure_tttv2_decode` for several ``modes`` with their steps interleaved (one step of each
    in turn), so load from other processes on a shared machine hits every mode alike; with
    ``hf_model`` an HF decode step of the same batch joins each round (key ``HF_MODE``).

    Returns:
        mode -> ``(DecodeMeasurement, predicted_step_s)`` (the prediction is the same for every mode;
        None for ``HF_MODE``).
    """
    out = model.prefill_forward([list(prompt_ids)] * batch)
    for mode in modes:  # warm-up step of each mode (the traced ones capture here), not timed
        with _decode_mode(model, mode):
            out = model.decode_forward(out)
    hf = HFDecodeSteps(hf_model, prompt_ids, batch) if hf_model is not None else None
    times = {mode: [] for mode in modes}
    if hf is not None:
        times[HF_MODE] = []
    for _ in range(steps):
        for mode in modes:
            with _decode_mode(model, mode):
                start = time.perf_counter()
                out = model.decode_forward(out)
                times[mode].append(time.perf_counter() - start)
        if hf is not None:
            times[HF_MODE].append(hf.step())
    predicted = None
    trace = getattr(model.device, "trace", None)
    if trace is not None:
        from tttv2_hwconfig import predict_trace  # noqa: PLC0415

        trace.clear()
        model.decode_forward(out)
        predicted = predict_trace(list(trace.records), device_name).total_latency_s
        trace.clear()
    return {
        mode: (
            DecodeMeasurement(batch=batch, steps=steps, step_seconds=tuple(t)),
            None if mode == HF_MODE else predicted,
        )
        for mode, t in times.items()
    }


def _row(side: str, batch: int, step_s: float) -> str:
    return f"{side:<34} {batch:>5} {step_s * 1e3:>15.1f} {1.0 / step_s:>14.1f} {batch / step_s:>10.1f}"


def _gemm_in_use() -> str:
    """Which host GEMM the emulator's matmuls run on: the speed ratios depend on it."""
    from tttv2_hwconfig.emulator import _gemm  # noqa: PLC0415 - emulator internals, benchmark only

    if _gemm.BFLOAT16_GEMM:
        return "bfloat16 (the CPU's bfloat16 dot-product instructions)"
    return f"float32 (no bfloat16 dot-product instructions here, or {_gemm.ENV_VAR}=0)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tttv2_patterns.family.benchmarks.decode",
        description="Decode tokens/s: TTTv2 on the emulated device vs HF transformers on this CPU.",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="batch sizes (default: 1 32)")
    parser.add_argument("--steps", type=int, default=16, help="timed decode steps per batch size")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads; 0 = torch's default (default: 1)"
    )
    add_model_arguments(parser)
    parser.add_argument("--device", default="N150", help="device catalog name for TTTv2 (default: N150)")
    parser.add_argument(
        "--strategy", default="default", help="TTTv2 ImplConfig strategy (default: default = performance)"
    )
    parser.add_argument("--skip-tttv2", action="store_true", help="measure HF only")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=["traced", "untraced"],
        help="TTTv2 decode modes measured (default: traced untraced)",
    )
    parser.add_argument(
        "--hf-separately",
        action="store_true",
        help="time HF's steps before building TTTv2 (default: one HF step in each round of the TTTv2 "
        "modes' steps, so the ratios see the same machine load)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    family, checkpoint_dir = resolve_model(args.model, args.checkpoint)
    reference = family.hf_reference(checkpoint_dir)
    prompt_ids = reference.encode(EVERYDAY_PROMPTS[0])
    print(
        f"checkpoint {checkpoint_dir}; prompt of {len(prompt_ids)} tokens; torch threads {torch.get_num_threads()}"
    )
    print(f"emulated matrix engine GEMM: {_gemm_in_use()}")
    interleave_hf = not (args.skip_tttv2 or args.hf_separately)
    if not interleave_hf:
        hf_results = {
            batch: measure_hf_decode(reference.model, prompt_ids, batch, args.steps) for batch in args.batch
        }
        del reference  # free the HF model before building the TTTv2 one
    else:
        hf_results = {}  # measured below, one HF step in each round of the TTTv2 modes' steps

    tttv2_results = {}
    if not args.skip_tttv2:
        positions = len(prompt_ids) + (args.steps + 1) * len(args.modes) + 2
        with family.from_huggingface(
            checkpoint_dir,
            args.device,
            strategy=args.strategy,
            max_batch_size=max(args.batch),
            max_seq_len=-(-positions // 32) * 32,
            progress=False,
        ) as model:
            for batch in args.batch:
                hf_model = reference.model if interleave_hf else None
                for mode, result in measure_tttv2_modes(
                    model, prompt_ids, batch, args.steps, args.device, args.modes, hf_model=hf_model
                ).items():
                    if mode == HF_MODE:
                        hf_results[batch] = result[0]
                    else:
                        tttv2_results[batch, mode] = result

    print(f"\n{'side':<34} {'batch':>5} {'median step ms':>15} {'tokens/s/user':>14} {'tokens/s':>10}")
    for batch in args.batch:
        print(_row("HF eager fp32 CPU", batch, hf_results[batch].median_step_s))
        predicted = None
        for mode in args.modes:
            if (batch, mode) in tttv2_results:
                measured, predicted = tttv2_results[batch, mode]
                print(_row(f"TTTv2 {args.device} emulator {mode}", batch, measured.median_step_s))
        if predicted is not None:
            print(_row(f"TTTv2 {args.device} PREDICTED device", batch, predicted))
    print()
    for batch in args.batch:
        for mode in args.modes:
            if (batch, mode) in tttv2_results:
                ratio = hf_results[batch].median_step_s / tttv2_results[batch, mode][0].median_step_s
                verdict = ("met" if ratio >= 1 else "MISSED") if mode == "traced" else "reported"
                print(
                    f"emulated {mode} / HF decode tokens/s at batch {batch}: {ratio:.2f} (target >= 1.0: {verdict})"
                )
    print("PREDICTED rows: tttv2_hwconfig roofline model over the op trace, not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
