"""ttnn.transformer namespace of the emulator (filled by the emulator op work)."""

__all__: list[str] = []
