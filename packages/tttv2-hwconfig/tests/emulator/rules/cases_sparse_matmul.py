"""ttnn.sparse_matmul rule cases (matmul/device/sparse/sparse_matmul_device_operation.cpp:
validate_on_program_cache_miss; its mcast-1D program factory; the 0.81.1 docstring).

``call(d, ...)`` is a valid default-mode call (A ``[1, 2, 32, 64]``, B ``[1, 4, 64, 64]``, sparsity
``[1, 2, 1, 4]``, a 2-core 1D program config) with one argument swapped; every case breaks
exactly the rule it names. The controls check the values against per-pair torch matmuls.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import open_device, ttnn

OP = "ttnn.sparse_matmul"
RM, TILE = ttnn.ROW_MAJOR_LAYOUT, ttnn.TILE_LAYOUT
HEIGHT = ttnn.TensorMemoryLayout.HEIGHT_SHARDED
A_SHAPE, B_SHAPE, S_SHAPE = (1, 2, 32, 64), (1, 4, 64, 64), (1, 2, 1, 4)
PATTERN = torch.tensor([1.0, 0.0, 0.5, 0.0, 0.0, 2.0, 0.0, 1.0])  # 4 active pairs of 8


def config(**overrides):
    fields = dict(
        compute_with_storage_grid_size=ttnn.CoreCoord(2, 1),
        in0_block_w=2,
        out_subblock_h=1,
        out_subblock_w=1,
        per_core_M=1,
        per_core_N=1,
        fuse_batch=False,
        mcast_in0=True,
    )
    fields.update(overrides)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(**fields)


def sparsity(d, shape=S_SHAPE, *, data=None, dtype=ttnn.bfloat16, layout=RM):
    volume = int(torch.tensor(shape).prod())
    if data is None:
        data = PATTERN[:volume] if volume <= PATTERN.numel() else torch.ones(volume)
    return ttnn.from_torch(data.reshape(shape), dtype=dtype, layout=layout, device=d)


def call(d, *, a=None, b=None, s=None, pc=None, **kwargs):
    a = a if a is not None else dev(d, A_SHAPE)
    b = b if b is not None else dev(d, B_SHAPE)
    s = s if s is not None else sparsity(d)
    return ttnn.sparse_matmul(a, b, sparsity=s, program_config=pc or config(), **kwargs)


def host(shape):
    return ttnn.from_torch(torch.randn(shape), dtype=ttnn.bfloat16, layout=TILE)


def on_other_device(d):
    with open_device("N150") as other:
        return call(d, b=dev(other, B_SHAPE))


HIFI4 = dict(
    compute_kernel_config=ttnn.WormholeComputeKernelConfig(
        math_fidelity=ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=True
    ),
    dtype=ttnn.float32,
)


def _torch(t):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).float()


def default_mode_values(d, **kwargs):
    """out[i, j, 0, e] = A[i, j] @ B[0, e] where sparsity[i, j, 0, e] != 0, exact zeros elsewhere."""
    a_data, b_data = torch.randn(A_SHAPE), torch.randn(B_SHAPE)
    a, b = dev(d, A_SHAPE, data=a_data), dev(d, B_SHAPE, data=b_data)
    out = call(d, a=a, b=b, **HIFI4, **kwargs)
    assert tuple(out.shape) == (1, 2, 1, 4, 32, 64) and out.layout == TILE
    got, mask = _torch(out), PATTERN.reshape(2, 4)
    a_bf, b_bf = a_data.bfloat16().float(), b_data.bfloat16().float()
    for j in range(2):
        for e in range(4):
            expected = a_bf[0, j] @ b_bf[0, e] if mask[j, e] else torch.zeros(32, 64)
            torch.testing.assert_close(got[0, j, 0, e], expected, rtol=1e-5, atol=1e-4)
    return out


def both_sparse_values(d):
    """out[0, e] = A[0, e] @ B[0, e] where sparsity[0, 0, 0, e] != 0."""
    a_data, b_data = torch.randn(1, 4, 32, 64), torch.randn(B_SHAPE)
    mask = torch.tensor([0.0, 1.0, 1.0, 0.0])
    out = call(
        d,
        a=dev(d, (1, 4, 32, 64), data=a_data),
        b=dev(d, B_SHAPE, data=b_data),
        s=sparsity(d, (1, 1, 1, 4), data=mask),
        is_input_a_sparse=True,
        nnz=2,
        **HIFI4,
    )
    got = _torch(out)
    assert tuple(out.shape) == (1, 4, 32, 64)
    for e in range(4):
        expected = (
            a_data.bfloat16().float()[0, e] @ b_data.bfloat16().float()[0, e] if mask[e] else 0 * got[0, e]
        )
        torch.testing.assert_close(got[0, e], expected, rtol=1e-5, atol=1e-4)


def a_sparse_values(d):
    """is_input_b_sparse=False: out[i, e] = A[i, e] @ B[0, e] where sparsity[0, 0, i, e] != 0."""
    a_data, b_data = torch.randn(3, 4, 32, 64), torch.randn(B_SHAPE)
    mask = (torch.arange(12) % 3 == 0).float().reshape(1, 1, 3, 4)
    out = call(
        d,
        a=dev(d, (3, 4, 32, 64), data=a_data),
        b=dev(d, B_SHAPE, data=b_data),
        s=sparsity(d, (1, 1, 3, 4), data=mask),
        is_input_a_sparse=True,
        is_input_b_sparse=False,
        **HIFI4,
    )
    got = _torch(out)
    assert tuple(out.shape) == (3, 4, 32, 64)
    for i in range(3):
        for e in range(4):
            expected = a_data.bfloat16().float()[i, e] @ b_data.bfloat16().float()[0, e]
            torch.testing.assert_close(
                got[i, e], expected if mask[0, 0, i, e] else 0 * expected, rtol=1e-5, atol=1e-4
            )


def into_preallocated(d):
    out = dev(d, (1, 2, 1, 4, 32, 64), data=torch.full((1, 2, 1, 4, 32, 64), 7.0), dtype=ttnn.float32)
    assert default_mode_values(d, optional_output_tensor=out) is out


def skipped_pairs_are_zero_despite_inf(d):
    a_data = torch.randn(A_SHAPE)
    a_data[0, 1] = float("inf")  # pair row 1 is active only for expert 1 and 3
    out = _torch(call(d, a=dev(d, A_SHAPE, data=a_data)))
    assert torch.all(out[0, 1, 0, 0] == 0) and torch.all(out[0, 1, 0, 2] == 0)


def negative_zero_is_active(d):
    """The reader tests raw bfloat16 bits: -0.0 (0x8000) computes its pair, +0.0 skips it."""
    mask = torch.tensor([-0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).reshape(S_SHAPE)
    a_data, b_data = torch.randn(A_SHAPE), torch.randn(B_SHAPE)
    out = call(
        d, a=dev(d, A_SHAPE, data=a_data), b=dev(d, B_SHAPE, data=b_data), s=sparsity(d, data=mask), nnz=1
    )
    got = _torch(out)
    assert torch.count_nonzero(got[0, 0, 0, 0]) > 0
    assert all(torch.all(got[0, j, 0, e] == 0) for j in range(2) for e in range(4) if (j, e) != (0, 0))


CASES = [
    Case("sparse_matmul.on_device", lambda d: call(d, a=host(A_SHAPE))),
    Case("sparse_matmul.same_device", on_other_device),
    Case("sparse_matmul.a_tile", lambda d: call(d, a=dev(d, A_SHAPE, layout=RM))),
    Case("sparse_matmul.b_tile", lambda d: call(d, b=dev(d, B_SHAPE, layout=RM))),
    Case(
        "sparse_matmul.a_float",
        lambda d: call(d, a=dev(d, A_SHAPE, data=torch.ones(A_SHAPE), dtype=ttnn.uint32)),
    ),
    Case(
        "sparse_matmul.b_float",
        lambda d: call(d, b=dev(d, B_SHAPE, data=torch.ones(B_SHAPE), dtype=ttnn.int32)),
    ),
    Case("sparse_matmul.sparsity_row_major", lambda d: call(d, s=sparsity(d, layout=TILE))),
    Case("sparse_matmul.one_sparse", lambda d: call(d, is_input_b_sparse=False)),
    Case("sparse_matmul.sparsity_dtype", lambda d: call(d, s=sparsity(d, dtype=ttnn.float32))),
    Case("sparse_matmul.rank4", lambda d: call(d, a=dev(d, (2, 32, 64)))),
    Case("sparse_matmul.rank4", lambda d: call(d, s=sparsity(d, (2, 4))), name="sparsity"),
    Case(
        "sparse_matmul.interleaved",
        lambda d: call(d, a=dev(d, A_SHAPE, memory_config=sharded((64, 64), (1, 1), HEIGHT))),
    ),
    Case(
        "sparse_matmul.interleaved",
        lambda d: call(d, memory_config=sharded((256, 64), (1, 1), HEIGHT)),
        name="output",
    ),
    Case("sparse_matmul.inner_dims", lambda d: call(d, b=dev(d, (1, 4, 96, 64)))),
    Case("sparse_matmul.nnz_positive", lambda d: call(d, nnz=0)),
    Case("sparse_matmul.sparsity_volume", lambda d: call(d, s=sparsity(d, (1, 2, 1, 3)))),
    Case("sparse_matmul.nnz_le_batch", lambda d: call(d, nnz=9)),
    Case("sparse_matmul.mode_shapes", lambda d: call(d, b=dev(d, (2, 2, 64, 64)))),
    Case(
        "sparse_matmul.mode_shapes",
        lambda d: call(d, a=dev(d, (1, 2, 32, 64)), s=sparsity(d, (1, 1, 1, 4)), is_input_a_sparse=True),
        name="both_sparse_a_batch",
    ),
    Case("sparse_matmul.sparsity_last_dim", lambda d: call(d, s=sparsity(d, (1, 2, 4, 1)))),
    Case(
        "sparse_matmul.program_config_1d",
        lambda d: call(
            d,
            pc=ttnn.MatmulMultiCoreReuseProgramConfig(
                compute_with_storage_grid_size=ttnn.CoreCoord(2, 1),
                in0_block_w=2,
                out_subblock_h=1,
                out_subblock_w=1,
                per_core_M=1,
                per_core_N=1,
            ),
        ),
    ),
    Case("sparse_matmul.subblocks_nonzero", lambda d: call(d, pc=config(out_subblock_w=0))),
    Case("sparse_matmul.blocks_nonzero", lambda d: call(d, pc=config(out_block_w=0))),
    Case(
        "sparse_matmul.out_block_w_subblock",
        lambda d: call(d, pc=config(per_core_N=3, out_block_w=3, out_subblock_w=2)),
    ),
    Case("sparse_matmul.out_block_h_subblock", lambda d: call(d, pc=config(out_subblock_h=2))),
    Case("sparse_matmul.per_core_m_block", lambda d: call(d, pc=config(out_block_h=2))),
    Case("sparse_matmul.per_core_n_block", lambda d: call(d, pc=config(out_block_w=2))),
    Case(
        "sparse_matmul.subblock_fits_dest",
        lambda d: call(d, pc=config(per_core_M=3, per_core_N=3, out_subblock_h=3, out_subblock_w=3)),
    ),
    Case(
        "sparse_matmul.subblock_fits_dest",
        lambda d: call(d, pc=config(per_core_N=5, out_subblock_w=5), **HIFI4),
        name="fp32_acc",
    ),
    Case("sparse_matmul.kt_in0_block_w", lambda d: call(d, pc=config(in0_block_w=3))),
    Case(
        "sparse_matmul.grid_fits_device",
        lambda d: call(d, pc=config(compute_with_storage_grid_size=ttnn.CoreCoord(100, 1))),
    ),
    Case(
        "sparse_matmul.blocks_fit_grid",
        lambda d: call(d, pc=config(compute_with_storage_grid_size=ttnn.CoreCoord(1, 1))),
    ),
    Case("sparse_matmul.mcast_in0", lambda d: call(d, pc=config(mcast_in0=False))),
    Case(
        "sparse_matmul.rectangular_cores",
        lambda d: call(
            d,
            b=dev(d, (1, 4, 64, 96)),
            pc=config(compute_with_storage_grid_size=ttnn.CoreCoord(2, 2)),
        ),
    ),
    Case(
        "sparse_matmul.optional_output_shape",
        lambda d: call(d, optional_output_tensor=dev(d, (1, 2, 4, 32, 64))),
    ),
    Case("sparse_matmul.nnz_exact", lambda d: call(d, nnz=3)),
    Case("sparse_matmul.nnz_exact", lambda d: call(d, nnz=5), name="more"),
]

CONTROLS = [
    Control(OP, default_mode_values),
    Control(OP, lambda d: default_mode_values(d, nnz=4), name="exact_nnz"),
    Control(OP, both_sparse_values, name="a_and_b_sparse"),
    Control(OP, a_sparse_values, name="a_sparse_only"),
    Control(OP, into_preallocated, name="optional_output_tensor"),
    Control(OP, skipped_pairs_are_zero_despite_inf, name="skipped_pairs_zero"),
    Control(OP, negative_zero_is_active, name="negative_zero_active"),
    Control(
        OP,
        lambda d: call(
            d, b=dev(d, (1, 4, 64, 128)), pc=config(compute_with_storage_grid_size=ttnn.CoreCoord(2, 2))
        ),
        name="rectangle_2x2",
    ),
]
