"""Shared helpers of the rule conformance checks: the rule-case registry and the wheel's strings."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parents[1] / "emulator" / "rules"


def load_rule_cases():
    """(cases, controls) of ``tests/emulator/rules`` (see its ``rulecase.py``)."""
    if str(RULES_DIR) not in sys.path:
        sys.path.insert(0, str(RULES_DIR))
    spec = importlib.util.spec_from_file_location("rulecase", RULES_DIR / "rulecase.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("rulecase", module)
    spec.loader.exec_module(module)
    return module.load(RULES_DIR)


@cache
def wheel_strings() -> bytes:
    """The bytes of the real wheel's ``_ttnncpp.so`` and ``libtt_metal.so``: the TT_FATAL format strings of the build."""
    import ttnn  # noqa: PLC0415 - only in the conformance venv

    lib = Path(ttnn.__file__).parent / "build" / "lib"
    return (lib / "_ttnncpp.so").read_bytes() + (lib / "libtt_metal.so").read_bytes()


def coverage_rows():
    """Per op: (op, mirrored, not mirrored, cases) from the rule table and the case registry."""
    from tttv2_hwconfig import ttnn  # noqa: F401, PLC0415 - declares every rule
    from tttv2_hwconfig.emulator._rules import not_mirrored_by_op, rules_by_op  # noqa: PLC0415

    cases, _ = load_rule_cases()
    mirrored, skipped = rules_by_op(), not_mirrored_by_op()
    rows = []
    for op in sorted(set(mirrored) | set(skipped)):
        ids = {r.id for r in mirrored.get(op, [])}
        rows.append((op, len(ids), len(skipped.get(op, [])), sum(c.rule_id in ids for c in cases)))
    return rows
