"""The ``ttnn.experimental`` namespace of the emulator: rotary embedding, head split/merge, paged cache,
TTTv1's async all-gather and outer-dim reduction.

Implementations live in ``_ops_rope``, ``_ops_heads``, ``_ops_kv``, ``_ops_ccl_async`` and
``_ops_fast_reduce_nc``; see their docstrings for the
shapes, checks and numerics.
"""

from ._ops_ccl_async import all_gather_async
from ._ops_fast_reduce_nc import fast_reduce_nc
from ._ops_heads import (
    nlp_concat_heads,
    nlp_concat_heads_decode,
    nlp_create_qkv_heads,
    nlp_create_qkv_heads_decode,
)
from ._ops_kv import paged_fill_cache, paged_update_cache
from ._ops_rope import rotary_embedding_llama, rotary_embedding_llama_fused_qk

__all__ = [
    "all_gather_async",
    "fast_reduce_nc",
    "nlp_concat_heads",
    "nlp_concat_heads_decode",
    "nlp_create_qkv_heads",
    "nlp_create_qkv_heads_decode",
    "paged_fill_cache",
    "paged_update_cache",
    "rotary_embedding_llama",
    "rotary_embedding_llama_fused_qk",
]
