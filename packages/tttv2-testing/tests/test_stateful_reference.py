"""Stateful references (a K/V cache): replayed over the whole trace so decode step n has its history."""

import pytest
import torch
from _tiny import DIM, to_device
from tttv2_blocks.module import Module
from tttv2_hwconfig import ttnn
from tttv2_testing import TestSuite, debug_mode

STEPS = 4
# bfloat16 cache and sums: PCC ~0.9999 against float32 torch; 0.999 fails a reference that
# lacks the prompt rows (the sum of 1..4 tokens against the sum of 9..12 rows: PCC ~0.5).
PCC = 0.999


class PrefixSum(Module):
    """Decode step: write ``x`` at ``pos`` into a device cache, return the sum of rows ``0..pos``.

    Like attention it is idempotent per position (re-running a step rewrites the same row and
    reads only rows up to ``pos``), so a case may re-run it after the trace.
    """

    reference_is_stateful = True

    def __init__(self, device):
        super().__init__(spec=None, impl_config=None, device=device)
        zeros = torch.zeros(1, 1, 32, DIM)
        self.cache = ttnn.from_torch(zeros, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)

    def forward_prefill(self, x):
        """Write the prompt's ``(1, 1, seq, DIM)`` rows at positions ``0..seq-1``; return their sum."""
        ttnn.fill_cache(self.cache, x, 0)
        return ttnn.sum(x, dim=2, keepdim=True)

    def forward_decode(self, x, pos: int):
        ttnn.update_cache(self.cache, x, pos)
        window = ttnn.slice(self.cache, [0, 0, 0, 0], [1, 1, pos + 1, DIM])
        return ttnn.sum(window, dim=2, keepdim=True)

    def torch_reference(self):
        return PrefixSumReference()


class PrefixSumReference:
    """Mirrors the module: ``forward_decode(x, pos)`` with a torch cache of its own."""

    def __init__(self):
        self.rows = torch.zeros(32, DIM)

    def forward_prefill(self, x):
        self.rows[: x.shape[-2]] = x.reshape(-1, DIM)
        return x.sum(-2, keepdim=True)

    def forward_decode(self, x, pos):
        self.rows[pos] = x.reshape(DIM)
        return self.rows[: pos + 1].sum(0).reshape(1, 1, 1, DIM)


class PrefixSumWithoutReplay(PrefixSum):
    reference_is_stateful = False


PROMPT = 8


def _trace(module, device):
    prompt = torch.randn(1, 1, PROMPT, DIM)
    tokens = [torch.randn(1, 1, 1, DIM) for _ in range(STEPS)]

    def run():
        module.forward_prefill(to_device(prompt, device))
        for step, token in enumerate(tokens):
            module.forward_decode(to_device(token, device), PROMPT + step)

    return run


def test_stateful_reference_is_replayed_over_the_trace(device):
    module = PrefixSum(device)
    suite = TestSuite(verbose=False)
    suite.add_case(module.forward_decode).with_inputs(
        trace_fn=_trace(module, device), max_calls=STEPS
    ).expect_pcc(PCC)
    report = suite.run()
    assert [r.case_id for r in report.results] == [
        f"PrefixSum::forward_decode[call {i}]" for i in range(STEPS)
    ]
    assert all(r.figure > PCC for r in report.results)


def test_without_replay_later_steps_miss_their_history(device):
    module = PrefixSumWithoutReplay(device)
    suite = TestSuite(verbose=False)
    suite.add_case(module.forward_decode).with_inputs(
        trace_fn=_trace(module, device), max_calls=STEPS
    ).expect_pcc(PCC)
    with pytest.raises(AssertionError):
        suite.run()
    # The decode case never ran the prefill through the reference: every step lacks the prompt rows.
    assert [r.passed for r in suite.report.results] == [False] * STEPS


def test_debug_mode_calls_a_stateful_reference_in_run_order(device):
    module = PrefixSum(device)
    with debug_mode(module, thresholds=PCC, print_report=False) as report:
        _trace(module, device)()
    assert len(report.rows) == 1 + STEPS and report.first_failure is None


def test_debug_mode_max_calls_keeps_feeding_a_stateful_reference(device):
    module = PrefixSum(device)
    first, second = torch.randn(1, 1, PROMPT, DIM), torch.randn(1, 1, PROMPT, DIM)
    with debug_mode(module, thresholds=PCC, max_calls=1, print_report=False) as report:
        module.forward_prefill(to_device(first, device))
        module.forward_prefill(to_device(second, device))  # not compared, but it rewrites the rows
        module.forward_decode(to_device(torch.randn(1, 1, 1, DIM), device), PROMPT)
    assert [(r.method, r.call_index) for r in report.rows] == [("forward_prefill", 0), ("forward_decode", 0)]
    # The decode golden is right only if the reference also saw the second (uncompared) prefill.
    assert report.first_failure is None
