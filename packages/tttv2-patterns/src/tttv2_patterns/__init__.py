"""Patterns: DecoderLayer and CausalLM composed from blocks; KV cache; generation; tensor caches."""

from tttv2_patterns.__about__ import __version__
from tttv2_patterns.block_state import TensorCacheError
from tttv2_patterns.building import register_block
from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.checkpoint import Checkpoint, CheckpointView, checkpoint_files
from tttv2_patterns.checkpoint_layout import CheckpointLayout
from tttv2_patterns.decode_trace import DECODE_ROWS, padded_prefill_len
from tttv2_patterns.decoder_layer import DecoderLayer
from tttv2_patterns.filled_positions import CachePositionError
from tttv2_patterns.generation import generate
from tttv2_patterns.impl_config import CausalLMImplConfig, DecoderLayerImplConfig
from tttv2_patterns.kv_cache import ModelKVCache
from tttv2_patterns.outputs import ForwardOutput, GenerateOutput
from tttv2_patterns.page_table import PageTable
from tttv2_patterns.program_check import ProgramCheckError, check_programs
from tttv2_patterns.sampling import SamplingParams
from tttv2_patterns.specs import CausalLMSpec, DecoderLayerSpec, ModelDimError
from tttv2_patterns.tensor_cache import TensorCache

__all__ = [
    "CachePositionError",
    "CausalLM",
    "CausalLMImplConfig",
    "CausalLMSpec",
    "Checkpoint",
    "CheckpointLayout",
    "CheckpointView",
    "DECODE_ROWS",
    "DecoderLayer",
    "DecoderLayerImplConfig",
    "DecoderLayerSpec",
    "ForwardOutput",
    "GenerateOutput",
    "ModelDimError",
    "PageTable",
    "ProgramCheckError",
    "ModelKVCache",
    "SamplingParams",
    "TensorCache",
    "TensorCacheError",
    "__version__",
    "check_programs",
    "checkpoint_files",
    "generate",
    "padded_prefill_len",
    "register_block",
]
