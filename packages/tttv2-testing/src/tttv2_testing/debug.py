"""Debug mode: compare every module's output with its reference while a model runs.

    with debug_mode(model, thresholds={"layers.*.attention": 0.995, "*": 0.99}) as report:
        model.prefill_forward(tokens)
    report.first_failure   # the first module (in completion order) below its threshold

Every module instance found in ``model`` (``module_tree.walk_modules``) gets its forward methods
wrapped for the duration. Each call converts the module's ACTUAL inputs to torch, runs the
module, runs its reference on those same inputs and records the PCC. Because each module is
judged on its own real inputs, the first row below threshold (children finish before their
parents, so rows are in completion order) is where accuracy is lost, not merely where the loss
becomes visible. A module without a reference gets a row marked "no reference"; a reference that
fails gets a row with the error; neither stops the model run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .calls import method_signature, reference_view
from .conversion import to_torch_tree
from .module_tree import forward_methods, module_path_of, walk_modules
from .patching import wrapped_method
from .pcc import compute_pcc
from .references import ReferenceResolver, call_reference, composer_for, is_stateful, output_pairs
from .tracing import python_forwards

DEFAULT_PCC_THRESHOLD = 0.99


@dataclass(frozen=True)
class DebugRow:
    """One module call: its PCC against the reference and the threshold it is held to."""

    order: int
    module_path: str
    method: str
    call_index: int
    pcc: float | None
    threshold: float
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """True/False when a PCC was computed, None when the module could not be compared."""
        return None if self.pcc is None else self.pcc >= self.threshold


class DebugReport:
    """The rows debug mode collected, in completion order."""

    def __init__(self):
        self.rows: list[DebugRow] = []

    @property
    def first_failure(self) -> DebugRow | None:
        """The first row below its threshold, or None when every compared module passed."""
        return next((row for row in self.rows if row.passed is False), None)

    def format_table(self) -> str:
        first = self.first_failure
        header = f"{'#':>3}  {'module':<36} {'method':<16} {'call':>4} {'pcc':>10} {'threshold':>9}  result"
        lines = ["debug mode: per-module PCC against the reference (each on its own actual inputs)", header]
        lines.append("-" * len(header))
        for row in self.rows:
            pcc = "-" if row.pcc is None else f"{row.pcc:.6f}"
            result = {True: "ok", False: "LOW", None: row.note}[row.passed]
            line = (
                f"{row.order:>3}  {row.module_path[:36]:<36} {row.method[:16]:<16} {row.call_index:>4} "
                f"{pcc:>10} {row.threshold:>9g}  {result}"
            )
            if row.passed is not None and row.note:
                line += f" ({row.note})"
            if row is first:
                line += "  <-- first below threshold"
            lines.append(line)
        skipped = sum(row.passed is None for row in self.rows)
        if skipped:
            lines.append(
                f"{skipped} call(s) not compared (no reference or a reference error; see the result column)"
            )
        if first is None:
            lines.append("every compared module is at or above its threshold")
        else:
            lines.append(
                f"accuracy is first lost in {first.module_path}::{first.method} (pcc {first.pcc:.6f} < {first.threshold:g})"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def _threshold_lookup(thresholds: Any) -> Callable[[str, str], float]:
    """``(module_path, method) -> pcc`` from a number, a pattern mapping or an expectations selection."""
    if thresholds is None:
        return lambda path, method: DEFAULT_PCC_THRESHOLD
    if isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool):
        value = float(thresholds)
        return lambda path, method: value
    if hasattr(thresholds, "pcc_for"):  # ExpectationSelection
        return lambda path, method: thresholds.pcc_for(path, method) or DEFAULT_PCC_THRESHOLD
    if isinstance(thresholds, Mapping):
        items = list(thresholds.items())

        def lookup(path: str, method: str) -> float:
            for pattern, value in items:  # first matching pattern wins, as written
                if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(f"{path}::{method}", pattern):
                    return float(value)
            return DEFAULT_PCC_THRESHOLD

        return lookup
    raise TypeError(
        f"debug_mode: thresholds must be a number, a {{module path pattern: pcc}} dict or an expectations "
        f"selection, got {type(thresholds).__name__}"
    )


@contextlib.contextmanager
def debug_mode(
    model: Any,
    thresholds: Any = None,
    *,
    methods: tuple[str, ...] | None = None,
    max_calls: int | None = None,
    print_report: bool = True,
    file: TextIO | None = None,
) -> Iterator[DebugReport]:
    """Compare every module's output with its reference while the ``with`` block runs the model.

    Args:
        model: the root module; every module instance inside it is wrapped (the root too).
        thresholds: minimum PCC: one number for all, a dict ``{fnmatch pattern of module path (or
            "path::method"): pcc}`` (first match wins; unmatched modules use 0.99), or a selection
            from ``load_expectations(...).select(...)``. Default 0.99.
        methods: forward method names to wrap; default every one of ``FORWARD_METHODS`` a module has.
        max_calls: compare only the first ``max_calls`` calls of each module method (a long generate
            makes many rows); later calls still feed a stateful reference (``reference_is_stateful``)
            so its history stays complete. Default: every call.
        print_report: print the table when the block ends (also when it raises).
        file: where to print (default ``sys.stdout``).

    Yields:
        A ``DebugReport`` that fills up as modules run.
    """
    if max_calls is not None and (
        isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1
    ):
        raise ValueError(f"debug_mode: max_calls must be an int >= 1 or None, got {max_calls!r}")
    threshold_of = _threshold_lookup(thresholds)
    report = DebugReport()
    references = ReferenceResolver()
    counts: dict[tuple[int, str], int] = {}

    def make_recorder(instance: Any, path: str, method_name: str) -> Callable[[Callable], Callable]:
        def make_wrapper(original: Callable) -> Callable:
            signature = method_signature(original)

            def comparing(*args, **kwargs):
                key = (id(instance), method_name)
                call_index = counts.get(key, 0)
                counts[key] = call_index + 1
                compared = max_calls is None or call_index < max_calls
                if not compared and not is_stateful(instance):
                    return original(*args, **kwargs)
                threshold = threshold_of(path, method_name)
                try:
                    reference = references.find(instance, method_name)
                    arguments = dict(signature.bind(*args, **kwargs).arguments)
                    converted = {
                        name: to_torch_tree(
                            value, composer_for(instance, method_name, name), what=f"{path} {name}"
                        )
                        for name, value in arguments.items()
                    }
                    torch_args = reference_view(signature, converted)
                    problem = None if reference is not None else "no reference"
                except Exception as error:  # noqa: BLE001 - debugging must not stop the model
                    reference, problem = None, f"inputs not comparable: {type(error).__name__}: {error}"
                output = original(*args, **kwargs)
                pcc, note = None, problem or ""
                if reference is not None:
                    try:
                        expected = call_reference(reference, instance, method_name, torch_args)
                        if compared:
                            composer = composer_for(instance, method_name, "output")
                            actual = to_torch_tree(output, composer, what=f"{path} output")
                            pcc = min(compute_pcc(e, a) for e, a in output_pairs(expected, actual, path))
                    except Exception as error:  # noqa: BLE001
                        note = f"reference error: {type(error).__name__}: {error}"
                if compared:
                    report.rows.append(
                        DebugRow(len(report.rows), path, method_name, call_index, pcc, threshold, note)
                    )
                return output

            return comparing

        return make_wrapper

    with contextlib.ExitStack() as stack:
        stack.enter_context(python_forwards(model))  # a trace replay would call no module
        for walked_path, instance in walk_modules(model):
            path = module_path_of(instance, None) if not walked_path else _display_path(instance, walked_path)
            for method_name in methods or forward_methods(instance):
                if callable(getattr(type(instance), method_name, None)):
                    stack.enter_context(
                        wrapped_method(instance, method_name, make_recorder(instance, path, method_name))
                    )
        try:
            yield report
        finally:
            if print_report:
                print("\n" + report.format_table(), file=file or sys.stdout)


def _display_path(instance: Any, walked_path: str) -> str:
    own = getattr(instance, "module_path", None)
    if isinstance(own, str) and own and own != type(instance).__name__:
        return own
    return walked_path
