"""``get_default_impl_config``: one entry point, dispatching on the spec type of each block."""

from __future__ import annotations

import functools


@functools.singledispatch
def get_default_impl_config(spec, device, mode: str = "both", strategy: str = "default"):
    """Sane TTNN choices for ``spec`` on ``device``.

    Args:
        spec: a block spec (``AttentionSpec``, ``FeedForwardSpec``, ``RMSNormSpec``...).
        device: an open mesh device (``tttv2_hwconfig.open_device``).
        mode: "prefill", "decode" or "both": which forward paths to configure.
        strategy: "default" (== "performance"), "performance" or "accuracy" (TTTv1's published choices).
    """
    raise TypeError(f"get_default_impl_config: no block is registered for spec type {type(spec).__name__}")
