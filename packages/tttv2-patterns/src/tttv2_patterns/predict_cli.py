"""``tttv2-predict``: PREDICTED decode speed, time to first token and per-op-kind table of an HF config.

tttv2-predict --config path/to/Llama-3.1-8B --device T3K --batch 1 --prompt-len 128 [--json] [--plot FILE]
"""

from __future__ import annotations

import argparse
import json
import sys

from tttv2_hwconfig import list_devices
from tttv2_hwconfig.perf_model import BOUNDS, PREDICTION_LABEL

from tttv2_patterns.predict import ModelPrediction, predict_model


def format_report(result: ModelPrediction) -> str:
    mode = "traced" if result.traced else "untraced (CausalLM(enable_trace=False))"
    lines = [
        f"{PREDICTION_LABEL}: {result.model} on {result.device}, batch {result.batch}, prompt {result.prompt_len}, "
        f"strategy {result.strategy}, program {result.program}",
        f"PREDICTED decode: {result.tokens_per_s_per_user:.1f} tokens/s/user ({result.decode_step_s * 1e3:.2f} ms/step, {mode})",
        f"PREDICTED decode if traced: {result.tokens_per_s_per_user_traced:.1f} tokens/s/user",
        f"PREDICTED time to first token: {result.ttft_s * 1e3:.1f} ms ({result.prefill_ops} ops, untraced)",
        f"physical limit: {result.limit.bytes_per_step / 1e6:.1f} MB/step per chip -> DRAM bound "
        f"{result.limit.dram_bound_s * 1e3:.2f} ms, compute bound {result.limit.compute_bound_s * 1e3:.3f} ms "
        f"({result.limit.tokens_per_s_per_user:.1f} tokens/s/user at the wall)",
        "",
        f"{'op kind (PREDICTED decode step)':<58} {'count':>5} {'time us':>10} {'share':>6}  bound",
    ]
    for row in result.decode_kinds:
        lines.append(
            f"{row.name[:58]:<58} {row.count:>5} {row.latency_s * 1e6:>10.1f} {100 * row.share:>5.1f}%  {row.bound}"
        )
    totals = ", ".join(f"{b} {s * 1e3:.2f} ms" for b, s in result.decode_by_bound.items() if s)
    lines.append(f"by bound: {totals}")
    if result.host_sampling_s:
        lines.append(
            f"host sampling: {result.host_sampling_s * 1e3:.2f} ms/step in the step above "
            f"({result.program} reads the logits back and samples on the host at batch > 1; TTTv2 samples on device)"
        )
    return "\n".join(lines)


def plot_layers(result: ModelPrediction, path: str) -> None:
    """Per-layer PREDICTED decode time stacked by bound (needs matplotlib: the ``plot`` extra)."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as error:
        raise SystemExit(f"--plot needs matplotlib (pip install 'tttv2-patterns[plot]'): {error}") from error
    layers = [k for k in result.per_layer if k >= 0]
    fig, ax = plt.subplots(figsize=(max(6, len(layers) * 0.15), 4))
    bottom = [0.0] * len(layers)
    for bound in BOUNDS:
        heights = [result.per_layer[k][bound] * 1e6 for k in layers]
        if any(heights):
            ax.bar(layers, heights, bottom=bottom, label=bound)
            bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xlabel("decoder layer")
    ax.set_ylabel("PREDICTED time per decode step (us)")
    ax.set_title(f"PREDICTED {result.model} on {result.device} (not measured)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tttv2-predict", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="HF model folder or its config.json")
    parser.add_argument("--device", default="N150", choices=list_devices())
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--strategy", default="performance", choices=("performance", "accuracy"))
    parser.add_argument("--program", default="tttv2", choices=("tttv2", "tttv1-precision"))
    parser.add_argument("--traced", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--plot", metavar="FILE", help="write a per-layer plot stacked by bound")
    args = parser.parse_args(argv)
    try:
        result = predict_model(
            args.config,
            args.device,
            batch=args.batch,
            prompt_len=args.prompt_len,
            strategy=args.strategy,
            program=args.program,
            traced=args.traced,
        )
    except (ValueError, RuntimeError, OSError) as error:
        # A model that does not map, fit or split on the device: the reason, not a traceback.
        print(f"tttv2-predict: cannot predict {args.config} on {args.device}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else format_report(result))
    if args.plot:
        plot_layers(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
