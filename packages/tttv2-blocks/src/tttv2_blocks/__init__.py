"""tttv2-blocks: TTNN building blocks for decoder LLMs — attention, rope, ffn, norms, embeddings, lm_head.

Every block follows one contract: ``XxxSpec`` (math), ``XxxImplConfig`` (TTNN choices),
``get_default_impl_config(spec, device, mode, strategy)``, and ``Xxx(spec, impl_config, device)``
with ``load_weights``, ``forward_prefill`` and ``forward_decode``.
"""

from tttv2_blocks.__about__ import __version__
from tttv2_blocks.ccl import collective_kwargs
from tttv2_blocks.config import LinearImplConfig, Precision
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import UnknownFieldError
from tttv2_blocks.weights import WeightError

# --- ffn / lm_head / matmul configs ---
from tttv2_blocks import program_configs  # isort: skip
from tttv2_blocks.ffn import FeedForward  # isort: skip
from tttv2_blocks.ffn import FeedForwardImplConfig  # isort: skip
from tttv2_blocks.ffn import FeedForwardSpec  # isort: skip
from tttv2_blocks.moe import MoE  # isort: skip
from tttv2_blocks.moe import MoEImplConfig  # isort: skip
from tttv2_blocks.moe import MoESpec  # isort: skip
from tttv2_blocks.lm_head import LMHead  # isort: skip
from tttv2_blocks.lm_head import LMHeadImplConfig  # isort: skip
from tttv2_blocks.lm_head import LMHeadSpec  # isort: skip

# --- normalization / embeddings ---
from tttv2_blocks.embeddings import Embedding  # isort: skip
from tttv2_blocks.embeddings import EmbeddingImplConfig  # isort: skip
from tttv2_blocks.embeddings import EmbeddingSpec  # isort: skip
from tttv2_blocks.embeddings import token_ids_to_device  # isort: skip
from tttv2_blocks.normalization import LayerNorm  # isort: skip
from tttv2_blocks.normalization import LayerNormSpec  # isort: skip
from tttv2_blocks.normalization import NormImplConfig  # isort: skip
from tttv2_blocks.normalization import RMSNorm  # isort: skip
from tttv2_blocks.normalization import RMSNormSpec  # isort: skip

# --- attention / rope / kv cache ---
from tttv2_blocks.attention import Attention  # isort: skip
from tttv2_blocks.attention import AttentionImplConfig  # isort: skip
from tttv2_blocks.attention import AttentionReference  # isort: skip
from tttv2_blocks.attention import AttentionSpec  # isort: skip
from tttv2_blocks.attention import QKNormImplConfig  # isort: skip
from tttv2_blocks.attention import SDPAImplConfig  # isort: skip
from tttv2_blocks.head_layout import HeadLayout  # isort: skip
from tttv2_blocks.kv_cache import KVCacheImplConfig  # isort: skip
from tttv2_blocks.kv_cache import KVCacheSpec  # isort: skip
from tttv2_blocks.kv_cache import PagedKVCache  # isort: skip
from tttv2_blocks.rope import Rope  # isort: skip
from tttv2_blocks.rope import RopeConfigError  # isort: skip
from tttv2_blocks.rope import RopeImplConfig  # isort: skip
from tttv2_blocks.rope import RopeScaling  # isort: skip
from tttv2_blocks.rope import RopeSpec  # isort: skip

__all__ = [
    "collective_kwargs",
    "UnknownFieldError",
    "LinearImplConfig",
    "Module",
    "Precision",
    "WeightError",
    "__version__",
    "get_default_impl_config",
    # --- ffn / lm_head / matmul configs ---
    "FeedForward",
    "FeedForwardImplConfig",
    "FeedForwardSpec",
    "LMHead",
    "LMHeadImplConfig",
    "LMHeadSpec",
    "MoE",
    "MoEImplConfig",
    "MoESpec",
    "program_configs",
    # --- normalization / embeddings ---
    "Embedding",
    "EmbeddingImplConfig",
    "EmbeddingSpec",
    "LayerNorm",
    "LayerNormSpec",
    "NormImplConfig",
    "RMSNorm",
    "RMSNormSpec",
    "token_ids_to_device",
    # --- attention / rope / kv cache ---
    "Attention",
    "AttentionImplConfig",
    "AttentionReference",
    "AttentionSpec",
    "HeadLayout",
    "KVCacheImplConfig",
    "KVCacheSpec",
    "PagedKVCache",
    "QKNormImplConfig",
    "Rope",
    "RopeConfigError",
    "RopeImplConfig",
    "RopeScaling",
    "RopeSpec",
    "SDPAImplConfig",
]
