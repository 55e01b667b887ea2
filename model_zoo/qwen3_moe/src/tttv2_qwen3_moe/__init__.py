"""TTTv2 model zoo: the Qwen3-MoE family (``Qwen3MoeForCausalLM``)."""

from tttv2_qwen3_moe.family import Qwen3Moe, is_sparse_layer

__all__ = ["Qwen3Moe", "is_sparse_layer"]
