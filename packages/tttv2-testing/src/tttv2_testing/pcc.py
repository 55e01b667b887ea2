"""Accuracy figures TT model tests report: Pearson correlation (PCC) and allclose.

Both take torch tensors; the expected (reference) tensor comes first, as in TTTv1's
``comp_pcc(golden, calculated)``. Tensors whose shapes differ only by size-1 dimensions (a device
output ``(1, 1, seq, hidden)`` against a reference ``(1, seq, hidden)``) are compared as the same
data; any other shape difference is an error.
"""

from __future__ import annotations

import torch


def _aligned(expected: torch.Tensor, actual: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    for name, value in (("expected", expected), ("actual", actual)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{what}: {name} must be a torch.Tensor, got {type(value).__name__}")
    a = expected.detach().to(torch.float64)
    b = actual.detach().to(torch.float64)
    if a.shape == b.shape:
        return a, b
    squeezed_a = [d for d in a.shape if d != 1]
    squeezed_b = [d for d in b.shape if d != 1]
    if squeezed_a != squeezed_b:
        raise ValueError(
            f"{what}: shapes differ: expected {list(expected.shape)}, actual {list(actual.shape)} "
            "(only size-1 dimensions may differ)"
        )
    return a.reshape(squeezed_a), b.reshape(squeezed_b)


def compute_pcc(expected: torch.Tensor, actual: torch.Tensor) -> float:
    """Pearson correlation coefficient of two tensors, flattened, computed in float64.

    Identical tensors give 1.0 (also when constant); NaN or infinity in exactly the positions of one
    tensor, or a constant tensor against a varying one, give 0.0.

    Args:
        expected: the reference output, any shape.
        actual: the output under test, the same shape up to size-1 dimensions.
    """
    a, b = _aligned(expected, actual, "compute_pcc")
    a, b = a.flatten(), b.flatten()
    if torch.equal(a, b):
        return 1.0
    finite_a, finite_b = torch.isfinite(a), torch.isfinite(b)
    if not torch.equal(finite_a, finite_b):
        return 0.0
    if not bool(finite_a.all()):
        # Same non-finite positions: they must hold the same values (NaN counts as equal to NaN).
        if not torch.equal(a[~finite_a].nan_to_num(0.0), b[~finite_b].nan_to_num(0.0)):
            return 0.0
        a, b = a[finite_a], b[finite_b]
        if a.numel() == 0 or torch.equal(a, b):
            return 1.0
    a = a - a.mean()
    b = b - b.mean()
    denominator = a.norm() * b.norm()
    if denominator == 0:
        return 0.0
    return float(((a @ b) / denominator).clamp(-1.0, 1.0))


def comp_pcc(expected: torch.Tensor, actual: torch.Tensor, pcc: float = 0.99) -> tuple[bool, float]:
    """``(PCC >= pcc, PCC)``, the TTTv1 ``comp_pcc(golden, calculated, pcc)`` convention."""
    value = compute_pcc(expected, actual)
    return value >= pcc, value


def max_abs_diff(expected: torch.Tensor, actual: torch.Tensor) -> float:
    """Largest element-wise ``|expected - actual|`` (inf when non-finite values differ)."""
    a, b = _aligned(expected, actual, "max_abs_diff")
    if a.numel() == 0:
        return 0.0
    diff = (a - b).abs().nan_to_num(nan=float("inf"))
    both_nan = a.isnan() & b.isnan()
    same_inf = torch.isinf(a) & (a == b)
    diff = torch.where(both_nan | same_inf, torch.zeros_like(diff), diff)
    return float(diff.max())


def comp_allclose(
    expected: torch.Tensor, actual: torch.Tensor, *, atol: float, rtol: float
) -> tuple[bool, float]:
    """``(all |actual - expected| <= atol + rtol * |expected|, max |actual - expected|)``.

    The same criterion as ``torch.allclose(actual, expected, rtol, atol)`` (NaNs compare equal).
    """
    a, b = _aligned(expected, actual, "comp_allclose")
    passed = bool(torch.isclose(b, a, rtol=rtol, atol=atol, equal_nan=True).all())
    return passed, max_abs_diff(expected, actual)


def assert_pcc(expected: torch.Tensor, actual: torch.Tensor, pcc: float = 0.99, *, what: str = "") -> float:
    """Raise AssertionError when the PCC is below ``pcc``; return the PCC."""
    passed, value = comp_pcc(expected, actual, pcc)
    if not passed:
        prefix = f"{what}: " if what else ""
        raise AssertionError(f"{prefix}pcc {value:.6f} < threshold {pcc}")
    return value


def assert_allclose(
    expected: torch.Tensor, actual: torch.Tensor, *, atol: float, rtol: float, what: str = ""
) -> float:
    """Raise AssertionError when any element is outside ``atol + rtol * |expected|``; return max |diff|."""
    passed, diff = comp_allclose(expected, actual, atol=atol, rtol=rtol)
    if not passed:
        prefix = f"{what}: " if what else ""
        raise AssertionError(
            f"{prefix}not allclose: max |actual - expected| = {diff:.6g} (atol={atol}, rtol={rtol})"
        )
    return diff
