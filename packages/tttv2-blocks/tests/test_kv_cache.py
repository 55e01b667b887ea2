"""Paged KV cache: allocation, page tables, and the cached K/V contents against HF's own K/V.

Expected K/V come straight from the HF module's projections and HF ``apply_rotary_pos_emb`` (not
from our reference). Thresholds: a bfloat16 cache holds the bfloat16 K/V the device computed from
bfloat8_b weights (PCC >= 0.999 vs float32); a bfloat8_b cache adds one more rounding (>= 0.999
still: 7 mantissa bits). Positions that were never written must read back as exact zeros.
"""

import pytest
import torch
from _attention_refs import HFAttention, shuffled_page_table, to_device
from _pcc import pcc
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
from tttv2_blocks import Attention, KVCacheImplConfig, KVCacheSpec, PagedKVCache, get_default_impl_config
from tttv2_blocks.kv_cache import identity_page_table
from tttv2_hwconfig import ttnn


def hf_keys_values(hf: HFAttention, x: torch.Tensor):
    """HF's post-RoPE keys and values for ``x (1, seq, hidden)``: ``(kv_heads, seq, head_dim)`` each."""
    module, spec = hf.module, hf.spec
    with torch.no_grad():
        k = module.k_proj(x).view(1, x.shape[1], spec.num_kv_heads, spec.head_dim).transpose(1, 2)
        v = module.v_proj(x).view(1, x.shape[1], spec.num_kv_heads, spec.head_dim).transpose(1, 2)
        if hasattr(module, "k_norm"):
            k = module.k_norm(k)
        cos, sin = hf.rotary(x, torch.arange(x.shape[1])[None])
        _, k = apply_rotary_pos_emb(k, k, cos, sin)
    return k[0], v[0]


def attention_with_cache(device, hf, dtype=ttnn.bfloat8_b, block_size=32, max_batch=3, max_seq_len=96):
    impl = get_default_impl_config(hf.spec, device)
    impl.kv_cache = KVCacheImplConfig(dtype=dtype, block_size=block_size)
    attention = Attention(hf.spec, impl, device)
    attention.load_weights(hf.state_dict())
    attention.allocate_kv_cache(KVCacheSpec(max_batch=max_batch, max_seq_len=max_seq_len))
    return attention


@pytest.mark.parametrize("seq", [1, 33, 77])
@pytest.mark.parametrize("dtype", [ttnn.bfloat16, ttnn.bfloat8_b])
def test_prefill_fills_cache_with_hf_keys_and_values(device, seq, dtype):
    hf = HFAttention("qwen3", heads=4, kv_heads=2)
    attention = attention_with_cache(device, hf, dtype=dtype)
    table = shuffled_page_table(3, attention.kv_cache.blocks_per_user)
    x = torch.randn(1, seq, 128)
    attention.forward_prefill(to_device(x, device), user_id=2, page_table=table)
    keys, values = attention.read_kv_cache(2, seq, page_table=table)
    hf_k, hf_v = hf_keys_values(hf, x)
    assert pcc(hf_k, keys) >= 0.999 and pcc(hf_v, values) >= 0.999
    assert keys.shape == (2, seq, 32)
    other_k, other_v = attention.read_kv_cache(0, 96, page_table=table)
    assert torch.count_nonzero(other_k) == 0 and torch.count_nonzero(other_v) == 0  # user 0's pages untouched


def test_decode_appends_at_each_users_position(device):
    hf = HFAttention("llama", heads=4, kv_heads=1, head_dim=64, hidden=128)
    attention = attention_with_cache(device, hf, block_size=64, max_batch=2, max_seq_len=128)
    x = torch.randn(2, 50, 128)
    lengths = [10, 41]
    for user, length in enumerate(lengths):
        attention.forward_prefill(to_device(x[user, :length], device), user_id=user)
    positions = torch.tensor(lengths)
    for _ in range(9):
        attention.forward_decode(to_device(x[[0, 1], positions], device), positions)
        positions += 1
    for user in range(2):
        length = int(positions[user])
        keys, values = attention.read_kv_cache(user, length + 1)
        hf_k, hf_v = hf_keys_values(hf, x[user : user + 1, :length])
        assert pcc(hf_k, keys[:, :length]) >= 0.999 and pcc(hf_v, values[:, :length]) >= 0.999
        assert torch.count_nonzero(keys[:, length]) == 0  # next position not written yet


def test_device_page_table_and_tensor_parallel_heads(device):
    """A device-resident page table; 6 kv heads so meshes split (and pad) them across devices."""
    hf = HFAttention("llama", heads=6, kv_heads=6, head_dim=32, hidden=192)
    attention = attention_with_cache(device, hf, max_batch=2, max_seq_len=64)
    table = shuffled_page_table(2, 2, seed=3)
    table_tt = ttnn.from_torch(table, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT, device=device)
    x = torch.randn(1, 40, 192)
    attention.forward_prefill(to_device(x, device), user_id=1, page_table=table_tt)
    keys, values = attention.read_kv_cache(1, 40, page_table=table_tt)
    hf_k, hf_v = hf_keys_values(hf, x)
    assert pcc(hf_k, keys) >= 0.999 and pcc(hf_v, values) >= 0.999
    per_device = attention.kv_cache.keys
    assert per_device.shape[1] == attention.kv_heads_local
    assert attention.kv_heads_local * attention.tp >= 6


def test_cache_geometry_and_default_page_table(device):
    spec = KVCacheSpec(max_batch=3, max_seq_len=70)
    cache = PagedKVCache(
        spec, KVCacheImplConfig(block_size=32), device, kv_heads_per_device=2, head_dim_padded=64
    )
    assert (cache.blocks_per_user, cache.num_blocks, cache.capacity) == (3, 9, 96)
    assert list(cache.keys.shape) == [9, 2, 32, 64] and cache.keys.dtype == ttnn.bfloat8_b
    torch.testing.assert_close(cache.page_table, identity_page_table(3, 3))
    torch.testing.assert_close(
        cache.page_table_rows([2, 0]), torch.tensor([[6, 7, 8], [0, 1, 2]], dtype=torch.int32)
    )
    with pytest.raises(ValueError, match="user id 3"):
        cache.page_table_rows([3])
    dram_before = device.allocator.dram_used
    cache.deallocate()
    assert device.allocator.dram_used < dram_before


@pytest.mark.parametrize(
    "impl, message",
    [
        (KVCacheImplConfig(dtype=ttnn.float32), "PagedKVCache.dtype"),
        (KVCacheImplConfig(block_size=16), "PagedKVCache.block_size"),
        (KVCacheImplConfig(num_blocks=1), "cannot hold one user"),
    ],
)
def test_bad_cache_configs(device, impl, message):
    with pytest.raises(ValueError, match=message):
        PagedKVCache(KVCacheSpec(max_batch=2, max_seq_len=64), impl, device, 1, 32)


def test_bad_cache_spec_and_page_table(device):
    with pytest.raises(ValueError, match="KVCacheSpec.max_seq_len"):
        KVCacheSpec(max_batch=1, max_seq_len=0)
    hf = HFAttention("llama")
    attention = attention_with_cache(device, hf, max_batch=1, max_seq_len=64)
    with pytest.raises(ValueError, match="page_table holds blocks outside"):
        attention.forward_prefill(to_device(torch.randn(8, 128), device), page_table=torch.tensor([[0, 7]]))
    with pytest.raises(ValueError, match="user_id 1 is outside"):
        attention.forward_prefill(
            to_device(torch.randn(8, 128), device), user_id=1, page_table=torch.tensor([[1, 0]])
        )
    with pytest.raises(ValueError, match="must be a multiple of the cache block size"):
        attention.forward_prefill(to_device(torch.randn(8, 128), device), start_pos=8)
