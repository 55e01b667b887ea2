"""TTTv2 model-zoo family: Llama 3.x (and SmolLM2, which shares the architecture).

    from tttv2_llama3 import Llama3

    model = Llama3.from_huggingface("HuggingFaceTB/SmolLM2-135M-Instruct", device="N150")
    print(model.generate(["What is the capital of France?"], max_new_tokens=16).text[0])

Registered as family ``llama3`` in the ``tttv2.families`` entry points: the kit's demo and benchmarks
(``python -m tttv2_patterns.family.demo --model llama3``) find it when it is installed.
"""

from tttv2_llama3.family import Llama3
from tttv2_llama3.smollm2 import SMOLLM2, SMOLLM2_NAME, ensure_smollm2_checkpoint

ModelFactory = Llama3  # the design document's name: `from tttv2_llama3 import ModelFactory`

__all__ = ["SMOLLM2", "SMOLLM2_NAME", "Llama3", "ModelFactory", "ensure_smollm2_checkpoint"]
