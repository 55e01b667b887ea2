"""The emulator's rule table against the real ``ttnn==0.81.1`` wheel.

1. Every rule that quotes a TT_FATAL message must find that format string in the wheel's
   ``_ttnncpp.so``: the rule then exists in the build we conform to (sources were read at a newer
   tt-metal commit, see the hwconfig README; this check catches rules that were added later).
2. Where the real op's docstring carries a "Supported data types and layouts" list-table, the
   emulator accepts every listed (dtype, layout) of that argument it implements, and a rule
   rejects the unlisted ones (exceptions below, with reasons).
"""

from __future__ import annotations

import re

import pytest

ttnn_real = pytest.importorskip("ttnn")

from _rule_sources import load_rule_cases, wheel_strings  # noqa: E402
from tttv2_hwconfig import ttnn as emu  # noqa: E402
from tttv2_hwconfig.emulator._rules import RuleViolation, rules_by_op  # noqa: E402

ALL_RULES = [r for rules in rules_by_op().values() for r in rules]


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.message], ids=lambda r: r.id)
def test_quoted_message_is_in_the_wheel(rule):
    assert rule.message.encode() in wheel_strings(), (
        f"rule {rule.id}: its TT_FATAL message is not in ttnn 0.81.1's _ttnncpp.so/libtt_metal.so: {rule.message!r}"
    )


def test_every_rule_has_a_case_here_too():
    cases, _ = load_rule_cases()
    assert {r.id for r in ALL_RULES} <= {c.rule_id for c in cases}


# --- docstring tables ----------------------------------------------------------------------------
_TABLE = re.compile(r"\.\. list-table:: (?P<name>[^\n]+)\n(?P<body>(?:[ \t]*[:*-][^\n]*\n|[ \t]*\n)+)")


def parse_tables(doc: str) -> dict[str, set[tuple[str, str]]]:
    """``{argument: {(DTYPE, LAYOUT)}}`` from a docstring's ``.. list-table::`` dtype/layout tables."""
    tables = {}
    for match in _TABLE.finditer(doc or ""):
        cells = [c for c in re.split(r"\n\s*[*]?\s*-\s*", "\n" + match["body"]) if c.strip()]
        cells = [c.strip() for c in cells if not c.strip().startswith(":")]
        if len(cells) < 4 or cells[0].lower() != "dtype" or cells[1].lower() != "layout":
            continue
        combos = set()
        for dtypes, layouts in zip(cells[2::2], cells[3::2]):
            for dtype in re.findall(r"[A-Z][A-Z0-9_]+", dtypes):
                for layout in re.findall(r"TILE|ROW_MAJOR", layouts):
                    combos.add((dtype, layout))
        tables[match["name"].strip()] = combos
    return tables


def _x(device, dtype, layout, shape=(1, 1, 32, 64)):
    import torch  # noqa: PLC0415

    data = torch.randint(0, 4, shape) if dtype.is_integer else torch.randn(shape)
    return emu.from_torch(data, dtype=dtype, layout=layout, device=device)


# op -> (docstring argument, call(device, tensor)); each feeds a tensor of the combo to that argument.
DOC_CHECKS = {
    "rms_norm": ("input_tensor", lambda d, t: emu.rms_norm(t)),
    "layer_norm": ("input_tensor", lambda d, t: emu.layer_norm(t)),
}
# (op, dtype, layout): why the emulator's verdict legitimately differs from the table.
DOC_EXCEPTIONS = {}


def _combos():
    out = []
    for op, (arg, _) in DOC_CHECKS.items():
        listed = parse_tables(getattr(ttnn_real, op).__doc__).get(arg, set())
        for dtype in ("BFLOAT16", "FLOAT32", "BFLOAT8_B", "BFLOAT4_B", "UINT32", "INT32", "UINT16"):
            for layout in ("TILE", "ROW_MAJOR"):
                if dtype.startswith("BFLOAT") and dtype.endswith("_B") and layout == "ROW_MAJOR":
                    continue  # block floats exist in TILE only
                out.append((op, dtype, layout, (dtype, layout) in listed))
    return out


def test_docstring_tables_are_found():
    for op, (arg, _) in DOC_CHECKS.items():
        assert parse_tables(getattr(ttnn_real, op).__doc__).get(arg), f"no {arg} table in ttnn.{op}.__doc__"


@pytest.mark.parametrize("op, dtype, layout, listed", _combos(), ids=lambda v: str(v))
def test_emulator_acceptance_matches_docstring_table(op, dtype, layout, listed):
    from tttv2_hwconfig import open_device  # noqa: PLC0415

    if (op, dtype, layout) in DOC_EXCEPTIONS:
        pytest.skip(DOC_EXCEPTIONS[(op, dtype, layout)])
    _, call = DOC_CHECKS[op]
    with open_device("N150") as device:
        tensor = _x(device, getattr(emu, dtype.lower()), getattr(emu, f"{layout}_LAYOUT"))
        if listed:
            call(device, tensor)
        else:
            with pytest.raises(RuleViolation):
                call(device, tensor)
