"""Benchmark: build a model twice, converting weights the first time and loading the tensor cache the second.

    python packages/tttv2-patterns/benchmarks/bench_tensor_cache.py [--device N150] [--layers 4] [--hidden 512]

Prints the wall time of each build and the speed-up (target: the cached build >= 5x faster). "weights"
is the weight phase alone (convert + write vs. verify + restore); "build" adds what every build pays
(constructing blocks, allocating the KV cache). Emulated devices: host time of the emulator.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from tttv2_blocks import AttentionSpec, EmbeddingSpec, FeedForwardSpec, LMHeadSpec, RMSNormSpec, RopeSpec
from tttv2_patterns import CausalLM, CausalLMSpec, DecoderLayerSpec, TensorCache


def model_spec(layers: int, hidden: int, vocab: int) -> CausalLMSpec:
    heads, head_dim = hidden // 64, 64

    def layer():
        return DecoderLayerSpec(
            attention=AttentionSpec(
                hidden, heads, heads // 2, head_dim, rope=RopeSpec(head_dim, max_position_embeddings=256)
            ),
            ffn=FeedForwardSpec(hidden, 3 * hidden),
            attention_norm=RMSNormSpec(hidden),
            ffn_norm=RMSNormSpec(hidden),
        )

    return CausalLMSpec(
        embedding=EmbeddingSpec(vocab, hidden),
        layers=[layer() for _ in range(layers)],
        final_norm=RMSNormSpec(hidden),
        lm_head=LMHeadSpec(hidden, vocab),
        max_batch_size=1,
        max_seq_len=128,
    )


def write_random_checkpoint(spec: CausalLMSpec, path: Path) -> None:
    """HF Llama-named random weights with the shapes the spec implies."""
    from tttv2_patterns.weight_shapes import expected_weight_shapes  # noqa: PLC0415

    tensors = {}
    for module_path, block_spec in spec.module_specs().items():
        prefix = spec.checkpoint_layout.prefix(module_path)
        for key, shape in expected_weight_shapes(block_spec).items():
            tensors[f"{prefix}.{key}"] = torch.randn(shape) * 0.02
    save_file(tensors, path / "model.safetensors")


def timed_build(spec, checkpoint_dir, device, cache) -> tuple[float, float]:
    """(whole build seconds, weight phase seconds)."""
    start = time.perf_counter()
    model = CausalLM(
        spec, device=device, tensor_cache=cache, progress=False
    )  # no checkpoint attached: no load
    weights_start = time.perf_counter()
    model.load_weights(checkpoint_dir)
    end = time.perf_counter()
    return end - start, end - weights_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="N150")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        spec = model_spec(args.layers, args.hidden, args.vocab)
        write_random_checkpoint(spec, work)
        cache = TensorCache(work / "cache")
        first = timed_build(spec, work, args.device, cache)
        second = timed_build(spec, work, args.device, cache)
        assert {kind for _, kind, _ in cache.events[-len(spec.module_specs()) :]} == {"hit"}
    print(
        f"model: {args.layers} layers, hidden {args.hidden}, vocab {args.vocab}, default strategy, {args.device}"
    )
    print(f"first build (convert + write cache): build {first[0]:.2f} s, weights {first[1]:.2f} s")
    print(f"second build (from the cache):       build {second[0]:.2f} s, weights {second[1]:.2f} s")
    print(f"speed-up: build {first[0] / second[0]:.1f}x, weights {first[1] / second[1]:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
