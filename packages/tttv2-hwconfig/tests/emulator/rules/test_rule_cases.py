"""Every mirrored emulator rule has a case violating exactly it; every op with rules has a valid control.

The cases live in ``cases_<family>.py`` beside this file (see ``rulecase.py`` for the format).
"""

from pathlib import Path

import pytest
from rulecase import case_id, load
from tttv2_hwconfig import ttnn  # noqa: F401  (imports every emulated op, so every rule is declared)
from tttv2_hwconfig.emulator._rules import RuleViolation, not_mirrored_by_op, rules_by_op

CASES, CONTROLS = load()
HERE = Path(__file__).parent


def _listed(name: str) -> set[str]:
    """Ids in a checked-in gap list (``#`` comments skipped): gaps are stated, never silent."""
    lines = (HERE / name).read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _skip_unless(item, device_name):
    if item.devices is not None and device_name not in item.devices:
        pytest.skip(f"case applies to {item.devices}, not {device_name}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case_violates_its_rule(case, device, device_name):
    _skip_unless(case, device_name)
    with pytest.raises(RuleViolation) as caught:
        case.call(device)
    assert caught.value.rule.id == case.rule_id, f"expected rule {case.rule_id}, got: {caught.value}"
    message = str(caught.value)
    assert message.startswith("ttnn.") and f"rule {case.rule_id}" in message  # names the op and the rule


@pytest.mark.parametrize("control", CONTROLS, ids=case_id)
def test_control_passes(control, device, device_name):
    _skip_unless(control, device_name)
    control.call(device)


def test_every_mirrored_rule_has_a_case():
    declared = {r.id for rules in rules_by_op().values() for r in rules}
    covered = {case.rule_id for case in CASES}
    uncovered, listed = declared - covered, _listed("uncovered_rules.txt")
    assert not uncovered - listed, f"rules without a violating case: {sorted(uncovered - listed)}"
    assert not listed - uncovered, (
        f"uncovered_rules.txt lists rules that now have a case: {sorted(listed - uncovered)}"
    )
    assert not covered - declared, f"cases naming undeclared rules: {sorted(covered - declared)}"


def test_every_op_with_rules_has_a_control():
    missing = set(rules_by_op()) - {control.op for control in CONTROLS}
    listed = _listed("uncontrolled_ops.txt")
    assert missing == listed, (
        f"ops without a control here: {sorted(missing)}; uncontrolled_ops.txt: {sorted(listed)}"
    )


def test_not_mirrored_rules_give_a_reason():
    for op, entries in not_mirrored_by_op().items():
        for rule_id, text, reason in entries:
            assert rule_id.split(".")[0] and text and len(reason) > 10, (op, rule_id)
