"""``TTTv2Platform``: what vLLM asks a platform, answered for TTTv2 on a TT device or its emulator.

The engine keeps its V1 scheduler (continuous batching, KV-block allocation, preemption when blocks
run out); the platform only fixes the settings the TTTv2 generator needs: its worker, one KV block
of 32 positions (a tile), at most 32 sequences decoding together, no prefix caching, no async
scheduling, eager execution (there is no vLLM model graph to compile).
"""

from __future__ import annotations

import os

import torch
from vllm.platforms.interface import Platform, PlatformEnum

BLOCK_SIZE = 32  # the TTTv2 KV-cache block (KVCacheImplConfig.block_size default; one tile of positions)
MAX_DECODE_BATCH = 32  # tttv2_patterns.serving.MAX_DECODE_BATCH (not imported: keep vLLM start-up light)
DEFAULT_MAX_MODEL_LEN = 1024  # emulated caches live in host memory; --max-model-len overrides it


def device_name() -> str:
    """The catalog device the worker opens: ``$TTTV2_DEVICE`` (default N150)."""
    return os.environ.get("TTTV2_DEVICE", "N150")


class TTTv2Platform(Platform):
    _enum = PlatformEnum.OOT
    device_name: str = "tttv2"
    device_type: str = "cpu"  # torch tensors the engine sees (token ids, logits) live on the host
    dispatch_key: str = "CPU"
    dist_backend: str = "gloo"
    simple_compile_backend: str = "eager"

    @property
    def supported_dtypes(self) -> list[torch.dtype]:
        return [torch.bfloat16, torch.float32, torch.float16]

    @classmethod
    def get_device_name(cls, device_id: int = 0) -> str:
        return f"TTTv2 {device_name()}"

    @classmethod
    def get_device_total_memory(cls, device_id: int = 0) -> int:
        import psutil  # noqa: PLC0415

        return psutil.virtual_memory().total

    @classmethod
    def is_pin_memory_available(cls) -> bool:
        return False

    @classmethod
    def inference_mode(cls):
        return torch.no_grad()

    @classmethod
    def set_device(cls, device: torch.device) -> None:
        return None

    @classmethod
    def update_block_size_for_backend(cls, vllm_config) -> None:
        return None  # no vLLM attention backend: the block size is TTTv2's (check_and_update_config)

    @classmethod
    def check_max_model_len(cls, max_model_len: int) -> int:
        return max_model_len

    @classmethod
    def check_and_update_config(cls, vllm_config) -> None:
        from vllm.config import CompilationMode  # noqa: PLC0415

        cache_config = vllm_config.cache_config
        if cache_config.user_specified_block_size and cache_config.block_size != BLOCK_SIZE:
            raise ValueError(
                f"--block-size {cache_config.block_size}: TTTv2 pages its KV cache in blocks of {BLOCK_SIZE} positions"
            )
        cache_config.block_size = BLOCK_SIZE
        cache_config.enable_prefix_caching = False  # Generator.model_capabilities: a prefill starts at 0
        scheduler_config = vllm_config.scheduler_config
        if scheduler_config.max_num_seqs > MAX_DECODE_BATCH:
            scheduler_config.max_num_seqs = MAX_DECODE_BATCH
        scheduler_config.async_scheduling = False
        model_config = vllm_config.model_config
        if model_config is not None:
            model_config.enforce_eager = True
            # A prompt is prefilled in one call: let the scheduler hand it over whole.
            scheduler_config.max_num_batched_tokens = max(
                scheduler_config.max_num_batched_tokens, model_config.max_model_len
            )
        scheduler_config.enable_chunked_prefill = False
        parallel_config = vllm_config.parallel_config
        if parallel_config.world_size > 1:
            raise ValueError(
                "TTTv2: tensor/pipeline parallel sizes must be 1 in vLLM; the TTTv2 model is tensor-parallel "
                f"inside the mesh of $TTTV2_DEVICE={device_name()} itself"
            )
        parallel_config.worker_cls = "tttv2_vllm.worker.TTTv2Worker"
        compilation_config = vllm_config.compilation_config
        compilation_config.mode = CompilationMode.NONE
        compilation_config.cudagraph_capture_sizes = []
        try:
            from vllm.config import CUDAGraphMode  # noqa: PLC0415

            compilation_config.cudagraph_mode = CUDAGraphMode.NONE
        except ImportError:
            pass

    @classmethod
    def validate_request(cls, processed_inputs, params) -> None:
        """Refuse what the TTTv2 model runner does not produce (before the request is queued)."""
        logprobs = getattr(params, "logprobs", None)
        prompt_logprobs = getattr(params, "prompt_logprobs", None)
        if logprobs or prompt_logprobs:
            raise ValueError("TTTv2 serving does not return logprobs or prompt_logprobs")
