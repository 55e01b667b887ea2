"""ttnn.embedding, argmax, topk and the creation ops against torch.

Lookups, argmax/topk indices and creation are exact: compared with torch.equal. Values go
through bfloat16 on the device, so the torch side uses bfloat16-rounded inputs too.
"""

import pytest
import torch
from tttv2_hwconfig import ttnn


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def first(t, dtype=torch.float32):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).to(dtype)


def table(device, vocab=100, dim=64, dtype=ttnn.bfloat16):
    w = bf16(torch.randn(vocab, dim))
    return w, ttnn.from_torch(w, dtype=dtype, layout=ttnn.ROW_MAJOR_LAYOUT, device=device)


def token_ids(device, ids):
    return ttnn.from_torch(ids, dtype=ttnn.uint32, layout=ttnn.ROW_MAJOR_LAYOUT, device=device)


# --- embedding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [1, 33, 77])
def test_embedding_4d_input_gives_batch_tokens_dim(device, tokens):
    w, tw = table(device)
    ids = torch.randint(0, 100, (1, 1, 1, tokens))
    out = ttnn.embedding(token_ids(device, ids), tw, layout=ttnn.TILE_LAYOUT)
    assert out.shape == (1, tokens, 64) and out.layout == ttnn.TILE_LAYOUT and out.dtype == ttnn.bfloat16
    assert torch.equal(first(out), torch.nn.functional.embedding(ids.reshape(1, tokens), w))


def test_embedding_2d_input_and_default_layout(device):
    w, tw = table(device)
    ids = torch.randint(0, 100, (2, 5))
    out = ttnn.embedding(token_ids(device, ids), tw)
    assert out.layout == ttnn.ROW_MAJOR_LAYOUT  # defaults to the weight's layout
    assert torch.equal(first(out), torch.nn.functional.embedding(ids, w))


def test_embedding_padding_idx_rows_are_zero(device):
    w, tw = table(device)
    ids = torch.tensor([[3, 7, 3, 9]])
    out = ttnn.embedding(token_ids(device, ids), tw, padding_idx=3)
    expected = torch.nn.functional.embedding(ids, w)
    expected[ids == 3] = 0
    assert torch.equal(first(out), expected)


def test_embedding_typecast_to_bfloat8_b_in_tile(device):
    w, tw = table(device)
    ids = torch.randint(0, 100, (1, 1, 1, 32))
    out = ttnn.embedding(token_ids(device, ids), tw, layout=ttnn.TILE_LAYOUT, dtype=ttnn.bfloat8_b)
    assert out.dtype == ttnn.bfloat8_b
    # bfloat8_b keeps 7 mantissa bits per value under a shared exponent: relative error <= 2^-7 of the block max.
    torch.testing.assert_close(
        first(out), torch.nn.functional.embedding(ids.reshape(1, 32), w), rtol=0, atol=0.05
    )


def test_embedding_index_out_of_range(device):
    _, tw = table(device)
    with pytest.raises(
        ValueError, match=r"ttnn.embedding: input_tensor holds index 100, outside the vocabulary \[0, 100\)"
    ):
        ttnn.embedding(token_ids(device, torch.tensor([[1, 100]])), tw)


def test_embedding_rejects_block_float_weight(device):
    w = torch.randn(64, 64)
    tw = ttnn.from_torch(w, dtype=ttnn.bfloat8_b, layout=ttnn.TILE_LAYOUT, device=device)
    with pytest.raises(ValueError, match="ttnn.embedding: weight dtype"):
        ttnn.embedding(token_ids(device, torch.tensor([[1]])), tw)


def test_embedding_rejects_float_indices(device):
    _, tw = table(device)
    ids = ttnn.from_torch(torch.ones(1, 4), dtype=ttnn.float32, device=device)
    with pytest.raises(ValueError, match="ttnn.embedding: input_tensor dtype"):
        ttnn.embedding(ids, tw)


def test_embedding_row_major_typecast_is_rejected(device):
    # 32 tokens and a 64-wide table could use the fused tilized kernel: the wrapper refuses the typecast.
    _, tw = table(device)
    with pytest.raises(ValueError, match="Can only typecast output embeddings when producing TILE_LAYOUT"):
        ttnn.embedding(token_ids(device, torch.zeros(1, 32, dtype=torch.int64)), tw, dtype=ttnn.float32)


def test_embedding_row_major_output_ignores_dtype_off_the_tile_grid(device):
    # One token cannot be tilized: the real wrapper skips the check and returns the weight's dtype.
    _, tw = table(device)
    out = ttnn.embedding(token_ids(device, torch.tensor([[1]])), tw, dtype=ttnn.float32)
    assert out.dtype == ttnn.bfloat16 and out.layout == ttnn.ROW_MAJOR_LAYOUT


# --- argmax / topk --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [ttnn.ROW_MAJOR_LAYOUT, ttnn.TILE_LAYOUT])
def test_argmax_last_dim(device, layout):
    x = torch.stack([torch.randperm(100).float() for _ in range(33)]).reshape(1, 1, 33, 100)
    out = ttnn.argmax(ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=layout, device=device), dim=-1)
    assert out.dtype == ttnn.uint32 and out.layout == ttnn.ROW_MAJOR_LAYOUT and out.shape == (1, 1, 33)
    assert torch.equal(first(out, torch.int64), torch.argmax(x, dim=-1))


def test_argmax_keepdim_and_all_elements(device):
    x = torch.randperm(200).float().reshape(1, 1, 2, 100)
    tx = ttnn.from_torch(x, dtype=ttnn.float32, device=device)
    assert torch.equal(
        first(ttnn.argmax(tx, dim=3, keepdim=True), torch.int64), torch.argmax(x, dim=3, keepdim=True)
    )
    assert int(first(ttnn.argmax(tx), torch.int64)) == int(torch.argmax(x))


def test_argmax_all_elements_needs_row_major(device):
    tx = ttnn.from_torch(
        torch.randn(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )
    with pytest.raises(ValueError, match="rule argmax.tile_needs_dim"):
        ttnn.argmax(tx)


@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_and_indices(device, largest):
    x = torch.stack([torch.randperm(100).float() for _ in range(32)]).reshape(1, 1, 32, 100)
    values, indices = ttnn.topk(
        ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device), 5, largest=largest
    )
    expected = torch.topk(x, 5, dim=-1, largest=largest, sorted=True)
    assert indices.dtype == ttnn.uint16 and values.dtype == ttnn.bfloat16
    assert torch.equal(first(values), expected.values)
    assert torch.equal(first(indices, torch.int64), expected.indices)


def test_topk_k_larger_than_dim(device):
    tx = ttnn.from_torch(
        torch.randn(1, 1, 32, 64), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )
    with pytest.raises(ValueError, match=r"ttnn.topk: k=65 for dim -1 of size 64 \[rule topk.k_le_dim"):
        ttnn.topk(tx, 65)


# --- creation -------------------------------------------------------------------------------------


def test_creation_ops_match_torch(device):
    assert torch.equal(first(ttnn.ones([2, 3], device=device)), torch.ones(2, 3))
    assert torch.equal(first(ttnn.zeros([2, 3], ttnn.float32, ttnn.TILE_LAYOUT, device)), torch.zeros(2, 3))
    full = ttnn.full([4, 5], 0.1, ttnn.bfloat16, device=device)
    assert torch.equal(first(full), bf16(torch.full((4, 5), 0.1)))
    assert full.dtype == ttnn.bfloat16 and full.layout == ttnn.ROW_MAJOR_LAYOUT
    like = ttnn.full_like(full, 3.0)
    assert like.shape == full.shape and torch.equal(first(like), torch.full((4, 5), 3.0))
    assert torch.equal(
        first(ttnn.arange(2, 20, 3, dtype=ttnn.uint32, device=device), torch.int64), torch.arange(2, 20, 3)
    )
    assert ttnn.ones([2, 3]).device() is None  # host tensor without device=


def test_creation_rejects_block_float_row_major(device):
    with pytest.raises(ValueError, match="ttnn.zeros: BFLOAT8_B needs layout=TILE"):
        ttnn.zeros([32, 32], ttnn.bfloat8_b, device=device)
