"""TTTv2 model-zoo family: Mistral (sliding-window attention).

    from tttv2_mistral import Mistral
    model = Mistral.from_huggingface("path/to/Mistral-7B-v0.1", device="T3K")

Registered as family ``mistral`` in the ``tttv2.families`` entry points.
"""

from tttv2_mistral.family import Mistral

__all__ = ["Mistral"]
