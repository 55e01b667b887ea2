"""``generate``: prefill every user, then decode step by step, in the spirit of HF ``generate``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tttv2_patterns.device_sampling import check_device_sampling, device_can_sample
from tttv2_patterns.inputs import prompt_token_ids
from tttv2_patterns.outputs import GenerateOutput
from tttv2_patterns.sampling import SamplingParams, select_next_tokens


def _encode_strings(inputs, tokenizer) -> list[list[int]] | None:
    """Token ids of string prompts (None if ``inputs`` are not strings)."""
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, Sequence) or not texts or not all(isinstance(t, str) for t in texts):
        return None
    if tokenizer is None:
        raise ValueError("generate: string prompts need tokenizer= (a transformers tokenizer)")
    return [list(tokenizer(text)["input_ids"]) for text in texts]


def _stop_sets(stop_token_ids, users: int) -> list[set[int]]:
    """One set of stop tokens per user from None, an int, a list of ints, or one list per user."""
    if stop_token_ids is None:
        return [set() for _ in range(users)]
    if isinstance(stop_token_ids, int):
        return [{stop_token_ids} for _ in range(users)]
    stop_token_ids = list(stop_token_ids)
    if all(isinstance(t, int) for t in stop_token_ids):
        return [set(stop_token_ids) for _ in range(users)]
    if len(stop_token_ids) != users:
        raise ValueError(
            f"generate: stop_token_ids has {len(stop_token_ids)} per-user lists for {users} users"
        )
    return [set([s] if isinstance(s, int) else s or ()) for s in stop_token_ids]


def generate(
    model,
    inputs,
    max_new_tokens: int = 20,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_token_ids=None,
    eos_token_id=None,
    tokenizer=None,
    sample_on_device: bool | None = None,
) -> GenerateOutput:
    """Generate up to ``max_new_tokens`` tokens per user with ``model`` (a ``CausalLM``).

    Args:
        inputs: token ids (anything ``prefill_forward`` takes: a list of lists for users with
            different prompt lengths) or a string / list of strings (needs ``tokenizer``).
        max_new_tokens: tokens to generate per user (fewer if a stop token comes first).
        do_sample / temperature / top_k / top_p: greedy (default) or sampling (see ``SamplingParams``).
        seed: seeds the ``torch.Generator`` used for sampling (None: nondeterministic).
        stop_token_ids: a token id, a list of ids for every user, or one list per user; a user stops
            after emitting one (the stop token is kept in its output).
        eos_token_id: alias of ``stop_token_ids`` (HF's name). With neither given and a tokenizer,
            the tokenizer's ``eos_token_id`` stops generation, as in HF.
        tokenizer: a transformers tokenizer; used to encode string inputs and to decode ``text``.
        sample_on_device: choose tokens on the device (``ttnn.argmax`` / ``ttnn.sampling``; only token
            ids leave it) or on the host from read-back logits (``tttv2_patterns.sampling``, HF's exact
            semantics). None (default): on the device whenever it gives the same semantics, i.e.
            greedy, or sampling with ``1 <= top_k <= 32``; True insists (error otherwise).
            Device draws use per-step seeds drawn from ``seed``, so they are reproducible but not
            the host's samples.

    Returns:
        ``GenerateOutput`` with per-user ``token_ids`` (and ``text`` when a tokenizer is given).

    Raises:
        ValueError: bad arguments, or a prompt plus ``max_new_tokens`` that does not fit ``max_seq_len``
            (checked before anything runs).
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"generate: max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    params = SamplingParams(do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p)
    if sample_on_device is None:
        sample_on_device = device_can_sample(params)
    elif sample_on_device:
        check_device_sampling(params, "generate")
    prompts = _encode_strings(inputs, tokenizer) or prompt_token_ids(inputs, "generate(inputs)")
    if stop_token_ids is None:
        stop_token_ids = eos_token_id
    if stop_token_ids is None and tokenizer is not None:
        stop_token_ids = getattr(tokenizer, "eos_token_id", None)
    stops = _stop_sets(stop_token_ids, len(prompts))
    max_seq_len = model.spec.max_seq_len
    for user, prompt in enumerate(prompts):
        # The last generated token is never written to the cache.
        needed = len(prompt) + max_new_tokens - 1
        if needed > max_seq_len:
            raise ValueError(
                f"generate: user {user}: prompt of {len(prompt)} tokens + max_new_tokens={max_new_tokens} needs "
                f"{needed} cache positions, more than max_seq_len={max_seq_len}"
            )
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()

    def device_seed() -> int:  # a fresh non-zero seed per device draw, reproducible from ``seed``
        return int(torch.randint(1, 2**31 - 1, (1,), generator=generator))

    def choose(out) -> list[int]:
        if sample_on_device:
            return out.next_tokens.tolist()
        return select_next_tokens(out.logits, params, generator).tolist()

    device_kwargs = {}
    if sample_on_device and params.do_sample:
        device_kwargs = {"sampling": params}
    out = model.prefill_forward(
        prompts, **({**device_kwargs, "seed": device_seed()} if device_kwargs else {})
    )
    user_ids, positions = list(out.user_ids), dict(zip(out.user_ids, out.positions))
    generated: list[list[int]] = [[] for _ in prompts]
    finished = [False] * len(prompts)
    active = list(range(len(prompts)))
    tokens = choose(out)
    for step in range(max_new_tokens):
        for index, token in zip(active, tokens):
            generated[index].append(int(token))
            finished[index] = token in stops[index]
        active = [i for i in active if not finished[i]]
        if step == max_new_tokens - 1 or not active:
            break
        feed = [generated[i][-1] for i in active]
        slots = [user_ids[i] for i in active]
        out = model.decode_forward(
            token_ids=feed,
            cache_position=[positions[s] for s in slots],
            user_ids=slots,
            return_logits=not sample_on_device,
            **({**device_kwargs, "seed": device_seed()} if device_kwargs else {}),
        )
        for slot in slots:
            positions[slot] += 1
        tokens = choose(out)

    text = None
    if tokenizer is not None:
        text = [tokenizer.decode(ids, skip_special_tokens=True) for ids in generated]
    return GenerateOutput(token_ids=generated, prompt_token_ids=prompts, text=text, finished=finished)
