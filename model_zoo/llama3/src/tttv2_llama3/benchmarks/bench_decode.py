"""Decode speed of the HF reference on this CPU: ``python -m tttv2_llama3.benchmarks.bench_decode``.

Measures HF eager float32 decode tokens/s at batch 1 and 32 (configurable) on the same checkpoint the
TTTv2 model uses: one prefill of the prompt replicated per user, a warm-up step, then ``--steps``
timed decode steps. The TTTv2 side (emulator wall time and PREDICTED device time) is added here once
the model is wired (see ``tttv2_llama3.demo.build_tttv2_model``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tttv2_llama3.prompts import EVERYDAY_PROMPTS


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


@torch.inference_mode()
def measure_hf_decode(model, prompt_ids: Sequence[int], batch: int, steps: int) -> DecodeMeasurement:
    """Time ``steps`` greedy decode steps of HF ``model`` for ``batch`` copies of one prompt.

    Each step feeds the previous argmax token, like generation; the median step time is reported
    because the machine is shared and single steps can stall.
    """
    ids = torch.tensor([list(prompt_ids)] * batch, dtype=torch.long)
    output = model(input_ids=ids, use_cache=True)
    cache, token = output.past_key_values, output.logits[:, -1].argmax(-1, keepdim=True)
    output = model(input_ids=token, past_key_values=cache, use_cache=True)  # warm-up step, not timed
    cache, token = output.past_key_values, output.logits[:, -1].argmax(-1, keepdim=True)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        output = model(input_ids=token, past_key_values=cache, use_cache=True)
        cache, token = output.past_key_values, output.logits[:, -1].argmax(-1, keepdim=True)
        times.append(time.perf_counter() - start)
    return DecodeMeasurement(batch=batch, steps=steps, step_seconds=tuple(times))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tttv2_llama3.benchmarks.bench_decode",
        description="Decode tokens/s of the HF reference on this CPU.",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="batch sizes (default: 1 32)")
    parser.add_argument("--steps", type=int, default=16, help="timed decode steps per batch size")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads; 0 = torch's default (default: 1)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="HF checkpoint folder (default: SmolLM2-135M)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tttv2_llama3.hf_reference import HFReference  # noqa: PLC0415
    from tttv2_llama3.smollm2 import ensure_smollm2_checkpoint  # noqa: PLC0415

    checkpoint_dir = args.checkpoint or ensure_smollm2_checkpoint()
    reference = HFReference(checkpoint_dir)
    prompt_ids = reference.encode(EVERYDAY_PROMPTS[0])
    print(
        f"checkpoint {checkpoint_dir}; prompt of {len(prompt_ids)} tokens; torch threads {torch.get_num_threads()}"
    )
    print(f"{'side':<24} {'batch':>5} {'median step ms':>15} {'tokens/s/user':>14} {'tokens/s':>10}")
    for batch in args.batch:
        result = measure_hf_decode(reference.model, prompt_ids, batch, args.steps)
        print(
            f"{'HF eager fp32 CPU':<24} {batch:>5} {result.median_step_s * 1e3:>15.1f} "
            f"{result.tokens_per_s_per_user:>14.1f} {result.tokens_per_s:>10.1f}"
        )
    # TTTv2 rows (emulator wall time, PREDICTED device time) are added once the model is wired.
    return 0


if __name__ == "__main__":
    sys.exit(main())
