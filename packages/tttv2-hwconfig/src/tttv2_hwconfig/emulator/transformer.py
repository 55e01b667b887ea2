"""The ``ttnn.transformer`` namespace of the emulator: flash attention for prefill, chunked prefill
and decode (contiguous and paged KV caches). Implementations and numerics: ``_ops_sdpa``.

``SDPAProgramConfig`` is ``ttnn.SDPAProgramConfig`` (top level), as in the real package.
"""

from ._ops_sdpa import (
    chunked_scaled_dot_product_attention,
    paged_scaled_dot_product_attention_decode,
    scaled_dot_product_attention,
    scaled_dot_product_attention_decode,
)

__all__ = [
    "chunked_scaled_dot_product_attention",
    "paged_scaled_dot_product_attention_decode",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_decode",
]
