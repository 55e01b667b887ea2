"""How much slower is the emulator than the same decode math in plain torch?

A small model's decode step -- 4 layers of hidden 576 with GQA-shaped projections (9 query heads,
3 KV heads of 64: q/o 576x576, k/v 576x192) and a SwiGLU MLP (576 -> 1536 -> 576), plus the residual
adds -- runs once through ``ttnn`` (the emulator: bfloat8_b weights, HiFi2, bfloat16 activations,
fidelity emulation, rounding, argument checks, allocation and tracing) and once as float32
``torch.nn.functional.linear`` calls. No attention scores: this measures the per-op overhead of
the emulator on the matmul/eltwise path a decode step is made of.

Run::

    python packages/tttv2-hwconfig/benchmarks/bench_emulator_decode.py [--device N150] [--repeats 30]

It prints, per batch size (1 and 32 users), the median step time of both and their ratio (target:
within 1.5x), then the batch-1 / batch-32 time ratio of the emulator: compute runs on the logical
rows, so one user padded to a 32-row tile costs about one row of torch work, not 32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tttv2_hwconfig import open_device, ttnn

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE, LAYERS = 576, 9, 3, 64, 1536, 4
TARGET_RATIO = 1.5


def make_weights(seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Per layer, HF-layout (out, in) float32 weights."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {
        "q": (HEADS * HEAD_DIM, HIDDEN),
        "k": (KV_HEADS * HEAD_DIM, HIDDEN),
        "v": (KV_HEADS * HEAD_DIM, HIDDEN),
        "o": (HIDDEN, HEADS * HEAD_DIM),
        "gate": (INTERMEDIATE, HIDDEN),
        "up": (INTERMEDIATE, HIDDEN),
        "down": (HIDDEN, INTERMEDIATE),
    }
    return [
        {name: torch.randn(shape, generator=generator) / shape[1] ** 0.5 for name, shape in shapes.items()}
        for _ in range(LAYERS)
    ]


def torch_step(x: torch.Tensor, layers) -> torch.Tensor:
    linear = torch.nn.functional.linear
    for w in layers:
        q, k, v = linear(x, w["q"]), linear(x, w["k"]), linear(x, w["v"])
        attn = q + torch.cat([v, v, v], dim=-1)  # stands in for attention: same shapes, no scores
        x = x + linear(attn, w["o"]) + 0 * k.sum()
        x = x + linear(torch.nn.functional.silu(linear(x, w["gate"])) * linear(x, w["up"]), w["down"])
    return x


def to_device_layers(layers, device):
    kernel = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi2, packer_l1_acc=True)
    device_layers = []
    for w in layers:
        device_layers.append(
            {
                name: ttnn.from_torch(
                    t.T.contiguous(), dtype=ttnn.bfloat8_b, layout=ttnn.TILE_LAYOUT, device=device
                )
                for name, t in w.items()
            }
        )
    return device_layers, kernel


def emulator_step(x, layers, kernel):
    def linear(a, w):
        return ttnn.linear(a, w, compute_kernel_config=kernel, memory_config=ttnn.L1_MEMORY_CONFIG)

    for w in layers:
        q, k, v = linear(x, w["q"]), linear(x, w["k"]), linear(x, w["v"])
        attn = ttnn.add(q, ttnn.concat([v, v, v], dim=-1))
        x = ttnn.add(x, linear(attn, w["o"]))
        gate, up = linear(x, w["gate"]), linear(x, w["up"])
        inner = ttnn.mul(gate, up, input_tensor_a_activations=[ttnn.UnaryOpType.SILU])
        x = ttnn.add(x, linear(inner, w["down"]))
        del k
    return x


def median_seconds(fn, repeats: int, after=None) -> float:
    """Median CPU time of ``fn`` in this process: wall time on a shared machine measures the neighbours.

    ``after`` runs untimed after each call (the emulator's op trace is read and cleared per step, as
    a decode loop that reports per-step predictions would; an ever-growing trace slows Python's GC).
    """
    fn()  # warm-up (weight fidelity caches, torch kernels)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
        if after is not None:
            after()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="N150")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a fair, quiet comparison on a shared machine

    layers = make_weights()
    with open_device(args.device) as device:
        device_layers, kernel = to_device_layers(layers, device)
        device.trace.enabled = True
        results = {}
        for batch in (1, 32):
            x = torch.randn(1, 1, batch, HIDDEN)
            tx = ttnn.from_torch(
                x,
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=device,
                memory_config=ttnn.L1_MEMORY_CONFIG,
            )
            emulated = median_seconds(
                lambda tx=tx: emulator_step(tx, device_layers, kernel), args.repeats, device.trace.clear
            )
            with torch.no_grad():
                reference = median_seconds(lambda x=x: torch_step(x, layers), args.repeats)
            results[batch] = emulated
            ratio = emulated / reference
            verdict = "OK" if ratio <= TARGET_RATIO else f"ABOVE the {TARGET_RATIO}x target"
            print(
                f"{args.device} batch {batch:2d}: emulator {emulated * 1e3:7.2f} ms  torch {reference * 1e3:7.2f} ms  "
                f"ratio {ratio:5.2f}x  ({verdict})"
            )
        print(
            f"{args.device} emulator batch 1 / batch 32 time: {results[1] / results[32]:.2f} "
            "(1 user padded to a 32-row tile is not charged 32 rows of host work)"
        )


if __name__ == "__main__":
    main()
