"""TTTv2 model-zoo family: Llama 3.x (and SmolLM2, which shares the architecture).

    from tttv2_llama3 import ModelFactory

    model = ModelFactory.from_huggingface("HuggingFaceTB/SmolLM2-135M-Instruct", device="N150")
    print(model.generate(["What is the capital of France?"], max_new_tokens=16).text[0])

Checkpoints are read as checked safetensors only; the HF reference runs on the same folder::

    from tttv2_llama3 import HFReference, ensure_smollm2_checkpoint, open_checkpoint

    checkpoint_dir = ensure_smollm2_checkpoint()  # real small model, converted once
    with open_checkpoint(checkpoint_dir) as checkpoint:  # tensors read lazily
        ...
"""

from tttv2_llama3.agreement import TokenAgreement, token_agreement
from tttv2_llama3.checkpoint import Checkpoint, TensorInfo, open_checkpoint
from tttv2_llama3.expected_tensors import expected_tensor_shapes
from tttv2_llama3.hf_config import (
    SUPPORTED_ARCHITECTURES,
    CheckpointError,
    LlamaCheckpointConfig,
    read_config,
)
from tttv2_llama3.prompts import EVERYDAY_PROMPTS
from tttv2_llama3.smollm2 import default_cache_dir, ensure_smollm2_checkpoint

__all__ = [
    "EVERYDAY_PROMPTS",
    "SUPPORTED_ARCHITECTURES",
    "Checkpoint",
    "CheckpointError",
    "HFReference",
    "LlamaCausalLM",
    "LlamaCheckpointConfig",
    "ModelFactory",
    "TensorInfo",
    "TokenAgreement",
    "default_cache_dir",
    "ensure_smollm2_checkpoint",
    "expected_tensor_shapes",
    "open_checkpoint",
    "read_config",
    "token_agreement",
]


# Loaded on first use: they import transformers or the TTTv2 packages (seconds).
_LAZY = {
    "HFReference": "tttv2_llama3.hf_reference",
    "LlamaCausalLM": "tttv2_llama3.llama_model",
    "ModelFactory": "tttv2_llama3.model_factory",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
