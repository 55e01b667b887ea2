"""The design document's TestSuite snippet, part 2 ("Capture from a real forward"), runnable.

    python examples/test_suite_trace_capture.py CHECKPOINT_DIR [--device N150]

The checkpoint needs at least 4 layers (the snippet tests ``layers[3]``) and a tokenizer. Changes
from the seed's text are marked ``# CHANGED:`` with the reason; the ``# CHECK:`` lines are not in
the seed: they make this script a test.
"""

import argparse

from transformers import AutoModelForCausalLM, AutoTokenizer
from tttv2_llama3 import ModelFactory
from tttv2_testing import TestSuite  # CHANGED: `from tt_transformers_v2.testing import TestSuite`

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="HF checkpoint folder (config.json + safetensors + tokenizer)")
parser.add_argument("--device", default="N150")
args = parser.parse_args()

# CHANGED (added): the snippet starts from a model and a tokenizer.
model = ModelFactory.from_huggingface(
    args.checkpoint, device=args.device, strategy="accuracy", register_references=True
)
tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)

with TestSuite(model, seed=1234) as suite:  # Context manager approach
    # 2) Capture from a real forward (no manual tensors) example
    def sample_run():
        toks = tokenizer("hello world")["input_ids"]  # CHANGED: ["input_ids"]: a tokenizer returns a dict
        prefill_out = model.prefill_forward(toks)
        decode_out = []
        for i in range(16):
            # As written: each step feeds the prefill's next token again, at the next position.
            decode_out.append(model.decode_forward(prefill_out, cache_position=len(toks) + i))
        return decode_out

    # CHANGED: "meta-llama/Llama-3-8b" -> the local checkpoint; HF calls the FFN `mlp`, not `ffn`.
    golden_func = AutoModelForCausalLM.from_pretrained(args.checkpoint).model.layers[3].mlp

    # CHANGED: parentheses around the chained calls; `model.layers[3].ffn_decode` -> the block's method.
    (
        suite.add_test(model.layers[3].ffn.forward_decode)
        .with_inputs(trace_fn=sample_run)
        .expect_pcc(0.99, ref=golden_func)
        .expect_perf(latency_ms=3.0, percentile=0.9)
    )
    # CHANGED (added): the attention of the same layer on the same captured run. Its registered HF
    # reference is stateful: the suite replays every call in order, so decode step 5 is compared
    # with HF attention that has seen the prefill and steps 0-4.
    (
        suite.add_test(model.layers[3].attention.forward_decode)
        .with_inputs(trace_fn=sample_run, max_calls=16)
        .expect_pcc(0.99)
    )

    report = suite.run()  # run trace_fn to capture inputs, runs all cases, fails fast on regression

# CHECK: 16 decode steps of attention compared (each against HF with its own K/V history) + the FFN.
pcc_rows = [r for r in report.results if r.metric == "pcc"]
assert report.passed and len(pcc_rows) == 17, report
print(f"test_suite_trace_capture.py: OK ({len(report.results)} checks passed)")
model.close()
