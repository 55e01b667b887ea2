"""Patterns: DecoderLayer and CausalLM composed from blocks; KV cache; generation; tensor caches."""

from tttv2_patterns.__about__ import __version__

__all__ = ["__version__"]
