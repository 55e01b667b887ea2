"""``TTTv2ModelRunner``: vLLM's scheduler output -> ``Generator`` calls -> one sampled token per request.

Each engine step the scheduler says which requests run and which KV blocks they own. The runner
keeps a 32-slot decode batch: a new (or resumed-after-preemption) request is prefilled whole into
its blocks and takes a free slot; every running request then decodes together in one
``decode_forward`` of all 32 rows (empty slots have ``start_pos = -1``); finished and preempted
requests leave their slot between steps. KV blocks are the scheduler's: when they run out it
preempts requests (vLLM's recompute policy) and the runner prefills them again on resumption from
the tokens it has kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tttv2_patterns.sampling import SamplingParams, select_next_tokens
from tttv2_patterns.serving import MAX_DECODE_BATCH, Generator

from tttv2_vllm.platform import device_name


@dataclass
class RequestState:
    """What the runner keeps of one request: every token so far, its blocks, its sampling."""

    prompt_len: int
    token_ids: list[int]
    block_ids: list[int]
    sampling: SamplingParams
    generator: torch.Generator | None
    slot: int | None = None
    kv_filled: int = 0  # positions of token_ids written to the KV cache


@dataclass
class StepStats:
    """Counters the runner logs (engine-side throughput beside the client's)."""

    prefill_tokens: int = 0
    decode_tokens: int = 0
    decode_steps: int = 0
    decode_seconds: float = 0.0
    prefill_seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


def _sampling(params) -> tuple[SamplingParams, torch.Generator | None]:
    """tttv2 sampling of vLLM ``SamplingParams`` (temperature 0 = greedy; ``seed`` seeds a generator)."""
    if params is None or not params.temperature or params.temperature < 1e-5:
        return SamplingParams(), None
    top_k = params.top_k if params.top_k and params.top_k > 0 else None
    top_p = params.top_p if params.top_p is not None and params.top_p < 1.0 else None
    generator = torch.Generator()
    if params.seed is not None:
        generator.manual_seed(params.seed)
    else:
        generator.seed()
    return SamplingParams(do_sample=True, temperature=params.temperature, top_k=top_k, top_p=top_p), generator


class TTTv2ModelRunner:
    """Drives ``tttv2_patterns.serving.Generator`` from vLLM V1 ``SchedulerOutput`` s."""

    def __init__(self, vllm_config):
        self.vllm_config = vllm_config
        self.model_config = vllm_config.model_config
        self.max_model_len = self.model_config.max_model_len
        self.max_num_seqs = min(vllm_config.scheduler_config.max_num_seqs, MAX_DECODE_BATCH)
        self.block_size = vllm_config.cache_config.block_size
        self.width = math.ceil(self.max_model_len / self.block_size)  # page-table columns
        self.generator: Generator | None = None
        self.kv_cache = None
        self.requests: dict[str, RequestState] = {}
        self.slots: list[str | None] = [None] * MAX_DECODE_BATCH
        self.stats = StepStats()

    # --- start-up -----------------------------------------------------------------------------------
    def load_model(self) -> None:
        from tttv2_hwconfig import open_device  # noqa: PLC0415

        self.device = open_device(device_name())
        self.generator = Generator.initialize_vllm_model(
            self.model_config.hf_config,
            self.device,
            max_batch_size=self.max_num_seqs,
            max_seq_len=self.max_model_len,
        )
        if self.generator.block_size != self.block_size:
            raise ValueError(
                f"the model's KV-cache block size is {self.generator.block_size}, vLLM's is {self.block_size}"
            )

    def get_kv_cache_spec(self) -> dict:
        from vllm.v1.kv_cache_interface import FullAttentionSpec  # noqa: PLC0415

        _, kv_heads, block_size, head_dim = self.generator.kv_cache_shape(1)
        return {
            f"model.layers.{index}.self_attn.attn": FullAttentionSpec(
                block_size=block_size, num_kv_heads=kv_heads, head_size=head_dim, dtype=torch.bfloat16
            )
            for index in range(self.generator.num_layers)
        }

    def initialize_kv_cache(self, num_blocks: int) -> None:
        self.kv_cache = self.generator.allocate_kv_cache(
            self.generator.kv_cache_shape(num_blocks), torch.bfloat16, self.generator.num_layers
        )

    def warm_up(self) -> None:
        self.generator.warmup_model_prefill(self.kv_cache, enable_trace=False)
        self.generator.warmup_model_decode(self.kv_cache, enable_trace=True, max_batch_size=self.max_num_seqs)

    # --- one engine step ----------------------------------------------------------------------------
    def execute_model(self, scheduler_output):
        from vllm.v1.outputs import ModelRunnerOutput  # noqa: PLC0415

        self._update_states(scheduler_output)
        scheduled = scheduler_output.num_scheduled_tokens
        if not scheduled:
            return ModelRunnerOutput(req_ids=[], req_id_to_index={})
        prefills, decodes, partial = [], [], []
        for req_id, count in scheduled.items():
            state = self.requests[req_id]
            computed = self._computed[req_id]
            if computed + count < len(state.token_ids):
                partial.append(req_id)  # a chunk of a longer prompt: prefill once the last chunk comes
            elif state.kv_filled == len(state.token_ids) - 1 and state.slot is not None and count == 1:
                decodes.append(req_id)
            else:
                prefills.append(req_id)
        sampled: dict[str, list[int]] = {req_id: [] for req_id in partial}
        if prefills:
            sampled.update(self._prefill(prefills))
        if decodes:
            sampled.update(self._decode(decodes))
        req_ids = list(scheduled)
        return ModelRunnerOutput(
            req_ids=req_ids,
            req_id_to_index={req_id: index for index, req_id in enumerate(req_ids)},
            sampled_token_ids=[sampled[req_id] for req_id in req_ids],
        )

    def _update_states(self, scheduler_output) -> None:
        for req_id in scheduler_output.finished_req_ids:
            self._leave(req_id, forget=True)
        for req_id in scheduler_output.preempted_req_ids or ():
            self._leave(req_id, forget=False)
        self._computed: dict[str, int] = {}
        for new in scheduler_output.scheduled_new_reqs:
            sampling, generator = _sampling(new.sampling_params)
            self.requests[new.req_id] = RequestState(
                prompt_len=len(new.prompt_token_ids),
                token_ids=list(new.prompt_token_ids),
                block_ids=list(new.block_ids[0]),
                sampling=sampling,
                generator=generator,
            )
            self._computed[new.req_id] = new.num_computed_tokens
        cached = scheduler_output.scheduled_cached_reqs
        for index, req_id in enumerate(cached.req_ids):
            state = self.requests[req_id]
            new_blocks = cached.new_block_ids[index]
            if req_id in cached.resumed_req_ids:
                state.block_ids = list(new_blocks[0]) if new_blocks else []
                state.kv_filled = 0
                self._leave(req_id, forget=False)
            elif new_blocks:
                state.block_ids.extend(new_blocks[0])
            self._computed[req_id] = cached.num_computed_tokens[index]

    def _leave(self, req_id: str, *, forget: bool) -> None:
        state = self.requests.get(req_id)
        if state is not None and state.slot is not None:
            self.slots[state.slot] = None
            state.slot = None
            state.kv_filled = 0
        if forget:
            self.requests.pop(req_id, None)

    def _page_row(self, state: RequestState) -> list[int]:
        return state.block_ids[: self.width] + [0] * (self.width - len(state.block_ids[: self.width]))

    def _sample(self, logits: torch.Tensor, state: RequestState) -> int:
        return int(select_next_tokens(logits.reshape(1, -1), state.sampling, state.generator)[0])

    def _prefill(self, req_ids: list[str]) -> dict[str, list[int]]:
        start = time.perf_counter()
        states = [self.requests[r] for r in req_ids]
        lengths = [len(s.token_ids) for s in states]
        tokens = torch.zeros(len(states), max(lengths), dtype=torch.int64)
        for row, state in enumerate(states):
            tokens[row, : lengths[row]] = torch.tensor(state.token_ids)
        table = torch.tensor([self._page_row(s) for s in states], dtype=torch.int32)
        logits = self.generator.prefill_forward(tokens, table, self.kv_cache, lengths)
        out = {}
        for row, (req_id, state) in enumerate(zip(req_ids, states)):
            if state.slot is None:
                state.slot = self.slots.index(None)  # the scheduler runs at most max_num_seqs <= 32
                self.slots[state.slot] = req_id
            state.kv_filled = lengths[row]
            token = self._sample(logits[row, 0], state)
            state.token_ids.append(token)
            out[req_id] = [token]
        self.stats.prefill_tokens += sum(lengths)
        self.stats.prefill_seconds += time.perf_counter() - start
        return out

    def _decode(self, req_ids: list[str]) -> dict[str, list[int]]:
        start = time.perf_counter()
        tokens = torch.zeros(MAX_DECODE_BATCH, 1, dtype=torch.int64)
        start_pos = torch.full((MAX_DECODE_BATCH,), -1, dtype=torch.int64)
        table = torch.zeros(MAX_DECODE_BATCH, self.width, dtype=torch.int32)
        for req_id in req_ids:
            state = self.requests[req_id]
            tokens[state.slot, 0] = state.token_ids[-1]
            start_pos[state.slot] = len(state.token_ids) - 1
            table[state.slot] = torch.tensor(self._page_row(state), dtype=torch.int32)
        logits = self.generator.decode_forward(tokens, start_pos, table, self.kv_cache, enable_trace=True)
        out = {}
        for req_id in req_ids:
            state = self.requests[req_id]
            state.kv_filled = len(state.token_ids)
            token = self._sample(logits[state.slot, 0], state)
            state.token_ids.append(token)
            out[req_id] = [token]
        self.stats.decode_tokens += len(req_ids)
        self.stats.decode_steps += 1
        self.stats.batch_sizes.append(len(req_ids))
        self.stats.decode_seconds += time.perf_counter() - start
        return out

    def shutdown(self) -> None:
        if self.generator is not None:
            self.generator.close()
            self.generator = None
