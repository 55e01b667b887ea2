"""vLLM platform plugin: vLLM's V1 engine schedules, TTTv2 runs the model on a TT device (or the emulator).

Installed, it registers the ``tttv2`` entry point of the ``vllm.platform_plugins`` group; vLLM then
uses ``TTTv2Platform`` -> ``TTTv2Worker`` -> ``TTTv2ModelRunner`` -> ``tttv2_patterns.serving.Generator``
for any model folder an installed family (``tttv2.families``) handles::

    TTTV2_DEVICE=N150 python -m vllm.entrypoints.openai.api_server --model <HF folder>

Settings (environment): ``TTTV2_DEVICE`` (catalog device, default N150), ``TTTV2_VLLM_DISABLE=1``
(leave the platform to vLLM), ``TTTV2_VLLM_NUM_BLOCKS`` (KV blocks; default: every slot at full length),
``TTTV2_VLLM_THREADS`` (torch threads of the worker, default 1).
"""

import os

from tttv2_vllm.__about__ import __version__

PLATFORM = "tttv2_vllm.platform.TTTv2Platform"


def register() -> str | None:
    """The ``vllm.platform_plugins`` entry point: the platform's qualified name, or None when disabled."""
    if os.environ.get("TTTV2_VLLM_DISABLE", "") == "1":
        return None
    return PLATFORM


__all__ = ["PLATFORM", "__version__", "register"]
