"""The vLLM generator contract (tttv2_patterns.serving.Generator) against CausalLM.generate.

The "engine" here is a few lines of test code that does what vLLM does: it owns the KV cache
(``allocate_kv_cache``) and hands out physical blocks in a shuffled order, builds a page table per
step, prefills new requests between decode steps, and frees a request's blocks when it finishes.
Greedy tokens through the contract must equal ``CausalLM.generate`` on the same prompts exactly
(same model, same ops per user: any difference is a cache/page-table bug, not numerics).
"""

from types import SimpleNamespace

import pytest
import torch
from _family import TinyLlama, write_tiny_llama
from test_causal_lm import GREEDY_PROMPTS
from tttv2_patterns import CausalLM
from tttv2_patterns.serving import Generator

BLOCK = 32
STEPS = 8


@pytest.fixture
def model(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    return CausalLM(spec, CausalLM.ImplConfig(spec, device, strategy="accuracy"), device, progress=False)


class TinyEngine:
    """Engine-side bookkeeping: shuffled free blocks, one page-table row per running request."""

    def __init__(self, generator: Generator, num_blocks: int, seed: int = 7):
        self.generator = generator
        self.kv_cache = generator.allocate_kv_cache(
            generator.kv_cache_shape(num_blocks), torch.bfloat16, generator.num_layers
        )
        order = torch.randperm(num_blocks, generator=torch.Generator().manual_seed(seed)).tolist()
        self.free = order
        self.width = generator.model.spec.max_seq_len // BLOCK
        self.blocks: dict[int, list[int]] = {}

    def row(self, request: int, positions: int) -> list[int]:
        blocks = self.blocks.setdefault(request, [])
        while len(blocks) * BLOCK < positions:
            blocks.append(self.free.pop())
        return blocks + [0] * (self.width - len(blocks))

    def finish(self, request: int) -> None:
        self.free.extend(self.blocks.pop(request))


def test_prefill_and_decode_through_the_contract_equal_generate(model):
    prompts = [GREEDY_PROMPTS[0], GREEDY_PROMPTS[1], GREEDY_PROMPTS[2] * 12]  # the last spans 2+ blocks
    assert len(prompts[2]) > BLOCK
    expected = model.generate(prompts, max_new_tokens=STEPS).token_ids

    generator = Generator(model)
    engine = TinyEngine(generator, num_blocks=24)
    lengths = [len(p) for p in prompts]
    padded = torch.zeros(len(prompts), max(lengths), dtype=torch.int64)
    for row, prompt in enumerate(prompts):
        padded[row, : len(prompt)] = torch.tensor(prompt)
    table = torch.tensor([engine.row(r, lengths[r] + STEPS) for r in range(len(prompts))])
    assert sorted(table[:, 0].tolist()) != table[:, 0].tolist() or table[0, 0] != 0  # not contiguous

    logits = generator.prefill_forward(padded, table, engine.kv_cache, lengths)
    assert logits.shape == (3, 1, model.spec.lm_head.vocab_size)
    generated = [[t] for t in logits[:, 0].argmax(-1).tolist()]
    for step in range(STEPS - 1):
        tokens = torch.tensor([[g[-1]] for g in generated])
        start_pos = torch.tensor([n + step for n in lengths])
        out = generator.decode_forward(tokens, start_pos, table, engine.kv_cache, enable_trace=False,
                                       read_from_device=False, some_future_argument=1)  # fmt: skip
        logits = generator.read_decode_output(out)
        for row, token in enumerate(logits[:, 0].argmax(-1).tolist()):
            generated[row].append(token)
    assert generated == expected


def test_requests_join_and_leave_the_decode_batch(model):
    """Continuous batching: a request prefills while others decode; a finished slot is reused with
    its freed blocks; empty slots (start_pos -1) do not disturb the others. Device sampling through
    ``sampling_params`` (temperature 0 = greedy) returns the same tokens as argmax of the logits."""
    prompts = [GREEDY_PROMPTS[i % len(GREEDY_PROMPTS)] + [i + 3] * (5 * i) for i in range(5)]
    steps = [6, 3, 7, 5, 4]
    expected = [model.generate([p], max_new_tokens=n).token_ids[0] for p, n in zip(prompts, steps)]

    generator = Generator(model)
    engine = TinyEngine(generator, num_blocks=10)  # fewer blocks than 4 slots x full length: reuse needed
    slots: list[int | None] = [None] * 4  # decode rows -> request id
    generated: dict[int, list[int]] = {}
    waiting = list(range(len(prompts)))
    greedy = {"temperature": 0.0, "top_k": 1, "top_p": 1.0}
    finished: dict[int, list[int]] = {}
    while waiting or any(s is not None for s in slots):
        # Admit one waiting request per step into a free slot (prefill between decode steps).
        if waiting and None in slots:
            request = waiting.pop(0)
            slot = slots.index(None)
            prompt = prompts[request]
            row = engine.row(request, len(prompt) + steps[request])
            token = generator.prefill_forward(
                torch.tensor([prompt]),
                torch.tensor([row]),
                engine.kv_cache,
                [len(prompt)],
                sampling_params=greedy,
            )
            generated[request] = [int(token[0])]
            slots[slot] = request
        live = [s for s in slots if s is not None and len(generated[s]) < steps[s]]
        if live:
            tokens, start_pos, table = [], [], []
            for request in slots:
                if request is None or len(generated[request]) >= steps[request]:
                    tokens.append(0), start_pos.append(-1), table.append([0] * engine.width)
                    continue
                tokens.append(generated[request][-1])
                start_pos.append(len(prompts[request]) + len(generated[request]) - 1)
                table.append(engine.row(request, start_pos[-1] + 1))
            logits = generator.decode_forward(torch.tensor(tokens), torch.tensor(start_pos), torch.tensor(table),
                                              engine.kv_cache)  # fmt: skip
            sampled = generator.decode_forward(torch.tensor(tokens), torch.tensor(start_pos), torch.tensor(table),
                                               engine.kv_cache, sampling_params=greedy)  # fmt: skip
            for row, request in enumerate(slots):
                if start_pos[row] < 0:
                    assert not logits[row].any()  # an empty slot gets zero logits
                    continue
                assert int(sampled[row]) == int(logits[row, 0].argmax())
                generated[request].append(int(sampled[row]))
        for slot, request in enumerate(slots):
            if request is not None and len(generated[request]) >= steps[request]:
                finished[request] = generated[request]
                engine.finish(request)
                slots[slot] = None
    assert [finished[r] for r in range(len(prompts))] == expected


def test_initialize_vllm_model_builds_any_family_from_its_folder(tmp_path, device):
    folder = write_tiny_llama(tmp_path / "tiny", seed=3)
    generator = Generator.initialize_vllm_model(
        SimpleNamespace(
            _name_or_path=str(folder), architectures=["LlamaForCausalLM"]
        ),  # a PretrainedConfig's fields
        device,
        max_batch_size=4,
        max_seq_len=64,
        optimizations="accuracy",
        family=TinyLlama,
        n_layers=None,  # an argument of other versions: accepted
    )
    assert generator.model_capabilities["supports_prefix_caching"] is False
    prompt = [5, 9, 17, 4]
    expected = generator.model.generate([prompt], max_new_tokens=4, stop_token_ids=()).token_ids[0]
    kv_cache = generator.allocate_kv_cache(generator.kv_cache_shape(8), None, 2)
    generator.warmup_model_prefill(kv_cache, enable_trace=False)
    generator.warmup_model_decode(kv_cache, enable_trace=True, max_batch_size=4)
    table = torch.tensor([[3, 6]])
    tokens = [int(generator.prefill_forward(torch.tensor([prompt]), table, kv_cache, [4])[0, 0].argmax())]
    for step in range(3):
        logits = generator.decode_forward(
            torch.tensor([[tokens[-1]]]), torch.tensor([4 + step]), table, kv_cache
        )
        tokens.append(int(logits[0, 0].argmax()))
    assert tokens == expected
    generator.close()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tt_data_parallel": 2}, NotImplementedError, "tt_data_parallel=2"),
        ({"optimizations": "fastest"}, ValueError, "optimizations must be one of"),
        ({"max_batch_size": 33}, ValueError, r"max_batch_size must be in \[1, 32\]"),
    ],
)
def test_initialize_vllm_model_refuses_what_it_cannot_serve(tmp_path, kwargs, error, match):
    arguments = {"max_batch_size": 4, "max_seq_len": 64, **kwargs}
    with pytest.raises(error, match=match):
        Generator.initialize_vllm_model(tmp_path, "N150", family=TinyLlama, **arguments)


def test_bad_engine_inputs_are_named(model):
    generator = Generator(model)
    with pytest.raises(ValueError, match="block_size 64 differs"):
        generator.allocate_kv_cache((8, 2, 64, 32), None, 2)
    with pytest.raises(ValueError, match="num_layers=3"):
        generator.allocate_kv_cache(generator.kv_cache_shape(8), None, 3)
    kv_cache = generator.allocate_kv_cache(generator.kv_cache_shape(8), None, 2)
    with pytest.raises(ValueError, match=r"blocks outside \[0, 8\)"):
        generator.prefill_forward(torch.tensor([[1, 2]]), torch.tensor([[9, 0, 0, 0]]), kv_cache, [2])
    long_prompt = torch.ones(1, model.spec.max_seq_len + 1, dtype=torch.int64)
    with pytest.raises(ValueError, match="longer than the KV cache"):
        generator.prefill_forward(
            long_prompt, torch.zeros(1, 4, dtype=torch.int32), kv_cache, [long_prompt.shape[1]]
        )
    with pytest.raises(ValueError, match="more than 32 decode together"):
        generator.decode_forward(torch.zeros(33, 1), torch.zeros(33), torch.zeros(33, 4), kv_cache)
