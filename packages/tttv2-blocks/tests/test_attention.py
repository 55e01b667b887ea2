"""Attention block vs HF attention modules (Llama, Qwen2, Qwen3, Mistral, Gemma 3) and vs its torch reference.

Thresholds (PCC of the block output against the float32 reference):
- "performance" (TTTv1 default: bfloat8_b weights and KV cache, HiFi2): >= 0.99. bfloat8_b keeps
  7 mantissa bits per value with a shared exponent; measured PCC on these shapes is ~0.9998, so
  0.99 leaves margin for unlucky seeds while still failing on any wrong head, mask or rotation
  (those drop PCC far below 0.9).
- "accuracy" (bfloat16 weights and cache, HiFi4 with fp32 accumulation): >= 0.999.
Dims are tiny so every device (N150, N300, T3K, TG, P150; ``TTTV2_DEVICE``) runs in seconds.
"""

import pytest
import torch
from _attention_refs import HFAttention, from_device, shuffled_page_table, to_device
from _pcc import pcc
from tttv2_blocks import (
    Attention,
    AttentionSpec,
    HeadLayout,
    KVCacheSpec,
    RMSNorm,
    RMSNormSpec,
    RopeSpec,
    WeightError,
    get_default_impl_config,
)
from tttv2_hwconfig import ttnn
from tttv2_testing import TestSuite, debug_mode  # test-only dependency (the "test" extra)

THRESHOLD = {"performance": 0.99, "accuracy": 0.999}
LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}


def build(device, hf: HFAttention, strategy="default", max_batch=2, max_seq_len=128, **impl_overrides):
    impl = get_default_impl_config(hf.spec, device, strategy=strategy)
    for path, value in impl_overrides.items():
        target = impl
        *parents, leaf = path.split("__")
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, leaf, value)
    attention = Attention(hf.spec, impl, device)
    attention.load_weights(hf.state_dict())
    attention.allocate_kv_cache(KVCacheSpec(max_batch=max_batch, max_seq_len=max_seq_len))
    return attention


# --- prefill vs HF --------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 33, 77])
def test_llama_gqa_llama3_rope_prefill(device, seq):
    hf = HFAttention("llama", rope_parameters=LLAMA3_ROPE)
    attention = build(device, hf)
    x = torch.randn(1, seq, 128)
    out = from_device(attention.forward_prefill(to_device(x, device), user_id=1))
    assert pcc(hf(x)[0], out) >= THRESHOLD["performance"]


@pytest.mark.parametrize(
    "family, window",
    [("qwen2", None), ("qwen3", None), ("mistral", 16), ("gemma3", 16), ("gemma3", None)],
)
def test_family_prefill_matches_hf(device, family, window):
    hf = HFAttention(family, sliding_window=window)
    attention = build(device, hf)
    x = torch.randn(1, 77, 128)
    out = from_device(attention.forward_prefill(to_device(x, device)))
    assert pcc(hf(x)[0], out) >= THRESHOLD["performance"]


def test_accuracy_strategy_meets_tighter_threshold(device):
    hf = HFAttention(
        "qwen3",
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    )
    attention = build(device, hf, strategy="accuracy")
    assert attention.impl_config.kv_cache.dtype == ttnn.bfloat16
    x = torch.randn(1, 70, 128)
    out = from_device(attention.forward_prefill(to_device(x, device)))
    assert pcc(hf(x)[0], out) >= THRESHOLD["accuracy"]


@pytest.mark.parametrize("head_dim", [64, 80, 128])
def test_head_dims_prefill_and_decode(device, head_dim):
    """80 is zero-padded to 96 on device; the scale must stay 1/sqrt(80)."""
    hf = HFAttention("llama", hidden=192, heads=2, kv_heads=1, head_dim=head_dim)
    attention = build(device, hf)
    x = torch.randn(1, 34, 192)
    full = hf(x)[0]
    prefill = from_device(attention.forward_prefill(to_device(x[:, :33], device)))
    assert pcc(full[:33], prefill) >= THRESHOLD["performance"]
    step = from_device(attention.forward_decode(to_device(x[:, 33:], device), torch.tensor([33])))
    assert pcc(full[33:], step) >= THRESHOLD["performance"]


def test_phi_partial_rotary_biases_and_padded_head(device):
    """Phi: partial rotary (40% of an 80-wide head, padded to 96), q/k/v and output biases."""
    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.4}
    hf = HFAttention("phi", hidden=160, heads=2, kv_heads=2, head_dim=80, rope_parameters=rope)
    assert hf.spec.rope.rotary_dim == 32
    attention = build(device, hf)
    x = torch.randn(1, 41, 160)
    full = hf(x)[0]
    out = from_device(attention.forward_prefill(to_device(x[:, :40], device)))
    assert pcc(full[:40], out) >= THRESHOLD["performance"]
    step = from_device(attention.forward_decode(to_device(x[:, 40:], device), torch.tensor([40])))
    assert pcc(full[40:], step) >= THRESHOLD["performance"]


def test_qk_norm_on_padded_head(device):
    """QK-norm over a zero-padded head (80 -> 96) must normalize over the real 80 dims."""
    hf = HFAttention("qwen3", hidden=160, heads=2, kv_heads=1, head_dim=80)
    attention = build(device, hf)
    x = torch.randn(1, 40, 160)
    out = from_device(attention.forward_prefill(to_device(x, device)))
    assert pcc(hf(x)[0], out) >= THRESHOLD["performance"]


@pytest.mark.parametrize("heads", [(4, 4), (4, 1), (9, 3)])
def test_mha_mqa_and_uneven_gqa(device, heads):
    """MHA, MQA and SmolLM2's 9 q / 3 kv heads (dummy heads on N300/T3K/TG)."""
    nq, nkv = heads
    hidden = 32 * nq  # HF requires hidden % heads == 0
    hf = HFAttention("llama", hidden=hidden, heads=nq, kv_heads=nkv, head_dim=32)
    attention = build(device, hf)
    x = torch.randn(1, 40, hidden)
    full = hf(x)[0]
    out = from_device(attention.forward_prefill(to_device(x[:, :39], device)))
    assert pcc(full[:39], out) >= THRESHOLD["performance"]
    step = from_device(attention.forward_decode(to_device(x[:, 39:], device), torch.tensor([39])))
    assert pcc(full[39:], step) >= THRESHOLD["performance"]


def test_torch_reference_matches_hf(device):
    for family, window in (("llama", None), ("mistral", 8), ("gemma3", 8), ("qwen2", None)):
        hf = HFAttention(family, sliding_window=window)
        attention = Attention(hf.spec, get_default_impl_config(hf.spec, device), device)
        attention.load_weights(hf.state_dict())
        x = torch.randn(1, 20, 128)
        torch.testing.assert_close(attention.torch_reference()(x), hf(x), atol=1e-4, rtol=1e-4)


# --- decode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["performance", "accuracy"])
def test_decode_steps_users_at_different_positions_shuffled_pages(device, strategy):
    """3 users prefilled to different lengths, then 12 decode steps; outputs and cache contents vs reference."""
    hf = HFAttention("llama", rope_parameters=LLAMA3_ROPE)
    attention = build(device, hf, strategy=strategy, max_batch=3, max_seq_len=96)
    reference = attention.torch_reference()
    block = attention.kv_cache.block_size
    table = shuffled_page_table(3, attention.kv_cache.blocks_per_user)
    prompts = [torch.randn(5, 128), torch.randn(33, 128), torch.randn(17, 128)]
    for user, prompt in enumerate(prompts):
        out = from_device(
            attention.forward_prefill(to_device(prompt, device), user_id=user, page_table=table)
        )
        assert pcc(reference.prefill(prompt, user_id=user), out) >= THRESHOLD[strategy]
    positions = torch.tensor([len(p) for p in prompts])
    for _ in range(12):
        x = torch.randn(3, 128)
        out = from_device(attention.forward_decode(to_device(x, device), positions, page_table=table))
        assert pcc(reference.decode(x, positions), out) >= THRESHOLD[strategy]
        positions += 1
    for user in range(3):
        keys, values = attention.read_kv_cache(user, int(positions[user]), page_table=table)
        assert pcc(reference.keys[user], keys) >= 0.999  # bfloat8_b storage of the same K/V
        assert pcc(reference.values[user], values) >= 0.999
    assert block == 32


def test_decode_reference_agrees_with_hf_over_the_whole_sequence(device):
    """The stateful torch reference used above equals HF run on the full sequence."""
    hf = HFAttention("mistral", sliding_window=8)
    attention = build(device, hf)
    reference = attention.torch_reference()
    x = torch.randn(1, 20, 128)
    steps = [reference.prefill(x[0, :9], 0)] + [reference.decode(x[0, i : i + 1], [i]) for i in range(9, 20)]
    torch.testing.assert_close(torch.cat(steps), hf(x)[0], atol=1e-4, rtol=1e-4)


def test_decode_with_device_position_tensor_and_shared_rot_mats(device):
    hf = HFAttention("qwen3")
    attention = build(device, hf)
    x = torch.randn(1, 12, 128)
    full = hf(x)[0]
    attention.forward_prefill(to_device(x[:, :11], device))
    positions = attention.rope.position_tensor(torch.tensor([11]))
    rot_mats = attention.rope.decode_rot_mats(attention.rope.rot_idxs(torch.tensor([11])))
    out = from_device(attention.forward_decode(to_device(x[:, 11:], device), positions, rot_mats=rot_mats))
    assert pcc(full[11:], out) >= THRESHOLD["performance"]


# --- chunked prefill ----------------------------------------------------------------------------------


def test_chunked_prefill_and_prefix_continuation(device):
    hf = HFAttention("mistral", sliding_window=40)
    x = torch.randn(1, 77, 128)
    full = hf(x)[0]
    chunked = build(device, hf, sdpa__prefill_chunk_size=32)
    out = from_device(chunked.forward_prefill(to_device(x, device)))
    assert pcc(full, out) >= THRESHOLD["performance"]
    continued = build(device, hf)
    continued.forward_prefill(to_device(x[:, :64], device))
    tail = from_device(continued.forward_prefill(to_device(x[:, 64:], device), start_pos=64))
    assert pcc(full[64:], tail) >= THRESHOLD["performance"]


# --- tensor parallel layout -----------------------------------------------------------------------------


def test_head_layout_padding_schemes():
    n300 = HeadLayout(9, 3, 2)
    assert (n300.kv_groups, n300.replication, n300.q_heads_per_device, n300.kv_heads_per_device) == (
        4,
        1,
        6,
        2,
    )
    assert n300.q_heads(1) == [6, 7, 8, None, None, None] and n300.kv_heads(1) == [2, None]
    t3k = HeadLayout(9, 3, 8)
    assert (t3k.kv_groups, t3k.replication, t3k.group_size, t3k.q_heads_per_device) == (4, 2, 4, 2)
    assert [t3k.q_heads(d) for d in range(4)] == [[0, 1], [2, None], [3, 4], [5, None]]
    assert t3k.kv_heads(7) == [None]
    every = [h for d in range(8) for h in t3k.q_heads(d) if h is not None]
    assert sorted(every) == list(range(9))
    assert HeadLayout(32, 8, 8).padded is False and HeadLayout(8, 1, 8).replication == 8


def test_weights_are_split_over_the_tensor_parallel_devices(device):
    hf = HFAttention("llama", heads=8, kv_heads=8)
    attention = build(device, hf)
    tp = attention.tp
    assert attention.q_heads_local * tp >= 8 and attention.kv_cache.keys.shape[1] == attention.kv_heads_local
    assert attention.o_proj.weight.shape[0] == attention.q_heads_local * attention.head_dim_padded


# --- errors and trace ---------------------------------------------------------------------------------


def test_bad_weights_name_the_tensor(device):
    hf = HFAttention("qwen2")
    attention = Attention(hf.spec, get_default_impl_config(hf.spec, device), device)
    weights = hf.state_dict()
    del weights["k_proj.bias"]
    with pytest.raises(WeightError, match="k_proj.bias"):
        attention.load_weights(weights)
    weights = hf.state_dict()
    weights["o_proj.weight"] = weights["o_proj.weight"][:, :64]
    with pytest.raises(WeightError, match=r"o_proj.weight.*\[128, 64\].*\[128, 128\]"):
        attention.load_weights(weights)
    weights = hf.state_dict()
    weights["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightError, match="extra.weight"):
        attention.load_weights(weights)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("kv_cache__dtype", ttnn.float32, "Attention.kv_cache.dtype"),
        ("kv_cache__block_size", 48, "Attention.kv_cache.block_size"),
        ("qkv_proj__dtype", ttnn.uint32, "Attention.qkv_proj.dtype"),
        ("sdpa__prefill_chunk_size", 40, "Attention.sdpa.prefill_chunk_size"),
    ],
)
def test_bad_impl_config_names_the_field(device, path, value, message):
    hf = HFAttention("llama")
    with pytest.raises(ValueError, match=message):
        build(device, hf, **{path: value})


def test_bad_sdpa_program_config_names_the_field(device):
    hf = HFAttention("llama")
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=(64, 64), q_chunk_size=64, k_chunk_size=64)
    with pytest.raises(ValueError, match="Attention.sdpa.prefill_program_config: grid 64x64 exceeds"):
        build(device, hf, sdpa__prefill_program_config=config)


def test_bad_calls(device):
    hf = HFAttention("llama")
    attention = Attention(hf.spec, get_default_impl_config(hf.spec, device), device)
    attention.load_weights(hf.state_dict())
    with pytest.raises(RuntimeError, match="allocate_kv_cache"):
        attention.forward_prefill(to_device(torch.randn(4, 128), device))
    attention.allocate_kv_cache(max_batch=2, max_seq_len=64)
    with pytest.raises(ValueError, match="exceed the cache capacity of 64"):
        attention.forward_prefill(to_device(torch.randn(65, 128), device))
    with pytest.raises(ValueError, match=r"current_pos \[64\] must be in \[0, 64\)"):
        attention.forward_decode(to_device(torch.randn(1, 128), device), torch.tensor([64]))
    with pytest.raises(ValueError, match="at most 32 users"):
        attention.forward_decode(to_device(torch.randn(33, 128), device), torch.zeros(33, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"\(1, 1, rows, 128\)"):
        attention.forward_decode(to_device(torch.randn(1, 64), device), torch.tensor([0]))


def test_spec_validation():
    with pytest.raises(ValueError, match="num_kv_heads"):
        AttentionSpec(hidden_dim=64, num_heads=4, num_kv_heads=3)
    with pytest.raises(ValueError, match="rope.head_dim"):
        AttentionSpec(hidden_dim=64, num_heads=2, rope=RopeSpec(head_dim=16))
    with pytest.raises(ValueError, match="sliding_window"):
        AttentionSpec(hidden_dim=64, num_heads=2, sliding_window=0)
    spec = AttentionSpec(hidden_dim=64, num_heads=4, num_kv_heads=None)
    assert (spec.num_kv_heads, spec.head_dim, spec.softmax_scale) == (4, 16, 0.25)


def test_ops_are_attributed_to_the_module_path(device):
    hf = HFAttention("llama")
    attention = build(device, hf)
    attention.module_path = "layers.3.attention"
    device.trace.clear()
    attention.forward_decode(to_device(torch.randn(2, 128), device), torch.tensor([0, 5]))
    names = {r.name for r in device.trace.select(scope_prefix="layers.3.attention")}
    assert {
        "ttnn.experimental.paged_update_cache",
        "ttnn.transformer.paged_scaled_dot_product_attention_decode",
    } <= names
    assert any(r.scope == "layers.3.attention.rope" for r in device.trace.records)


# --- the testing toolkit (tttv2_testing) on the block's own reference ---------------------------------

PROMPTS, DECODE_STEPS = (33, 17), 3  # two users prefilled to different lengths, then 3 decode steps


def toolkit_run(attention, device, before=None):
    """A ``trace_fn``: prefill each user through a shuffled page table, then decode every user 3 steps.

    ``before`` (optional block, e.g. a norm) runs on the input first, as in a model.
    """
    table = shuffled_page_table(len(PROMPTS), attention.kv_cache.blocks_per_user)
    prompts = [torch.randn(length, 128) for length in PROMPTS]
    tokens = [torch.randn(len(PROMPTS), 128) for _ in range(DECODE_STEPS)]

    def run():
        for user, prompt in enumerate(prompts):
            x = to_device(prompt, device)
            x = before.forward_prefill(x) if before is not None else x
            attention.forward_prefill(x, user_id=user, page_table=table)
        for step, token in enumerate(tokens):
            x = to_device(token, device)
            x = before.forward_decode(x) if before is not None else x
            attention.forward_decode(x, torch.tensor(PROMPTS) + step, page_table=table)

    return run


def toolkit_suite(attention, device) -> TestSuite:
    run = toolkit_run(attention, device)
    suite = TestSuite(verbose=False)
    (
        suite.add_case(attention.forward_prefill)
        .with_inputs(trace_fn=run, max_calls=len(PROMPTS))
        .expect_pcc(THRESHOLD["performance"])
    )
    (
        suite.add_case(attention.forward_decode)
        .with_inputs(trace_fn=run, max_calls=DECODE_STEPS)
        .expect_pcc(THRESHOLD["performance"])
    )
    return suite


def negate_o_proj(attention) -> None:
    """Corrupt the loaded block on device: o_proj := -o_proj (the torch reference keeps the true weight)."""
    weight = attention.o_proj.weight
    attention.o_proj.weight = ttnn.neg(weight, memory_config=weight.memory_config())


def test_testing_toolkit_checks_prefill_then_decode_with_the_block_reference(device):
    """TestSuite replays the stateful reference over the trace: every decode step has its golden."""
    attention = build(device, HFAttention("llama", rope_parameters=LLAMA3_ROPE), max_seq_len=64)
    attention.module_path = "layers.0.attention"
    report = toolkit_suite(attention, device).run()
    assert [r.case_id for r in report.results] == [
        "layers.0.attention::forward_prefill[call 0]",
        "layers.0.attention::forward_prefill[call 1]",
        "layers.0.attention::forward_decode[call 0]",
        "layers.0.attention::forward_decode[call 1]",
        "layers.0.attention::forward_decode[call 2]",
    ]
    assert report.passed and all(r.metric == "pcc" for r in report.results)


def test_testing_toolkit_fails_a_corrupted_attention_weight(device):
    attention = build(device, HFAttention("llama", rope_parameters=LLAMA3_ROPE), max_seq_len=64)
    attention.module_path = "layers.0.attention"
    negate_o_proj(attention)
    suite = toolkit_suite(attention, device)
    with pytest.raises(AssertionError, match=r"5 of 5 check\(s\) failed") as failure:
        suite.run()
    assert "layers.0.attention::forward_decode[call 2]: pcc" in str(failure.value)
    # A negated output correlates at about -1 with the golden, far below the 0.99 threshold.
    assert all(r.metric == "pcc" and r.figure < -0.9 for r in suite.report.results)


def test_debug_mode_marks_the_corrupted_attention_not_its_input(device):
    """norm -> attention, attention corrupted: the first row below threshold is the attention block."""
    norm_spec = RMSNormSpec(dim=128)
    norm = RMSNorm(norm_spec, get_default_impl_config(norm_spec, device), device)
    norm.load_weights({"weight": 1 + 0.1 * torch.randn(128)})
    attention = build(device, HFAttention("llama"), max_seq_len=64)
    norm.module_path, attention.module_path = "attention_norm", "attention"
    negate_o_proj(attention)
    model = {"attention_norm": norm, "attention": attention}
    with debug_mode(model, thresholds=THRESHOLD["performance"], print_report=False) as report:
        toolkit_run(attention, device, before=norm)()
    assert len(report.rows) == 2 * (len(PROMPTS) + DECODE_STEPS)
    assert all(r.passed for r in report.rows if r.module_path == "attention_norm")
    first = report.first_failure
    assert (first.module_path, first.method, first.call_index) == ("attention", "forward_prefill", 0)
    assert all(r.pcc < -0.9 for r in report.rows if r.module_path == "attention")


def test_docs_example_runs():
    """The example in docs/attention.md runs as written."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "attention.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(code, "docs/attention.md", "exec"), {})
