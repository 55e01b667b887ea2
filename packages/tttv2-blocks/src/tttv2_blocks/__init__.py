"""Building blocks: attention, rope, ffn, normalization, embeddings, lm_head."""

from tttv2_blocks.__about__ import __version__

__all__ = ["__version__"]
