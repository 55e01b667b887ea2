"""Accuracy targets of the TTTv2 model against HF transformers on the same weights (float32, eager, CPU).

    python -m tttv2_patterns.family.benchmarks.accuracy [--model NAME] [--device N150] [--checkpoint DIR] [--check]

Two measures, on the 8 everyday prompts (chat template applied), all users in one batch:

- **greedy** (accuracy strategy): each prompt's greedy continuation of ``--greedy-tokens`` (16) tokens
  must equal HF's; compared up to and including HF's first EOS (what a user would read). Target:
  at least 6 of 8 prompts.
- **teacher-forced top-1** (performance strategy): HF's greedy continuation of ``--positions`` (32)
  tokens is fed to both models; at every position the TTTv2 argmax must equal HF's. Target: >= 90 %
  of all positions.

For every miss the HF top-2 logit gap at that position is reported: a gap of a few hundredths is a
near-tie that any change of arithmetic (even HF itself in bfloat16) can flip.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tttv2_patterns.family.model_choice import add_model_arguments, resolve_model
from tttv2_patterns.family.prompts import EVERYDAY_PROMPTS

GREEDY_TOKENS = 16
GREEDY_TARGET_PROMPTS = 6
TEACHER_FORCED_POSITIONS = 32
TEACHER_FORCED_TARGET = 0.90
KV_BLOCK = 32


@dataclass(frozen=True)
class GreedyResult:
    """One prompt's greedy continuation against HF's.

    Attributes:
        prompt: the text.
        compared: tokens compared (``GREEDY_TOKENS``, or fewer when HF emits EOS earlier).
        first_divergence: index of the first differing token, or None if equal.
        hf_gap: HF's top-2 logit gap at the first divergence (None if equal).
    """

    prompt: str
    compared: int
    first_divergence: int | None
    hf_gap: float | None

    @property
    def equal(self) -> bool:
        return self.first_divergence is None


@dataclass(frozen=True)
class TeacherForcedResult:
    """One prompt's teacher-forced top-1 agreement: ``matched`` of ``compared`` positions.

    Attributes:
        misses: ``(position, HF top-2 logit gap)`` of every position where the argmax differs.
    """

    prompt: str
    matched: int
    compared: int
    misses: tuple[tuple[int, float], ...]


def _top2_gap(logits: torch.Tensor) -> float:
    top = logits.topk(2).values
    return float(top[0] - top[1])


def greedy_agreement(
    model, reference, prompts: Sequence[str], tokens: int = GREEDY_TOKENS
) -> list[GreedyResult]:
    """Greedy continuations of every prompt (one TTTv2 batch) against HF's, up to HF's first EOS."""
    from tttv2_testing.hf import truncate_at_eos  # noqa: PLC0415

    prompt_ids = [reference.encode(p) for p in prompts]
    ours = model.generate(prompt_ids, max_new_tokens=tokens, stop_token_ids=()).token_ids
    results = []
    for prompt, ids, candidate in zip(prompts, prompt_ids, ours):
        expected = reference.greedy_generate([ids], tokens, stop_at_eos=False)[0].tolist()
        expected = truncate_at_eos(expected, reference.eos_token_ids, keep_eos=True)
        first = next((i for i, (a, b) in enumerate(zip(candidate, expected)) if a != b), None)
        gap = None
        if first is not None:
            logits = reference.logits([ids + expected[:first]])[0, -1]
            gap = _top2_gap(logits)
        results.append(GreedyResult(prompt, len(expected), first, gap))
    return results


def teacher_forced_agreement(
    model, reference, prompts: Sequence[str], positions: int = TEACHER_FORCED_POSITIONS
) -> list[TeacherForcedResult]:
    """Feed HF's greedy continuation to both models; compare the top-1 prediction at every position.

    Position 0 is the prediction after the prompt (the prefill); positions 1.. are decode steps
    fed HF's previous token.
    """
    prompt_ids = [reference.encode(p) for p in prompts]
    continuations, hf_top1, hf_logits = [], [], []
    for ids in prompt_ids:
        continuation = reference.greedy_generate([ids], positions, stop_at_eos=False)[0].tolist()
        logits = reference.logits([ids + continuation])[0, len(ids) - 1 : len(ids) - 1 + positions]
        continuations.append(continuation)
        hf_logits.append(logits)
        hf_top1.append(logits.argmax(-1).tolist())

    users = list(range(len(prompts)))
    out = model.prefill_forward(prompt_ids, user_ids=users)
    predictions = [[int(t)] for t in out.next_tokens]
    for step in range(1, positions):
        out = model.decode_forward(
            token_ids=[continuation[step - 1] for continuation in continuations],
            cache_position=[len(ids) + step - 1 for ids in prompt_ids],
            user_ids=users,
        )
        for user, token in enumerate(out.next_tokens.tolist()):
            predictions[user].append(int(token))

    results = []
    for prompt, ours, theirs, logits in zip(prompts, predictions, hf_top1, hf_logits):
        misses = tuple((i, _top2_gap(logits[i])) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        results.append(TeacherForcedResult(prompt, positions - len(misses), positions, misses))
    return results


def build_model(
    family,
    checkpoint_dir: Path,
    device_name: str,
    strategy: str,
    prompts_ids: Sequence[Sequence[int]],
    new: int,
):
    """The TTTv2 model for one strategy, sized for these prompts (all in one decode batch)."""
    longest = max(len(ids) for ids in prompts_ids) + new
    return family.from_huggingface(
        checkpoint_dir,
        device_name,
        strategy=strategy,
        max_batch_size=len(prompts_ids),
        max_seq_len=-(-longest // KV_BLOCK) * KV_BLOCK,
        progress=False,
    )


def greedy_summary(results: Sequence[GreedyResult]) -> str:
    equal = sum(r.equal for r in results)
    verdict = "met" if equal >= GREEDY_TARGET_PROMPTS else "MISSED"
    return f"greedy (accuracy strategy): {equal}/{len(results)} prompts equal to HF (target >= {GREEDY_TARGET_PROMPTS}: {verdict})"


def teacher_forced_summary(results: Sequence[TeacherForcedResult]) -> str:
    matched, compared = sum(r.matched for r in results), sum(r.compared for r in results)
    rate = matched / compared
    verdict = "met" if rate >= TEACHER_FORCED_TARGET else "MISSED"
    return (
        f"teacher-forced top-1 (performance strategy): {matched}/{compared} = {rate:.1%} "
        f"(target >= {TEACHER_FORCED_TARGET:.0%}: {verdict})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tttv2_patterns.family.benchmarks.accuracy", description=__doc__.splitlines()[0]
    )
    add_model_arguments(parser)
    parser.add_argument("--device", default="N150", help="device catalog name (default: N150)")
    parser.add_argument("--greedy-tokens", type=int, default=GREEDY_TOKENS)
    parser.add_argument(
        "--positions", type=int, default=TEACHER_FORCED_POSITIONS, help="teacher-forced positions"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads; 0 = torch's default (default: 1)"
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tttv2_hwconfig import device_spec  # noqa: PLC0415

    device_name = device_spec(args.device).name
    family, checkpoint_dir = resolve_model(args.model, args.checkpoint)
    reference = family.hf_reference(checkpoint_dir)
    prompts = list(EVERYDAY_PROMPTS)
    prompt_ids = [reference.encode(p) for p in prompts]
    start = time.perf_counter()

    with build_model(
        family, checkpoint_dir, device_name, "accuracy", prompt_ids, args.greedy_tokens
    ) as model:
        greedy = greedy_agreement(model, reference, prompts, args.greedy_tokens)
    print(f"\n{'prompt':<46} {'greedy: equal / first divergence (HF top-2 gap there)'}")
    for r in greedy:
        where = "equal" if r.equal else f"token {r.first_divergence} of {r.compared} (gap {r.hf_gap:.3f})"
        print(f"{r.prompt:<46} {where}")

    with build_model(family, checkpoint_dir, device_name, "performance", prompt_ids, args.positions) as model:
        forced = teacher_forced_agreement(model, reference, prompts, args.positions)
    print(f"\n{'prompt':<46} teacher-forced top-1 (misses: position/HF top-2 gap)")
    for r in forced:
        misses = ", ".join(f"{p}/{g:.3f}" for p, g in r.misses) or "-"
        print(f"{r.prompt:<46} {r.matched}/{r.compared}  {misses}")

    print(f"\n{args.device}, {checkpoint_dir.name}, {time.perf_counter() - start:.0f} s")
    print(greedy_summary(greedy))
    print(teacher_forced_summary(forced))
    met = sum(r.equal for r in greedy) >= GREEDY_TARGET_PROMPTS and (
        sum(r.matched for r in forced) / sum(r.compared for r in forced) >= TEACHER_FORCED_TARGET
    )
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
