"""The design document's TestSuite snippet, part 1 ("Explicit inputs example"), runnable.

    python examples/test_suite_explicit_inputs.py CHECKPOINT_DIR [--device N150]

Changes from the seed's text are marked ``# CHANGED:`` with the reason; the ``# CHECK:`` lines are
not in the seed: they make this script a test.
"""

import argparse

import torch
from transformers import AutoModelForCausalLM
from tttv2_hwconfig import ttnn
from tttv2_llama3 import ModelFactory
from tttv2_testing import TestSuite  # CHANGED: `from tt_transformers_v2.testing import TestSuite`

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="HF checkpoint folder (config.json + safetensors)")
parser.add_argument("--device", default="N150")
args = parser.parse_args()

# CHANGED (added): the snippet starts from a model. register_references=True also installs the
# blocks' ``reference_inputs`` hooks, which let an HF attention stand as `ref=`: it takes
# position embeddings and a mask where the block takes a user id and positions.
model = ModelFactory.from_huggingface(
    args.checkpoint, device=args.device, strategy="accuracy", register_references=True
)
hidden = model.spec.layers[0].attention.hidden_dim

with TestSuite(model, seed=1234) as suite:  # Context manager approach
    # 1) Explicit inputs example
    # CHANGED: parentheses around the chained calls (Python needs them across lines).
    (
        # CHANGED: `model.layers[0].attention_prefill` -> the block's method
        suite.add_test(model.layers[0].attention.forward_prefill)
        .with_inputs(
            {
                # parameter names of function under test are used as keys with values being direct inputs to the function
                # CHANGED: "hidden_states" (2, 512, 4096) -> the block's `x`: ONE user's prefill as
                # (1, 1, seq, hidden) bfloat16 TILE on the device (the blocks' convention); 128
                # positions fit the test checkpoint's KV cache; "attention_mask": None -> `user_id`
                # (the block masks causally itself; the user picks the KV-cache slot).
                "x": ttnn.from_torch(
                    torch.randn(1, 1, 128, hidden, device="cpu"),
                    dtype=ttnn.bfloat16,
                    layout=ttnn.TILE_LAYOUT,
                    device=model.device,
                ),
                "user_id": 0,
            }
        )
        # the next line of code using AutoModelForCasualLM maybe incorrect but the idea should be the same
        # CHANGED: "meta-llama/Llama-3-8b" -> the local checkpoint. atol/rtol 1e-3 hold on the tiny test
        # checkpoint (outputs ~1e-2); a real model's outputs need ~5e-2 (bfloat16 resolution).
        .expect_correctness(
            ref=AutoModelForCausalLM.from_pretrained(args.checkpoint).model.layers[0].self_attn,
            atol=1e-3,
            rtol=1e-3,
        )
        .expect_perf(latency_ms=5.0, percentile=0.9)
    )
    report = suite.run()  # CHANGED (added): run here to keep the report for the checks below

# CHECK: the case compared with the HF attention and passed; the figure is a real comparison.
rows = {(r.case_id, r.metric): r for r in report.results}
assert report.passed and ("layers.0.attention::forward_prefill", "allclose") in rows, report
print(f"test_suite_explicit_inputs.py: OK ({len(report.results)} checks passed)")
model.close()
