"""Placeholder: filled by the emulator op work."""

__all__: list[str] = []
