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


# The newest records a device keeps (an OpRecord is ~1 KB): a traced decode step appends ~800 through
# ``execute_trace``, so without a bound ``generate`` and serving grow the trace without limit.
DEFAULT_MAX_RECORDS = 200_000


class OpTrace:
    """The ordered list of ops a device ran; ``enabled`` can pause recording.

    Bounded: it keeps the newest ``max_records`` records (``None``: all of them) and counts the older
    ones it let go in ``dropped``. ``total`` numbers every record appended since the last ``clear()``,
    so ``mark = trace.total`` ... ``trace.since(mark)`` reads a window however many were dropped
    before it, and refuses one whose start was dropped instead of returning part of it.
    """

    def __init__(self, max_records: int | None = DEFAULT_MAX_RECORDS):
        self.records: list[OpRecord] = []
        self.enabled = True
        self.dropped = 0
        self.max_records = max_records

    @property
    def max_records(self) -> int | None:
        return self._max_records

    @max_records.setter
    def max_records(self, value: int | None) -> None:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"OpTrace.max_records must be a positive int or None (unbounded), got {value!r}")
        self._max_records = value
        self._trim(value)

    @property
    def total(self) -> int:
        """Records appended since the last ``clear()``, dropped ones included (a mark for ``since``)."""
        return self.dropped + len(self.records)

    def append(self, record: OpRecord) -> None:
        if self.enabled:
            self.records.append(record)
            limit = self._max_records
            # Trim in chunks of a quarter of the bound: appends stay O(1) amortised.
            if limit is not None and len(self.records) > limit + max(1, limit // 4):
                self._trim(limit)

    def _trim(self, limit: int | None) -> None:
        excess = 0 if limit is None else len(self.records) - limit
        if excess > 0:
            del self.records[:excess]
            self.dropped += excess

    def since(self, mark: int) -> list[OpRecord]:
        """The records appended at or after ``mark`` (a ``total`` read earlier).

        Raises:
            ValueError: some of them were already dropped (raise ``max_records``, or read sooner).
        """
        if mark < self.dropped:
            raise ValueError(
                f"OpTrace.since({mark}): records {mark}..{self.dropped - 1} were dropped (the trace keeps the "
                f"newest max_records={self._max_records}); set device.trace.max_records higher (or None) "
                "before a window this long"
            )
        return self.records[mark - self.dropped :]

    def clear(self) -> None:
        self.records.clear()
        self.dropped = 0

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
