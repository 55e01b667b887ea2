"""TTTv2's own decode program against TTTv1's: PREDICTED side by side, with the op kinds that differ.

Issue 17's third target: TTTv2's predicted Llama-3.1-8B decode on N150 and T3K at or above TTTv1's
measured 28.3 and 64.3 tokens/s/user (``perf_calibration.CALIBRATION_ROWS``), or a table of which ops
make the difference. Both programs are predicted at TTTv1's mean timed decode position.

    python -m tttv2_patterns.perf_vs_tttv1                      # Llama-3.1-8B on N150 and T3K
    python -m tttv2_patterns.perf_vs_tttv1 --model Llama-3.2-1B --device N300
"""

from __future__ import annotations

import argparse
import sys

from tttv2_patterns.perf_calibration import CALIBRATION_ROWS, predict_perf_md_row

PROGRAMS = ("tttv2", "tttv1-precision")


def compare(model: str, device: str, *, rows: int = 6, out=sys.stdout) -> dict[str, float]:
    """Print both programs' PREDICTED decode and the ``rows`` op kinds whose time differs most.

    Returns the PREDICTED tokens/s/user by program (and ``"published"`` where TTTv1 has a figure).
    """
    results = {program: predict_perf_md_row(model, device, program=program) for program in PROGRAMS}
    speeds = {program: result.tokens_per_s_per_user for program, result in results.items()}
    published = {(m, d): p for m, d, p in CALIBRATION_ROWS}.get((model, device))
    head = f"TTTv1 published {published:.1f}" if published is not None else "no TTTv1 figure published"
    print(
        f"{model} on {device}, batch 1, performance: {head}; PREDICTED tttv1-precision "
        f"{speeds['tttv1-precision']:.1f}, PREDICTED TTTv2 {speeds['tttv2']:.1f} tokens/s/user",
        file=out,
    )
    kinds = [{kind.name: kind for kind in results[program].decode_kinds} for program in PROGRAMS]
    names = sorted(
        set(kinds[0]) | set(kinds[1]),
        key=lambda name: -abs(_seconds(kinds[0], name) - _seconds(kinds[1], name)),
    )
    print(f"  {'op kind':<58} {'TTTv2 n':>7} {'ms':>8} {'TTTv1-prec n':>12} {'ms':>8}", file=out)
    for name in names[:rows]:
        print(
            f"  {name:<58} {_count(kinds[0], name):>7} {_seconds(kinds[0], name) * 1e3:>8.3f} "
            f"{_count(kinds[1], name):>12} {_seconds(kinds[1], name) * 1e3:>8.3f}",
            file=out,
        )
    if published is not None:
        speeds["published"] = published
    return speeds


def _seconds(kinds, name: str) -> float:
    return kinds[name].latency_s if name in kinds else 0.0


def _count(kinds, name: str) -> int:
    return kinds[name].count if name in kinds else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Llama-3.1-8B")
    parser.add_argument("--device", nargs="+", default=["N150", "T3K"])
    args = parser.parse_args(argv)
    for device in args.device:
        compare(args.model, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
