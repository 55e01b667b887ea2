"""Decide once per process whether ``ttnn`` is the real module or the host emulator."""

from __future__ import annotations

import glob
import importlib
import os

# TTTV2_EMULATE=1 forces the emulator even where hardware and the real ttnn exist.
_FORCE_EMULATOR = "TTTV2_EMULATE"


def hardware_present() -> bool:
    """True when a Tenstorrent PCIe device node exists (the kernel driver exposes /dev/tenstorrent/N)."""
    return bool(glob.glob("/dev/tenstorrent/*"))


def resolve_ttnn():
    """The real ``ttnn`` when hardware and the package are present, else the emulator."""
    if os.environ.get(_FORCE_EMULATOR) != "1" and hardware_present():
        try:
            return importlib.import_module("ttnn"), False
        except ImportError:
            pass
    from . import emulator  # noqa: PLC0415

    return emulator, True
