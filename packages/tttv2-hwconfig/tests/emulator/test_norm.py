"""ttnn.rms_norm / layer_norm and the distributed pre/post all-gather ops against plain torch.

Tolerance: inputs are bfloat16-rounded before the torch reference sees them, so the only error is
the emulator's bfloat16 output (and bfloat16 intermediates without fp32 accumulation): a few
bfloat16 ulps (2^-8 relative each) on values of order 1-4, hence rtol = atol = 0.03.
"""

import contextlib

import pytest
import torch
from tttv2_hwconfig import ttnn

TOL = {"rtol": 0.03, "atol": 0.03}


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def to_dev(device, t, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, **kwargs):
    return ttnn.from_torch(t, dtype=dtype, layout=layout, device=device, **kwargs)


def first(t):
    """Device 0's data (replicated outputs are equal everywhere)."""
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).to(torch.float32)


def ref_rms(x, w=None, eps=1e-6):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if w is None else y * w


def ref_layer(x, w=None, b=None, eps=1e-5):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def hifi4(fp32=True):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=fp32)


needs_kernel_config = pytest.mark.skipif(
    not hasattr(ttnn, "WormholeComputeKernelConfig"),
    reason="WormholeComputeKernelConfig not in the emulator yet",
)


@pytest.mark.parametrize("rows", [1, 33, 77])
@pytest.mark.parametrize("weight_layout", [ttnn.ROW_MAJOR_LAYOUT, ttnn.TILE_LAYOUT])
def test_rms_norm_matches_torch(device, rows, weight_layout):
    dim = 96
    x, w = bf16(torch.randn(1, 1, rows, dim)), bf16(torch.rand(dim) + 0.5)
    weight = (
        w.reshape(1, 1, dim // 32, 32) if weight_layout == ttnn.ROW_MAJOR_LAYOUT else w.reshape(1, 1, 1, dim)
    )
    out = ttnn.rms_norm(to_dev(device, x), epsilon=1e-6, weight=to_dev(device, weight, layout=weight_layout))
    assert out.shape == x.shape and out.dtype == ttnn.bfloat16 and out.layout == ttnn.TILE_LAYOUT
    torch.testing.assert_close(first(out), ref_rms(x, w), **TOL)


def test_rms_norm_residual_is_added_first(device):
    x, r = bf16(torch.randn(1, 1, 33, 64)), bf16(torch.randn(1, 1, 33, 64))
    out = ttnn.rms_norm(to_dev(device, x), epsilon=1e-5, residual_input_tensor=to_dev(device, r))
    torch.testing.assert_close(first(out), ref_rms(x + r, eps=1e-5), **TOL)


@pytest.mark.parametrize("rows", [1, 33])
def test_layer_norm_with_bias_matches_torch(device, rows):
    dim = 64
    x = bf16(torch.randn(1, 1, rows, dim) * 3 + 1)
    w, b = bf16(torch.randn(dim)), bf16(torch.randn(dim))
    out = ttnn.layer_norm(
        to_dev(device, x),
        epsilon=1e-5,
        weight=to_dev(device, w.reshape(1, 1, 2, 32), layout=ttnn.ROW_MAJOR_LAYOUT),
        bias=to_dev(device, b.reshape(1, 1, 2, 32), layout=ttnn.ROW_MAJOR_LAYOUT),
    )
    torch.testing.assert_close(first(out), ref_layer(x, w, b), **TOL)


def test_fp32_accumulation_is_at_least_as_accurate(device):
    # Large offsets make the bfloat16 intermediate (x - mean) lossy; fp32 intermediates are not.
    x = bf16(torch.randn(1, 1, 32, 256) + 20.0)
    expected = ref_layer(x)
    errors = {}
    for fp32 in (False, True):
        out = ttnn.layer_norm(
            to_dev(device, x, dtype=ttnn.float32), epsilon=1e-5, compute_kernel_config=hifi4(fp32)
        )
        errors[fp32] = (first(out) - expected).abs().max().item()
    assert errors[True] <= errors[False]
    assert errors[True] < 1e-3  # float32 end to end


def test_norm_records_the_op(device):
    x = to_dev(device, torch.randn(1, 1, 32, 64))
    device.trace.clear()
    ttnn.rms_norm(x)
    (rec,) = device.trace.select("ttnn.rms_norm")
    assert rec.flops > 0 and rec.output_shapes == ((1, 1, 32, 64),)
    assert rec.math_fidelity == "HiFi4"  # TTNN's default for normalization without a kernel config


# --- sharded --------------------------------------------------------------------------------------


def width_sharded(device, x, cores):
    config = ttnn.create_sharded_memory_config(
        shape=(32, x.shape[-1] // cores),
        core_grid=ttnn.CoreGrid(x=cores, y=1),
        strategy=ttnn.ShardStrategy.WIDTH,
        use_height_and_width_as_shard_shape=True,
    )
    return to_dev(device, x, memory_config=config), config


def sharded_program(cores, block_w, subblock_w=1, block_h=1):
    return ttnn.LayerNormShardedMultiCoreProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(cores, 1),
        subblock_w=subblock_w,
        block_h=block_h,
        block_w=block_w,
        inplace=False,
    )


def test_sharded_rms_norm_matches_torch(device):
    x = bf16(torch.randn(1, 1, 8, 256))
    tx, config = width_sharded(device, x, cores=4)
    out = ttnn.rms_norm(
        tx, epsilon=1e-6, program_config=sharded_program(4, block_w=2, subblock_w=2), memory_config=config
    )
    assert out.memory_config() == config
    torch.testing.assert_close(first(out), ref_rms(x), **TOL)


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (dict(block_w=4), "block_w"),
        (dict(block_w=2, block_h=2), "block_h"),
        (dict(block_w=2, subblock_w=3), "subblock_w"),
    ],
)
def test_sharded_program_config_mismatch_names_the_field(device, program, message):
    tx, config = width_sharded(device, torch.randn(1, 1, 8, 256), cores=4)
    with pytest.raises(ValueError, match=rf"ttnn.rms_norm: program_config\.{message}"):
        ttnn.rms_norm(tx, program_config=sharded_program(4, **program), memory_config=config)


def test_subblock_limit_depends_on_fp32_accumulation(device):
    # 8 tiles fit the destination registers in bfloat16, only 4 with fp32 accumulation.
    tx, config = width_sharded(device, torch.randn(1, 1, 8, 512), cores=2)
    ttnn.rms_norm(tx, program_config=sharded_program(2, block_w=8, subblock_w=8), memory_config=config)
    with pytest.raises(ValueError, match="subblock_w=8 exceeds 4 tiles"):
        ttnn.rms_norm(
            tx,
            program_config=sharded_program(2, block_w=8, subblock_w=8),
            memory_config=config,
            compute_kernel_config=hifi4(fp32=True),
        )


def test_sharded_program_config_grid_outside_device(device):
    tx, config = width_sharded(device, torch.randn(1, 1, 8, 256), cores=4)
    grid = device.compute_with_storage_grid_size()
    program = ttnn.LayerNormShardedMultiCoreProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(grid.x + 1, 1),
        subblock_w=1,
        block_h=1,
        block_w=2,
        inplace=False,
    )
    with pytest.raises(ValueError, match="compute_with_storage_grid_size"):
        ttnn.rms_norm(tx, program_config=program, memory_config=config)


def test_sharded_program_config_needs_sharded_input(device):
    with pytest.raises(ValueError, match="needs a WIDTH_SHARDED or BLOCK_SHARDED input_tensor"):
        ttnn.rms_norm(to_dev(device, torch.randn(1, 1, 8, 256)), program_config=sharded_program(4, block_w=2))


def test_default_program_config_rejects_sharded_input(device):
    tx, _ = width_sharded(device, torch.randn(1, 1, 8, 256), cores=4)
    with pytest.raises(ValueError, match="LayerNormDefaultProgramConfig needs an interleaved"):
        ttnn.rms_norm(tx, program_config=ttnn.LayerNormDefaultProgramConfig())


def test_height_sharded_input_is_rejected(device):
    config = ttnn.create_sharded_memory_config(
        shape=(32, 64),
        core_grid=ttnn.CoreGrid(x=2, y=1),
        strategy=ttnn.ShardStrategy.HEIGHT,
        use_height_and_width_as_shard_shape=True,
    )
    with pytest.raises(ValueError, match="HEIGHT_SHARDED"):
        ttnn.rms_norm(to_dev(device, torch.randn(1, 1, 64, 64), memory_config=config))


# --- argument checks ------------------------------------------------------------------------------


def test_weight_of_wrong_width_names_weight(device):
    x = to_dev(device, torch.randn(1, 1, 32, 64))
    w = to_dev(device, torch.ones(1, 1, 3, 32), layout=ttnn.ROW_MAJOR_LAYOUT)
    with pytest.raises(ValueError, match=r"ttnn.rms_norm: weight .*holds 96 values"):
        ttnn.rms_norm(x, weight=w)


def test_block_float_tile_weight_is_accepted_row_major_int_is_not(device):
    # layernorm_device_operation.cpp checks the dtype of ROW_MAJOR gamma/beta only (FLOAT32 or BFLOAT16).
    x = to_dev(device, torch.randn(1, 1, 32, 64))
    ttnn.layer_norm(x, weight=to_dev(device, torch.ones(1, 1, 1, 64), dtype=ttnn.bfloat8_b))
    w = to_dev(
        device, torch.ones(1, 1, 2, 32, dtype=torch.int32), dtype=ttnn.int32, layout=ttnn.ROW_MAJOR_LAYOUT
    )
    with pytest.raises(ValueError, match="ttnn.layer_norm: weight dtype INT32"):
        ttnn.layer_norm(x, weight=w)


def test_row_major_input_is_rejected(device):
    with pytest.raises(ValueError, match="ttnn.rms_norm: input_tensor must be in TILE"):
        ttnn.rms_norm(to_dev(device, torch.randn(1, 1, 32, 64), layout=ttnn.ROW_MAJOR_LAYOUT))


def test_residual_shape_mismatch(device):
    with pytest.raises(ValueError, match="residual_input_tensor padded shape"):
        ttnn.rms_norm(
            to_dev(device, torch.randn(1, 1, 32, 64)),
            residual_input_tensor=to_dev(device, torch.randn(1, 1, 32, 96)),
        )


# --- distributed ----------------------------------------------------------------------------------


def test_pre_all_gather_stats_layout(device):
    # One tile column per statistic, the value in column 0: rms -> [sum x^2], layer -> [sum x^2, sum x].
    # Without fp32 accumulation the sums are rounded to bfloat16 (2^-8 relative): rtol 0.008.
    x = bf16(torch.randn(1, 1, 33, 64))
    rms_stats = first(ttnn.rms_norm_pre_all_gather(to_dev(device, x, dtype=ttnn.float32), dtype=ttnn.float32))
    layer_stats = first(
        ttnn.layer_norm_pre_all_gather(to_dev(device, x, dtype=ttnn.float32), dtype=ttnn.float32)
    )
    assert rms_stats.shape == (1, 1, 33, 32) and layer_stats.shape == (1, 1, 33, 64)
    torch.testing.assert_close(rms_stats[..., 0], x.pow(2).sum(-1), rtol=0.008, atol=1e-3)
    torch.testing.assert_close(layer_stats[..., 0], x.pow(2).sum(-1), rtol=0.008, atol=1e-3)
    torch.testing.assert_close(layer_stats[..., 32], x.sum(-1), rtol=0.008, atol=0.03)
    zero_columns = [c for c in range(64) if c not in (0, 32)]
    assert rms_stats[..., 1:].abs().max() == 0 and layer_stats[..., zero_columns].abs().max() == 0


@pytest.mark.parametrize("rms", [True, False], ids=["rms", "layer"])
def test_distributed_halves_in_shapes_only_mode(device, rms):
    """A shapes-only run (meta data) records both halves with the numeric run's shapes."""
    from tttv2_hwconfig import shapes_only

    pre = ttnn.rms_norm_pre_all_gather if rms else ttnn.layer_norm_pre_all_gather
    post = ttnn.rms_norm_post_all_gather if rms else ttnn.layer_norm_post_all_gather
    shapes = []
    for meta in (False, True):
        context = shapes_only() if meta else contextlib.nullcontext()
        with context:
            x = to_dev(device, torch.randn(1, 1, 32, 64))
            stats = pre(x)
            out = post(x, stats, epsilon=1e-5)
        assert out.shards[0].is_meta == meta
        shapes.append((tuple(stats.shape), tuple(out.shape)))
    assert shapes[0] == shapes[1]


def fractured_over(device, axis):
    """(mapper for a width-fractured x, mapper for the weight rows, number of slices) along ``axis``."""
    rows, cols = tuple(device.shape)
    if axis is None:
        return ttnn.ShardTensorToMesh(device, dim=3), ttnn.ShardTensorToMesh(device, dim=2), rows * cols
    dims = (3, None) if axis == 0 else (None, 3)
    wdims = (2, None) if axis == 0 else (None, 2)
    return (
        ttnn.ShardTensor2dMesh(device, mesh_shape=(rows, cols), dims=dims),
        ttnn.ShardTensor2dMesh(device, mesh_shape=(rows, cols), dims=wdims),
        rows if axis == 0 else cols,
    )


@pytest.mark.parametrize("rms", [True, False], ids=["rms", "layer"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_distributed_norm_equals_full_norm(device, rms, axis):
    x_mapper, w_mapper, parts = fractured_over(device, axis)
    dim = 64 * parts
    x, w = bf16(torch.randn(1, 1, 33, dim)), bf16(torch.rand(dim) + 0.5)
    tx = to_dev(device, x, mesh_mapper=x_mapper)
    tw = to_dev(device, w.reshape(1, 1, dim // 32, 32), layout=ttnn.ROW_MAJOR_LAYOUT, mesh_mapper=w_mapper)
    pre = ttnn.rms_norm_pre_all_gather if rms else ttnn.layer_norm_pre_all_gather
    post = ttnn.rms_norm_post_all_gather if rms else ttnn.layer_norm_post_all_gather
    stats = ttnn.all_gather(pre(tx), 3, cluster_axis=axis)
    out = post(tx, stats, epsilon=1e-5, weight=tw)
    expected = ref_rms(x, w, eps=1e-5) if rms else ref_layer(x, w, eps=1e-5)
    # Device d holds the slice of its index along the fractured axis.
    rows, cols = tuple(device.shape)
    for d, shard in enumerate(ttnn.get_device_tensors(out)):
        slot = d if axis is None else (d // cols if axis == 0 else d % cols)
        width = dim // parts
        torch.testing.assert_close(
            ttnn.to_torch(shard).float(),
            expected[..., slot * width : (slot + 1) * width],
            rtol=0.04,
            atol=0.04,
        )


def test_post_all_gather_checks_stats_width(device):
    x = to_dev(device, torch.randn(1, 1, 32, 64))
    bad_stats = to_dev(device, torch.randn(1, 1, 32, 48))
    with pytest.raises(ValueError, match="ttnn.layer_norm_post_all_gather: stats width 48"):
        ttnn.layer_norm_post_all_gather(x, bad_stats)
