"""The emulator's data-format conversions equal the real ttnn 0.81.1 host conversions, bit for bit.

Reference: ``ttnn.to_torch(ttnn.from_torch(x, dtype=..., layout=...))`` of the real wheel (mocked
n150 cluster, see conftest). Threshold: none -- float32 bit patterns (``.view(torch.int32)``) must
be identical, NaN payloads and signed zeros included, because the emulator claims bit-exactness.
"""

import importlib.metadata

import pytest

ttnn = pytest.importorskip("ttnn", reason="conformance needs the real ttnn==0.81.1 wheel (python3.12)")
torch = pytest.importorskip("torch")

from tttv2_hwconfig import emulator  # noqa: E402
from tttv2_hwconfig.emulator import _numerics  # noqa: E402

REAL_TTNN_VERSION = "0.81.1"
if importlib.metadata.version("ttnn") != REAL_TTNN_VERSION:
    pytest.skip(f"conformance is pinned to ttnn=={REAL_TTNN_VERSION}", allow_module_level=True)

FLOAT_FORMATS = ("bfloat16", "bfloat8_b", "bfloat4_b")
MANTISSA_BITS = {"bfloat8_b": 7, "bfloat4_b": 3}
SHAPES = [(70,), (3, 5), (1, 70), (32, 32), (1, 1, 33, 77), (2, 1, 64, 96), (2, 3, 17, 40), (5, 1, 31, 33)]
SCALES = [1e-8, 1e-4, 1.0, 1e4, 1e8]


def _from_bits(bits: "torch.Tensor") -> "torch.Tensor":
    bits = torch.where(bits >= 2**31, bits - 2**32, bits)
    return bits.to(torch.int32).view(torch.float32)


def _crafted_bits(rows: int, seed: int, with_inf_nan: bool) -> "torch.Tensor":
    """Rows of 64 floats built from bit fields: groups of 16 share a random top exponent, the
    others sit 0..40 binades below it, mantissas often have only a few high bits set (to hit exact
    rounding ties), plus zeros, -0, denormals and optionally inf/NaN."""
    g = torch.Generator().manual_seed(seed)
    shape = (rows, 4, 16)
    top = torch.randint(1, 255, (rows, 4, 1), generator=g)
    below = torch.randint(0, 12, shape, generator=g) * (torch.rand(shape, generator=g) < 0.7)
    below = below + torch.randint(0, 30, shape, generator=g) * (torch.rand(shape, generator=g) < 0.1)
    exponent = (top - below).clamp(min=0)
    fraction = torch.randint(0, 1 << 23, shape, generator=g)
    kept_bits = torch.randint(0, 24, shape, generator=g)
    high_bits_only = fraction & (((1 << 23) - 1) ^ ((1 << (23 - kept_bits.clamp(max=23))) - 1))
    fraction = torch.where(torch.rand(shape, generator=g) < 0.5, high_bits_only, fraction)
    sign = torch.randint(0, 2, shape, generator=g)
    bits = (sign << 31) | (exponent << 23) | fraction
    pick = torch.rand(shape, generator=g)
    bits = torch.where(pick < 0.03, torch.zeros_like(bits), bits)
    bits = torch.where((pick >= 0.03) & (pick < 0.05), sign << 31, bits)
    if with_inf_nan:
        bits = torch.where((pick >= 0.05) & (pick < 0.055), (sign << 31) | (0xFF << 23), bits)
        bits = torch.where(
            (pick >= 0.055) & (pick < 0.06), (sign << 31) | (0xFF << 23) | fraction.clamp(min=1), bits
        )
    return _from_bits(bits.reshape(rows, 64))


def _ties(mantissa_bits: int, rows: int, seed: int) -> "torch.Tensor":
    """Each 16-group has max in [1, 2) and members exactly halfway between two representable
    block-float values (or halfway plus/minus one float32 ulp)."""
    g = torch.Generator().manual_seed(seed)
    step = 2.0 ** (1 - mantissa_bits)
    k = torch.randint(0, 2**mantissa_bits - 1, (rows, 64), generator=g).to(torch.float32)
    x = (k + 0.5) * step
    nudge = torch.randint(-1, 2, (rows, 64), generator=g).to(torch.int32)
    x = (x.view(torch.int32) + nudge).view(torch.float32)
    x[:, ::16] = 1.0 + torch.rand(rows, 4, generator=g) * (1 - step)
    sign = torch.where(torch.rand(rows, 64, generator=g) < 0.5, -1.0, 1.0)
    return x * sign


def _bfloat16_ties(rows: int, seed: int) -> "torch.Tensor":
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 2**7, (rows, 64), generator=g).to(torch.float32)
    exponent = torch.randint(-30, 30, (rows, 64), generator=g).to(torch.float32)
    return (1.0 + (k + 0.5) * 2.0**-7) * torch.exp2(exponent)


def _cases() -> list[tuple[str, "torch.Tensor"]]:
    g = torch.Generator().manual_seed(2024)
    cases = []
    for shape in SHAPES:
        name = "x".join(map(str, shape))
        for scale in SCALES:
            cases.append((f"randn{scale:g}-{name}", torch.randn(shape, generator=g) * scale))
    cases.append(("zeros", torch.zeros(3, 50)))
    cases.append(("negative-zeros", -torch.zeros(3, 50)))
    cases.append(("all-negative", -torch.rand(2, 1, 40, 70, generator=g) * 3))
    cases.append(("denormals-1e-40", torch.full((2, 40), 1e-40)))
    mixed = torch.randn(4, 64, generator=g)
    mixed[:, 1::3] = torch.rand(4, 21, generator=g) * 1e-38  # denormals among normals
    cases.append(("denormals-among-normals", mixed))
    huge_tiny = torch.randn(8, 64, generator=g) * 1e-30
    huge_tiny[:, 5::16] = 1e30
    cases.append(("1e30-with-1e-30-in-a-group", huge_tiny))
    special = torch.randn(4, 64, generator=g)
    special[0, 0], special[1, 5], special[2, 17], special[3, 33] = (
        float("inf"),
        float("-inf"),
        float("nan"),
        3e38,
    )
    cases.append(("inf-nan-max", special))
    cases.append(("crafted-bits-finite", _crafted_bits(1024, 1, with_inf_nan=False)))
    cases.append(("crafted-bits-inf-nan", _crafted_bits(1024, 2, with_inf_nan=True)))
    cases.append(("ties-bfloat8_b-grid", _ties(7, 64, 3)))
    cases.append(("ties-bfloat4_b-grid", _ties(3, 64, 4)))
    cases.append(("ties-bfloat16", _bfloat16_ties(64, 5)))
    cases.append(("scalar-rank0", torch.tensor(1.2345)))
    return cases


CASES = _cases()
REAL_DTYPES = {name: getattr(ttnn, name) for name in FLOAT_FORMATS}


def _real_round_trip(x: "torch.Tensor", dtype: str, layout=None, **kwargs) -> "torch.Tensor":
    layout = ttnn.TILE_LAYOUT if layout is None else layout
    tensor = ttnn.from_torch(x, dtype=REAL_DTYPES[dtype], layout=layout, **kwargs)
    return ttnn.to_torch(tensor).to(torch.float32)


def _assert_bit_equal(real: "torch.Tensor", emulated: "torch.Tensor", x: "torch.Tensor", what: str) -> None:
    assert emulated.shape == real.shape, f"{what}: shape {tuple(emulated.shape)} != ttnn {tuple(real.shape)}"
    assert emulated.dtype == torch.float32, f"{what}: emulator returned {emulated.dtype}, expected float32"
    real_bits, emulated_bits = real.view(torch.int32), emulated.view(torch.int32)
    mismatch = (real_bits != emulated_bits).flatten()
    if mismatch.any():
        index = mismatch.nonzero().flatten()[:5].tolist()
        bits = x.to(torch.float32).reshape(-1).view(torch.int32)
        lines = [
            f"  [{i}] in {bits[i].item() & 0xFFFFFFFF:#010x} ttnn {real_bits.flatten()[i].item() & 0xFFFFFFFF:#010x} "
            f"emulator {emulated_bits.flatten()[i].item() & 0xFFFFFFFF:#010x}"
            for i in index
        ]
        pytest.fail(f"{what}: {int(mismatch.sum())}/{mismatch.numel()} elements differ\n" + "\n".join(lines))


@pytest.mark.parametrize("dtype", FLOAT_FORMATS)
@pytest.mark.parametrize("label,x", CASES, ids=[label for label, _ in CASES])
def test_rounding_equals_real_ttnn(label, x, dtype, conformance_stats):
    real = _real_round_trip(x, dtype)
    emulated = _numerics.DTYPE_ROUNDERS[dtype](x)
    _assert_bit_equal(real, emulated, x, f"{dtype} {label}")
    conformance_stats.add(dtype, x.numel())


@pytest.mark.parametrize("pad_value", [2.0, -7.0, 1e30, float("inf")])
@pytest.mark.parametrize("dtype", ["bfloat8_b", "bfloat4_b"])
def test_pad_value_effect_on_shared_exponent_equals_real_ttnn(dtype, pad_value, conformance_stats):
    x = torch.randn(2, 3, 37, generator=torch.Generator().manual_seed(7))
    real = _real_round_trip(x, dtype, pad_value=pad_value)
    emulated = _numerics.round_to_block_float(x, MANTISSA_BITS[dtype], pad_value=pad_value)
    _assert_bit_equal(real, emulated, x, f"{dtype} pad_value={pad_value}")
    conformance_stats.add(dtype, x.numel())


def test_bfloat16_row_major_equals_tile(conformance_stats):
    x = _crafted_bits(64, 9, with_inf_nan=True)
    real = _real_round_trip(x, "bfloat16", layout=ttnn.ROW_MAJOR_LAYOUT)
    _assert_bit_equal(real, _numerics.round_to_bfloat16(x), x, "bfloat16 row-major")
    conformance_stats.add("bfloat16", x.numel())


E2E_CASES = [(label, x) for label, x in CASES if x.dim() >= 1 and x.numel() <= 20000]


@pytest.mark.parametrize("dtype", FLOAT_FORMATS)
@pytest.mark.parametrize("label,x", E2E_CASES[::3], ids=[label for label, _ in E2E_CASES[::3]])
def test_emulator_from_torch_to_torch_equals_real_ttnn(label, x, dtype, conformance_stats):
    """The same through the emulator's own ``from_torch``/``to_torch`` (what blocks call)."""
    real = _real_round_trip(x, dtype)
    tensor = emulator.from_torch(x, dtype=getattr(emulator, dtype), layout=emulator.TILE_LAYOUT)
    emulated = emulator.to_torch(tensor).to(torch.float32)
    _assert_bit_equal(real, emulated, x, f"emulator.from_torch {dtype} {label}")
    conformance_stats.add(f"{dtype} (emulator API)", x.numel())


@pytest.mark.parametrize("dtype", ["bfloat16", "bfloat8_b", "bfloat4_b"])
def test_emulator_from_bfloat16_torch_input_equals_real_ttnn(dtype, conformance_stats):
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(8)).to(torch.bfloat16)
    real = _real_round_trip(x, dtype)
    emulated = emulator.to_torch(
        emulator.from_torch(x, dtype=getattr(emulator, dtype), layout=emulator.TILE_LAYOUT)
    )
    _assert_bit_equal(real, emulated.to(torch.float32), x, f"bfloat16 input -> {dtype}")
    conformance_stats.add(f"{dtype} (emulator API)", x.numel())


def _passthrough_input(dtype: str) -> "torch.Tensor":
    if dtype == "float32":
        return _crafted_bits(16, 12, with_inf_nan=True)
    low = 0 if dtype == "uint32" else -(2**31)
    g = torch.Generator().manual_seed(11)
    return torch.randint(low, 2**31 - 1, (3, 45), generator=g, dtype=torch.int64).to(torch.int32)


def _passthrough_pair(dtype: str) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    x = _passthrough_input(dtype)
    real = ttnn.to_torch(ttnn.from_torch(x, dtype=getattr(ttnn, dtype), layout=ttnn.TILE_LAYOUT))
    tensor = emulator.from_torch(x, dtype=getattr(emulator, dtype), layout=emulator.TILE_LAYOUT)
    return x, real, emulator.to_torch(tensor)


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint32"])
def test_passthrough_formats_keep_values_like_real_ttnn(dtype, conformance_stats):
    x, real, emulated = _passthrough_pair(dtype)
    if dtype == "float32":
        _assert_bit_equal(real, emulated, x, "float32")
    else:
        assert torch.equal(real.to(torch.int64), emulated.to(torch.int64)), f"{dtype}: values differ"
    conformance_stats.add(f"{dtype} (emulator API)", x.numel())


@pytest.mark.parametrize(
    "dtype",
    [
        "bfloat16",
        "bfloat8_b",
        "bfloat4_b",
        "float32",
        "int32",
        "uint32",
    ],
)
def test_to_torch_returns_the_same_torch_dtype_as_real_ttnn(dtype):
    if dtype in FLOAT_FORMATS:
        x = torch.randn(3, 40, generator=torch.Generator().manual_seed(13))
        real = ttnn.to_torch(ttnn.from_torch(x, dtype=getattr(ttnn, dtype), layout=ttnn.TILE_LAYOUT))
        tensor = emulator.from_torch(x, dtype=getattr(emulator, dtype), layout=emulator.TILE_LAYOUT)
        emulated = emulator.to_torch(tensor)
    else:
        _, real, emulated = _passthrough_pair(dtype)
    assert emulated.dtype == real.dtype, (
        f"{dtype}: emulator to_torch dtype {emulated.dtype} != ttnn {real.dtype}"
    )
