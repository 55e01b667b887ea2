"""Element-wise ops against plain torch on the values the device tensors hold.

Tolerance: each op's float32 result is rounded once to bfloat16 (relative error <= 2**-9), so
rtol=2**-8 with a small atol for results near zero. Fused input activations add one more bfloat16
rounding of the activated operand (the destination register), hence rtol=2**-7 there.
"""

import pytest
import torch
import torch.nn.functional as F
from tttv2_hwconfig import ttnn

RTOL, ATOL = 2**-8, 1e-3


def upload(t, device, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, memory_config=None):
    return ttnn.from_torch(t, dtype=dtype, layout=layout, device=device, memory_config=memory_config)


def values(t):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).to(torch.float64)


def assert_matches(expected, actual, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(actual.to(torch.float64), expected.to(torch.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "op, fn",
    [
        (ttnn.add, torch.add),
        (ttnn.sub, torch.sub),
        (ttnn.subtract, torch.sub),
        (ttnn.mul, torch.mul),
        (ttnn.multiply, torch.mul),
    ],
)
@pytest.mark.parametrize("b_shape", [(1, 1, 33, 64), (1, 1, 1, 64), (1, 1, 33, 1), (64,)])
def test_binary_with_broadcasting(device, op, fn, b_shape):
    a, b = upload(torch.randn(1, 1, 33, 64), device), upload(torch.randn(b_shape), device)
    out = op(a, b)
    assert tuple(out.shape) == (1, 1, 33, 64)
    assert out.dtype == ttnn.bfloat16
    assert_matches(fn(values(a), values(b)), values(out))


def test_scalar_operands(device):
    a = upload(torch.randn(1, 1, 32, 64), device)
    assert_matches(values(a) + 0.5, values(ttnn.add(a, 0.5)))
    assert_matches(2.0 - values(a), values(ttnn.sub(2.0, a)))
    assert_matches(values(a) * 3, values(ttnn.mul(a, 3)))
    # Tensor operators; two ops, so the reference rounds the intermediate product to bfloat16 too.
    square = (values(a) * values(a)).to(torch.bfloat16).double()
    assert_matches(square + values(a), values(a * a + a))


def test_fused_activations(device):
    gate, up = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(1, 1, 32, 64), device)
    out = ttnn.mul(gate, up, input_tensor_a_activations=[ttnn.UnaryOpType.SILU])
    assert_matches(F.silu(values(gate)) * values(up), values(out), rtol=2**-7)
    out = ttnn.add(gate, up, activations=[ttnn.UnaryWithParam(ttnn.UnaryOpType.RELU)])
    assert_matches(torch.relu(values(gate) + values(up)), values(out))
    out = ttnn.mul(
        gate, up, input_tensor_b_activations=[ttnn.UnaryOpType.GELU_TANH], activations=[ttnn.UnaryOpType.NEG]
    )
    assert_matches(-(values(gate) * F.gelu(values(up), approximate="tanh")), values(out), rtol=2**-7)


def test_output_dtype_and_memory_config(device):
    a, b = upload(torch.randn(1, 1, 32, 64), device), upload(torch.randn(1, 1, 32, 64), device)
    out = ttnn.mul(a, b, dtype=ttnn.bfloat8_b, memory_config=ttnn.L1_MEMORY_CONFIG)
    assert out.dtype == ttnn.bfloat8_b and out.memory_config() == ttnn.L1_MEMORY_CONFIG
    assert_matches(
        values(a) * values(b), values(out), rtol=2**-6, atol=2**-6 * values(a * b).abs().max().item()
    )
    grid = ttnn.num_cores_to_corerangeset(2, device.compute_with_storage_grid_size(), row_wise=True)
    sharded = ttnn.create_sharded_memory_config(
        (32, 32), grid, ttnn.ShardStrategy.WIDTH, use_height_and_width_as_shard_shape=True
    )
    a_sharded = ttnn.to_memory_config(a, sharded)
    assert (
        ttnn.add(a_sharded, a_sharded).memory_config() == sharded
    )  # output inherits input_tensor_a's config


def test_output_tensor(device):
    a = upload(torch.randn(1, 1, 32, 64), device)
    target = upload(torch.zeros(1, 1, 32, 64), device)
    result = ttnn.add(a, a, output_tensor=target)
    assert result is target
    assert_matches(2 * values(a), values(target))


UNARY = [
    (ttnn.silu, F.silu, {}),
    (ttnn.gelu, F.gelu, {}),
    (ttnn.gelu, lambda x: F.gelu(x, approximate="tanh"), {"fast_and_approximate_mode": True}),
    (ttnn.relu, torch.relu, {}),
    (ttnn.exp, torch.exp, {}),
    (ttnn.neg, torch.neg, {}),
    (ttnn.tanh, torch.tanh, {}),
    (ttnn.sigmoid, torch.sigmoid, {}),
]


@pytest.mark.parametrize("op, fn, kwargs", UNARY, ids=lambda v: getattr(v, "__name__", ""))
def test_unary(device, op, fn, kwargs):
    a = upload(torch.randn(1, 1, 33, 70), device)
    out = op(a, **kwargs)
    assert tuple(out.shape) == (1, 1, 33, 70)
    assert_matches(fn(values(a)), values(out))


@pytest.mark.parametrize(
    "op, fn", [(ttnn.rsqrt, torch.rsqrt), (ttnn.sqrt, torch.sqrt), (ttnn.reciprocal, torch.reciprocal)]
)
def test_unary_positive_domain(device, op, fn):
    a = upload(torch.rand(1, 1, 32, 64) + 0.1, device)
    assert_matches(fn(values(a)), values(op(a)))


def test_softmax(device):
    a = upload(torch.randn(1, 2, 33, 77) * 3, device)
    assert_matches(torch.softmax(values(a), dim=-1), values(ttnn.softmax(a, dim=-1)))
    assert_matches(torch.softmax(values(a), dim=2), values(ttnn.softmax(a, 2)))


def test_reductions(device):
    a = upload(torch.randn(1, 2, 32, 64), device, dtype=ttnn.float32)
    assert_matches(values(a).sum(-1, keepdim=True), values(ttnn.sum(a, dim=-1, keepdim=True)), rtol=1e-6)
    assert_matches(values(a).mean((2, 3)), values(ttnn.mean(a, dim=[2, 3])), rtol=1e-6)
    assert_matches(values(a).sum().reshape(1) * 0.5, values(ttnn.sum(a, scalar=0.5)), rtol=1e-6, atol=1e-5)


def test_mesh_shards_computed_per_device(device):
    n = device.get_num_devices()
    x = torch.randn(1, 1, 32, 32 * n)
    a = ttnn.from_torch(
        x,
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        mesh_mapper=ttnn.ShardTensorToMesh(device, dim=-1),
    )
    out = ttnn.to_torch(ttnn.silu(a), mesh_composer=ttnn.ConcatMeshToTensor(device, dim=-1))
    assert_matches(F.silu(x.to(torch.bfloat16).double()), out.double())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda a, b: ttnn.add(a, upload(torch.randn(1, 1, 32, 48), a.device())),
            ValueError,
            "ttnn.add: shapes .* cannot be broadcast",
        ),
        (
            lambda a, b: ttnn.mul(2.0, 3.0),
            TypeError,
            "ttnn.mul: at least one of input_tensor_a / input_tensor_b",
        ),
        (
            lambda a, b: ttnn.mul(a, "x"),
            TypeError,
            "ttnn.mul: input_tensor_b must be a ttnn.Tensor or a number",
        ),
        (
            lambda a, b: ttnn.sigmoid(b),
            ValueError,
            "ttnn.sigmoid: input_tensor dtype must be one of \\['BFLOAT16'\\], got FLOAT32",
        ),
        (
            lambda a, b: ttnn.mul(a, a, input_tensor_a_activations=["silu"]),
            TypeError,
            "ttnn.mul: input_tensor_a_activations\\[0\\] must be",
        ),
        (lambda a, b: ttnn.softmax(a, dim=4), ValueError, "ttnn.softmax: dim must be an int in \\[-4, 3\\]"),
        (
            lambda a, b: ttnn.add(a, ttnn.from_torch(torch.randn(1, 1, 32, 64))),
            ValueError,
            "ttnn.add: input_tensor_b must be on device",
        ),
        (
            lambda a, b: ttnn.add(a, a, memory_config="L1"),
            TypeError,
            "ttnn.add: memory_config must be a ttnn.MemoryConfig",
        ),
    ],
)
def test_errors_name_op_and_argument(device, call, error, message):
    a = upload(torch.randn(1, 1, 32, 64), device)
    b = upload(torch.randn(1, 1, 32, 64), device, dtype=ttnn.float32)
    with pytest.raises(error, match=message):
        call(a, b)
