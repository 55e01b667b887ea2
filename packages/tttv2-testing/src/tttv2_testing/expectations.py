"""Per-model accuracy and performance expectations kept in a YAML file, selectable by device and path.

File format — module path pattern (fnmatch, optionally ``::method`` pattern) -> device -> figures::

    # expectations of a tiny Llama on TTTv2 (thresholds: see each block's tests for why)
    "layers.*.attention::forward_prefill":
      default: {pcc: 0.99}                 # every device
      N150:    {latency_ms: 0.5}            # merged over default on N150
    "layers.*.feed_forward":               # every forward method of those modules
      N150: {pcc: 0.995, latency_ms: 0.2, percentile: 0.9}
      T3K:  {pcc: 0.99,  latency_ms: 0.1}

Fields: ``pcc``, ``atol``, ``rtol`` (accuracy), ``latency_ms``, ``percentile`` (perf). Device keys are
catalog names (case-insensitive) or ``default``. For a given module and method the FIRST matching
entry in file order applies, so write specific entries before general ones.

    selection = load_expectations("expectations.yaml").select(device="N150", pattern="layers.*.attention")
    selection.add_to(suite, trace_fn=sample_run)     # one suite case per matching module method
    with debug_mode(model, thresholds=selection): ...  # or as debug-mode thresholds
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from tttv2_hwconfig import device_spec

from .module_tree import forward_methods, module_path_of, walk_modules

DEFAULT_DEVICE_KEY = "default"


@dataclass(frozen=True)
class ModuleExpectation:
    """The figures one file entry expects on one device (None = not expected)."""

    module_pattern: str
    method_pattern: str
    device: str
    pcc: float | None = None
    atol: float | None = None
    rtol: float | None = None
    latency_ms: float | None = None
    percentile: float = 0.5

    def matches(self, module_path: str, method: str) -> bool:
        return fnmatch.fnmatchcase(module_path, self.module_pattern) and fnmatch.fnmatchcase(
            method, self.method_pattern
        )

    @property
    def is_empty(self) -> bool:
        return self.pcc is None and self.atol is None and self.latency_ms is None


_FIGURES = tuple(
    f.name for f in fields(ModuleExpectation) if f.name not in ("module_pattern", "method_pattern", "device")
)


def path_matches(pattern: str | None, module_path: str, method: str | None = None) -> bool:
    """fnmatch ``pattern`` against ``module_path``, or against ``path::method`` when it holds ``::``."""
    if pattern is None:
        return True
    if "::" in pattern:
        if method is None:
            return fnmatch.fnmatchcase(module_path, pattern.split("::", 1)[0])
        return fnmatch.fnmatchcase(f"{module_path}::{method}", pattern)
    return fnmatch.fnmatchcase(module_path, pattern)


class ExpectationSelection(Sequence):
    """The expectations of one device, restricted to modules matching ``pattern``."""

    def __init__(self, device: str, pattern: str | None, expectations: list[ModuleExpectation]):
        self.device = device
        self.pattern = pattern
        self._expectations = expectations

    def __getitem__(self, index):
        return self._expectations[index]

    def __len__(self) -> int:
        return len(self._expectations)

    def __iter__(self) -> Iterator[ModuleExpectation]:
        return iter(self._expectations)

    def __repr__(self) -> str:
        return f"ExpectationSelection(device={self.device!r}, pattern={self.pattern!r}, {len(self)} entries)"

    def for_module(self, module_path: str, method: str) -> ModuleExpectation | None:
        """The first entry matching ``module_path::method`` inside the selection, else None."""
        if not path_matches(self.pattern, module_path, method):
            return None
        return next((e for e in self._expectations if e.matches(module_path, method)), None)

    def pcc_for(self, module_path: str, method: str) -> float | None:
        entry = self.for_module(module_path, method)
        return entry.pcc if entry is not None else None

    def add_to(
        self,
        suite,
        model: Any = None,
        *,
        trace_fn=None,
        inputs: dict | None = None,
        methods: Sequence[str] | None = None,
    ) -> list:
        """Add one suite case per (module, method) of ``model`` that an entry covers.

        Args:
            suite: a ``TestSuite``.
            model: the model to walk (default ``suite.model``).
            trace_fn: the run that captures inputs (usually); or ``inputs`` for explicit ones.
            methods: forward method names to consider (default every forward method of the module).

        Returns:
            The ``CaseBuilder`` of every added case (chain further expectations if needed).
        """
        model = suite.model if model is None else model
        if model is None:
            raise ValueError("add_to: no model to walk (pass model= or build the TestSuite with a model)")
        builders = []
        for _, instance in walk_modules(model):
            path = module_path_of(instance, model)
            for method in methods or forward_methods(instance):
                entry = self.for_module(path, method)
                if entry is None or not callable(getattr(type(instance), method, None)):
                    continue
                builder = suite.add_case(getattr(instance, method))
                builder.with_inputs(inputs, trace_fn=trace_fn)
                if entry.pcc is not None:
                    builder.expect_pcc(entry.pcc, atol=entry.atol, rtol=entry.rtol)
                elif entry.atol is not None or entry.rtol is not None:
                    builder.expect_correctness(atol=entry.atol or 0.0, rtol=entry.rtol or 0.0)
                if entry.latency_ms is not None:
                    builder.expect_perf(latency_ms=entry.latency_ms, percentile=entry.percentile)
                builders.append(builder)
        return builders


class Expectations:
    """A parsed expectations file: ``{entry key: {device: {figure: value}}}``."""

    def __init__(self, entries: dict[str, dict[str, dict[str, float]]], source: str = "<expectations>"):
        self.source = source
        self.entries = entries

    @property
    def devices(self) -> list[str]:
        """Device names any entry mentions (``default`` excluded)."""
        names = {d for per_device in self.entries.values() for d in per_device if d != DEFAULT_DEVICE_KEY}
        return sorted(names)

    def select(self, device: str, pattern: str | None = None) -> ExpectationSelection:
        """Expectations on ``device`` (``default`` merged under the device's own figures) for modules
        whose path matches ``pattern`` (fnmatch; ``"layers.*.attention"`` or ``"layers.0.*::forward_decode"``).
        """
        name = device_spec(device).name
        chosen = []
        for key, per_device in self.entries.items():
            module_pattern, _, method_pattern = key.partition("::")
            merged = dict(per_device.get(DEFAULT_DEVICE_KEY, {}))
            merged.update(per_device.get(name, {}))
            entry = ModuleExpectation(module_pattern, method_pattern or "*", name, **merged)
            if not entry.is_empty:
                chosen.append(entry)
        return ExpectationSelection(name, pattern, chosen)


def load_expectations(path: str | Path) -> Expectations:
    """Read and validate an expectations YAML file (format in this module's docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not in the format; the message names the file, entry, device and field.
    """
    path = Path(path)
    with path.open() as stream:
        data = yaml.safe_load(stream)
    return parse_expectations(data if data is not None else {}, str(path))


def parse_expectations(data: Any, source: str = "<expectations>") -> Expectations:
    """Validate already-loaded expectation data (a dict as the YAML file holds)."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{source}: expected a mapping of module path pattern -> devices, got {type(data).__name__}"
        )
    entries: dict[str, dict[str, dict[str, float]]] = {}
    for key, per_device in data.items():
        where = f"{source}: {key!r}"
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"{where}: entry keys must be module path patterns (strings)")
        if not isinstance(per_device, dict):
            raise ValueError(
                f"{where}: expected a mapping of device -> figures, got {type(per_device).__name__}"
            )
        entries[key] = {}
        for device, figures in per_device.items():
            name = _device_key(f"{where}", device)
            entries[key][name] = _figures(f"{where}: {device}", figures)
    return Expectations(entries, source)


def _device_key(where: str, device: Any) -> str:
    if device == DEFAULT_DEVICE_KEY:
        return device
    try:
        return device_spec(str(device)).name
    except ValueError as error:
        raise ValueError(f"{where}: device {device!r}: {error} (or '{DEFAULT_DEVICE_KEY}')") from None


def _figures(where: str, figures: Any) -> dict[str, float]:
    if not isinstance(figures, dict):
        raise ValueError(f"{where}: expected a mapping of figure -> number, got {type(figures).__name__}")
    out = {}
    for name, value in figures.items():
        if name not in _FIGURES:
            raise ValueError(f"{where}: unknown field {name!r} (fields: {', '.join(_FIGURES)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
        if name in ("pcc", "percentile") and not 0 < value <= 1:
            raise ValueError(f"{where}: {name} must be in (0, 1], got {value}")
        if name in ("atol", "rtol") and value < 0:
            raise ValueError(f"{where}: {name} must be >= 0, got {value}")
        if name == "latency_ms" and value <= 0:
            raise ValueError(f"{where}: latency_ms must be > 0, got {value}")
        out[name] = float(value)
    return out
