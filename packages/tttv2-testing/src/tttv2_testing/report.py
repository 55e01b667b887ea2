"""Results of suite checks and the table they are printed as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """One row of a suite report: one metric of one case (on one captured call)."""

    case_id: str
    metric: str  # "pcc", "allclose", "latency_ms (PREDICTED)", "latency_ms (measured)", "error"
    figure: float | None  # None when the check could not produce a number (an error)
    figure_text: str
    threshold_text: str
    passed: bool
    detail: str = ""

    def failure_message(self) -> str:
        if self.metric == "error":
            return f"{self.case_id}: error {self.detail}"
        text = f"{self.case_id}: {self.metric} {self.figure_text} does not meet {self.threshold_text}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class SuiteReport:
    """Every check a ``TestSuite.run()`` made, in run order."""

    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def format_table(self) -> str:
        return format_results(self.results)

    def __str__(self) -> str:
        return self.format_table()


def format_results(results: list[CheckResult]) -> str:
    """A fixed-width table: case, metric, figure, threshold, PASS/FAIL (+ detail)."""
    headers = ("case", "metric", "figure", "threshold", "result")
    rows = [
        (r.case_id, r.metric, r.figure_text, r.threshold_text, "PASS" if r.passed else "FAIL")
        for r in results
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "-" * len(line)]
    for result, row in zip(results, rows):
        text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        if result.detail:
            text += f"  ({result.detail})"
        out.append(text)
    failed = sum(not r.passed for r in results)
    out.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(out)
