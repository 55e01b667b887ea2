"""Derived matmul program configs: they pass tt-metal's rules and compute the right product on the device.

Reference: float64 torch product of the values the device tensors hold; the matmul runs at HiFi4 with
bfloat16 operands (exact products), so the only error is the final bfloat16 rounding (rtol 2**-8).
"""

import pytest
import torch
from tttv2_blocks import program_configs as pcs
from tttv2_hwconfig import ttnn

SHAPES = [(1, 64, 96), (32, 576, 1536), (33, 64, 96), (77, 576, 1536), (32, 1536, 576), (512, 256, 512)]


def run(device, m, k, n, pc, *, a_memory_config=None, w_memory_config=None, out_memory_config=None):
    x, w = torch.randn(1, 1, m, k), torch.randn(k, n)
    a = ttnn.from_torch(
        x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=a_memory_config
    )
    tw = ttnn.from_torch(
        w, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=w_memory_config
    )
    kernel = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4)
    out = ttnn.linear(a, tw, program_config=pc, compute_kernel_config=kernel, memory_config=out_memory_config)
    expected = x.to(torch.bfloat16).double() @ w.to(torch.bfloat16).double()
    actual = ttnn.to_torch(ttnn.get_device_tensors(out)[0]).double()
    torch.testing.assert_close(actual, expected, rtol=2**-8, atol=1e-2)


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("derive", [pcs.matmul_config, pcs.matmul_1d_config, pcs.matmul_2d_config])
def test_derived_configs_validate_and_compute(device, derive, m, k, n):
    grid = device.compute_with_storage_grid_size()
    pc = derive(m, k, n, grid)
    pcs.check_matmul_config("test", pc, m, k, n, grid)
    run(device, m, k, n, pc)


@pytest.mark.parametrize("m, k, n", [(32, 576, 1536), (1, 1536, 576), (32, 256, 96)])
def test_dram_sharded_decode_config(device, m, k, n):
    grid = device.compute_with_storage_grid_size()
    cores = pcs.dram_sharded_num_cores(k, n, grid)
    assert pcs.tiles(k) % cores == 0 and pcs.tiles(n) % cores == 0 and cores <= grid.x * grid.y
    pc = pcs.dram_sharded_config(m, k, n, grid)
    pcs.check_matmul_config("test", pc, m, k, n, grid)
    run(
        device,
        m,
        k,
        n,
        pc,
        a_memory_config=pcs.width_sharded_activation_memory_config(m, k, cores, grid),
        w_memory_config=pcs.dram_sharded_weight_memory_config(k, n, device),
        out_memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG,
    )


def test_shape_picks_1d_or_2d(device):
    grid = device.compute_with_storage_grid_size()
    assert isinstance(
        pcs.matmul_config(32, 4096, 14336, grid), ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig
    )
    assert isinstance(
        pcs.matmul_config(77, 4096, 14336, grid), ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig
    )
    assert isinstance(
        pcs.matmul_config(2048, 4096, 4096, grid), ttnn.MatmulMultiCoreReuseMultiCastProgramConfig
    )


@pytest.mark.parametrize("fp32", [False, True])
def test_subblocks_fit_destination_registers(device, fp32):
    grid = device.compute_with_storage_grid_size()
    for m, k, n in [(32, 512, 8192), (2048, 512, 8192), (256, 256, 256)]:
        pc = pcs.matmul_config(m, k, n, grid, fp32_dest_acc_en=fp32)
        assert pc.out_subblock_h * pc.out_subblock_w <= (4 if fp32 else 8)
        pcs.check_matmul_config("test", pc, m, k, n, grid, fp32_dest_acc_en=fp32)


def test_fused_activation_is_carried(device):
    pc = pcs.matmul_1d_config(
        32, 64, 64, device.compute_with_storage_grid_size(), fused_activation=ttnn.UnaryOpType.SILU
    )
    assert pc.fused_activation == ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"in0_block_w": 5}, "in0_block_w \\(5\\) must divide K \\(18 tiles\\)"),
        ({"compute_with_storage_grid_size": ttnn.CoreCoord(99, 1)}, "outside the device grid"),
        ({"out_subblock_h": 2, "out_subblock_w": 6}, "destination tiles"),
        (
            {
                "per_core_N": 1,
                "out_block_w": 1,
                "out_subblock_w": 1,
                "compute_with_storage_grid_size": ttnn.CoreCoord(1, 1),
            },
            "exceed",
        ),
    ],
)
def test_check_names_the_field_path(device, change, message):
    grid = device.compute_with_storage_grid_size()
    pc = pcs.matmul_1d_config(32, 576, 1536, grid)
    for field, value in change.items():
        setattr(pc, field, value)
    with pytest.raises(ValueError, match=f"ffn.up_proj.decode_program_config: .*{message}"):
        pcs.check_matmul_config("ffn.up_proj.decode_program_config", pc, 32, 576, 1536, grid)


def test_dram_sharded_needs_one_tile_row(device):
    grid = device.compute_with_storage_grid_size()
    with pytest.raises(ValueError, match="at most one tile row"):
        pcs.dram_sharded_config(64, 576, 1536, grid)
    pc = pcs.dram_sharded_config(32, 576, 1536, grid)
    with pytest.raises(ValueError, match="lm_head: .*M must be one tile row"):
        pcs.check_matmul_config("lm_head", pc, 64, 576, 1536, grid)


def test_helpers():
    assert [pcs.tiles(n) for n in (1, 32, 33, 77)] == [1, 1, 2, 3]
    assert pcs.largest_divisor(18, 8) == 6 and pcs.largest_divisor(17, 8) == 1
    assert pcs.is_narrow(32, 1024) and not pcs.is_narrow(1024, 1024)


# Llama decode matmuls (hidden -> fused QKV, hidden -> FFN, FFN -> hidden, per-device widths on a mesh).
DECODE_SHAPES = [
    (2048, 3072),
    (3072, 8192),
    (8192, 3072),
    (4096, 14336 // 8),
    (14336 // 8, 4096),
    (8192, 1280),
]


@pytest.mark.parametrize("device_name", ["N150", "N300", "T3K", "TG", "P100", "P150", "P300", "P150x4"])
def test_dram_sharded_configs_fit_every_catalog_device(device_name):
    """The derived DRAM-sharded configs pass every matmul rule and fit L1 (the emulator's checks) on each device.

    Weights are bfloat16, whose circular buffers are larger than decode's bfloat8_b ones, so fitting here
    implies fitting there; values are not compared (test_dram_sharded_decode_config does).
    """
    from tttv2_hwconfig import open_device

    with open_device(device_name) as device:
        grid = device.compute_with_storage_grid_size()
        for k, n in DECODE_SHAPES:
            cores = pcs.dram_sharded_num_cores(k, n, grid)
            pc = pcs.dram_sharded_config(32, k, n, grid)
            assert cores <= pcs.DRAM_SHARDED_MAX_CORES and pc.in0_block_w <= pcs.DRAM_SHARDED_MAX_IN0_BLOCK_W
            assert (pcs.tiles(k) // cores) % pc.in0_block_w == 0
            a = ttnn.from_torch(
                torch.zeros(1, 1, 32, k),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=device,
                memory_config=pcs.width_sharded_activation_memory_config(32, k, cores, grid),
            )
            w = ttnn.from_torch(
                torch.zeros(k, n),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=device,
                memory_config=pcs.dram_sharded_weight_memory_config(k, n, device),
            )
            ttnn.linear(a, w, program_config=pc, memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG)
            ttnn.deallocate(a)
            ttnn.deallocate(w)


def test_dram_sharded_config_refuses_uneven_k():
    grid = ttnn.CoreCoord(8, 8)
    with pytest.raises(ValueError, match="must split evenly over num_cores=3"):
        pcs.dram_sharded_config(32, 256, 96, grid, num_cores=3)


@pytest.mark.parametrize("m, k, n", SHAPES + [(1000, 64, 96), (32, 64, 32 * 71)])
@pytest.mark.parametrize("fp32", [False, True])
def test_sparse_matmul_config_validates_and_computes(device, m, k, n, fp32):
    """The derived sparse config passes ttnn.sparse_matmul's rules (rectangular core set, blocks,
    subblocks) and computes each routed pair; a skipped pair is zero."""
    grid = device.compute_with_storage_grid_size()
    pc = pcs.sparse_matmul_config(m, k, n, grid, fp32_dest_acc_en=fp32)
    assert pc.out_block_h <= pcs.SPARSE_MAX_OUT_BLOCK_H and pc.per_core_M == pcs.tiles(m)
    x, w = torch.randn(1, 1, m, k), torch.randn(1, 2, k, n)
    kernel = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=fp32)
    out = ttnn.sparse_matmul(
        ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device),
        ttnn.from_torch(w, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device),
        sparsity=ttnn.from_torch(torch.tensor([[[[0.0, 1.0]]]]), dtype=ttnn.bfloat16, device=device),
        program_config=pc,
        compute_kernel_config=kernel,
    )
    actual = ttnn.to_torch(ttnn.get_device_tensors(out)[0]).double()  # (1, 1, 1, 2, m, n)
    expected = x.to(torch.bfloat16).double()[0, 0] @ w.to(torch.bfloat16).double()[0, 1]
    torch.testing.assert_close(actual[0, 0, 0, 1], expected, rtol=2**-8, atol=1e-2)
    assert torch.all(actual[0, 0, 0, 0] == 0)
