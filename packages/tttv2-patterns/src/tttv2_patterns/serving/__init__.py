"""Serving: the generator contract of Tenstorrent's vLLM integration, for every ``CausalLM``.

    from tttv2_patterns.serving import Generator
    generator = Generator.initialize_vllm_model(hf_config, "N150", max_batch_size=32, max_seq_len=1024)
    kv_cache = generator.allocate_kv_cache((num_blocks, kv_heads, block_size, head_dim), None, layers)

The vLLM platform plugin that drives it lives in ``serving/tttv2-vllm`` (its own distribution).
"""

from tttv2_patterns.serving.engine_cache import EngineKVCache
from tttv2_patterns.serving.generator import MAX_DECODE_BATCH, Generator

__all__ = ["MAX_DECODE_BATCH", "EngineKVCache", "Generator"]
