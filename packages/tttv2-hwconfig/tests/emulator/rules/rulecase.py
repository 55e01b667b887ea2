"""Rule-case registry: every mirrored emulator rule gets a call that violates exactly that rule.

How it works (one file per op family, nothing to register by hand):

- Each ``cases_<family>.py`` in this folder defines two module-level lists:
  ``CASES``: :class:`Case` objects, one per rule id of ``tttv2_hwconfig.emulator._rules.rules_by_op()``
  (a case builds valid inputs and breaks only the rule it names), and
  ``CONTROLS``: :class:`Control` objects, one valid call per op that must pass.
- Both take the open catalog device (``TTTV2_DEVICE``, default N150) so grid limits can come from it.
- ``test_rule_cases.py`` loads every ``cases_*.py`` (:func:`load`), runs each case expecting a
  ``RuleViolation`` whose ``rule.id`` is the case's, runs each control, and asserts every declared
  rule has a case and every op with rules has a control.
- A case that only makes sense on some devices sets ``devices=("N300", ...)``; elsewhere it is skipped
  (the coverage meta-test still counts it).

The tensor helpers below keep case files short; use them or plain ``ttnn`` calls.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tttv2_hwconfig import ttnn

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """A call that violates exactly ``rule_id`` (and no earlier rule of the op)."""

    rule_id: str
    call: Callable[[object], object]  # device -> result
    devices: tuple[str, ...] | None = None  # None: every catalog device
    name: str = ""  # tells apart several cases of one rule


@dataclass(frozen=True)
class Control:
    """A valid call of ``op`` that must pass."""

    op: str
    call: Callable[[object], object]
    devices: tuple[str, ...] | None = None
    name: str = ""


def load(folder: Path = HERE) -> tuple[list[Case], list[Control]]:
    """Import every ``cases_*.py`` in ``folder`` and gather their CASES and CONTROLS."""
    cases: list[Case] = []
    controls: list[Control] = []
    for path in sorted(folder.glob("cases_*.py")):
        spec = importlib.util.spec_from_file_location(f"_rule_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.extend(getattr(module, "CASES", []))
        controls.extend(getattr(module, "CONTROLS", []))
    return cases, controls


def case_id(case: Case | Control) -> str:
    key = case.rule_id if isinstance(case, Case) else case.op
    return f"{key}[{case.name}]" if case.name else key


# --- helpers --------------------------------------------------------------------------------------


def dev(device, shape, *, dtype=None, layout=None, memory_config=None, data=None, **kwargs):
    """A device tensor of ``shape`` (random bf16-exact data unless ``data``), TILE bfloat16 by default."""
    if data is None:
        data = torch.randn(*shape).to(torch.bfloat16).to(torch.float32)
    return ttnn.from_torch(
        data,
        dtype=dtype or ttnn.bfloat16,
        layout=layout or ttnn.TILE_LAYOUT,
        device=device,
        memory_config=memory_config,
        **kwargs,
    )


def ids(device, shape, *, high=16, dtype=None, layout=None, memory_config=None):
    """A ROW_MAJOR uint32 index tensor of ``shape`` with values in ``[0, high)``."""
    return ttnn.from_torch(
        torch.randint(0, high, shape),
        dtype=dtype or ttnn.uint32,
        layout=layout or ttnn.ROW_MAJOR_LAYOUT,
        device=device,
        memory_config=memory_config,
    )


def sharded(shape_hw, cores_xy, strategy, *, orientation=None, buffer=None):
    """A sharded MemoryConfig with explicit shard shape ``shape_hw`` on a ``cores_xy`` grid at (0, 0)."""
    x, y = cores_xy
    grid = ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(x - 1, y - 1))])
    spec = ttnn.ShardSpec(grid, list(shape_hw), orientation or ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(strategy, buffer or ttnn.BufferType.L1, spec)
