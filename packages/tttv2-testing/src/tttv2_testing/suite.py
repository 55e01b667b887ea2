"""The fluent TestSuite: module methods, their inputs (explicit or captured), accuracy and perf checks.

    with TestSuite(model, seed=1234) as suite:
        (suite.add_case(model.layers[0].attention.forward_prefill)
            .with_inputs(trace_fn=sample_run)
            .expect_pcc(0.99)
            .expect_perf(latency_ms=5.0))
        suite.run()

``run()`` works in three phases:

1. **Setup check** — every case has inputs, the explicit inputs fit the method's signature, every
   accuracy expectation has a reference (``ref=`` or one registered on the instance), every case
   expects something. ALL problems are reported together in one ``SuiteSetupError`` before any
   model code runs.
2. **Capture** — each distinct ``trace_fn`` object runs ONCE while every method under test that
   uses it is wrapped on its instance (again at a later ``run()`` only if new cases need methods
   it did not capture); the first ``max_calls`` calls of each are copied to the host
   (see ``InputCapture``). A method the run never called is a setup error.
3. **Cases** — each case calls its method on fresh device copies of every captured (or explicit)
   call, converts inputs and outputs to torch, runs the reference and compares; perf expectations
   measure (hardware) or PREDICT (emulator) latency. A table of every check is printed; any failure
   raises ``AssertionError`` naming the case, the figure and the threshold.

Leaving the ``with`` block without an exception runs the cases that were added but not yet run (so
forgetting ``suite.run()`` cannot silently skip tests); an exception inside the block runs nothing.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any, TextIO

import torch
from tttv2_hwconfig import ttnn_is_emulated

from .calls import RecordedCall, explicit_input_problems, invoke, materialize, reference_view
from .capture import InputCapture, method_key
from .case import AllcloseExpectation, Case, CaseBuilder, PccExpectation, PerfExpectation
from .conversion import to_torch_tree
from .module_tree import module_path_of
from .pcc import comp_allclose, compute_pcc
from .perf import LatencyResult, TraceWindow, device_name, find_device, measure_latency_ms, percentile
from .references import ReferenceResolver, call_reference, composer_for, is_stateful, output_pairs
from .replay import ReferenceReplay
from .report import CheckResult, SuiteReport, format_results
from .tracing import python_forwards


class SuiteSetupError(ValueError):
    """Cases are not set up to run; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"TestSuite is not set up ({len(self.problems)} problem(s)); nothing was run:\n{lines}"
        )


class TestSuite:
    """Unit tests of a model's modules against their references, with inputs from a real run.

    Args:
        model: the model the modules belong to; used to name modules by attribute path
            (``layers.0.attention``) when they do not carry a ``module_path``. May be None.
        seed: torch/python RNG seed, set when the ``with`` block is entered and again at ``run()``.
        max_captured_calls: default number of captured calls each trace_fn case runs on.
        verbose: print the report table after ``run()``.
        file: where to print (default ``sys.stdout``).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        model: Any = None,
        seed: int = 1234,
        *,
        max_captured_calls: int = 1,
        verbose: bool = True,
        file: TextIO | None = None,
    ):
        if (
            isinstance(max_captured_calls, bool)
            or not isinstance(max_captured_calls, int)
            or max_captured_calls < 1
        ):
            raise ValueError(f"TestSuite: max_captured_calls must be an int >= 1, got {max_captured_calls!r}")
        self.model = model
        self.seed = seed
        self.max_captured_calls = max_captured_calls
        self.verbose = verbose
        self.file = file
        self.cases: list[Case] = []
        self.report = SuiteReport([])
        self._references = ReferenceResolver()
        # (id(trace_fn), method key) -> captured calls, and the max_calls they were captured with.
        self._captured: dict[tuple[int, tuple[int, str]], list[RecordedCall]] = {}
        self._capture_limits: dict[tuple[int, tuple[int, str]], int] = {}
        # Same keys -> {call index: output} of stateful references replayed during the trace.
        self._replayed: dict[tuple[int, tuple[int, str]], dict[int, Any]] = {}

    # ------------------------------------------------------------------ building
    def __enter__(self) -> TestSuite:
        self._seed()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None and self.pending_cases:
            self.run()
        return False

    def add_case(self, method: Callable) -> CaseBuilder:
        """Register a bound method of a module instance, e.g. ``model.layers[0].attention.forward_prefill``.

        Returns:
            A ``CaseBuilder``: chain ``.with_inputs(...)`` and ``.expect_*(...)``.

        Raises:
            TypeError: ``method`` is not a method bound to an instance.
        """
        method_key(method)  # raises TypeError for functions, classes, unbound methods
        instance = method.__self__
        path = module_path_of(instance, self.model)
        case_id = f"{path}::{method.__name__}"
        taken = {c.case_id for c in self.cases}
        if case_id in taken:
            n = 2
            while f"{case_id}#{n}" in taken:
                n += 1
            case_id = f"{case_id}#{n}"
        case = Case(method=method, case_id=case_id, module_path=path, max_calls=self.max_captured_calls)
        self.cases.append(case)
        return CaseBuilder(case)

    add_test = add_case  # the design document's name

    @property
    def pending_cases(self) -> list[Case]:
        return [c for c in self.cases if not c.has_run]

    # ------------------------------------------------------------------ phase 1: setup check
    def setup_problems(self, cases: list[Case] | None = None) -> list[str]:
        """Every reason ``cases`` (default: the pending ones) cannot run; empty when all is well."""
        problems = []
        for case in self.pending_cases if cases is None else cases:
            where = case.case_id
            if case.inputs is None and case.trace_fn is None:
                problems.append(
                    f"{where}: no inputs (add .with_inputs({{...}}) or .with_inputs(trace_fn=...))"
                )
            elif case.inputs is not None:
                problems += [
                    f"{where}: inputs: {p}" for p in explicit_input_problems(case.signature, case.inputs)
                ]
            if not case.expectations:
                problems.append(
                    f"{where}: no expectations (add .expect_pcc / .expect_correctness / .expect_perf)"
                )
            for expectation in case.accuracy_expectations:
                try:
                    reference = self._references.find(case.instance, case.method_name, expectation.ref)
                except Exception as error:  # noqa: BLE001 - reported with every other problem
                    problems.append(
                        f"{where}: the reference could not be built: {type(error).__name__}: {error}"
                    )
                    continue
                if reference is None:
                    problems.append(
                        f"{where}: no reference (pass ref= to {_expect_name(expectation)}, set "
                        f"{type(case.instance).__name__}.reference, or implement torch_reference())"
                    )
        return list(dict.fromkeys(problems))  # one line per problem even when two expectations share it

    def check_setup(self, cases: list[Case] | None = None) -> None:
        """Raise ``SuiteSetupError`` listing every problem of ``cases`` (default: the pending ones)."""
        problems = self.setup_problems(cases)
        if problems:
            raise SuiteSetupError(problems)

    # ------------------------------------------------------------------ phase 2: capture
    def capture(self, cases: list[Case] | None = None) -> None:
        """Run each distinct ``trace_fn`` of ``cases`` once, capturing every method under test.

        Raises:
            SuiteSetupError: a method under test was never called by its ``trace_fn``.
        """
        cases = self.pending_cases if cases is None else cases
        by_trace_fn: dict[int, list[Case]] = {}
        for case in cases:
            if case.trace_fn is not None and not self._has_capture(case):
                by_trace_fn.setdefault(id(case.trace_fn), []).append(case)
        for trace_cases in by_trace_fn.values():
            trace_fn = trace_cases[0].trace_fn
            limits: dict[tuple[int, str], int] = {}
            for case in trace_cases:
                key = method_key(case.method)
                limits[key] = max(limits.get(key, 0), case.max_calls)
            stateful = [
                c.instance for c in trace_cases if is_stateful(c.instance) and _uses_registered_reference(c)
            ]
            with (
                python_forwards(self.model),  # a trace replay would call no module
                InputCapture([c.method for c in trace_cases], max_calls=limits) as capture,
                ReferenceReplay(stateful, self._references, limits) as replay,
            ):
                trace_fn()
            for case in trace_cases:
                slot = (id(trace_fn), method_key(case.method))
                self._captured[slot] = capture.calls(case.method)
                self._capture_limits[slot] = limits[slot[1]]
                if any(module is case.instance for module in stateful):
                    self._replayed[slot] = replay.outputs(case.instance, case.method_name)
        problems = [
            f"{c.case_id}: trace_fn {_name(c.trace_fn)} never called this method (captured no inputs)"
            for c in cases
            if c.trace_fn is not None and not self._calls_of(c)
        ]
        if problems:
            raise SuiteSetupError(list(dict.fromkeys(problems)))

    def _has_capture(self, case: Case) -> bool:
        """True when an earlier run of the case's trace_fn captured enough calls of its method."""
        slot = (id(case.trace_fn), method_key(case.method))
        return slot in self._captured and self._capture_limits[slot] >= case.max_calls

    def _calls_of(self, case: Case) -> list[RecordedCall]:
        if case.trace_fn is None:
            return [case.explicit] if case.explicit is not None else []
        return self._captured.get((id(case.trace_fn), method_key(case.method)), [])[: case.max_calls]

    def captured_calls(self, method: Callable) -> list[RecordedCall]:
        """Every call captured for ``method`` (over all trace_fns), e.g. to inspect shapes."""
        key = method_key(method)
        return [call for (_, k), calls in self._captured.items() if k == key for call in calls]

    # ------------------------------------------------------------------ phase 3: cases
    def run_case(self, case: Case) -> list[CheckResult]:
        """Run one (set up and captured) case; return its checks without raising on failure."""
        calls = self._calls_of(case)
        if not calls:
            case.has_run = True
            why = (
                "trace_fn captured no call of this method" if case.trace_fn is not None else "no valid inputs"
            )
            return [_error_result(case.case_id, "preparing inputs", LookupError(why))]
        results: list[CheckResult] = []
        samples_ms: list[float] = []
        device = None
        for call in calls:
            label = case.case_id if len(calls) == 1 else f"{case.case_id}[call {call.call_index}]"
            try:
                torch_args = self._reference_arguments(case, call)
                device = find_device(case.instance, *call.arguments.values()) or device
                with TraceWindow(device) as window:
                    output = invoke(case.method, case.signature, call.arguments)
                actual = to_torch_tree(output, self._composer_for(case, "output"), what=f"{label} output")
            except Exception as error:  # noqa: BLE001 - one broken case must not hide the others
                results.append(_error_result(label, "running the method", error))
                continue
            for expectation in case.accuracy_expectations:
                results += self._accuracy_results(case, call, label, expectation, torch_args, actual)
            if case.perf_expectations and ttnn_is_emulated:
                try:
                    samples_ms.append(window.predicted_latency_ms())
                except Exception as error:  # noqa: BLE001
                    results.append(_error_result(label, "predicting latency", error))
        for expectation in case.perf_expectations:
            results += self._perf_results(case, calls, expectation, samples_ms, device)
        case.has_run = True
        return results

    def run(self) -> SuiteReport:
        """Check, capture and run every pending case; print the table; raise on any failure.

        Returns:
            The ``SuiteReport`` of this run (also kept as ``suite.report``).

        Raises:
            SuiteSetupError: a case is not set up (nothing ran).
            AssertionError: a check failed; the message names each failing case, figure and threshold.
        """
        cases = self.pending_cases
        self.check_setup(cases)
        self._seed()
        self.capture(cases)
        results = []
        for case in cases:
            results += self.run_case(case)
        self.report = SuiteReport(results)
        if self.verbose:
            print(
                f"\nTestSuite report ({len(cases)} case(s))\n{format_results(results)}",
                file=self.file or sys.stdout,
            )
        failures = self.report.failures
        if failures:
            lines = "\n".join(f"  {f.failure_message()}" for f in failures)
            raise AssertionError(f"TestSuite: {len(failures)} of {len(results)} check(s) failed:\n{lines}")
        return self.report

    # ------------------------------------------------------------------ helpers
    def _seed(self) -> None:
        torch.manual_seed(self.seed)
        random.seed(self.seed)

    def _composer_for(self, case: Case, name: str) -> Callable[[Any], Any] | None:
        return composer_for(case.instance, case.method_name, name)

    def _reference_arguments(self, case: Case, call: RecordedCall) -> dict[str, Any] | None:
        if not case.accuracy_expectations:
            return None
        converted = {
            name: to_torch_tree(
                value, self._composer_for(case, name), what=f"{case.case_id} argument {name!r}"
            )
            for name, value in call.arguments.items()
        }
        return reference_view(case.signature, converted)

    def _expected_output(
        self, case: Case, call: RecordedCall, expectation, torch_args: dict[str, Any]
    ) -> Any:
        slot = (id(case.trace_fn), method_key(case.method))
        if expectation.ref is None and slot in self._replayed:
            replayed = self._replayed[slot].get(
                call.call_index, LookupError("the replayed reference saw no such call")
            )
            if isinstance(replayed, Exception):
                raise replayed
            return replayed
        reference = self._references.find(case.instance, case.method_name, expectation.ref)
        return call_reference(reference, case.instance, case.method_name, torch_args)

    def _accuracy_results(
        self, case: Case, call: RecordedCall, label: str, expectation, torch_args: dict[str, Any], actual: Any
    ) -> list[CheckResult]:
        try:
            expected = self._expected_output(case, call, expectation, torch_args)
            pairs = output_pairs(expected, actual, label)
        except Exception as error:  # noqa: BLE001
            return [_error_result(label, "running the reference", error)]
        results = []
        if isinstance(expectation, PccExpectation):
            value = min(compute_pcc(e, a) for e, a in pairs)
            results.append(
                CheckResult(
                    label, "pcc", value, f"{value:.6f}", f">= {expectation.pcc}", value >= expectation.pcc
                )
            )
        if expectation.atol is not None:
            checks = [comp_allclose(e, a, atol=expectation.atol, rtol=expectation.rtol) for e, a in pairs]
            worst = max(diff for _, diff in checks)
            results.append(
                CheckResult(
                    label,
                    "allclose",
                    worst,
                    f"max|diff|={worst:.4g}",
                    f"atol={expectation.atol:g}, rtol={expectation.rtol:g}",
                    all(ok for ok, _ in checks),
                )
            )
        return results

    def _perf_results(
        self,
        case: Case,
        calls: list[RecordedCall],
        expectation: PerfExpectation,
        samples_ms: list[float],
        device,
    ) -> list[CheckResult]:
        if not ttnn_is_emulated:
            try:
                samples_ms = []
                for call in calls:
                    samples_ms += measure_latency_ms(
                        lambda call=call: materialize(case.signature, call.arguments),
                        lambda prepared: case.method(*prepared[0], **prepared[1]),
                        device,
                        warmup=expectation.warmup,
                        repeats=expectation.repeats,
                    )
            except Exception as error:  # noqa: BLE001
                return [_error_result(case.case_id, "measuring latency", error)]
        if not samples_ms:
            return []  # the call itself failed; that error is already reported
        result = LatencyResult(
            latency_ms=percentile(samples_ms, expectation.percentile),
            percentile=expectation.percentile,
            samples_ms=tuple(samples_ms),
            predicted=ttnn_is_emulated,
            device_name=device_name(device),
        )
        metric = "latency_ms (PREDICTED)" if result.predicted else "latency_ms (measured)"
        return [
            CheckResult(
                case.case_id,
                metric,
                result.latency_ms,
                f"{result.latency_ms:.4f}",
                f"<= {expectation.latency_ms:g}",
                result.latency_ms <= expectation.latency_ms,
                result.label,
            )
        ]


def _uses_registered_reference(case: Case) -> bool:
    return any(e.ref is None for e in case.accuracy_expectations)


def _expect_name(expectation) -> str:
    return "expect_correctness" if isinstance(expectation, AllcloseExpectation) else "expect_pcc"


def _name(fn: Callable) -> str:
    return (
        getattr(fn, "__qualname__", None)
        or getattr(getattr(fn, "func", None), "__qualname__", None)
        or repr(fn)
    )


def _error_result(label: str, doing: str, error: BaseException) -> CheckResult:
    return CheckResult(
        label, "error", None, "-", "-", False, f"while {doing}: {type(error).__name__}: {error}"
    )
