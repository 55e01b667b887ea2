"""Accepting a device as a catalog name or an opened mesh device."""

from __future__ import annotations

from tttv2_hwconfig import open_device


def device_name(device) -> str:
    """Catalog name of an opened device (``"N150"``), or ``"<arch>-<rows>x<cols>"`` when it has none."""
    spec = getattr(device, "spec", None)
    if spec is not None and getattr(spec, "name", None):
        return spec.name
    shape = "x".join(str(d) for d in tuple(device.shape))
    return f"{device.arch()}-{shape}"


def open_for_properties(device):
    """A device whose properties (grid, mesh shape, L1) defaults can be derived from.

    A name opens an *emulated* device of that catalog entry: deriving configs must not grab the
    real hardware the model will open later.
    """
    if isinstance(device, str):
        return open_device(device, emulate=True)
    return device


def open_for_model(device):
    """Return ``(device, owned)``: a name is opened (and owned by the caller), a device is used as is."""
    if isinstance(device, str):
        return open_device(device), True
    if device is None:
        raise TypeError("device must be a catalog name such as 'N150' or an opened mesh device, got None")
    return device, False
