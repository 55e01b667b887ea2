"""Op trace: every emulated op appends one OpRecord to its device's trace."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

_scope: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("tttv2_op_scope", default=())


@contextlib.contextmanager
def op_scope(label: str):
    """Label every op recorded inside the block with ``label`` (nested scopes join with '.')."""
    token = _scope.set(_scope.get() + (label,))
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> str:
    return ".".join(_scope.get())


@dataclass
class OpRecord:
    """One emulated op. Shapes are per-device padded shapes; flops and bytes are per device."""

    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    input_dtypes: tuple[str, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    output_dtypes: tuple[str, ...]
    flops: int = 0
    bytes_moved: int = 0
    math_fidelity: str | None = None
    compute_dtype: str | None = None
    cores_used: int | None = None
    ccl_bytes: int = 0
    num_devices: int = 1
    scope: str = ""
    attributes: dict = field(default_factory=dict)
    # Added in 2.1 after the 2.0 fields, so positional construction keeps working.
    # Where each tensor lives: "DRAM_INTERLEAVED", "DRAM_WIDTH_SHARDED", "L1_HEIGHT_SHARDED", "HOST"...
    input_memory: tuple[str, ...] = ()
    output_memory: tuple[str, ...] = ()
    input_nbytes: tuple[int, ...] = ()  # per-device bytes of each tensor
    output_nbytes: tuple[int, ...] = ()


class OpTrace:
    """The ordered list of ops a device ran; ``enabled`` can pause recording."""

    def __init__(self):
        self.records: list[OpRecord] = []
        self.enabled = True

    def append(self, record: OpRecord) -> None:
        if self.enabled:
            self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def select(self, name: str | None = None, scope_prefix: str | None = None) -> list[OpRecord]:
        return [
            r
            for r in self.records
            if (name is None or r.name == name) and (scope_prefix is None or r.scope.startswith(scope_prefix))
        ]

    @contextlib.contextmanager
    def paused(self):
        previous, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = previous
