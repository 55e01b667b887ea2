"""Latency of one module call: measured on hardware, PREDICTED from the op trace on the emulator.

- Real device: ``warmup`` untimed calls, then ``repeats`` calls each timed between two
  ``ttnn.synchronize_device`` barriers (wall clock, so it includes host dispatch, as a user sees it);
  the figure is the requested percentile of those samples.
- Emulator: the ops the call recorded on ``device.trace`` go through the roofline model
  ``tttv2_hwconfig.perf_model.predict_trace``; the figure is a PREDICTION, never a measurement, and
  every report labels it so. Repeating an emulated call would give the same prediction, so each
  captured call contributes one sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tttv2_hwconfig import ttnn, ttnn_is_emulated
from tttv2_hwconfig.perf_model import PREDICTION_LABEL, predict_trace

from .conversion import is_ttnn_tensor


@dataclass(frozen=True)
class LatencyResult:
    """A latency figure (ms) at ``percentile`` over ``samples_ms``; ``predicted`` for emulated runs."""

    latency_ms: float
    percentile: float
    samples_ms: tuple[float, ...]
    predicted: bool
    device_name: str

    @property
    def label(self) -> str:
        kind = PREDICTION_LABEL if self.predicted else "measured"
        return f"{kind}, p{self.percentile * 100:g} of {len(self.samples_ms)} sample(s) on {self.device_name}"


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q`` quantile (0 < q <= 1) of ``samples``."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def find_device(module: Any, *values: Any) -> Any:
    """The mesh device of ``module`` (its ``device`` attribute) or of the first ttnn tensor in ``values``."""
    device = getattr(module, "device", None)
    if device is not None and not callable(device):
        return device
    for value in values:
        for tensor in _tensors(value):
            if tensor.device() is not None:
                return tensor.device()
    return None


def _tensors(value: Any):
    if is_ttnn_tensor(value):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def device_name(device: Any) -> str:
    spec = getattr(device, "spec", None)
    return getattr(spec, "name", None) or type(device).__name__


class TraceWindow:
    """The op records a device appends while the ``with`` block runs (emulator only)."""

    def __init__(self, device: Any):
        self.device = device
        self.records: list = []
        self._start = 0

    def __enter__(self) -> TraceWindow:
        trace = getattr(self.device, "trace", None)
        # ``total`` / ``since`` (hwconfig >= 2.5) count records the bounded trace dropped; older: a slice.
        self._start = (getattr(trace, "total", None) or len(trace.records)) if trace is not None else 0
        return self

    def __exit__(self, *exc: Any) -> bool:
        trace = getattr(self.device, "trace", None)
        if trace is not None:
            since = getattr(trace, "since", None)
            self.records = since(self._start) if since is not None else list(trace.records[self._start :])
        return False

    def predicted_latency_ms(self) -> float:
        """PREDICTED device milliseconds of the recorded ops (roofline model)."""
        if getattr(self.device, "trace", None) is None:
            raise RuntimeError(f"device {self.device!r} records no op trace; cannot predict latency")
        return predict_trace(self.records, self.device.spec).total_latency_ms


def measure_latency_ms(
    prepare: Callable[[], Any], execute: Callable[[Any], Any], device: Any, *, warmup: int, repeats: int
) -> list[float]:
    """Wall-clock milliseconds of ``execute(prepare())`` between device barriers, ``repeats`` times.

    ``prepare`` (fresh inputs) runs outside the timed region.
    """
    for _ in range(warmup):
        execute(prepare())
    samples = []
    for _ in range(repeats):
        prepared = prepare()
        ttnn.synchronize_device(device)
        start = time.perf_counter()
        execute(prepared)
        ttnn.synchronize_device(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def is_prediction() -> bool:
    """True when latency figures are predictions (the emulator is in use)."""
    return ttnn_is_emulated
