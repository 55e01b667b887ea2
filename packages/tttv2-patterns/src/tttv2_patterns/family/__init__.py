"""The family kit: everything a model family would otherwise copy, generic over HF decoder configs.

A family is a ``ModelFactory`` subclass (its HF mapping and ImplConfig overrides) registered in the
``tttv2.families`` entry-point group; see ``packages/tttv2-patterns/docs/families.md``.

    from tttv2_patterns.family import get_family
    model = get_family("llama3").from_huggingface("HuggingFaceTB/SmolLM2-135M-Instruct", device="N150")

The demo and benchmarks run any installed family: ``python -m tttv2_patterns.family.demo --model NAME``.
"""

from tttv2_patterns.family.checkpoint_checks import check_checkpoint, expected_tensors, read_checkpoint
from tttv2_patterns.family.errors import CheckpointError, ConfigError, UnknownFamilyError, UnmappedModuleError
from tttv2_patterns.family.factory import ModelFactory
from tttv2_patterns.family.gguf_checkpoint import GGUFPackageError, PyPIGGUFCheckpoint
from tttv2_patterns.family.hf_config import HFConfig, read_hf_config
from tttv2_patterns.family.registry import (
    ENTRY_POINT_GROUP,
    families,
    family_for_architectures,
    family_for_checkpoint,
    get_family,
)
from tttv2_patterns.family.text_model import TextCausalLM
from tttv2_patterns.family.tokenization import encode_prompt, load_tokenizer, truncate_at_eos

__all__ = [
    "ENTRY_POINT_GROUP",
    "CheckpointError",
    "ConfigError",
    "GGUFPackageError",
    "HFConfig",
    "ModelFactory",
    "PyPIGGUFCheckpoint",
    "TextCausalLM",
    "UnknownFamilyError",
    "UnmappedModuleError",
    "check_checkpoint",
    "encode_prompt",
    "expected_tensors",
    "families",
    "family_for_architectures",
    "family_for_checkpoint",
    "get_family",
    "load_tokenizer",
    "read_checkpoint",
    "read_hf_config",
    "truncate_at_eos",
]
