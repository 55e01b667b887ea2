"""tttv2_testing.hf masks: causal per user offset, and HF's sliding-window rule (window counts the query)."""

from __future__ import annotations

import torch
from tttv2_testing.hf import causal_mask


def _visible(mask):
    return (mask == 0).to(torch.int)


def test_causal_mask_offsets_each_user():
    mask = causal_mask([0, 2], seq_len=2)
    assert mask.shape == (2, 1, 2, 4)
    # Worked out by hand: user 0 at positions 0,1 sees keys <= 0 / <= 1; user 1 at 2,3 sees <= 2 / <= 3.
    assert _visible(mask[0, 0]).tolist() == [[1, 0, 0, 0], [1, 1, 0, 0]]
    assert _visible(mask[1, 0]).tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_sliding_window_matches_transformers_overlay():
    from transformers.masking_utils import sliding_window_overlay  # the independent rule

    window, start, seq = 3, 4, 3
    mask = causal_mask([start], seq, sliding_window=window)[0, 0]
    overlay = sliding_window_overlay(window)
    for i in range(seq):
        q = start + i
        for k in range(start + seq):
            expected = k <= q and bool(overlay(0, 0, q, k))
            assert bool(mask[i, k] == 0) == expected, (q, k)
    assert _visible(mask).sum(-1).tolist() == [3, 3, 3]  # exactly the window once it is full


def test_idle_decode_rows_attend_one_zero_value_and_keep_no_history():
    """Position -1 (an idle row of a padded decode batch): HF attention gives the output projection
    of zeros, as the device does, and the user history of the other rows is untouched."""
    from transformers import LlamaConfig  # noqa: PLC0415 - heavy import
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding  # noqa: PLC0415
    from tttv2_testing.hf import AttentionReferenceInputs  # noqa: PLC0415

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    config._attn_implementation = "eager"
    attention = LlamaAttention(config, layer_idx=0).eval()
    hook = AttentionReferenceInputs(LlamaRotaryEmbedding(config), "layers.0.attention")
    x = torch.randn(1, 1, 2, 64)
    args, kwargs = hook("forward_decode", {"x": x, "current_pos": torch.tensor([0, -1])})
    with torch.no_grad():
        out = attention(*args, **kwargs)[0]
    assert torch.equal(out[1], torch.zeros_like(out[1]))  # o_proj has no bias: zeros
    assert list(hook.store.keys) == [("user", 0)]
