"""Ops and data-move ops per decode layer, from the op trace of one traced decode step, beside TTTv1.

    python packages/tttv2-patterns/benchmarks/bench_decode_ops.py [--model Llama-3.1-8B] [--devices N150 N300 T3K TG]

The model is built shapes-only (no weights, no numerics: the same op program as a numeric run);
one decode step is captured and replayed as a trace, and the replayed records (those appended after
``ttnn.execute_trace``) are grouped by layer. A *data-move op* is a record with no FLOPs: layout and
memory-config changes, head split/concat, KV-cache writes, collectives. Printed, not asserted: this
is a count, not a timed test.

TTTv1's count (``TTTV1_N150_LAYER``) is read off tenstorrent/tt-metal
``models/tt_transformers/tt/decoder.py`` ``forward`` + ``attention.py`` ``forward_decode`` +
``mlp.py`` ``forward`` (decode branch) for Llama on N150 (one chip: ``tt_all_reduce`` /
``tt_all_gather`` return their input; no QK-norm, no QKV bias, separate Q/K rotary, separate K/V
cache updates). ``ttnn.deallocate`` is not counted on either side.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

from tttv2_hwconfig import open_device, shapes_only
from tttv2_patterns.model_families import family_for
from tttv2_patterns.predict import read_hf_config
from tttv2_patterns.shapes_only import shapes_only_model

# (op, "compute" | "move") of one TTTv1 Llama decode layer on N150, in execution order.
TTTV1_N150_LAYER = (
    ("rms_norm (attention_norm)", "compute"),  # decoder.py: self.attention_norm(x, mode)
    ("linear wqkv", "compute"),  # attention.py forward_decode
    ("sharded_to_interleaved", "move"),
    ("reshape (padded batch)", "move"),
    ("nlp_create_qkv_heads_decode", "move"),
    ("rotary_embedding_llama q", "compute"),
    ("rotary_embedding_llama k", "compute"),
    ("paged_update_cache k", "move"),
    ("paged_update_cache v", "move"),
    ("paged_scaled_dot_product_attention_decode", "compute"),
    ("to_memory_config (SCORES_BATCHED_MM_OUTPUT)", "move"),
    ("nlp_concat_heads_decode", "move"),
    ("matmul wo", "compute"),
    ("to_memory_config (DECODE_RESIDUAL)", "move"),
    ("to_memory_config attn_out (decoder.py)", "move"),
    ("add residual", "compute"),
    ("rms_norm (ff_norm)", "compute"),
    ("linear w1", "compute"),  # mlp.py forward, decode
    ("linear w3", "compute"),
    ("mul (silu(w1) * w3)", "compute"),
    ("to_memory_config (SHARDED_MLP2_INPUT)", "move"),
    ("linear w2", "compute"),
    ("reshape", "move"),
    ("to_memory_config (DECODE_RESIDUAL)", "move"),
    ("add residual", "compute"),
)

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


def decode_layer_ops(model_name: str, device_name: str, layers: int = 2):
    """Per-layer records of one replayed decode step of ``model_name`` (``layers`` layers) on ``device_name``."""
    family = family_for({"architectures": ["LlamaForCausalLM"]})
    raw = {**read_hf_config(family.configs()[model_name]), "num_hidden_layers": layers}
    spec = family.spec(raw, max_batch_size=32, max_seq_len=256)
    mesh = open_device(device_name)
    with shapes_only():
        model = shapes_only_model(spec, family.impl_config(spec, mesh, "performance", "tttv2"), mesh)
        model.enable_trace = True  # shapes_only_model builds an eager model; this benchmark counts the trace
        model.prefill_forward([[1] * 100] * 4)
        step = dict(token_ids=[1] * 4, user_ids=[0, 1, 2, 3], return_logits=False)
        model.decode_forward(cache_position=100, **step)  # compile run + capture + first replay
        trace = model.device.trace
        trace.clear()
        model.decode_forward(cache_position=101, **step)
        records = list(trace.records)
    start = next(i for i, r in enumerate(records) if r.name == "ttnn.execute_trace")
    by_layer: dict[int, list] = {}
    for record in records[start + 1 :]:
        match = _LAYER.search(record.scope)
        if match:
            by_layer.setdefault(int(match.group(1)), []).append(record)
    return by_layer, records[:start]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Llama-3.1-8B")
    parser.add_argument("--devices", nargs="+", default=["N150", "N300", "T3K", "TG"])
    args = parser.parse_args(argv)
    tttv1_moves = sum(kind == "move" for _, kind in TTTV1_N150_LAYER)
    print(f"Ops per decode layer, {args.model}, batch 32 rows, one replayed trace (op trace of the emulator)")
    print(f"{'':<8} {'ops':>5} {'data-move':>10} {'compute':>8}   host transfers before the replay")
    for device_name in args.devices:
        by_layer, before = decode_layer_ops(args.model, device_name)
        layer = by_layer[0]
        counts = {len(ops) for ops in by_layer.values()}
        moves = sum(r.flops == 0 for r in layer)
        host_ops = Counter(r.name for r in before)
        print(
            f"{'TTTv2 ' + device_name:<12} {len(layer):>5} {moves:>10} {len(layer) - moves:>8}   "
            f"{dict(host_ops)}" + ("" if len(counts) == 1 else f"  (layers differ: {sorted(counts)})")
        )
    print(
        f"{'TTTv1 N150':<12} {len(TTTV1_N150_LAYER):>5} {tttv1_moves:>10} {len(TTTV1_N150_LAYER) - tttv1_moves:>8}   "
        "(read off tt-metal models/tt_transformers/tt/{decoder,attention,mlp}.py; see TTTV1_N150_LAYER)"
    )
    by_layer, _ = decode_layer_ops(args.model, args.devices[0])
    print(f"\nTTTv2 {args.devices[0]} layer 0, in order (data-move = no FLOPs):")
    for record in by_layer[0]:
        kind = "move" if record.flops == 0 else "compute"
        print(f"  {kind:<8} {record.name:<52} {record.scope}")


if __name__ == "__main__":
    main()
