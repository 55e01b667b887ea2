"""Shapes-only mode: emulated ops validate, account memory and trace, but compute no values.

Inside ``with shapes_only():`` every floating-point tensor an op (or ``from_torch``) creates holds
torch ``meta`` shards: shapes and dtypes without storage. Ops still run their argument checks,
allocate L1/DRAM against the device's capacity and append their ``OpRecord``; their torch compute
runs on ``meta`` tensors, which costs no memory and almost no time. Integer tensors (token ids,
cache positions, page tables) keep their real values, because ops decide things from them (which
cache rows to write, how far a decode attends).

Values read back (``to_torch``) are ``meta`` tensors too: a shapes-only run answers "does it fit,
what would run and how long would it take", never "what does it compute".
"""

from __future__ import annotations

import contextlib
import contextvars

import torch

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("tttv2_shapes_only", default=False)


@contextlib.contextmanager
def shapes_only():
    """Run emulated ops without numerics (see the module docstring); nests, and restores on exit."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def is_shapes_only() -> bool:
    """True inside ``shapes_only()``."""
    return _ACTIVE.get()


def to_meta(data: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A ``meta`` tensor of ``data``'s shape (no storage)."""
    return torch.empty(data.shape, dtype=dtype, device="meta")
