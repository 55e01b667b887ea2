"""pytest plugin (auto-loaded through the ``pytest11`` entry point when tttv2-testing is installed).

Options:
    --tt-device NAME      catalog device to test on; sets ``TTTV2_DEVICE`` before collection, so
                          ``open_device()`` / ``default_device_name()`` everywhere pick it up.
    --tt-module PATTERN   run only tests of modules whose path matches (fnmatch, repeatable; a
                          pattern may name the method: ``"layers.*.attention::forward_decode"``).
                          Tests without a module path are deselected while this option is given.

Suite cases as test items — decorate a function that builds and returns a ``TestSuite`` (or
yields it, to clean up after the session)::

    @collect_suite
    def llama_modules():
        model = build_model()
        suite = TestSuite(model)
        suite.add_case(model.layers[0].attention.forward_prefill).with_inputs(trace_fn=run).expect_pcc(0.99)
        return suite

Each case becomes one item, ``test_file.py::llama_modules::layers.0.attention::forward_prefill``
(select it with that node id, ``-k attention`` or ``--tt-module 'layers.*.attention'``). The function
runs at COLLECTION time (case ids need the model), its setup check too: a missing reference or
missing inputs is a collection error listing every problem. The suite's ``trace_fn`` runs once,
before the first of its items; each item then runs its own case.

Plain tests can join the module selection with ``@pytest.mark.tt_module("layers.0.attention")``.
Fixtures: ``tt_device_name`` (the device name in use) and ``tt_device`` (that device, opened once
per session).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator

import pytest

SUITE_FACTORY_ATTRIBUTE = "__tttv2_suite_factory__"


def collect_suite(factory: Callable) -> Callable:
    """Mark ``factory`` (returns or yields a ``TestSuite``) so pytest collects its cases as items."""
    if not callable(factory):
        raise TypeError(
            f"collect_suite: expected a function returning a TestSuite, got {type(factory).__name__}"
        )
    setattr(factory, SUITE_FACTORY_ATTRIBUTE, True)
    return factory


# ------------------------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tttv2", "TTTv2 model testing (tttv2-testing)")
    group.addoption(
        "--tt-device",
        dest="tt_device",
        default=None,
        metavar="NAME",
        help="catalog device to test on (N150, N300, T3K, TG, P150, ...); sets TTTV2_DEVICE",
    )
    group.addoption(
        "--tt-module",
        dest="tt_module",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only run tests of modules whose path matches this fnmatch pattern, e.g. 'layers.*.attention' "
        "or 'layers.0.*::forward_decode' (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tt_module(path): the TTTv2 module path a test covers (--tt-module selects it)"
    )
    device = config.getoption("tt_device", default=None)
    if device:
        from tttv2_hwconfig import device_spec  # noqa: PLC0415

        try:
            name = device_spec(device).name
        except ValueError as error:
            raise pytest.UsageError(f"--tt-device: {error}") from None
        os.environ["TTTV2_DEVICE"] = name


def pytest_report_header(config: pytest.Config) -> str | None:
    device = os.environ.get("TTTV2_DEVICE")
    return f"tttv2: device {device} (TTTV2_DEVICE)" if device else None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):
    try:  # every module attribute passes through here; never let an odd object break collection
        marked = callable(obj) and getattr(obj, SUITE_FACTORY_ATTRIBUTE, False) is True
    except Exception:  # noqa: BLE001
        marked = False
    return SuiteCollector.from_parent(collector, name=name, factory=obj) if marked else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns = config.getoption("tt_module", default=[])
    if not patterns:
        return
    from tttv2_testing.expectations import path_matches  # noqa: PLC0415

    selected, deselected = [], []
    for item in items:
        module_path, method = _module_of(item)
        chosen = module_path is not None and any(path_matches(p, module_path, method) for p in patterns)
        (selected if chosen else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _module_of(item: pytest.Item) -> tuple[str | None, str | None]:
    if isinstance(item, CaseItem):
        return item.case.module_path, item.case.method_name
    marker = item.get_closest_marker("tt_module")
    if marker is not None and marker.args:
        return str(marker.args[0]), None
    return None, None


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tt_device_name() -> str:
    """The catalog device name tests run on (``--tt-device``, else ``TTTV2_DEVICE``, else N150)."""
    from tttv2_hwconfig import default_device_name  # noqa: PLC0415

    return default_device_name()


@pytest.fixture(scope="session")
def tt_device(tt_device_name):
    """The device named by ``tt_device_name``, opened once per session and closed at the end."""
    from tttv2_hwconfig import close_device, open_device  # noqa: PLC0415

    device = open_device(tt_device_name)
    yield device
    close_device(device)


# ------------------------------------------------------------------------------------------- nodes


class CaseFailure(AssertionError):
    """A suite case failed; the message is the case's table (no traceback needed)."""


class SuiteCollector(pytest.Collector):
    """The items of one ``@collect_suite`` function, grouped by module path."""

    def __init__(self, *, factory: Callable, **kwargs):
        super().__init__(**kwargs)
        self.factory = factory
        self.suite = None
        self._capture_error: BaseException | None = None
        self._captured = False

    def _build_suite(self):
        from tttv2_testing.suite import TestSuite  # noqa: PLC0415

        if inspect.isgeneratorfunction(self.factory):
            generator = self.factory()
            suite = next(generator)
            self.config.add_cleanup(lambda: _finish(generator))
        else:
            suite = self.factory()
        if not isinstance(suite, TestSuite):
            raise TypeError(
                f"@collect_suite function {self.name} must return (or yield) a TestSuite, got {type(suite).__name__}"
            )
        return suite

    def collect(self) -> Iterator[pytest.Collector]:
        self.suite = self._build_suite()
        self.suite.check_setup(self.suite.cases)  # every problem, at collection, before anything runs
        by_module: dict[str, list] = {}
        for case in self.suite.cases:
            by_module.setdefault(case.module_path, []).append(case)
        for module_path, cases in by_module.items():
            yield ModuleCollector.from_parent(self, name=module_path, cases=cases)

    def ensure_captured(self) -> None:
        """Run the suite's trace_fns once (for all its cases); re-raise a capture error for every item."""
        if not self._captured:
            self._captured = True
            try:
                self.suite._seed()
                self.suite.capture(self.suite.cases)
            except BaseException as error:  # noqa: BLE001 - re-raised for each item below
                self._capture_error = error
        if self._capture_error is not None:
            raise self._capture_error


class ModuleCollector(pytest.Collector):
    """The cases of one module path (a node named e.g. ``layers.0.attention``)."""

    def __init__(self, *, cases: list, **kwargs):
        super().__init__(**kwargs)
        self.cases = cases

    def collect(self) -> Iterator[pytest.Item]:
        for case in self.cases:
            yield CaseItem.from_parent(self, name=case.case_id.split("::", 1)[1], case=case)


class CaseItem(pytest.Item):
    """One suite case; passes when every check of the case passes."""

    def __init__(self, *, case, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.results: list = []

    def runtest(self) -> None:
        from tttv2_testing.report import format_results  # noqa: PLC0415

        suite_node = self.getparent(SuiteCollector)
        suite_node.ensure_captured()
        self.results = suite_node.suite.run_case(self.case)
        table = format_results(self.results)
        for result in self.results:
            self.user_properties.append((result.metric, result.figure_text))  # e.g. into --junitxml
        failures = [r for r in self.results if not r.passed]
        if failures:
            lines = "\n".join(f.failure_message() for f in failures)
            raise CaseFailure(f"{lines}\n\n{table}")
        self.add_report_section("call", "tttv2 checks", table)  # shown with -rP

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        # The item's own name as the "domain": pytest rewrites dots of a domain into "::" in -v lines.
        return self.path, None, self.name


def _finish(generator) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    raise RuntimeError("a @collect_suite generator must yield exactly once")
