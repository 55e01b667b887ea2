"""PCC and allclose utilities, checked against torch's own corrcoef / allclose."""

import pytest
import torch
from tttv2_testing import assert_allclose, assert_pcc, comp_allclose, comp_pcc, compute_pcc, max_abs_diff


def test_pcc_matches_torch_corrcoef():
    a = torch.randn(4, 33)
    b = a + 0.3 * torch.randn(4, 33)
    expected = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]).double())[0, 1].item()
    # float64 on both sides: agreement to rounding error.
    assert compute_pcc(a, b) == pytest.approx(expected, abs=1e-12)


def test_pcc_edge_cases():
    x = torch.randn(10)
    assert compute_pcc(x, x) == 1.0
    assert compute_pcc(x, -x) == pytest.approx(-1.0, abs=1e-12)
    assert compute_pcc(torch.ones(10), torch.ones(10)) == 1.0  # identical constants
    assert compute_pcc(torch.ones(10), x) == 0.0  # a constant carries no correlation
    with_nan = x.clone()
    with_nan[3] = float("nan")
    assert compute_pcc(x, with_nan) == 0.0  # NaN where the reference has a number is a failure


def test_pcc_ignores_size_one_dims_but_not_other_shape_differences():
    x = torch.randn(1, 1, 32, 64)
    assert compute_pcc(x.reshape(1, 32, 64), x) == 1.0
    with pytest.raises(ValueError, match=r"shapes differ: expected \[32, 64\], actual \[64, 32\]"):
        compute_pcc(torch.randn(32, 64), torch.randn(64, 32))


def test_comp_pcc_and_assert_pcc_report_figure_and_threshold():
    a = torch.randn(100)
    b = torch.randn(100)
    passed, value = comp_pcc(a, b, pcc=0.99)
    assert not passed and value < 0.99
    with pytest.raises(AssertionError, match=r"ffn: pcc -?0\.\d+ < threshold 0.99"):
        assert_pcc(a, b, 0.99, what="ffn")
    assert assert_pcc(a, a + 1e-3 * torch.randn(100), 0.99) > 0.99


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 1.0])
def test_comp_allclose_agrees_with_torch_allclose(scale):
    expected = torch.randn(64)
    actual = expected + scale * torch.randn(64)
    passed, diff = comp_allclose(expected, actual, atol=1e-2, rtol=1e-2)
    assert passed == torch.allclose(actual, expected, atol=1e-2, rtol=1e-2)
    assert diff == pytest.approx((actual - expected).abs().max().item(), rel=1e-6)


def test_assert_allclose_and_max_abs_diff():
    expected = torch.zeros(8)
    actual = torch.zeros(8)
    actual[5] = 0.5
    assert max_abs_diff(expected, actual) == 0.5
    with pytest.raises(
        AssertionError, match=r"not allclose: max \|actual - expected\| = 0.5 \(atol=0.1, rtol=0\)"
    ):
        assert_allclose(expected, actual, atol=0.1, rtol=0)
