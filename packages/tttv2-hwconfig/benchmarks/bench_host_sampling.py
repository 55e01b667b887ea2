"""MEASURE the host side of sampling on the host: read-back logits turned into torch, then argmax.

TTTv1's demo samples on the host whenever batch > 1 (tt-metal ``models/tt_transformers/demo/
simple_text_demo.py``: ``argmax_on_device = False if (batch_size > 1 or temperature != 0)``): every
decode step the [1, 1, 32, vocab] bfloat16 logits, untilized on the device first (tt-metal issue
#16097: ``ttnn.untilize(tt_out_gathered, use_multicore=True)``), come back to the host, where the
generator makes them a float32 torch tensor (``ttnn.to_torch(...).float()``) and ``sample_host``
(``models/tt_transformers/tt/common.py``) takes ``torch.argmax(pt_input, dim=-1)`` over the
vocabulary. This script times exactly that host work with the real ``ttnn`` wheel on this machine's
CPU (no device: the tensor is a host tensor, so the PCIe read is not in the figure; the perf model
adds it from the card's host link rate). The argmax runs on float32 as TTTv1's does: on bfloat16
torch's argmax is 4x slower here.

Run it in a venv with the real wheel (python3.12, ``ttnn==0.81.1``, ``numpy<2``), e.g. the
conformance session's::

    TT_METAL_MOCK_CLUSTER_DESC_PATH=packages/tttv2-hwconfig/src/tttv2_hwconfig/data/mock_cluster_n150.yaml \\
        .nox/conformance/bin/python packages/tttv2-hwconfig/benchmarks/bench_host_sampling.py

It prints seconds per logit element (the fastest of the repeats) for several vocabulary sizes; the figure
goes into ``tttv2_hwconfig/data/perf_fit.json`` as ``host_sampling_s_per_logit``, labelled MEASURED.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault(
    "TT_METAL_MOCK_CLUSTER_DESC_PATH",
    str(Path(__file__).resolve().parents[1] / "src" / "tttv2_hwconfig" / "data" / "mock_cluster_n150.yaml"),
)
os.environ.setdefault("TT_LOGGER_LEVEL", "FATAL")

import torch  # noqa: E402
import ttnn  # noqa: E402


def time_host_sampling(batch: int, vocab: int, repeats: int) -> float:
    """Fastest of ``repeats`` timings (the machine's uncontended figure: other load only adds) of
    ``ttnn.to_torch`` (row-major bfloat16 -> torch), ``.float()`` and argmax for [1, 1, batch, vocab]."""
    logits = torch.randn(1, 1, batch, vocab, dtype=torch.float32).to(torch.bfloat16)
    tiles = ttnn.from_torch(logits, dtype=ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        host = ttnn.to_torch(tiles).float()
        tokens = torch.argmax(host[0, 0, :batch, :vocab], dim=-1)
        samples.append(time.perf_counter() - start)
    assert tokens.shape == (batch,)
    return min(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, nargs="+", default=[32000, 128256, 151936])
    parser.add_argument("--repeats", type=int, default=51)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the demo's host loop is one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"MEASURED on this host's CPU, ttnn {importlib.metadata.version('ttnn')}, torch threads {args.threads}"
    )
    print(f"{'batch':>5} {'vocab':>7} {'fastest ms':>10} {'ns/logit':>9}")
    per_logit = []
    for vocab in args.vocab:
        seconds = time_host_sampling(args.batch, vocab, args.repeats)
        per_logit.append(seconds / (args.batch * vocab))
        print(f"{args.batch:>5} {vocab:>7} {seconds * 1e3:>10.3f} {per_logit[-1] * 1e9:>9.3f}")
    print(f"host_sampling_s_per_logit (median over sizes): {statistics.median(per_logit):.4e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
