"""TTTv2 model zoo: the Mixtral family (``MixtralForCausalLM``).

from tttv2_mixtral import Mixtral
model = Mixtral.from_huggingface("path/to/Mixtral-8x7B-Instruct-v0.1", device="T3K")
"""

from tttv2_mixtral.family import MIXTRAL_LAYOUT, Mixtral

__all__ = ["MIXTRAL_LAYOUT", "Mixtral"]
