"""Pearson correlation of two tensors, the accuracy figure TT model tests report."""

import torch


def pcc(expected: torch.Tensor, actual: torch.Tensor) -> float:
    a = expected.detach().to(torch.float64).flatten()
    b = actual.detach().to(torch.float64).flatten()
    if a.shape != b.shape:
        raise ValueError(f"pcc: shapes differ: {list(expected.shape)} vs {list(actual.shape)}")
    if torch.equal(a, b):
        return 1.0
    a = a - a.mean()
    b = b - b.mean()
    denom = a.norm() * b.norm()
    if denom == 0:
        return 0.0
    return float((a @ b) / denom)
