"""Device catalog, device opening, TTNN resolution and the TTNN host emulator."""

from tttv2_hwconfig.__about__ import __version__

__all__ = ["__version__"]
