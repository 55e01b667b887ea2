"""The demo: arguments, batching, agreement counts, the predicted decode speed from a trace, and a real run.

The plumbing tests use a stand-in model (it generates with the HF reference and records one known op
per forward on the emulated device's trace), so the printed figures are known in advance; the last
test runs the real TTTv2 model on a tiny checkpoint.
"""

from __future__ import annotations

import pytest
from tttv2_hwconfig import OpRecord, predict_op_latency_s
from tttv2_patterns.family import demo as demo_module
from tttv2_patterns.family.agreement import token_agreement
from tttv2_patterns.family.demo import parse_args, user_batches
from tttv2_patterns.family.device_prediction import predicted_decode_step_s
from tttv2_patterns.family.prompts import EVERYDAY_PROMPTS
from tttv2_testing.hf import HFReference

# One prefill op and one decode op with round numbers; their predicted latencies come from the perf model.
PREFILL_OP = OpRecord(
    "ttnn.linear",
    ((1, 32, 64),),
    ("BFLOAT16",),
    ((1, 32, 64),),
    ("BFLOAT16",),
    flops=10**9,
    bytes_moved=10**7,
)
DECODE_OP = OpRecord(
    "ttnn.linear", ((1, 1, 64),), ("BFLOAT16",), ((1, 1, 64),), ("BFLOAT16",), flops=10**6, bytes_moved=10**6
)


def test_defaults():
    args = parse_args([])
    # Every prompt decodes in one batch by default (8 everyday prompts -> batch 8).
    assert (args.device, args.strategy, args.batch, args.max_new_tokens) == ("N150", "accuracy", 8, 32)
    assert args.prompts == list(EVERYDAY_PROMPTS)
    assert len(EVERYDAY_PROMPTS) == 8


def test_repeatable_prompt_and_device_case():
    args = parse_args(["--prompt", "a", "--prompt", "b", "--device", "n300", "--strategy", "performance"])
    assert (args.prompts, args.device, args.strategy) == (["a", "b"], "N300", "performance")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "X9"], "unknown device 'X9'"),
        (["--batch", "0"], "--batch must be in 1..32"),
        (["--batch", "33"], "--batch must be in 1..32"),
        (["--max-new-tokens", "1"], "--max-new-tokens must be >= 2"),
        (["--strategy", "fast"], "invalid choice: 'fast'"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("count", "batch", "expected"),
    [
        (3, 1, [[0], [1], [2]]),
        (3, 5, [[0, 1, 2, 0, 1]]),
        (8, 3, [[0, 1, 2], [3, 4, 5], [6, 7, 0]]),
    ],
)
def test_user_batches(count, batch, expected):
    prompts = [f"p{i}" for i in range(count)]
    assert user_batches(prompts, batch) == [[f"p{i}" for i in row] for row in expected]


def test_token_agreement():
    assert str(token_agreement([1, 2, 3], [1, 2, 3])) == "3/3 tokens match (first divergence: none)"
    partial = token_agreement([1, 9, 3], [1, 2, 3, 4])  # shorter candidate: the missing token mismatches
    assert (partial.matched, partial.compared, partial.first_divergence) == (2, 4, 1)


def test_predicted_decode_step_is_the_trace_difference():
    steps = 3
    generation = [PREFILL_OP] + [DECODE_OP] * steps
    step_s = predicted_decode_step_s(generation, [PREFILL_OP], steps + 1, "N150")
    assert step_s == pytest.approx(predict_op_latency_s(DECODE_OP, "N150"), rel=1e-9)
    with pytest.raises(ValueError, match="not above the prefill alone"):
        predicted_decode_step_s([PREFILL_OP], [PREFILL_OP], 2, "N150")


class StandInModel:
    """Generates with the HF reference; records PREFILL_OP per prefill and DECODE_OP per decode step."""

    def __init__(self, reference: HFReference, device, corrupt_first_token: bool = False):
        self.reference, self.device, self.corrupt = reference, device, corrupt_first_token

    def generate(self, prompt_ids, max_new_tokens, stop_token_ids=None):
        rows = []
        for ids in prompt_ids:
            new = self.reference.greedy_generate([ids], max_new_tokens, stop_at_eos=False)[0].tolist()
            if self.corrupt:
                new[0] = (new[0] + 1) % 128
            rows.append(new)
        self.device.trace.append(PREFILL_OP)
        for _ in range(max_new_tokens - 1):
            self.device.trace.append(DECODE_OP)
        return rows


@pytest.mark.parametrize("corrupt", [False, True])
def test_main_with_a_stand_in_model(tiny_chat_checkpoint, monkeypatch, capsys, corrupt):
    references = {}

    def build(family, checkpoint_dir, device, strategy, **kwargs):
        assert family.name == "llama3"  # found through its entry point from the folder's architectures
        assert strategy == "accuracy"
        references["hf"] = HFReference(checkpoint_dir)
        return StandInModel(references["hf"], device, corrupt_first_token=corrupt)

    monkeypatch.setattr(demo_module, "build_tttv2_model", build)
    argv = ["--checkpoint", str(tiny_chat_checkpoint), "--prompt", "hello world", "--prompt", "the sea"]
    assert demo_module.main([*argv, "--max-new-tokens", "4", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "TTTv2 on the N150 emulator, batch 2" in out
    expected_tokens_per_s = 1.0 / predict_op_latency_s(DECODE_OP, "N150")
    assert f"batch 2: {expected_tokens_per_s:.1f} tokens/s/user" in out
    if corrupt:
        assert "(first divergence: token 0)" in out
        assert "(100.0%)" not in out
    else:
        assert "(100.0%)" in out
        assert "first divergence: token" not in out


def test_main_with_the_real_tttv2_model(tiny_chat_checkpoint, capsys):
    # The accuracy strategy on a tiny random model follows HF's greedy tokens exactly (the factory's
    # own tests check 12 tokens); the demo must report that agreement and its speed lines.
    argv = [
        "--checkpoint",
        str(tiny_chat_checkpoint),
        "--prompt",
        "hello world",
        "--prompt",
        "what is the sea",
    ]
    assert demo_module.main([*argv, "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert "TTTv2 model built in" in out
    assert "agreement with HF over all users:" in out and "(100.0%)" in out
    assert "TTTv2 on the N150 emulator, batch 2:" in out
    assert "PREDICTED (tttv2_hwconfig roofline model, not measured): N150 decode, batch 2:" in out
