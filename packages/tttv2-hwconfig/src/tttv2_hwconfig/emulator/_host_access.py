"""Trace safety: report host reads and writes of device data made inside a forbidden scope.

A traced program may not move device data to or from the host: on a device, a read inside
``begin_trace_capture`` ... ``end_trace_capture`` fails with "Reads are not supported during
trace capture", a write with "Writes are not supported during trace capture"
(tt_metal/distributed/fd_mesh_command_queue.cpp: enqueue_read_shards / enqueue_write_shards).
A block's decode forward must obey the same rule to be traceable at all, so tests wrap it in
:func:`host_reads_forbidden` and every host read inside fails here, naming the op.

Host reads are: ``ttnn.to_torch``, ``ttnn.from_device``, ``ttnn.copy_device_to_host_tensor``,
``ttnn.dump_tensor`` of a device tensor, ``Tensor.cpu()``, ``Tensor.to_torch()``,
``Tensor.item()``, ``Tensor.to_list()`` (the TTNN ways to turn device values into Python
numbers; ``bool()`` / ``int()`` / ``float()`` are not defined on a real ``ttnn.Tensor``, so
Python code gets numbers only through these). Host writes are: ``ttnn.from_torch(...,
device=...)``, ``ttnn.to_device``, ``ttnn.copy_host_to_device_tensor``, ``ttnn.load_tensor(...,
device=...)`` and creation ops given a device (``ttnn.zeros/ones/full/arange``: the real ones
build on the host and upload).
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from ._trace import current_scope

__all__ = [
    "HostReadError",
    "HostTransfer",
    "HostTransferError",
    "HostWriteError",
    "host_reads_forbidden",
    "host_transfers_forbidden",
    "watch_host_transfers",
]


class HostTransferError(RuntimeError):
    """A host read or write of device data inside a scope that forbids it."""

    def __init__(self, op: str, direction: str, reason: str, scope: str):
        self.op = op
        self.direction = direction
        self.reason = reason
        self.scope = scope
        where = f" (op scope {scope!r})" if scope else ""
        super().__init__(
            f"{op}: {direction}s of device data are not supported inside {reason}{where}; "
            f"a traced program keeps its data on the device (move the {direction} out of the scope, "
            "or feed inputs through persistent device tensors with ttnn.copy_host_to_device_tensor)"
        )


class HostReadError(HostTransferError):
    """A device -> host read inside a scope that forbids host reads."""


class HostWriteError(HostTransferError):
    """A host -> device write inside a scope that forbids host writes."""


@dataclass(frozen=True)
class HostTransfer:
    """One host transfer seen by :func:`watch_host_transfers`."""

    op: str
    direction: str  # "read" (device -> host) or "write" (host -> device)
    shape: tuple[int, ...]
    dtype: str
    scope: str


@dataclass(frozen=True)
class _Forbid:
    reason: str
    reads: bool
    writes: bool


_forbidden: contextvars.ContextVar[tuple[_Forbid, ...]] = contextvars.ContextVar(
    "tttv2_host_forbidden", default=()
)
_global_forbids: list[_Forbid] = []  # trace captures in progress (they span two calls, not a block)
_watchers: contextvars.ContextVar[tuple[list, ...]] = contextvars.ContextVar(
    "tttv2_host_watchers", default=()
)


@contextlib.contextmanager
def host_transfers_forbidden(reason: str, *, reads: bool = True, writes: bool = True):
    """Inside the block, host reads (and/or writes) of device data raise a :class:`HostTransferError`.

    ``reason`` names the scope in the error, e.g. ``"Attention.forward_decode"``.
    """
    token = _forbidden.set(_forbidden.get() + (_Forbid(reason, reads, writes),))
    try:
        yield
    finally:
        _forbidden.reset(token)


def host_reads_forbidden(reason: str):
    """Inside the block, any host read of device data raises :class:`HostReadError` naming the op."""
    return host_transfers_forbidden(reason, reads=True, writes=False)


@contextlib.contextmanager
def watch_host_transfers():
    """Collect every host read and write made inside the block as :class:`HostTransfer` records."""
    seen: list[HostTransfer] = []
    token = _watchers.set(_watchers.get() + (seen,))
    try:
        yield seen
    finally:
        _watchers.reset(token)


def forbid_globally(reason: str) -> _Forbid:
    """Forbid host reads and writes until :func:`allow_globally` (used by ``begin_trace_capture``)."""
    forbid = _Forbid(reason, True, True)
    _global_forbids.append(forbid)
    return forbid


def allow_globally(forbid: _Forbid) -> None:
    _global_forbids.remove(forbid)


def _note(op: str, direction: str, tensor) -> None:
    scope = current_scope()
    for forbid in [*_global_forbids, *reversed(_forbidden.get())]:
        if direction == "read" and forbid.reads:
            raise HostReadError(op, direction, forbid.reason, scope)
        if direction == "write" and forbid.writes:
            raise HostWriteError(op, direction, forbid.reason, scope)
    watchers = _watchers.get()
    if watchers:
        shape = tuple(tensor.shape) if tensor is not None else ()
        dtype = tensor.dtype.name.lower() if tensor is not None else ""
        for seen in watchers:
            seen.append(HostTransfer(op, direction, shape, dtype, scope))


def host_read(op: str, tensor) -> None:
    """Called by every op that reads device data to the host (no-op for host tensors)."""
    if tensor is not None and tensor.device() is None:
        return
    if _global_forbids or _forbidden.get() or _watchers.get():
        _note(op, "read", tensor)


def host_write(op: str, tensor=None) -> None:
    """Called by every op that writes host data to a device."""
    if _global_forbids or _forbidden.get() or _watchers.get():
        _note(op, "write", tensor)
