"""``TTTv2Worker``: the vLLM V1 worker (one per engine) around ``TTTv2ModelRunner``.

vLLM's engine core calls, in order: ``init_device``, ``load_model``, ``get_kv_cache_spec``,
``determine_available_memory`` (-> how many KV blocks), ``initialize_from_config`` (allocate them),
``compile_or_warm_up_model``, then ``execute_model`` once per scheduler step.
"""

from __future__ import annotations

import math
import os

import torch
from vllm.logger import init_logger
from vllm.v1.worker.worker_base import CompilationTimes, WorkerBase

from tttv2_vllm.model_runner import TTTv2ModelRunner
from tttv2_vllm.platform import device_name

logger = init_logger(f"vllm.{__name__}")  # under "vllm": the handlers vLLM configures


class TTTv2Worker(WorkerBase):
    def init_device(self) -> None:
        self.device = torch.device("cpu")
        torch.set_num_threads(int(os.environ.get("TTTV2_VLLM_THREADS", "1")))
        self.model_runner = TTTv2ModelRunner(self.vllm_config)

    def load_model(self, *, load_dummy_weights: bool = False) -> None:
        if load_dummy_weights:
            raise ValueError("TTTv2: --load-format dummy is not supported (weights come from the checkpoint)")
        self.model_runner.load_model()
        logger.info("TTTv2: %s on %s", self.model_config.model, device_name())

    def get_model(self):
        return self.model_runner.generator

    def get_kv_cache_spec(self) -> dict:
        return self.model_runner.get_kv_cache_spec()

    def get_supported_kv_cache_layouts(self) -> list[str]:
        return ["HND"]  # (blocks, kv heads, block positions, head dim): tttv2_blocks.PagedKVCache

    def get_supported_tasks(self):
        return ("generate",)

    def determine_available_memory(self) -> int:
        """Bytes (in vLLM's bfloat16 accounting) for ``$TTTV2_VLLM_NUM_BLOCKS`` blocks per layer.

        Default: every decode slot at full length (``max_num_seqs x ceil(max_model_len / 32)``); fewer
        blocks make vLLM preempt requests when they run out, as it does on any device.
        """
        runner = self.model_runner
        blocks = int(
            os.environ.get(
                "TTTV2_VLLM_NUM_BLOCKS",
                runner.max_num_seqs * math.ceil(runner.max_model_len / runner.block_size),
            )
        )
        specs = runner.get_kv_cache_spec()
        page_bytes = next(iter(specs.values())).page_size_bytes
        logger.info(
            "TTTv2: %d KV blocks of %d positions per layer (%.2f GiB of emulated cache in host memory)",
            blocks,
            runner.block_size,
            blocks * runner.generator.kv_cache_bytes_per_block() / 2**30,
        )
        return blocks * page_bytes * len(specs)

    def initialize_from_config(self, kv_cache_config) -> None:
        self.model_runner.initialize_kv_cache(kv_cache_config.num_blocks)

    def compile_or_warm_up_model(self) -> CompilationTimes:
        self.model_runner.warm_up()
        return CompilationTimes(language_model=0.0, encoder=0.0)

    def execute_model(self, scheduler_output):
        return self.model_runner.execute_model(scheduler_output)

    def sample_tokens(self, grammar_output):
        return None  # execute_model already sampled

    def take_draft_token_ids(self):
        return None

    def check_health(self) -> None:
        return None

    def get_cache_block_size_bytes(self) -> int:
        specs = self.model_runner.get_kv_cache_spec()
        return next(iter(specs.values())).page_size_bytes * len(specs)

    def add_lora(self, lora_request) -> bool:
        raise ValueError("TTTv2 serving does not support LoRA")

    def remove_lora(self, lora_id: int) -> bool:
        return False

    def pin_lora(self, lora_id: int) -> bool:
        return False

    def list_loras(self) -> set[int]:
        return set()

    def shutdown(self) -> None:
        stats = self.model_runner.stats
        if stats.decode_steps:
            logger.info(
                "TTTv2 engine: %d decode steps, %d tokens, %.1f tokens/s in decode (mean batch %.1f); "
                "prefill %d tokens in %.1f s",
                stats.decode_steps,
                stats.decode_tokens,
                stats.decode_tokens / max(stats.decode_seconds, 1e-9),
                sum(stats.batch_sizes) / len(stats.batch_sizes),
                stats.prefill_tokens,
                stats.prefill_seconds,
            )
        self.model_runner.shutdown()
        if not torch.accelerator.is_available():
            # vLLM's teardown (cleanup_dist_env_and_memory) empties the accelerator cache on every
            # platform but CPU; there is no torch accelerator here, so that call would raise.
            torch.accelerator.empty_cache = lambda: None
            torch.accelerator.empty_host_cache = lambda: None
