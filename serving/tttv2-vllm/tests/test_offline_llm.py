"""``vllm.LLM`` through the plugin on a tiny random Llama folder, with too few KV blocks for its requests.

The KV cache holds 12 blocks of 32 positions; 8 requests of up to 4 blocks each cannot all run, so
vLLM's scheduler preempts (frees the blocks of) running requests and recomputes them later; the
runner must re-prefill a resumed request from the tokens it kept. Greedy outputs must equal the
family's own ``generate`` on the same prompts (the same emulated model, in this process).
"""

import os

import pytest
import torch

BLOCKS = 12
MAX_MODEL_LEN = 128
NEW_TOKENS = 40
TINY_LLAMA = dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=499, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
    bos_token_id=1, eos_token_id=2, pad_token_id=None,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_llama_folder(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model = LlamaForCausalLM(LlamaConfig(**TINY_LLAMA)).eval()
    with torch.no_grad():  # random norms matter; a wider init separates the top logits (fewer near-ties)
        for name, parameter in model.named_parameters():
            parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter) if "norm" in name else parameter * 3)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def test_preempted_requests_resume_with_the_same_greedy_tokens(tiny_llama_folder, monkeypatch):
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    monkeypatch.setenv("TTTV2_VLLM_NUM_BLOCKS", str(BLOCKS))
    generator = torch.Generator().manual_seed(5)
    prompts = [torch.randint(3, 499, (20 + 9 * i,), generator=generator).tolist() for i in range(8)]
    llm = LLM(
        model=str(tiny_llama_folder), skip_tokenizer_init=True, max_model_len=MAX_MODEL_LEN, max_num_seqs=8,
        disable_log_stats=False,
    )  # fmt: skip
    params = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS, ignore_eos=True, detokenize=False)
    outputs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params)
    preemptions = sum(
        getattr(metric, "value", 0) for metric in llm.get_metrics() if metric.name == "vllm:num_preemptions"
    )
    del llm

    from tttv2_patterns.family import family_for_checkpoint

    family = family_for_checkpoint(tiny_llama_folder)
    model = family.from_huggingface(
        tiny_llama_folder, device=os.environ.get("TTTV2_DEVICE", "N150"), max_batch_size=8,
        max_seq_len=MAX_MODEL_LEN, tensor_cache=False, progress=False,
    )  # fmt: skip
    expected = model.generate(prompts, max_new_tokens=NEW_TOKENS, stop_token_ids=()).token_ids
    served = [list(o.outputs[0].token_ids) for o in outputs]
    # A resumed request is recomputed by one prefill of prompt + its tokens so far, where generate
    # decoded them one by one: the same math in another op order (prefill vs decode attention over the
    # bfloat8 cache). Where the random tiny model has a near-tie that can pick the other token. So a
    # divergence is accepted only where vLLM's token is exactly what a prefill of that prefix gives,
    # and only by a hair (the two candidates within 2% of the logit range): anything else is a bug.
    diverged = []
    for index, (got, want) in enumerate(zip(served, expected)):
        if got == want:
            continue
        step = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        logits = model.prefill_forward([prompts[index] + got[:step]]).logits[0]
        scale = float(logits.max() - logits.min())
        assert int(logits.argmax()) == got[step], f"request {index} step {step}: not the recompute's argmax"
        assert float(logits[got[step]] - logits[want[step]]) < 0.02 * scale, (
            f"request {index}: not a near-tie"
        )
        diverged.append(index)
    model.close()
    print(
        f"[tttv2-vllm] {preemptions:.0f} preemptions; requests diverged at a recompute near-tie: {diverged}"
    )
    assert preemptions > 0, "the KV cache was large enough: nothing was preempted"
    assert len(diverged) <= 2, f"requests {diverged} diverged from generate"
