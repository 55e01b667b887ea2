"""ttnn.matmul / ttnn.linear against plain torch, math-fidelity properties, program-config checks.

References are float64 torch products of the values the device tensors actually hold (inputs are
rounded to their dtype on upload). Tolerances:

* HiFi4 with bfloat16 operands multiplies exactly; the result is rounded once to bfloat16, a
  relative error <= 2**-9 of each output, so we allow rtol=2**-8 plus atol for near-zero sums.
* Fidelity properties are exact claims of the documented hardware model (tech_reports/matrix_engine):
  bfloat4_b weights lose nothing at LoFi, bfloat8_b weights nothing at HiFi2 when the activations
  have <= 6 fraction bits; those are checked against the exact product.
"""

import pytest
import torch
from tttv2_hwconfig import ttnn

RTOL, ATOL = 2**-8, 1e-3


def upload(t, device, dtype=ttnn.bfloat16, memory_config=None):
    return ttnn.from_torch(
        t, dtype=dtype, layout=ttnn.TILE_LAYOUT, device=device, memory_config=memory_config
    )


def values(t):
    """Device tensor (replicated) -> the float64 values device 0 holds."""
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).to(torch.float64)


def kernel(fidelity=ttnn.MathFidelity.HiFi4, fp32=False):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=fidelity, fp32_dest_acc_en=fp32, packer_l1_acc=True)


def assert_matches(expected, actual, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(actual.to(torch.float64), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("rows", [1, 32, 33, 77])
def test_linear_matches_torch_at_hifi4(device, rows):
    a, w, b = (
        upload(torch.randn(1, 1, rows, 64), device),
        upload(torch.randn(64, 96), device),
        upload(torch.randn(1, 96), device),
    )
    out = ttnn.linear(a, w, bias=b, compute_kernel_config=kernel())
    assert tuple(out.shape) == (1, 1, rows, 96)
    assert_matches(values(a) @ values(w) + values(b), values(out))


def test_matmul_batched_and_broadcast(device):
    a = upload(torch.randn(2, 3, 32, 64), device)
    w = upload(torch.randn(64, 32), device)
    assert_matches(values(a) @ values(w), values(ttnn.matmul(a, w, compute_kernel_config=kernel())))
    b = upload(torch.randn(2, 3, 64, 32), device)
    assert_matches(values(a) @ values(b), values(ttnn.matmul(a, b, compute_kernel_config=kernel())))


def test_transpose_flags(device):
    a, w = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(96, 64), device)
    out = ttnn.linear(a, w, transpose_b=True, compute_kernel_config=kernel())
    assert_matches(values(a) @ values(w).T, values(out))
    at = upload(torch.randn(1, 1, 64, 32), device)
    out = ttnn.matmul(
        at, upload(torch.randn(64, 96), device), transpose_a=True, compute_kernel_config=kernel()
    )
    assert tuple(out.shape) == (1, 1, 32, 96)


@pytest.mark.parametrize(
    "activation, fn",
    [
        ("silu", torch.nn.functional.silu),
        ("relu", torch.relu),
        ("gelu", torch.nn.functional.gelu),
        (
            ttnn.UnaryWithParam(ttnn.UnaryOpType.GELU_TANH),
            lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        ),
    ],
)
def test_fused_activation(device, activation, fn):
    a, w = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(64, 64) / 8, device)
    out = ttnn.linear(a, w, activation=activation, compute_kernel_config=kernel(fp32=True))
    # fp32 accumulation: one bfloat16 rounding after the activation.
    assert_matches(fn(values(a) @ values(w)), values(out))


def test_fused_activation_in_program_config(device):
    grid = device.compute_with_storage_grid_size()
    a, w = upload(torch.randn(1, 1, 32, 128), device), upload(torch.randn(128, 256) / 11, device)
    pc = ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=grid,
        in0_block_w=2,
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=1,
        per_core_N=1,
        fuse_batch=True,
        fused_activation=ttnn.UnaryOpType.SILU,
        mcast_in0=True,
    )
    out = ttnn.linear(a, w, program_config=pc, compute_kernel_config=kernel(fp32=True))
    assert_matches(torch.nn.functional.silu(values(a) @ values(w)), values(out))
    with pytest.raises(ValueError, match="ttnn.linear.*activation"):
        ttnn.linear(a, w, program_config=pc, activation="relu")


def test_bfloat4_weights_are_exact_at_lofi(device):
    """LoFi keeps 4 fraction bits of SrcA (the weights); bfloat4_b has at most 2."""
    a = upload(torch.randn(1, 1, 32, 128), device)
    w = upload(torch.randn(128, 64), device, ttnn.bfloat4_b)
    # Activations keep 6 of bfloat16's 7 fraction bits at LoFi: compare with the operands truncated
    # the same way is not independent, so check LoFi == HiFi4 only where SrcB loses nothing.
    a6 = upload(torch.randint(-64, 64, (1, 1, 32, 128)).float() / 64, device)  # <= 6 fraction bits
    lofi = ttnn.linear(
        a6, w, compute_kernel_config=kernel(ttnn.MathFidelity.LoFi, fp32=True), dtype=ttnn.float32
    )
    assert torch.equal(values(lofi), (values(a6) @ values(w)).float().to(torch.float64))
    assert a.dtype == ttnn.bfloat16


def test_bfloat8_weights_need_hifi2(device):
    """bfloat8_b weights have 6 fraction bits: exact at HiFi2, truncated at LoFi."""
    a6 = upload(torch.randint(-64, 64, (1, 1, 32, 128)).float() / 64, device)
    w = upload(torch.randn(128, 64), device, ttnn.bfloat8_b)
    exact = (values(a6) @ values(w)).float().to(torch.float64)
    hifi2 = ttnn.linear(
        a6, w, compute_kernel_config=kernel(ttnn.MathFidelity.HiFi2, fp32=True), dtype=ttnn.float32
    )
    lofi = ttnn.linear(
        a6, w, compute_kernel_config=kernel(ttnn.MathFidelity.LoFi, fp32=True), dtype=ttnn.float32
    )
    assert torch.equal(values(hifi2), exact)
    lofi_error = (values(lofi) - exact).abs().max()
    assert (
        0 < lofi_error < 2**-4 * exact.abs().max() * 128**0.5
    )  # 4 of 6 weight bits: <= 2**-4 relative per product


def test_error_shrinks_with_fidelity(device):
    a, w = upload(torch.randn(1, 1, 32, 256), device), upload(torch.randn(256, 128), device)
    exact = values(a) @ values(w)
    errors = [
        (values(ttnn.linear(a, w, compute_kernel_config=kernel(f, fp32=True), dtype=ttnn.float32)) - exact)
        .abs()
        .mean()
        .item()
        for f in (
            ttnn.MathFidelity.LoFi,
            ttnn.MathFidelity.HiFi2,
            ttnn.MathFidelity.HiFi3,
            ttnn.MathFidelity.HiFi4,
        )
    ]
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[3] < 1e-5  # HiFi4: bfloat16 x bfloat16 products are exact; only float32 summation order


def test_bfloat16_accumulation_rounds_without_fp32_dest(device):
    a, w = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(64, 64), device)
    out = values(ttnn.linear(a, w, compute_kernel_config=kernel(fp32=False), dtype=ttnn.float32))
    assert torch.equal(out, out.to(torch.bfloat16).to(torch.float64))  # float32 output, bfloat16 values


def test_default_fidelity_follows_ttnn(device):
    a, w = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(64, 64), device, ttnn.bfloat8_b)
    device.trace.clear()
    ttnn.linear(a, w)
    assert device.trace.records[-1].math_fidelity == "HiFi2"  # no program config, bf16 x bfp8
    config = ttnn.init_device_compute_kernel_config(
        device.arch(), ttnn.WormholeComputeKernelConfig(), math_fidelity=ttnn.MathFidelity.HiFi3
    )
    assert config.math_fidelity == ttnn.MathFidelity.HiFi3


def test_records_padded_flops(device):
    a, w = upload(torch.randn(1, 1, 1, 64), device), upload(torch.randn(64, 96), device)
    device.trace.clear()
    ttnn.linear(a, w)
    record = device.trace.records[-1]
    assert record.name == "ttnn.linear"
    assert record.flops == 2 * 32 * 64 * 96  # one user still computes a whole 32-row tile
    assert record.output_shapes == ((1, 1, 32, 96),)


def test_column_parallel_weight_on_mesh(device):
    n = device.get_num_devices()
    x, w = torch.randn(1, 1, 32, 64), torch.randn(64, 32 * n)
    a = ttnn.from_torch(
        x,
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ReplicateTensorToMesh(device),
    )
    tw = ttnn.from_torch(
        w,
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ShardTensorToMesh(device, dim=1),
    )
    out = ttnn.linear(a, tw, compute_kernel_config=kernel())
    full = ttnn.to_torch(out, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=-1)).double()
    expected = x.to(torch.bfloat16).double() @ w.to(torch.bfloat16).double()
    assert_matches(expected, full)


# --- program configs -----------------------------------------------------------------------------
def one_d(grid, **overrides):
    fields = dict(
        compute_with_storage_grid_size=grid,
        in0_block_w=2,
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=2,
        per_core_N=1,
        fuse_batch=True,
        fused_activation=None,
        mcast_in0=True,
    )  # per_core_M=2: the (64, 128) activation of these tests is 2 tiles tall
    fields.update(overrides)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(**fields)


def two_d(grid, **overrides):
    fields = dict(
        compute_with_storage_grid_size=grid,
        in0_block_w=2,
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=1,
        per_core_N=1,
        transpose_mcast=False,
        fused_activation=None,
    )
    fields.update(overrides)
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(**fields)


def test_program_configs_run_and_match(device):
    grid = device.compute_with_storage_grid_size()
    a, w = upload(torch.randn(1, 1, 64, 128), device), upload(torch.randn(128, 128), device)
    expected = values(a) @ values(w)
    for pc in (
        one_d(grid, per_core_M=2, out_subblock_h=2),
        two_d(grid, per_core_M=1, per_core_N=1),
        ttnn.MatmulMultiCoreReuseProgramConfig(
            compute_with_storage_grid_size=grid,
            in0_block_w=4,
            out_subblock_h=1,
            out_subblock_w=4,
            per_core_M=1,
            per_core_N=4,
        ),
    ):
        assert_matches(expected, values(ttnn.linear(a, w, program_config=pc, compute_kernel_config=kernel())))
    assert one_d(grid).out_block_w == 1  # out_block_* default to per_core_*, as the real binding fills them


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda g: one_d(g, in0_block_w=3), "in0_block_w \\(3\\) must divide K \\(4 tiles\\)"),
        (
            lambda g: one_d(g, out_subblock_w=8, per_core_N=8, out_subblock_h=1),
            None,
        ),  # valid: 8 tiles with bf16 acc
        (lambda g: one_d(g, per_core_M=2, out_subblock_h=2, out_subblock_w=4, per_core_N=4), "at most 4 fit"),
        (lambda g: one_d(g, out_subblock_w=3, per_core_N=4), "divisible by out_subblock_w"),
        (lambda g: one_d(g, per_core_M=1, per_core_N=1, mcast_in0=True), "mcast_in0 requires all of M"),
        (lambda g: one_d(ttnn.CoreCoord(g.x + 1, g.y)), "compute_with_storage_grid_size"),
        (lambda g: two_d(ttnn.CoreCoord(2, 2), per_core_N=1), "output blocks along x"),
        (lambda g: two_d(g, per_core_M=1, per_core_N=64, out_subblock_w=1, in0_block_w=4), None),
    ],
)
def test_program_config_errors_name_the_argument(device, make, message):
    grid = device.compute_with_storage_grid_size()
    a, w = upload(torch.randn(1, 1, 64, 128), device), upload(torch.randn(128, 256), device)
    pc = make(grid)
    fp32 = message == "at most 4 fit"
    if message is None:
        ttnn.linear(a, w, program_config=pc, compute_kernel_config=kernel(fp32=fp32))
        return
    with pytest.raises(ValueError, match=f"ttnn.linear: .*{message}"):
        ttnn.linear(a, w, program_config=pc, compute_kernel_config=kernel(fp32=fp32))


def test_circular_buffers_must_fit_l1(device):
    grid = device.compute_with_storage_grid_size()
    a, w = upload(torch.randn(1, 1, 32, 1024), device), upload(torch.randn(1024, 1024), device)
    # in1 block alone: 2 buffers x 32 x 32 bfloat16 tiles = 4 MiB, more than any core's L1.
    pc = one_d(grid, in0_block_w=32, per_core_M=1, per_core_N=32, out_subblock_w=8)
    with pytest.raises(ValueError, match="ttnn.linear: program_config needs .* bytes of circular buffers"):
        ttnn.linear(a, w, program_config=pc)


def test_dram_sharded_matmul(device):
    grid, dram = device.compute_with_storage_grid_size(), device.dram_grid_size()
    banks = dram.x * dram.y
    k, n, cores = 256, 512, 8
    x = torch.randn(1, 1, 32, k)
    act_mc = ttnn.create_sharded_memory_config(
        (32, k // cores),
        core_grid=ttnn.num_cores_to_corerangeset(cores, grid, row_wise=True),
        strategy=ttnn.ShardStrategy.WIDTH,
        orientation=ttnn.ShardOrientation.ROW_MAJOR,
        use_height_and_width_as_shard_shape=True,
    )
    shard_w = -(-n // (32 * banks)) * 32
    weight_mc = ttnn.MemoryConfig(
        ttnn.TensorMemoryLayout.WIDTH_SHARDED,
        ttnn.BufferType.DRAM,
        ttnn.ShardSpec(
            ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(dram.x - 1, dram.y - 1))]),
            (k, shard_w),
            ttnn.ShardOrientation.ROW_MAJOR,
        ),
    )
    a = upload(x, device, memory_config=act_mc)
    w = upload(torch.randn(k, n), device, ttnn.bfloat8_b, memory_config=weight_mc)
    pc = ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(
        in0_block_w=k // 32 // cores, per_core_M=1, per_core_N=n // 32 // cores
    )
    out = ttnn.linear(
        a,
        w,
        program_config=pc,
        memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG,
        compute_kernel_config=kernel(),
    )
    assert out.memory_config().shard_spec.shape == (32, n // cores)
    assert out.memory_config().shard_spec.grid.num_cores() == cores
    assert_matches(values(a) @ values(w), values(out))
    with pytest.raises(ValueError, match="ttnn.linear: input_tensor_a must be L1 WIDTH_SHARDED"):
        ttnn.linear(
            upload(x, device), w, program_config=pc, memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG
        )
    with pytest.raises(ValueError, match="ttnn.linear: memory_config must be L1 WIDTH_SHARDED"):
        ttnn.linear(a, w, program_config=pc)


@pytest.mark.parametrize(
    "a_shape, b_shape, kwargs, error, message",
    [
        ((1, 1, 32, 64), (96, 64), {}, ValueError, "width of input_tensor_a \\(64\\) must equal the height"),
        ((1, 1, 32, 64), (64, 96), {"dtype": ttnn.uint32}, ValueError, "dtype must be one of"),
        ((1, 1, 32, 64), (64, 96), {"program_config": "1d"}, TypeError, "program_config must be"),
        (
            (1, 1, 32, 64),
            (64, 96),
            {"compute_kernel_config": {"math_fidelity": 1}},
            TypeError,
            "compute_kernel_config",
        ),
    ],
)
def test_argument_errors(device, a_shape, b_shape, kwargs, error, message):
    a, w = upload(torch.randn(a_shape), device), upload(torch.randn(b_shape), device)
    with pytest.raises(error, match=f"ttnn.linear: .*{message}"):
        ttnn.linear(a, w, **kwargs)


def test_layout_and_placement_errors(device):
    w = upload(torch.randn(64, 96), device)
    row_major = ttnn.from_torch(torch.randn(1, 1, 32, 64), dtype=ttnn.bfloat16, device=device)
    with pytest.raises(ValueError, match="ttnn.matmul: input_tensor_a must be in TILE layout"):
        ttnn.matmul(row_major, w)
    host = ttnn.from_torch(torch.randn(1, 1, 32, 64), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)
    with pytest.raises(ValueError, match="ttnn.matmul: input_tensor_a must be on device"):
        ttnn.matmul(host, w)
    with pytest.raises(TypeError, match="WormholeComputeKernelConfig: math_fidelity"):
        ttnn.WormholeComputeKernelConfig(math_fidelity="HiFi2")
    with pytest.raises(TypeError, match="in0_block_w must be a non-negative int"):
        one_d(device.compute_with_storage_grid_size(), in0_block_w=1.5)


@pytest.fixture(params=[False, True], ids=["float32-gemm", "bfloat16-gemm"])
def gemm(request, monkeypatch):
    """Run a test on both host GEMMs the emulated matrix engine can use (``emulator/_gemm.py``)."""
    from tttv2_hwconfig.emulator import _gemm

    monkeypatch.setattr(_gemm, "BFLOAT16_GEMM", request.param)
    return request.param


@pytest.mark.parametrize("dtype", [ttnn.bfloat16, ttnn.bfloat8_b])
def test_fidelity_cache_keeps_no_float32_copy_when_truncation_is_the_identity(device, dtype, gemm):
    """HiFi2 reads 8 fraction bits of in1 (SrcA): a bfloat16 / bfloat8_b weight (7 / 6 stored fraction
    bits) is used as itself - no truncated float32 copy is cached; the bfloat16 GEMM keeps only the
    weight's bfloat16 copy (half its bytes), which it reads instead."""
    from tttv2_hwconfig.emulator import _gemm

    a = upload(torch.randint(-64, 64, (1, 1, 32, 64)).float() / 64, device)  # <= 6 fraction bits
    w = upload(torch.randint(-64, 64, (64, 96)).float() / 64, device, dtype=dtype)
    hifi2 = ttnn.linear(a, w, compute_kernel_config=kernel(ttnn.MathFidelity.HiFi2))
    shard = w.shards[0]
    cached = list(getattr(shard, "_tttv2_fidelity_cache", (0, {}))[1].values())
    if gemm and _gemm.PACKED_WEIGHTS:  # the bfloat16 copy, reordered once for oneDNN (out, in)
        assert len(cached) == 1 and cached[0].is_mkldnn and cached[0].dtype == torch.bfloat16
        assert torch.equal(cached[0].to_dense().float(), shard.t())
    elif gemm:
        assert [c.dtype for c in cached] == [torch.bfloat16] and torch.equal(cached[0].float(), shard)
    else:
        assert not cached
    lofi = ttnn.linear(
        a, w, compute_kernel_config=kernel(ttnn.MathFidelity.LoFi)
    )  # 4 bits: a real truncation
    assert any(
        s is not shard and not torch.equal((s.to_dense() if s.is_mkldnn else s).float(), shard)
        for s in shard._tttv2_fidelity_cache[1].values()
    )
    # Independent HiFi2 reference: sums of these products are exact in float32 in any order.
    reference = (values(a) @ values(w)).to(torch.bfloat16).to(torch.float64)
    assert torch.equal(values(hifi2), reference)
    assert not torch.equal(values(hifi2), values(lofi))


@pytest.mark.parametrize(
    "fp32_acc, bias, out_dtype",
    [
        (False, False, ttnn.bfloat8_b),
        (True, False, ttnn.bfloat16),
        (False, True, ttnn.bfloat16),
        (True, False, ttnn.float32),
    ],
)
def test_bfloat16_gemm_gives_the_float32_gemm_result(device, fp32_acc, bias, out_dtype):
    """The bfloat16 GEMM runs only where nothing reads the float32 sum before its bfloat16 rounding;
    both GEMMs then agree with the exact product rounded once (operands whose sums are exact)."""
    from tttv2_hwconfig.emulator import _gemm

    a = upload(torch.randint(-64, 64, (1, 1, 64, 128)).float() / 64, device)
    w = upload(torch.randint(-64, 64, (128, 96)).float() / 64, device)
    b = upload(torch.randn(1, 96) / 3, device) if bias else None
    config = kernel(ttnn.MathFidelity.HiFi2, fp32=fp32_acc)
    outputs = []
    for use_bf16 in (False, True):
        previous, _gemm.BFLOAT16_GEMM = _gemm.BFLOAT16_GEMM, use_bf16
        try:
            outputs.append(values(ttnn.linear(a, w, bias=b, dtype=out_dtype, compute_kernel_config=config)))
        finally:
            _gemm.BFLOAT16_GEMM = previous
    assert torch.equal(outputs[0], outputs[1])


def test_fidelity_cache_in_shapes_only_mode_compares_no_values(device):
    """A shapes-only run (meta data) caches its slices without looking at values it does not have."""
    from tttv2_hwconfig import shapes_only

    with shapes_only():
        a = upload(torch.randn(1, 1, 32, 64), device)
        w = upload(torch.randn(64, 96), device)
        out = ttnn.linear(a, w, compute_kernel_config=kernel(ttnn.MathFidelity.HiFi2))
    assert tuple(out.shape) == (1, 1, 32, 96) and out.shards[0].is_meta
