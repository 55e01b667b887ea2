"""Add up the JUnit XML reports of every pytest run of a nox invocation.

``.ci/run`` points ``TTTV2_JUNIT_DIR`` at an empty folder, every session that runs pytest writes one
report there, and this prints one closing line ``gate: N passed, N failed, N skipped`` over all of
them. It exits 1 when nothing passed, so a gate that ran no test cannot look green.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def totals(report_dir: Path) -> dict[str, int]:
    """Sum tests/failures/errors/skipped over every ``*.xml`` report under ``report_dir``."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "reports": 0}
    for report in sorted(report_dir.glob("*.xml")):
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for key in ("tests", "failures", "errors", "skipped"):
                counts[key] += int(suite.get(key, 0))
        counts["reports"] += 1
    return counts


def main(argv: list[str]) -> int:
    """CLI: ``python junit_summary.py <report dir> [label]``."""
    report_dir = Path(argv[0])
    label = argv[1] if len(argv) > 1 else "gate"
    counts = totals(report_dir) if report_dir.is_dir() else totals(Path("/nonexistent"))
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    print(f"{counts['reports']} pytest reports in {report_dir}")
    print(f"{label}: {passed} passed, {failed} failed, {counts['skipped']} skipped")
    if passed == 0:
        print(f"{label}: no test passed - treating this run as a failure", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
