"""The ``ttnn.experimental`` namespace of the emulator: rotary embedding, head split/merge, paged cache.

Implementations live in ``_ops_rope``, ``_ops_heads`` and ``_ops_kv``; see their docstrings for the
shapes, checks and numerics.
"""

from ._ops_heads import (
    nlp_concat_heads,
    nlp_concat_heads_decode,
    nlp_create_qkv_heads,
    nlp_create_qkv_heads_decode,
)
from ._ops_kv import paged_fill_cache, paged_update_cache
from ._ops_rope import rotary_embedding_llama, rotary_embedding_llama_fused_qk

__all__ = [
    "nlp_concat_heads",
    "nlp_concat_heads_decode",
    "nlp_create_qkv_heads",
    "nlp_create_qkv_heads_decode",
    "paged_fill_cache",
    "paged_update_cache",
    "rotary_embedding_llama",
    "rotary_embedding_llama_fused_qk",
]
