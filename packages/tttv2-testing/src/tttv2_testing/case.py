"""One suite case — a module method, its inputs and its expectations — and its fluent builder."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .calls import RecordedCall, explicit_call, explicit_input_problems, method_signature


@dataclass(frozen=True)
class PccExpectation:
    """PCC against the reference >= ``pcc``; with ``atol``/``rtol`` also an allclose check."""

    pcc: float
    ref: Callable | None = None
    atol: float | None = None
    rtol: float | None = None


@dataclass(frozen=True)
class AllcloseExpectation:
    """``|actual - expected| <= atol + rtol * |expected|`` everywhere."""

    atol: float
    rtol: float
    ref: Callable | None = None


@dataclass(frozen=True)
class PerfExpectation:
    """Latency percentile <= ``latency_ms`` (measured on hardware, PREDICTED on the emulator)."""

    latency_ms: float
    percentile: float = 0.5
    warmup: int = 2
    repeats: int = 10


@dataclass
class Case:
    """What ``add_case`` registered. ``case_id`` reads ``<module path>::<method name>``."""

    method: Callable
    case_id: str
    module_path: str
    inputs: dict[str, Any] | None = None
    explicit: RecordedCall | None = None
    trace_fn: Callable | None = None
    max_calls: int = 1
    expectations: list = field(default_factory=list)
    has_run: bool = False

    @property
    def instance(self) -> Any:
        return self.method.__self__

    @property
    def method_name(self) -> str:
        return self.method.__name__

    @property
    def signature(self) -> inspect.Signature:
        return method_signature(self.method)

    @property
    def accuracy_expectations(self) -> list:
        return [e for e in self.expectations if isinstance(e, (PccExpectation, AllcloseExpectation))]

    @property
    def perf_expectations(self) -> list[PerfExpectation]:
        return [e for e in self.expectations if isinstance(e, PerfExpectation)]


def _check_fraction(what: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{what} must be in {'[0' if allow_zero else '(0'}, 1], got {value}")
    return float(value)


def _check_tolerance(what: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def _check_ref(where: str, ref: Callable | None) -> Callable | None:
    if ref is not None and not callable(ref):
        raise TypeError(
            f"{where}: ref must be callable (a torch function or module), got {type(ref).__name__}"
        )
    return ref


class CaseBuilder:
    """Fluent setup of one case; every method returns the builder so calls chain.

    Example::

        (suite.add_case(model.layers[0].ffn.forward_decode)
            .with_inputs(trace_fn=sample_run)
            .expect_pcc(0.99)
            .expect_perf(latency_ms=3.0, percentile=0.9))
    """

    def __init__(self, case: Case):
        self.case = case

    def _where(self, what: str) -> str:
        return f"{self.case.case_id}.{what}"

    def with_inputs(
        self,
        inputs: dict[str, Any] | None = None,
        *,
        trace_fn: Callable | None = None,
        max_calls: int | None = None,
    ) -> CaseBuilder:
        """Give the case its inputs: an explicit ``{parameter name: value}`` dict, or a ``trace_fn``.

        Args:
            inputs: values passed to the method by parameter name (ttnn tensors, torch tensors,
                anything); copied now, so later changes to them do not leak in.
            trace_fn: a no-argument callable that runs the model (e.g. a prefill plus a few decode
                steps); the suite runs each distinct ``trace_fn`` object once and captures the
                arguments of every method under test.
            max_calls: how many captured calls of the method this case runs on (the first ones);
                default the suite's ``max_captured_calls``.
        """
        where = self._where("with_inputs")
        if self.case.inputs is not None or self.case.trace_fn is not None:
            raise ValueError(f"{where}: inputs were already given for this case")
        if (inputs is None) == (trace_fn is None):
            raise ValueError(f"{where}: pass exactly one of an inputs dict or trace_fn=")
        if inputs is not None:
            if not isinstance(inputs, dict) or not all(isinstance(k, str) for k in inputs):
                raise TypeError(
                    f"{where}: inputs must be a dict of parameter name -> value, got {type(inputs).__name__}"
                )
            self.case.inputs = dict(inputs)
        else:
            if not callable(trace_fn):
                raise TypeError(f"{where}: trace_fn must be callable, got {type(trace_fn).__name__}")
            self.case.trace_fn = trace_fn
        if max_calls is not None:
            if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
                raise ValueError(f"{where}: max_calls must be an int >= 1, got {max_calls!r}")
            if inputs is not None and max_calls != 1:
                raise ValueError(f"{where}: max_calls applies to trace_fn inputs only")
            self.case.max_calls = max_calls
        if inputs is not None:
            self.case.explicit = _explicit_or_none(self.case.signature, self.case.inputs)
        return self

    def expect_pcc(
        self,
        pcc: float = 0.99,
        ref: Callable | None = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> CaseBuilder:
        """Require PCC(reference, output) >= ``pcc``; with ``atol``/``rtol`` also allclose.

        Args:
            pcc: minimum Pearson correlation, in (0, 1].
            ref: the reference callable; default the one registered on the module instance.
            atol, rtol: optional allclose tolerances, checked as a second metric (both default 0
                when only one is given).
        """
        where = self._where("expect_pcc")
        atol, rtol = _check_tolerance(f"{where}: atol", atol), _check_tolerance(f"{where}: rtol", rtol)
        if (atol is None) != (rtol is None):
            atol, rtol = atol or 0.0, rtol or 0.0
        self.case.expectations.append(
            PccExpectation(_check_fraction(f"{where}: pcc", pcc), _check_ref(where, ref), atol, rtol)
        )
        return self

    def expect_correctness(self, ref: Callable | None = None, *, atol: float, rtol: float) -> CaseBuilder:
        """Require every element within ``atol + rtol * |expected|`` of the reference output."""
        where = self._where("expect_correctness")
        self.case.expectations.append(
            AllcloseExpectation(
                _check_tolerance(f"{where}: atol", atol),
                _check_tolerance(f"{where}: rtol", rtol),
                _check_ref(where, ref),
            )
        )
        return self

    def expect_perf(
        self, latency_ms: float, percentile: float = 0.5, *, warmup: int = 2, repeats: int = 10
    ) -> CaseBuilder:
        """Require the ``percentile`` latency <= ``latency_ms``.

        On the emulator the figure is the PREDICTED device time of the call's ops (roofline model of
        ``tttv2_hwconfig.perf_model``), one sample per captured call; ``warmup``/``repeats`` apply to
        real hardware only.
        """
        where = self._where("expect_perf")
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) or not latency_ms > 0:
            raise ValueError(f"{where}: latency_ms must be a number > 0, got {latency_ms!r}")
        for name, value, minimum in (("warmup", warmup, 0), ("repeats", repeats, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")
        self.case.expectations.append(
            PerfExpectation(
                float(latency_ms), _check_fraction(f"{where}: percentile", percentile), warmup, repeats
            )
        )
        return self

    def __repr__(self) -> str:
        return f"<CaseBuilder {self.case.case_id}>"


def _explicit_or_none(signature: inspect.Signature, inputs: dict[str, Any]) -> RecordedCall | None:
    # A bad dict is reported by the suite's setup check (with every other problem), not here.
    if explicit_input_problems(signature, inputs):
        return None
    return explicit_call(signature, inputs)
