"""Held-out published figures: never used by the calibration; the prediction benchmark reports their error.

Source: tenstorrent/tt-metal ``models/tt_transformers/PERF.md`` (TTTv1, prefill 128 tokens, decode
tokens/s/user), the rows of models this repository has a family config for, other than the six
calibration rows (``perf_calibration.CALIBRATION_ROWS``).

    python -m tttv2_patterns.perf_heldout        # PREDICTED vs published, mean absolute error
    python -m tttv2_patterns.perf_heldout --ttft # time to first token vs PERF.md's TTFT column

Time to first token is not calibrated (the prefill runs untraced, its host time per op is
``host_untraced_op_s``, assumed) and not a target; ``--ttft`` reports it beside PERF.md's.
"""

from __future__ import annotations

import sys

# (config name, device, batch, strategy, published tokens/s/user, PERF.md table)
HELD_OUT_ROWS = (
    ("Llama-3.2-1B", "TG", 1, "performance", 51.0, "Performance"),
    ("Llama-3.2-3B", "N150", 1, "performance", 54.0, "Performance"),
    ("Llama-3.2-3B", "N300", 1, "performance", 68.0, "Performance"),
    ("Llama-3.2-3B", "T3K", 1, "performance", 68.5, "Performance"),
    ("Llama-3.2-3B", "TG", 1, "performance", 33.5, "Performance"),
    ("Llama-3.1-8B", "P100", 1, "performance", 29.5, "Performance"),
    ("Llama-3.1-8B", "P150", 1, "performance", 33.6, "Performance"),
    ("Llama-3.1-8B", "TG", 1, "performance", 29.5, "Performance"),
    ("Llama-3.1-70B", "T3K", 1, "performance", 16.6, "Performance"),
    ("Llama-3.1-70B", "TG", 1, "performance", 12.7, "Performance"),
    ("Llama-3.2-1B", "N150", 1, "accuracy", 84.7, "Accuracy"),
    ("Llama-3.2-1B", "N300", 1, "accuracy", 102.8, "Accuracy"),
    ("Llama-3.2-1B", "T3K", 1, "accuracy", 120.5, "Accuracy"),
    ("Llama-3.2-3B", "N150", 1, "accuracy", 47.6, "Accuracy"),
    ("Llama-3.2-3B", "N300", 1, "accuracy", 63.5, "Accuracy"),
    ("Llama-3.2-3B", "T3K", 1, "accuracy", 67.9, "Accuracy"),
    ("Llama-3.1-8B", "N150", 1, "accuracy", 25.2, "Accuracy"),
    ("Llama-3.1-8B", "N300", 1, "accuracy", 38.8, "Accuracy"),
    ("Llama-3.1-8B", "T3K", 1, "accuracy", 60.8, "Accuracy"),
    ("Llama-3.1-70B", "T3K", 1, "accuracy", 16.5, "Accuracy"),
    ("Llama-3.2-1B", "N150", 32, "performance", 54.7, "Short-Context, Batch-32"),
    ("Llama-3.2-1B", "N300", 32, "performance", 64.2, "Short-Context, Batch-32"),
    ("Llama-3.2-1B", "T3K", 32, "performance", 69.9, "Short-Context, Batch-32"),
    ("Llama-3.2-3B", "N150", 32, "performance", 36.5, "Short-Context, Batch-32"),
    ("Llama-3.2-3B", "N300", 32, "performance", 45.8, "Short-Context, Batch-32"),
    ("Llama-3.2-3B", "T3K", 32, "performance", 47.8, "Short-Context, Batch-32"),
    ("Llama-3.1-8B", "N150", 32, "performance", 22.3, "Short-Context, Batch-32"),
    ("Llama-3.1-8B", "N300", 32, "performance", 33.5, "Short-Context, Batch-32"),
    ("Llama-3.1-8B", "T3K", 32, "performance", 45.6, "Short-Context, Batch-32"),
    ("Llama-3.1-70B", "T3K", 32, "performance", 14.8, "Short-Context, Batch-32"),
)

# (config name, device, published TTFT ms): PERF.md, Performance table, the rows with a TTFT figure.
TTFT_ROWS = (
    ("Llama-3.2-1B", "N150", 26.0),
    ("Llama-3.2-1B", "N300", 22.0),
    ("Llama-3.2-1B", "T3K", 32.0),
    ("Llama-3.2-3B", "N150", 55.0),
    ("Llama-3.2-3B", "N300", 39.0),
    ("Llama-3.2-3B", "T3K", 52.0),
    ("Llama-3.1-8B", "N150", 104.0),
    ("Llama-3.1-8B", "N300", 67.0),
    ("Llama-3.1-8B", "P100", 84.0),
    ("Llama-3.1-8B", "P150", 76.0),
    ("Llama-3.1-8B", "T3K", 53.0),
    ("Llama-3.1-70B", "T3K", 164.0),
)


def evaluate(rows=HELD_OUT_ROWS, out=sys.stdout) -> float:
    """PREDICT every row (TTTv1 precision, traced), print the table; returns the mean absolute error."""
    from tttv2_patterns.perf_calibration import predict_perf_md_row  # noqa: PLC0415

    print(
        f"{'model':<14} {'device':<6} {'batch':>5} {'strategy':<11} {'published':>9} {'PREDICTED':>9} {'error':>7}",
        file=out,
    )
    errors = []
    for model, device, batch, strategy, published, _table in rows:
        try:
            result = predict_perf_md_row(model, device, batch=batch, strategy=strategy)
        except (ValueError, RuntimeError) as error:  # a program that does not fit or validate is reported
            print(
                f"{model:<14} {device:<6} {batch:>5} {strategy:<11} {published:>9.1f} {'FAILS':>9}  {error}"[
                    :200
                ],
                file=out,
            )
            continue
        predicted = result.tokens_per_s_per_user
        errors.append(abs(predicted / published - 1.0))
        print(
            f"{model:<14} {device:<6} {batch:>5} {strategy:<11} {published:>9.1f} {predicted:>9.1f} "
            f"{100 * (predicted / published - 1):>6.1f}%",
            file=out,
            flush=True,
        )
    mae = sum(errors) / len(errors) if errors else float("nan")
    print(f"held-out mean absolute error: {100 * mae:.1f}% over {len(errors)} of {len(rows)} rows", file=out)
    return mae


def evaluate_ttft(rows=TTFT_ROWS, out=sys.stdout) -> float:
    """PREDICT every row's time to first token (prefill of 128 tokens, TTTv1 precision); returns the MAE."""
    from tttv2_patterns.perf_calibration import predict_perf_md_row  # noqa: PLC0415

    print(f"{'model':<14} {'device':<6} {'published TTFT ms':>17} {'PREDICTED':>9} {'error':>7}", file=out)
    errors = []
    for model, device, published in rows:
        result = predict_perf_md_row(model, device)
        predicted = result.ttft_s * 1e3
        errors.append(abs(predicted / published - 1.0))
        print(
            f"{model:<14} {device:<6} {published:>17.1f} {predicted:>9.1f} {100 * (predicted / published - 1):>6.1f}%",
            file=out,
            flush=True,
        )
    mae = sum(errors) / len(errors)
    print(f"time to first token, mean absolute error: {100 * mae:.1f}% over {len(errors)} rows", file=out)
    return mae


def main(argv=None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft", action="store_true", help="time to first token instead of decode speed")
    args = parser.parse_args(argv)
    (evaluate_ttft if args.ttft else evaluate)()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
