"""Emulated attention ops (ttnn.transformer SDPA, rotary_embedding_llama, head split/merge) vs plain torch.

Tolerances: inputs are bfloat16 and the emulated flash-attention kernels round scores and
probabilities to bfloat16 (as the device's intermediate buffers do), so outputs of magnitude <= ~1
agree with a float32 torch reference to ~1e-2; we allow atol=rtol=3e-2. Rotary embedding rounds
three bfloat16 products: atol 2e-2 for |x| <= ~4.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from tttv2_hwconfig import ttnn

TOL = {"atol": 3e-2, "rtol": 3e-2}


def to_dev(t, device, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, memory_config=None):
    return ttnn.from_torch(
        t, dtype=dtype, layout=layout, device=device, memory_config=memory_config or ttnn.DRAM_MEMORY_CONFIG
    )


def host(t):
    return ttnn.to_torch(t).float() if t.num_shards == 1 or all(s is t.shards[0] for s in t.shards) else None


def bf16(t):
    return t.to(torch.bfloat16).float()


def ref_attention(q, k, v, mask=None, scale=None):
    """q (b, nq, s, d), k/v (b, nkv, t, d); mask bool (.., s, t) True = visible."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def causal_mask(s, t, window=None, offset=0):
    i = torch.arange(s).unsqueeze(1) + offset
    j = torch.arange(t).unsqueeze(0)
    mask = j <= i
    if window:
        mask &= j > i - window
    return mask


# --- prefill SDPA -------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 33, 77])
@pytest.mark.parametrize("heads", [(4, 4), (4, 2), (6, 1)])
def test_sdpa_causal_gqa_matches_torch(device, seq, heads):
    nq, nkv = heads
    q, k, v = (bf16(torch.randn(1, n, seq, 64)) for n in (nq, nkv, nkv))
    out = ttnn.transformer.scaled_dot_product_attention(
        to_dev(q, device), to_dev(k, device), to_dev(v, device), is_causal=True
    )
    assert list(out.shape) == [1, nq, seq, 64]
    torch.testing.assert_close(host(out), ref_attention(q, k, v, causal_mask(seq, seq)), **TOL)


def test_sdpa_sliding_window_scale_and_program_config(device):
    q, k, v = (bf16(torch.randn(1, 2, 70, 32)) for _ in range(3))
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=(2, 2), q_chunk_size=32, k_chunk_size=64)
    out = ttnn.transformer.scaled_dot_product_attention(
        to_dev(q, device),
        to_dev(k, device),
        to_dev(v, device),
        scale=0.3,
        sliding_window_size=16,
        program_config=config,
    )
    torch.testing.assert_close(
        host(out), ref_attention(q, k, v, causal_mask(70, 70, window=16), scale=0.3), **TOL
    )


def test_sdpa_attn_mask_non_causal(device):
    q, k, v = (bf16(torch.randn(1, 2, 40, 32)) for _ in range(3))
    allowed = torch.rand(1, 1, 40, 40) > 0.3
    allowed[..., 0] = True
    additive = torch.where(allowed, 0.0, -1e9)
    out = ttnn.transformer.scaled_dot_product_attention(
        to_dev(q, device),
        to_dev(k, device),
        to_dev(v, device),
        is_causal=False,
        attn_mask=to_dev(additive, device),
    )
    torch.testing.assert_close(host(out), ref_attention(q, k, v, allowed), **TOL)


def test_sdpa_output_concat_heads(device):
    q, k, v = (bf16(torch.randn(1, 2, 32, 32)) for _ in range(3))
    out = ttnn.transformer.scaled_dot_product_attention(
        to_dev(q, device), to_dev(k, device), to_dev(v, device), output_concat_heads=True
    )
    expected = ref_attention(q, k, v, causal_mask(32, 32)).permute(0, 2, 1, 3).reshape(1, 1, 32, 64)
    torch.testing.assert_close(host(out), expected, **TOL)


def test_sdpa_heads_sharded_over_mesh(device):
    n = device.get_num_devices()
    q, k, v = (bf16(torch.randn(1, 2 * n, 33, 32)) for _ in range(3))
    mapper = ttnn.ShardTensorToMesh(device, dim=1)
    tensors = [
        ttnn.from_torch(t, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, mesh_mapper=mapper)
        for t in (q, k, v)
    ]
    out = ttnn.transformer.scaled_dot_product_attention(*tensors)
    result = ttnn.to_torch(out, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=1)).float()
    torch.testing.assert_close(result, ref_attention(q, k, v, causal_mask(33, 33)), **TOL)


def test_sdpa_records_flops_on_padded_shapes(device):
    q, k, v = (to_dev(torch.randn(1, 2, 33, 32), device) for _ in range(3))
    device.trace.clear()
    ttnn.transformer.scaled_dot_product_attention(q, k, v, is_causal=False)
    (rec,) = device.trace.select("ttnn.transformer.scaled_dot_product_attention")
    assert rec.flops == 4 * 2 * 64 * 64 * 32  # seq 33 pads to 64


def test_sdpa_program_config_grid_must_fit_the_device(device):
    """An emulator precondition (the program factory places cores on the grid); the op's TT_FATAL
    rules are exercised by tests/emulator/rules/cases_sdpa.py."""
    q, k, v = (to_dev(torch.randn(1, 2, 32, 32), device) for _ in range(3))
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=(99, 1), q_chunk_size=32, k_chunk_size=32)
    with pytest.raises(ValueError, match="exceeds"):
        ttnn.transformer.scaled_dot_product_attention(q, k, v, program_config=config)


# --- chunked prefill ------------------------------------------------------------------------------


def paged_from_contiguous(cache, block_size, table):
    """cache (users, heads, positions, dim) -> paged (num_blocks, heads, block_size, dim) under ``table``."""
    users, heads, positions, dim = cache.shape
    num_blocks = int(table.max()) + 1
    paged = torch.zeros(num_blocks, heads, block_size, dim)
    for user in range(users):
        for index in range(positions // block_size):
            paged[table[user, index]] = cache[user, :, index * block_size : (index + 1) * block_size]
    return paged


def test_chunked_sdpa_matches_causal_over_prefix(device):
    block, blocks_per_user, nq, nkv, dim = 32, 4, 4, 2, 32
    table = torch.randperm(blocks_per_user).reshape(1, blocks_per_user).to(torch.int32)
    k_all, v_all = bf16(torch.randn(1, nkv, 128, dim)), bf16(torch.randn(1, nkv, 128, dim))
    q = bf16(torch.randn(1, nq, 40, dim))
    start = 64
    out = ttnn.transformer.chunked_scaled_dot_product_attention(
        to_dev(q, device),
        to_dev(paged_from_contiguous(k_all, block, table), device),
        to_dev(paged_from_contiguous(v_all, block, table), device),
        to_dev(table, device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT),
        start,
    )
    expected = ref_attention(
        q, k_all[:, :, : start + 40], v_all[:, :, : start + 40], causal_mask(40, start + 40, offset=start)
    )
    torch.testing.assert_close(host(out), expected, **TOL)


# --- decode ---------------------------------------------------------------------------------------


def decode_reference(q, k_cache, v_cache, positions, window=None, scale=None):
    """q (1, b, nh, d), caches (b, nkv, S, d) -> (1, b, nh, d); position -1 -> zeros."""
    outs = []
    for user, pos in enumerate(positions):
        if pos < 0:
            outs.append(torch.zeros(q.shape[2], q.shape[3]))
            continue
        lo = max(0, pos - window + 1) if window else 0
        k = k_cache[user : user + 1, :, lo : pos + 1]
        v = v_cache[user : user + 1, :, lo : pos + 1]
        outs.append(ref_attention(q[:, user].unsqueeze(2), k, v, scale=scale)[0, :, 0])
    return torch.stack(outs).unsqueeze(0)


@pytest.mark.parametrize("use_tensor", [False, True])
def test_sdpa_decode_per_user_positions(device, use_tensor):
    batch, nh, nkv, seq, dim = 5, 8, 2, 96, 64
    q = bf16(torch.randn(1, batch, nh, dim))
    k, v = bf16(torch.randn(batch, nkv, seq, dim)), bf16(torch.randn(batch, nkv, seq, dim))
    positions = [0, 17, 95, 40, -1]
    kwargs = (
        {
            "cur_pos_tensor": to_dev(
                torch.tensor(positions, dtype=torch.int32),
                device,
                dtype=ttnn.int32,
                layout=ttnn.ROW_MAJOR_LAYOUT,
            )
        }
        if use_tensor
        else {"cur_pos": positions}
    )
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=(4, 4), q_chunk_size=32, k_chunk_size=32)
    out = ttnn.transformer.scaled_dot_product_attention_decode(
        to_dev(q, device), to_dev(k, device), to_dev(v, device), program_config=config, **kwargs
    )
    assert list(out.shape) == [1, batch, nh, dim]
    torch.testing.assert_close(host(out), decode_reference(q, k, v, positions), **TOL)


def test_paged_sdpa_decode_sliding_window_shuffled_table(device):
    batch, nh, nkv, block, per_user, dim = 3, 4, 1, 32, 3, 32
    table = torch.randperm(batch * per_user).reshape(batch, per_user).to(torch.int32)
    k, v = (
        bf16(torch.randn(batch, nkv, block * per_user, dim)),
        bf16(torch.randn(batch, nkv, block * per_user, dim)),
    )
    q = bf16(torch.randn(1, batch, nh, dim))
    positions = [5, 70, 95]
    out = ttnn.transformer.paged_scaled_dot_product_attention_decode(
        to_dev(q, device),
        to_dev(paged_from_contiguous(k, block, table), device),
        to_dev(paged_from_contiguous(v, block, table), device),
        to_dev(table, device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT),
        cur_pos_tensor=to_dev(
            torch.tensor(positions, dtype=torch.int32), device, dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT
        ),
        sliding_window_size=20,
        scale=0.2,
    )
    torch.testing.assert_close(host(out), decode_reference(q, k, v, positions, window=20, scale=0.2), **TOL)


def test_sdpa_decode_needs_one_position_source(device):
    """Wrapper-level precondition; the TT_FATAL rules are in tests/emulator/rules/cases_sdpa.py."""
    q = to_dev(torch.randn(1, 2, 4, 32), device)
    k = to_dev(torch.randn(2, 2, 64, 32), device)
    with pytest.raises(ValueError, match="exactly one of cur_pos"):
        ttnn.transformer.scaled_dot_product_attention_decode(q, k, k)


# --- rotary embedding -----------------------------------------------------------------------------


def trans_mat():
    mat = torch.zeros(1, 1, 32, 32)
    mat[..., torch.arange(0, 32, 2), torch.arange(1, 32, 2)] = 1
    mat[..., torch.arange(1, 32, 2), torch.arange(0, 32, 2)] = -1
    return mat


def interleaved_cos_sin(positions, dim, theta=10000.0):
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2).float() / dim)
    angles = positions.float().unsqueeze(-1) * inv_freq
    return angles.cos().repeat_interleave(2, -1), angles.sin().repeat_interleave(2, -1), angles


def complex_rope(x, angles):
    """Meta's reference: rotate adjacent pairs by complex multiplication."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).flatten(-2)


@pytest.mark.parametrize("dim", [64, 128])
def test_rotary_embedding_llama_prefill(device, dim):
    seq = 45
    x = bf16(torch.randn(1, 3, seq, dim))
    cos, sin, angles = interleaved_cos_sin(torch.arange(seq), dim)
    out = ttnn.experimental.rotary_embedding_llama(
        to_dev(x, device),
        to_dev(cos[None, None], device),
        to_dev(sin[None, None], device),
        to_dev(trans_mat(), device),
    )
    torch.testing.assert_close(host(out), complex_rope(x, angles), atol=2e-2, rtol=2e-2)


def height_sharded(device, tensor, rows, width, batch):
    grid = ttnn.num_cores_to_corerangeset(batch, device.compute_with_storage_grid_size(), row_wise=True)
    config = ttnn.create_sharded_memory_config(
        (rows, width),
        grid,
        ttnn.ShardStrategy.HEIGHT,
        ttnn.ShardOrientation.ROW_MAJOR,
        use_height_and_width_as_shard_shape=True,
    )
    return to_dev(tensor, device, memory_config=config)


def test_rotary_embedding_llama_decode_per_user_positions(device):
    batch, heads, dim = 4, 5, 64
    positions = torch.tensor([0, 7, 300, 41])
    x = bf16(torch.randn(1, batch, heads, dim))
    cos, sin, angles = interleaved_cos_sin(positions, dim)
    out = ttnn.experimental.rotary_embedding_llama(
        height_sharded(device, x, 32, dim, batch),
        height_sharded(device, cos.reshape(1, batch, 1, dim), 32, dim, batch),
        height_sharded(device, sin.reshape(1, batch, 1, dim), 32, dim, batch),
        height_sharded(device, trans_mat().repeat(1, 1, batch, 1), 32, 32, batch),
        is_decode_mode=True,
    )
    assert out.memory_config().memory_layout == ttnn.TensorMemoryLayout.HEIGHT_SHARDED
    expected = complex_rope(x, angles[None, :, None, :])
    torch.testing.assert_close(host(out), expected, atol=2e-2, rtol=2e-2)


def test_rotary_embedding_llama_fused_qk(device):
    batch, dim = 2, 32
    positions = torch.tensor([3, 9])
    q, k = bf16(torch.randn(1, batch, 4, dim)), bf16(torch.randn(1, batch, 2, dim))
    cos, sin, angles = interleaved_cos_sin(positions.repeat(2), dim)
    grid = ttnn.num_cores_to_corerangeset(2 * batch, device.compute_with_storage_grid_size(), row_wise=True)
    cores = grid.cores()

    def on(tensor, chosen, width):
        ranges = ttnn.CoreRangeSet([ttnn.CoreRange(c, c) for c in chosen])
        config = ttnn.create_sharded_memory_config(
            (32, width), ranges, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
        )
        return to_dev(tensor, device, memory_config=config)

    q_out, k_out = ttnn.experimental.rotary_embedding_llama_fused_qk(
        on(q, cores[:batch], dim),
        on(k, cores[batch:], dim),
        on(cos.reshape(1, 2 * batch, 1, dim), cores, dim),
        on(sin.reshape(1, 2 * batch, 1, dim), cores, dim),
        on(trans_mat().repeat(1, 1, 2 * batch, 1), cores, 32),
    )
    torch.testing.assert_close(
        host(q_out), complex_rope(q, angles[None, :batch, None, :]), atol=2e-2, rtol=2e-2
    )
    torch.testing.assert_close(
        host(k_out), complex_rope(k, angles[None, batch:, None, :]), atol=2e-2, rtol=2e-2
    )


def test_rotary_prefill_refuses_tables_shorter_than_the_input(device):
    """Not a TT_FATAL (the device would read past the tables): an emulator precondition.
    The op's TT_FATAL rules are exercised by tests/emulator/rules/cases_rope.py."""
    x = to_dev(torch.randn(1, 2, 32, 64), device)
    short = to_dev(torch.randn(1, 1, 1, 64), device)
    with pytest.raises(ValueError, match="covers 1 positions"):
        ttnn.experimental.rotary_embedding_llama(x, short, short, to_dev(trans_mat(), device))


# --- head split / merge ---------------------------------------------------------------------------


def test_create_and_concat_heads_prefill_round_trip(device):
    nq, nkv, dim, seq = 4, 2, 32, 33
    fused = bf16(torch.randn(1, 1, seq, (nq + 2 * nkv) * dim))
    q, k, v = ttnn.experimental.nlp_create_qkv_heads(
        to_dev(fused, device), num_heads=nq, num_kv_heads=nkv, transpose_k_heads=False
    )
    split = fused.reshape(1, seq, nq + 2 * nkv, dim).permute(0, 2, 1, 3)
    torch.testing.assert_close(host(q), split[:, :nq], atol=0, rtol=0)
    torch.testing.assert_close(host(k), split[:, nq : nq + nkv], atol=0, rtol=0)
    torch.testing.assert_close(host(v), split[:, nq + nkv :], atol=0, rtol=0)
    merged = ttnn.experimental.nlp_concat_heads(q)
    torch.testing.assert_close(host(merged), fused[..., : nq * dim], atol=0, rtol=0)
    _, k_t, _ = ttnn.experimental.nlp_create_qkv_heads(to_dev(fused, device), num_heads=nq, num_kv_heads=nkv)
    assert list(k_t.shape) == [1, nkv, dim, seq]


def test_head_moves_never_alias_their_input(device):
    """bfloat16 head splits / merges skip the (identity) re-rounding, yet each output has its own
    buffer: with one position the merge is a pure view of its input, and is copied."""
    nq, nkv, dim = 4, 2, 32
    fused = to_dev(bf16(torch.randn(1, 1, 1, (nq + 2 * nkv) * dim)), device)
    q, k, v = ttnn.experimental.nlp_create_qkv_heads(
        fused, num_heads=nq, num_kv_heads=nkv, transpose_k_heads=False
    )
    merged = ttnn.experimental.nlp_concat_heads(q)

    def storage(t):
        return t.shards[0].untyped_storage().data_ptr()

    assert len({storage(t) for t in (fused, q, k, v, merged)}) == 5
    torch.testing.assert_close(host(merged), host(fused)[..., : nq * dim], atol=0, rtol=0)


def test_create_and_concat_heads_decode(device):
    batch, nq, nkv, dim = 3, 6, 2, 64
    fused = bf16(torch.randn(1, 1, batch, (nq + 2 * nkv) * dim))
    q, k, v = ttnn.experimental.nlp_create_qkv_heads_decode(
        to_dev(fused, device, memory_config=ttnn.L1_MEMORY_CONFIG),
        num_heads=nq,
        num_kv_heads=nkv,
        memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG,
    )
    heads = fused.reshape(1, batch, nq + 2 * nkv, dim)
    torch.testing.assert_close(host(q), heads[:, :, :nq], atol=0, rtol=0)
    torch.testing.assert_close(host(k), heads[:, :, nq : nq + nkv], atol=0, rtol=0)
    torch.testing.assert_close(host(v), heads[:, :, nq + nkv :], atol=0, rtol=0)
    assert q.memory_config().shard_spec.shape == (32, dim)
    assert q.memory_config().shard_spec.grid.num_cores() == batch
    merged = ttnn.experimental.nlp_concat_heads_decode(q, num_heads=nq)
    assert merged.memory_config().memory_layout == ttnn.TensorMemoryLayout.WIDTH_SHARDED
    torch.testing.assert_close(host(merged), fused[..., : nq * dim], atol=0, rtol=0)


def test_scale_default_is_inverse_sqrt_head_dim(device):
    q, k, v = (bf16(torch.randn(1, 1, 32, 64)) for _ in range(3))
    out = ttnn.transformer.scaled_dot_product_attention(
        to_dev(q, device), to_dev(k, device), to_dev(v, device)
    )
    expected = ref_attention(q, k, v, causal_mask(32, 32), scale=1 / math.sqrt(64))
    torch.testing.assert_close(host(out), expected, **TOL)


def _paged_decode_operands(device, batch, *, heads, kv_heads, blocks, per_user, seed, dim=64, block=32):
    """Random Q (1, batch, heads, dim), bfloat8_b K and V caches of ``blocks`` blocks, and a page table
    giving each user ``per_user`` distinct blocks."""
    gen = torch.Generator().manual_seed(seed)
    q = to_dev(torch.randn(1, batch, heads, dim, generator=gen), device)
    caches = [
        to_dev(torch.randn(blocks, kv_heads, block, dim, generator=gen), device, dtype=ttnn.bfloat8_b)
        for _ in range(2)
    ]
    order = torch.randperm(blocks, generator=gen)[: batch * per_user].reshape(batch, per_user)
    return q, caches, ttnn.from_torch(order.int(), dtype=ttnn.int32, device=device)


@pytest.mark.parametrize("live_users", [1, 5, 32])
def test_paged_decode_skips_idle_users_blocks_bit_for_bit(device, live_users, monkeypatch):
    """Idle users (position -1) have their K/V blocks left unread: outputs are bit-identical to
    gathering every user's blocks, idle users' outputs are zeros."""
    from tttv2_hwconfig.emulator import _ops_sdpa

    batch = 32
    q, caches, table = _paged_decode_operands(
        device, batch, heads=9, kv_heads=3, blocks=256, per_user=8, seed=7
    )
    positions = torch.tensor([37 if u < live_users else -1 for u in range(batch)], dtype=torch.int32)
    cur = ttnn.from_torch(positions, dtype=ttnn.int32, device=device)

    def decode():
        out = ttnn.transformer.paged_scaled_dot_product_attention_decode(
            q, *caches, page_table_tensor=table, cur_pos_tensor=cur, scale=0.125
        )
        return host(out).float()

    skipping = decode()
    gather_all = _ops_sdpa._gather_pages
    monkeypatch.setattr(
        _ops_sdpa,
        "_gather_pages",
        lambda op, cache, tbl, length, live=None, role="k": gather_all(op, cache, tbl, length),
    )
    reading_all = decode()
    assert torch.equal(skipping.view(torch.int32), reading_all.view(torch.int32))
    assert not skipping[:, live_users:].any()


def test_paged_decode_user_gone_idle_reads_zeros_again(device):
    """The idle users' zero rows live in a reused buffer: a user that goes idle between two calls
    gets zeros again (its previous call's keys and values are not left in the buffer), and the
    live users' outputs match a call on a fresh buffer bit for bit."""
    from tttv2_hwconfig.emulator import _ops_sdpa

    batch, heads, kv_heads, dim, block, blocks = 8, 4, 2, 64, 32, 64
    gen = torch.Generator().manual_seed(11)
    q = to_dev(torch.randn(1, batch, heads, dim, generator=gen), device)
    order = torch.randperm(blocks, generator=gen)[: batch * 4].reshape(batch, 4)
    k_cache, v_cache = (torch.randn(blocks, kv_heads, block, dim, generator=gen) for _ in range(2))
    v_cache[order[1]] = float("inf")  # user 1's values: inf * 0 would be NaN if they stayed
    caches = [to_dev(c, device, dtype=ttnn.bfloat16) for c in (k_cache, v_cache)]
    table = ttnn.from_torch(order.int(), dtype=ttnn.int32, device=device)

    def decode(positions):
        cur = ttnn.from_torch(torch.tensor(positions, dtype=torch.int32), dtype=ttnn.int32, device=device)
        out = ttnn.transformer.paged_scaled_dot_product_attention_decode(
            q, *caches, page_table_tensor=table, cur_pos_tensor=cur, scale=0.125
        )
        return host(out).float()

    assert not decode([40, 40, 40, 40, -1, -1, -1, -1])[:, 1].isfinite().all()  # users 0-3 fill the buffer
    later = [40, -1, 40, -1, -1, -1, -1, 40]
    reused = decode(later)
    _ops_sdpa._IDLE_ZEROS._buffers.clear()
    fresh = decode(later)
    assert torch.equal(reused.view(torch.int32), fresh.view(torch.int32))
    assert not reused[:, [1, 3, 4, 5, 6]].any() and reused[:, [0, 2, 7]].abs().sum() > 0


def test_paged_decode_with_every_user_at_one_position_needs_no_mask(device):
    """All users at the same position see every key: the kernel then builds no mask, with the bits of
    the masked path (forced here by a sliding window longer than the sequence)."""
    batch = 4
    q, caches, table = _paged_decode_operands(
        device, batch, heads=8, kv_heads=2, blocks=32, per_user=4, seed=5
    )
    cur = ttnn.from_torch(torch.full((batch,), 70, dtype=torch.int32), dtype=ttnn.int32, device=device)

    def decode(**window):
        out = ttnn.transformer.paged_scaled_dot_product_attention_decode(
            q, *caches, page_table_tensor=table, cur_pos_tensor=cur, scale=0.125, **window
        )
        return host(out).float().view(torch.int32)

    assert torch.equal(decode(), decode(sliding_window_size=4096))
