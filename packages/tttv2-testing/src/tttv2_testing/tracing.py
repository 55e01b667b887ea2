"""Turning a model's trace replay off while the toolkit watches its modules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def python_forwards(model: Any) -> Iterator[None]:
    """While the block runs, ``model`` calls its modules' Python forwards on every step.

    A model that replays a captured device trace (``model.enable_trace`` is True, as on
    ``tttv2_patterns.CausalLM``) runs a decode step without calling its modules, so their inputs
    could be neither captured nor compared; the block runs it untraced (same programs, the same
    results bit for bit) and restores the setting after. Models without ``enable_trace`` are untouched.
    """
    if not getattr(model, "enable_trace", False):
        yield
        return
    model.enable_trace = False
    try:
        yield
    finally:
        model.enable_trace = True
