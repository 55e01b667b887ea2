"""TTTv2 model-zoo family: Qwen2 / Qwen2.5 (QKV bias) and Qwen3 (QK-norm).

    from tttv2_qwen import Qwen
    model = Qwen.from_huggingface("path/to/Qwen2.5-0.5B-Instruct", device="N150")

Registered as family ``qwen`` in the ``tttv2.families`` entry points.
"""

from tttv2_qwen.family import Qwen

__all__ = ["Qwen"]
