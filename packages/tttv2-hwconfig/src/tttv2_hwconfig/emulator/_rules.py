"""The rule table: what each emulated op accepts, as the real op's ``validate`` decides it.

Every acceptance check of an emulated op is a :class:`Rule` declared once at import time with
:func:`rule` — an id, the op, the rule in words and the tt-metal source it mirrors (path and
function) — and enforced with :func:`check`. Rules of the real op that the emulator deliberately
does not mirror are declared with :func:`not_mirrored` and the reason. Tests read this table:
every mirrored rule must have a case that violates exactly that rule (``tests/emulator/rules/``).

The tt-metal commit the sources were read at is named in the hwconfig README ("Fidelity contract").
"""

from __future__ import annotations

from dataclasses import dataclass

from ._trace import current_scope

__all__ = [
    "Rule",
    "RuleViolation",
    "check",
    "not_mirrored",
    "rule",
    "rules_by_op",
    "not_mirrored_by_op",
]


@dataclass(frozen=True)
class Rule:
    """One acceptance rule of one op. ``id`` is ``"<op short name>.<rule>"``, e.g. ``"embedding.index_dtype"``."""

    id: str
    op: str  # the public name, e.g. "ttnn.embedding"
    text: str  # the rule in words, e.g. "input_tensor dtype is UINT32 or BFLOAT16"
    source: str  # "ttnn/cpp/ttnn/operations/embedding/device/embedding_device_operation.cpp: validate"
    # The real TT_FATAL message (its format string, verbatim) when there is one; the conformance
    # session checks each appears in the 0.81.1 wheel's _ttnncpp.so, which ties the rule to the build.
    message: str = ""


class RuleViolation(ValueError):
    """An op refused its arguments because ``rule`` is violated. ``rule.id`` says which rule."""

    def __init__(self, rule_: Rule, detail: str, op: str | None = None):
        self.rule = rule_
        self.detail = detail
        self.module_path = current_scope()  # the block whose op refused (op_scope), "" outside any
        quoted = f' (tt-metal: "{rule_.message}")' if rule_.message else ""
        caller = op or rule_.op  # e.g. ttnn.linear reaching a ttnn.matmul rule
        where = f" (in {self.module_path})" if self.module_path else ""
        super().__init__(f"{caller}: {detail} [rule {rule_.id}: {rule_.text}{quoted}; {rule_.source}]{where}")


_RULES: dict[str, Rule] = {}
_NOT_MIRRORED: dict[str, tuple[str, str, str]] = {}  # id -> (op, text, reason)


def rule(rule_id: str, op: str, text: str, source: str, *, message: str = "") -> Rule:
    """Declare a mirrored rule (at module import). Ids are unique across the emulator.

    ``message`` is the real op's TT_FATAL format string, verbatim, where the rule has one.
    """
    if rule_id in _RULES or rule_id in _NOT_MIRRORED:
        raise RuntimeError(f"rule id {rule_id!r} declared twice")
    declared = Rule(rule_id, op, text, source, message)
    _RULES[rule_id] = declared
    return declared


def not_mirrored(rule_id: str, op: str, text: str, reason: str) -> None:
    """Declare a rule of the real op that the emulator deliberately does not check, and why."""
    if rule_id in _RULES or rule_id in _NOT_MIRRORED:
        raise RuntimeError(f"rule id {rule_id!r} declared twice")
    _NOT_MIRRORED[rule_id] = (op, text, reason)


def check(condition: bool, rule_: Rule, detail: str, *, op: str | None = None) -> None:
    """Raise :class:`RuleViolation` naming ``rule_`` unless ``condition`` holds.

    ``detail`` names the argument and what it was, e.g. ``"input_tensor dtype is INT32"``.
    ``op`` names the public call when it differs from ``rule_.op`` (``ttnn.linear`` runs the
    ``ttnn.matmul`` device op and its rules).
    """
    if not condition:
        raise RuleViolation(rule_, detail, op)


def rules_by_op() -> dict[str, list[Rule]]:
    """Every mirrored rule, grouped by op name (for tests and the coverage report)."""
    grouped: dict[str, list[Rule]] = {}
    for declared in _RULES.values():
        grouped.setdefault(declared.op, []).append(declared)
    return grouped


def not_mirrored_by_op() -> dict[str, list[tuple[str, str, str]]]:
    """Every deliberately unmirrored rule as ``(id, text, reason)``, grouped by op name."""
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for rule_id, (op, text, reason) in _NOT_MIRRORED.items():
        grouped.setdefault(op, []).append((rule_id, text, reason))
    return grouped
