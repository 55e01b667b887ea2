"""Latency: the percentile helper and the hardware (measured) path, driven with a stand-in device sync."""

import time
import types

import pytest
import torch
import tttv2_testing.perf
import tttv2_testing.suite
from _tiny import DIM, TinyMLP, to_device
from tttv2_testing import TestSuite
from tttv2_testing.perf import percentile


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9, 1.0])
def test_percentile_matches_torch_quantile(q):
    samples = torch.rand(11).tolist()
    assert percentile(samples, q) == pytest.approx(
        torch.quantile(torch.tensor(samples, dtype=torch.float64), q).item()
    )


class SlowMLP(TinyMLP):
    """Spends a known wall-clock time per call, so a measured figure has a lower bound."""

    SLEEP_S = 0.003

    def forward_prefill(self, x):
        time.sleep(self.SLEEP_S)
        return super().forward_prefill(x)


def test_hardware_path_times_between_device_barriers(device, monkeypatch):
    syncs = []
    # What real hardware provides; the emulator has no asynchronous queue to wait for.
    monkeypatch.setattr(tttv2_testing.perf, "ttnn", types.SimpleNamespace(synchronize_device=syncs.append))
    monkeypatch.setattr(tttv2_testing.suite, "ttnn_is_emulated", False)
    mlp = SlowMLP(device)
    x = to_device(torch.randn(1, 1, 32, DIM), device)
    suite = TestSuite(verbose=False)
    suite.add_case(mlp.forward_prefill).with_inputs({"x": x}).expect_perf(latency_ms=1.0, warmup=1, repeats=3)
    with pytest.raises(AssertionError, match=r"latency_ms \(measured\) \d+\.\d+ does not meet <= 1"):
        suite.run()
    (result,) = suite.report.results
    assert len(syncs) == 2 * 3 and all(d is device for d in syncs)  # before and after each timed call
    assert mlp.calls == 1 + 1 + 3  # the case's own call, warm-up, repeats
    assert result.figure >= SlowMLP.SLEEP_S * 1e3 and "measured, p50 of 3 sample(s)" in result.detail
