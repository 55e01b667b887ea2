"""Conformance suite setup: point the real ttnn at the shipped mock n150 cluster descriptor.

Must happen before ``ttnn`` is first imported: the wheel reads ``TT_METAL_MOCK_CLUSTER_DESC_PATH``
when it creates its (mocked) cluster, which block-float host conversions need. The tests
themselves skip unless the real ``ttnn`` is importable (python3.12 + ``ttnn==0.81.1``).
"""

import importlib.util
import os
from pathlib import Path

# find_spec locates the installed package without importing it (and so without importing ttnn).
_SPEC = importlib.util.find_spec("tttv2_hwconfig")
if _SPEC is not None and _SPEC.origin is not None:
    MOCK_CLUSTER_DESCRIPTOR = Path(_SPEC.origin).parent / "data" / "mock_cluster_n150.yaml"
    os.environ.setdefault("TT_METAL_MOCK_CLUSTER_DESC_PATH", str(MOCK_CLUSTER_DESCRIPTOR))
# The wheel logs every mocked driver call; errors still surface as Python exceptions.
os.environ.setdefault("TT_LOGGER_LEVEL", "FATAL")

import collections  # noqa: E402

import pytest  # noqa: E402

_STATS_KEY = pytest.StashKey["ConformanceStats"]()


class ConformanceStats:
    """Tensors and elements compared bit for bit, per format; printed in the terminal summary."""

    def __init__(self) -> None:
        self.tensors: collections.Counter[str] = collections.Counter()
        self.elements: collections.Counter[str] = collections.Counter()

    def add(self, dtype: str, elements: int) -> None:
        self.tensors[dtype] += 1
        self.elements[dtype] += elements


@pytest.fixture(scope="session")
def conformance_stats(request) -> ConformanceStats:
    return request.config.stash.setdefault(_STATS_KEY, ConformanceStats())


def pytest_terminal_summary(terminalreporter, config) -> None:
    _print_rule_coverage(terminalreporter)
    stats = config.stash.get(_STATS_KEY, None)
    if stats is None or not stats.tensors:
        return
    terminalreporter.section("numerics conformance against the real ttnn")
    for dtype in sorted(stats.tensors):
        terminalreporter.write_line(
            f"{dtype:28s} {stats.tensors[dtype]:5d} tensors {stats.elements[dtype]:10d} elements bit-compared"
        )
    terminalreporter.write_line(
        f"{'total':28s} {sum(stats.tensors.values()):5d} tensors {sum(stats.elements.values()):10d} elements"
    )


def _print_rule_coverage(terminalreporter) -> None:
    """Rule coverage per op: rules mirrored, rules listed as not mirrored, violating cases."""
    if importlib.util.find_spec("ttnn") is None:
        return  # the report belongs to the conformance venv
    from _rule_sources import coverage_rows  # noqa: PLC0415 - imports the emulator

    rows = coverage_rows()
    terminalreporter.section("emulator rule coverage per op (tests/emulator/rules)")
    terminalreporter.write_line(f"{'op':36s} {'mirrored':>8s} {'not mirrored':>12s} {'cases':>6s}")
    for op, mirrored, skipped, cases in rows:
        terminalreporter.write_line(f"{op:36s} {mirrored:8d} {skipped:12d} {cases:6d}")
    totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    terminalreporter.write_line(f"{'total':36s} {totals[0]:8d} {totals[1]:12d} {totals[2]:6d}")
