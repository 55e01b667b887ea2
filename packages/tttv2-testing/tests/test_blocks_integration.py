"""The toolkit on real TTTv2 blocks: GQA attention with RoPE and a paged KV cache, prefill + decode.

Attention is the hard case for captured inputs: a decode step's golden needs the K/V of the prompt
and of every earlier step. The recipe (until the block ships the hooks itself): the reference
mirrors the block's methods, and the module declares ``reference_is_stateful = True`` so the suite
replays the reference over the whole trace. Only the block's public API is used.
"""

import pytest
import torch
from tttv2_blocks import Attention, AttentionSpec, KVCacheSpec, RopeSpec, get_default_impl_config
from tttv2_hwconfig import ttnn
from tttv2_testing import TestSuite, debug_mode

H, HEADS, KV_HEADS, HEAD_DIM = 128, 4, 2, 32
PROMPT, STEPS, USERS = 16, 3, 2
# Attention's own tests: bfloat8_b weights and cache against float32 torch measure PCC ~0.9998;
# 0.99 fails any wrong head, mask, rotation or missing history (those fall far below 0.9).
PCC = 0.99


class MirroredReference:
    """Presents ``AttentionReference.prefill/decode`` under the block's method names and shapes."""

    def __init__(self, reference):
        self.reference = reference

    def forward_prefill(self, x, user_id=0, page_table=None, *, start_pos=0, rot_mats=None, kv_cache=None):
        return self.reference.prefill(x.reshape(-1, H), user_id, start_pos).reshape(1, 1, -1, H)

    def forward_decode(self, x, current_pos, rot_mats=None, page_table=None, *, kv_cache=None):
        return self.reference.decode(x.reshape(-1, H), current_pos).reshape(1, 1, -1, H)


class CheckedAttention(Attention):
    reference_is_stateful = True  # the reference keeps per-user K/V, like the device cache

    def torch_reference(self):
        return MirroredReference(super().torch_reference())


class ForgetfulAttention(CheckedAttention):
    reference_is_stateful = False  # the reference never sees the prefill: no decode golden exists


def build(device, cls=CheckedAttention):
    spec = AttentionSpec(
        hidden_dim=H, num_heads=HEADS, num_kv_heads=KV_HEADS, rope=RopeSpec(head_dim=HEAD_DIM)
    )
    attention = cls(spec, get_default_impl_config(spec, device), device)
    kv_width = KV_HEADS * HEAD_DIM
    attention.load_weights(
        {
            "q_proj.weight": torch.randn(H, H) / H**0.5,
            "k_proj.weight": torch.randn(kv_width, H) / H**0.5,
            "v_proj.weight": torch.randn(kv_width, H) / H**0.5,
            "o_proj.weight": torch.randn(H, H) / H**0.5,
        }
    )
    attention.allocate_kv_cache(KVCacheSpec(max_batch=USERS, max_seq_len=64))
    attention.module_path = "layers.0.attention"
    return attention


def trace(attention, device):
    def to_device(x):
        return ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)

    prompts = [torch.randn(1, 1, PROMPT, H) for _ in range(USERS)]
    tokens = [torch.randn(1, 1, USERS, H) for _ in range(STEPS)]

    def run():
        for user, prompt in enumerate(prompts):
            attention.forward_prefill(to_device(prompt), user_id=user)
        for step, token in enumerate(tokens):
            attention.forward_decode(to_device(token), torch.full((USERS,), PROMPT + step))

    return run


def test_attention_prefill_and_decode_on_captured_inputs(device):
    attention = build(device)
    run = trace(attention, device)
    suite = TestSuite(verbose=False)
    suite.add_case(attention.forward_prefill).with_inputs(trace_fn=run, max_calls=USERS).expect_pcc(PCC)
    suite.add_case(attention.forward_decode).with_inputs(trace_fn=run, max_calls=STEPS).expect_pcc(PCC)
    report = suite.run()
    assert len(report.results) == USERS + STEPS and report.passed


def test_decode_goldens_without_history_fail(device):
    attention = build(device, ForgetfulAttention)
    suite = TestSuite(verbose=False)
    suite.add_case(attention.forward_decode).with_inputs(trace_fn=trace(attention, device)).expect_pcc(PCC)
    # The block's reference itself refuses a decode without the prompt's K/V: the case fails with that.
    with pytest.raises(
        AssertionError, match=r"forward_decode: error while running the reference: .* 0 cached positions"
    ):
        suite.run()


def test_debug_mode_on_attention(device):
    attention = build(device)
    with debug_mode(attention, thresholds=PCC, print_report=False) as report:
        trace(attention, device)()
    assert [r.method for r in report.rows] == ["forward_prefill"] * USERS + ["forward_decode"] * STEPS
    assert report.first_failure is None
