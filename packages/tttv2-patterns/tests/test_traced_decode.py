"""Traced decode (the default) against untraced decode, device token choice, padding, trace safety.

Runs on the device of ``TTTV2_DEVICE`` (N150, N300, T3K, TG) with the tiny random Llama.
"""

import pytest
import torch
from tttv2_hwconfig import ttnn, watch_host_transfers
from tttv2_patterns import CausalLM, SamplingParams
from tttv2_patterns.decode_trace import DECODE_ROWS, SINGLE_USER_ROWS, decode_rows, padded_prefill_len
from tttv2_patterns.sampling import filter_logits

PROMPTS = [[1, 5, 7, 9, 200, 13], [3, 4, 100, 200, 300, 5, 6, 17, 23, 42, 77], [400, 2]]


def _model(spec, device, **kwargs):
    return CausalLM(spec, device=device, progress=False, **kwargs)


def _run(model, steps=4):
    """Prefill three users, decode them together, then users 2 and 0 alone (other rows, order)."""
    out = model.prefill_forward(PROMPTS)
    logits, tokens = [out.logits], [out.next_tokens]
    for _ in range(steps):
        out = model.decode_forward(out)
        logits.append(out.logits)
        tokens.append(out.next_tokens)
    subset = model.decode_forward(
        token_ids=[int(out.next_tokens[2]), int(out.next_tokens[0])],
        cache_position=[out.positions[2], out.positions[0]],
        user_ids=[2, 0],
    )
    logits.append(subset.logits)
    tokens.append(subset.next_tokens)
    return logits, tokens


def test_traced_and_untraced_decode_are_bit_identical(llama_spec_with_checkpoint, device):
    traced = _model(llama_spec_with_checkpoint, device)
    assert traced.enable_trace  # the default
    untraced = _model(llama_spec_with_checkpoint, device, enable_trace=False)
    traced_logits, traced_tokens = _run(traced)
    untraced_logits, untraced_tokens = _run(untraced)
    for step, (a, b) in enumerate(zip(traced_logits, untraced_logits)):
        assert torch.equal(a, b), f"step {step}: logits differ (max {float((a - b).abs().max())})"
    for a, b in zip(traced_tokens, untraced_tokens):
        assert torch.equal(a, b)
    # One capture served every step, whatever the number of users (one 32-row bucket).
    assert list(traced._decode_traces.traces) == [DECODE_ROWS]
    assert not untraced._decode_traces.traces


def _single_user(model, steps=4, fed=None):
    """Greedy decode of one user; ``fed``: feed ``fed[k - 1]`` at step k > 0 instead of its own choice."""
    out = model.prefill_forward(PROMPTS[1:2])
    logits, tokens = [], []
    for step in range(steps):
        token_ids = [int(fed[step - 1])] if fed is not None and step else None
        out = model.decode_forward(out, token_ids=token_ids)
        logits.append(out.logits)
        tokens.append(out.next_tokens)
    return torch.stack(logits), torch.stack(tokens)


def test_a_single_greedy_user_decodes_in_the_one_row_bucket(llama_spec_with_checkpoint, device, monkeypatch):
    """One user, greedy: the one-row program, traced bit for bit as untraced, with the logits and the
    clear token choices of the 32-row program (its logits may differ in the last bits: the host GEMM's
    addition order can depend on the row count; on this project's machines they were equal)."""
    from tttv2_patterns import causal_lm

    traced = _model(llama_spec_with_checkpoint, device)
    one_row_logits, one_row_tokens = _single_user(traced)
    assert list(traced._decode_traces.traces) == [SINGLE_USER_ROWS]
    untraced_logits, untraced_tokens = _single_user(
        _model(llama_spec_with_checkpoint, device, enable_trace=False)
    )
    assert torch.equal(one_row_logits.view(torch.int32), untraced_logits.view(torch.int32))
    assert torch.equal(one_row_tokens, untraced_tokens)

    monkeypatch.setattr(causal_lm, "decode_rows", lambda users, device_sampling: DECODE_ROWS)
    padded = _model(llama_spec_with_checkpoint, device)
    # Fed the one-row run's tokens, so a near-tie flipped by the last bits cannot change its inputs.
    padded_logits, padded_tokens = _single_user(padded, fed=one_row_tokens.flatten())
    assert list(padded._decode_traces.traces) == [DECODE_ROWS]
    torch.testing.assert_close(one_row_logits, padded_logits, atol=0.05, rtol=0.02)
    top2 = padded_logits.topk(2, dim=-1).values
    # A choice is clear when its margin exceeds what the two programs' logits differ by, twice over.
    clear = (top2[..., 0] - top2[..., 1]) > 2 * float((one_row_logits - padded_logits).abs().max()) + 1e-3
    assert clear.any() and torch.equal(one_row_tokens[clear], padded_tokens[clear])


def test_the_row_bucket_of_a_step():
    assert decode_rows(1, device_sampling=False) == SINGLE_USER_ROWS == 1
    assert decode_rows(1, device_sampling=True) == DECODE_ROWS  # ttnn.sampling takes 32 rows
    assert decode_rows(2, device_sampling=False) == decode_rows(32, device_sampling=False) == DECODE_ROWS


def test_device_greedy_tokens_equal_host_argmax(llama_spec_with_checkpoint, device):
    logits, tokens = _run(_model(llama_spec_with_checkpoint, device))
    for step_logits, step_tokens in zip(logits, tokens):
        assert torch.equal(step_tokens, step_logits.argmax(-1))


def test_traced_step_moves_only_its_inputs_in_and_token_ids_out(llama_spec_with_checkpoint, device):
    model = _model(llama_spec_with_checkpoint, device)
    out = model.decode_forward(model.prefill_forward(PROMPTS))  # compile run + capture
    persistent = model._decode_inputs[DECODE_ROWS]
    trace = device.trace
    trace.clear()
    with watch_host_transfers() as transfers:
        out = model.decode_forward(out, return_logits=False)
    assert out.logits is None and len(out.next_tokens) == len(PROMPTS)
    reads = [t for t in transfers if t.direction == "read"]
    writes = [t for t in transfers if t.direction == "write"]
    assert [(t.op, t.shape, t.dtype) for t in reads] == [("ttnn.to_torch", (1, 1, DECODE_ROWS), "uint32")]
    assert [t.op for t in writes] == ["ttnn.copy_host_to_device_tensor"] * 4
    assert sorted(t.shape for t in writes) == sorted(
        tuple(getattr(persistent, name).shape)
        for name in ("token_ids", "current_pos", "rot_idxs", "page_table")
    )
    names = [r.name for r in trace.records]
    assert names.count("ttnn.execute_trace") == 1
    # The replayed device work is the whole model: every layer's attention and FFN ran.
    assert names.count("ttnn.experimental.paged_update_cache") == 2 * len(model.layers)


def test_device_sampling_top_k_1_is_greedy_and_stays_in_top_k(llama_spec_with_checkpoint, device):
    model = _model(llama_spec_with_checkpoint, device)
    out = model.prefill_forward(PROMPTS)
    greedy = model.decode_forward(out)
    sampled = model.decode_forward(
        out, sampling=SamplingParams(do_sample=True, top_k=1, temperature=0.7), seed=5
    )
    assert torch.equal(sampled.next_tokens, greedy.next_tokens)
    params = SamplingParams(do_sample=True, top_k=4, top_p=0.9, temperature=1.3)
    draws = {
        tuple(model.decode_forward(out, sampling=params, seed=s).next_tokens.tolist()) for s in range(1, 9)
    }
    assert len(draws) > 1  # it samples
    allowed = filter_logits(greedy.logits, params) > float("-inf")  # the host sampler is the check
    for draw in draws:
        for user, token in enumerate(draw):
            assert allowed[user, token], f"user {user}: token {token} outside host top-k/top-p"
    again = model.decode_forward(out, sampling=params, seed=3).next_tokens
    assert torch.equal(again, model.decode_forward(out, sampling=params, seed=3).next_tokens)


def test_device_sampling_needs_a_top_k_of_at_most_32(llama_spec_with_checkpoint, device):
    model = _model(llama_spec_with_checkpoint, device)
    out = model.prefill_forward(PROMPTS[:1])
    for top_k in (None, 33):
        with pytest.raises(ValueError, match="1 <= top_k <= 32"):
            model.decode_forward(out, sampling=SamplingParams(do_sample=True, top_k=top_k))
    with pytest.raises(ValueError, match="1 <= top_k <= 32"):
        model.generate(PROMPTS[:1], 2, do_sample=True, sample_on_device=True)
    # Host sampling (HF semantics over the whole vocab) stays available, and is the auto choice.
    assert len(model.generate(PROMPTS[:1], 2, do_sample=True, seed=1)[0]) == 2


def test_bad_decode_and_prefill_inputs_are_refused(llama_spec_with_checkpoint, device):
    model = _model(llama_spec_with_checkpoint, device)
    with pytest.raises(ValueError, match="at most 32"):
        model.decode_forward(token_ids=[1] * 33, cache_position=0, user_ids=list(range(33)))
    too_long = [1] * (llama_spec_with_checkpoint.max_seq_len + 1)
    with pytest.raises(ValueError, match="longer than the KV cache"):
        model.prefill_forward([too_long])


def test_prefill_is_padded_to_length_buckets(llama_spec_with_checkpoint, device):
    model = _model(llama_spec_with_checkpoint, device)
    trace = device.trace
    for prompt in PROMPTS:
        trace.clear()
        model.prefill_forward([prompt])
        assert {r.output_shapes[0] for r in trace.records if r.name == "ttnn.embedding"} == {(1, 128, 128)}


@pytest.mark.parametrize(
    "seq_len, capacity, padded",
    [
        (1, 4096, 128),
        (128, 4096, 128),
        (129, 4096, 256),
        (3000, 8192, 4096),
        (5000, 8192, 6144),
        (40, 64, 64),
        (100, 96, 100),
    ],
)
def test_padded_prefill_len_follows_tttv1(seq_len, capacity, padded):
    assert padded_prefill_len(seq_len, capacity) == padded


def test_idle_rows_are_skipped(llama_spec_with_checkpoint, device):
    """One user decoding leaves every other user's cache untouched (idle rows are at position -1)."""
    model = _model(llama_spec_with_checkpoint, device)
    out = model.prefill_forward(PROMPTS)
    cache = model.kv_cache.layer_caches[0]

    def snapshot():
        return ttnn.to_torch(ttnn.get_device_tensors(cache.keys)[0]).clone()

    before = snapshot()
    model.decode_forward(token_ids=[7], cache_position=[out.positions[1]], user_ids=[1])
    after = snapshot()
    changed_blocks = (before != after).flatten(1).any(-1).nonzero().flatten().tolist()
    user1_blocks = set(model.kv_cache.page_table.rows([1])[0].tolist())
    assert changed_blocks and set(changed_blocks) <= user1_blocks


def test_decode_residual_stays_sharded_with_sharded_norms(llama_spec_with_checkpoint, device):
    """Sharded norms: the residual is their width-sharded config, so no norm reshards its input."""
    from tttv2_patterns.impl_config import residual_decode_memory_config

    model = _model(llama_spec_with_checkpoint, device, enable_trace=False)
    residual = residual_decode_memory_config(model.impl_config.layers[0])
    if device.get_num_devices() == 1:
        assert residual is not None and residual.is_sharded()
    elif residual is None:
        pytest.skip("the norms run distributed (interleaved) on this mesh: so does the residual")
    out = model.prefill_forward(PROMPTS)
    device.trace.clear()
    model.decode_forward(out)
    norm_moves = [
        r.scope
        for r in device.trace.records
        if r.name == "ttnn.to_memory_config" and r.scope.endswith(("attention_norm", "ffn_norm"))
    ]
    assert norm_moves == []


DYNAMIC_OPS = {"embedding"}
KERNEL_OPS = {"paged_update_cache", "paged_scaled_dot_product_attention_decode"}


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view(torch.int32)


def _one_user_run(model, steps):
    logits, tokens = _single_user(model, steps)
    return list(logits), list(tokens)


@pytest.mark.parametrize("run", [_run, _one_user_run], ids=["32-row bucket", "one-row bucket"])
def test_compiled_replay_equals_op_by_op_replay_and_untraced(
    llama_spec_with_checkpoint, device, monkeypatch, run
):
    """The replay as torch programs and op kernels (default) against re-running every op at replay
    and no trace at all: identical tokens, logits identical bit for bit (-0.0 and NaN payloads too)."""
    from tttv2_hwconfig.emulator import _compiled, _ops_trace

    compiled = _model(llama_spec_with_checkpoint, device)
    compiled_logits, compiled_tokens = run(compiled, steps=6)
    (trace,) = compiled._decode_traces.traces.values()
    steps = device._traces[trace.trace_id].steps
    replayable = (_compiled.Program, _compiled.Kernel)
    dynamic = {f"{s.function.__name__}: {s.program}" for s in steps if not isinstance(s.program, replayable)}
    # Only ops that read device values through Python re-run (embedding's index bounds); the paged
    # cache update and flash decode, which read positions and page tables, replay as their kernels.
    assert {entry.split(":")[0] for entry in dynamic} <= DYNAMIC_OPS, "\n".join(sorted(dynamic))
    assert {s.function.__name__ for s in steps if isinstance(s.program, _compiled.Kernel)} == KERNEL_OPS
    assert sum(not isinstance(s.program, _compiled.Program) for s in steps) < len(steps) / 4
    monkeypatch.setattr(_ops_trace, "compiled_replay", False)
    by_ops_logits, by_ops_tokens = run(_model(llama_spec_with_checkpoint, device), steps=6)
    untraced_logits, untraced_tokens = run(
        _model(llama_spec_with_checkpoint, device, enable_trace=False), steps=6
    )
    for step, (a, b, c) in enumerate(zip(compiled_logits, by_ops_logits, untraced_logits)):
        assert torch.equal(_bits(a), _bits(b)), (
            f"step {step}: compiled vs op-by-op replay differ (max {float((a - b).abs().max())})"
        )
        assert torch.equal(_bits(a), _bits(c)), (
            f"step {step}: compiled replay vs untraced differ (max {float((a - c).abs().max())})"
        )
    assert all(
        torch.equal(a, b) and torch.equal(a, c)
        for a, b, c in zip(compiled_tokens, by_ops_tokens, untraced_tokens)
    )
