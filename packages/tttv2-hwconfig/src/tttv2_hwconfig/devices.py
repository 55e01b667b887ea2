"""Opening and closing devices by catalog name; emulated meshes where there is no hardware."""

from __future__ import annotations

import os

from .catalog import device_spec
from .emulator._device import MeshDevice
from .emulator._trace import OpTrace

DEFAULT_DEVICE_ENV = "TTTV2_DEVICE"


def default_device_name() -> str:
    """The device tests and demos use unless told otherwise: ``$TTTV2_DEVICE`` or ``N150``."""
    return os.environ.get(DEFAULT_DEVICE_ENV, "N150")


class EmulatedMeshDevice(MeshDevice):
    """An emulated mesh with an op trace; a context manager that closes itself."""

    def __init__(self, spec):
        super().__init__(spec)
        self.trace = OpTrace()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        close_device(self)
        return False


def open_device(name: str | None = None, *, emulate: bool | None = None):
    """Open the mesh device of catalog entry ``name`` (default: ``default_device_name()``).

    Args:
        name: a catalog name such as "N150", "N300", "T3K", "TG", "P150" (case-insensitive).
        emulate: True forces the host emulator; False requires real hardware; None (default)
            uses hardware when present and the emulator otherwise.

    Returns:
        A mesh device of the catalog's mesh shape. Emulated devices are context managers.
    """
    from . import ttnn_is_emulated  # noqa: PLC0415

    spec = device_spec(name or default_device_name())
    if emulate is None:
        emulate = ttnn_is_emulated
    if emulate:
        return EmulatedMeshDevice(spec)
    if ttnn_is_emulated:
        raise RuntimeError(
            f"open_device({spec.name!r}, emulate=False): no Tenstorrent hardware with the ttnn package is present; "
            "pass emulate=True or leave emulate=None to use the host emulator"
        )
    import ttnn as real_ttnn  # noqa: PLC0415

    return real_ttnn.open_mesh_device(real_ttnn.MeshShape(*spec.mesh_shape))


def close_device(device) -> None:
    """Close a device returned by ``open_device`` (emulated or real)."""
    if isinstance(device, MeshDevice):
        device.close()
        return
    import ttnn as real_ttnn  # noqa: PLC0415

    real_ttnn.close_mesh_device(device)
