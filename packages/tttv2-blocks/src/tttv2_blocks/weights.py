"""Loading HF-layout torch weights onto a device, with errors that name the tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from tttv2_hwconfig import ttnn


class WeightError(ValueError):
    """A checkpoint tensor is missing, unexpected or has the wrong shape."""


def take(
    state_dict: Mapping[str, torch.Tensor], key: str, expected_shape: Sequence[int], where: str
) -> torch.Tensor:
    """Return ``state_dict[key]`` after checking it exists and has ``expected_shape``."""
    if key not in state_dict:
        present = ", ".join(sorted(state_dict)) or "nothing"
        raise WeightError(
            f"{where}: missing weight {key!r} with shape {list(expected_shape)}; state_dict has: {present}"
        )
    tensor = state_dict[key]
    if not isinstance(tensor, torch.Tensor):
        raise WeightError(f"{where}: weight {key!r} must be a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(expected_shape):
        raise WeightError(
            f"{where}: weight {key!r} has shape {list(tensor.shape)}, expected {list(expected_shape)}"
        )
    return tensor


def check_no_unexpected(state_dict: Mapping[str, torch.Tensor], expected_keys, where: str) -> None:
    unexpected = sorted(set(state_dict) - set(expected_keys))
    if unexpected:
        raise WeightError(f"{where}: unexpected weights {unexpected}; expected only {sorted(expected_keys)}")


def to_device_weight(
    tensor: torch.Tensor, device, dtype, *, mesh_mapper=None, layout=None, memory_config=None
):
    """Put a torch weight on ``device`` in ``dtype`` (TILE layout, DRAM interleaved by default)."""
    return ttnn.from_torch(
        tensor.to(torch.float32),
        dtype=dtype,
        layout=layout or ttnn.TILE_LAYOUT,
        device=device,
        memory_config=memory_config or ttnn.DRAM_MEMORY_CONFIG,
        mesh_mapper=mesh_mapper,
    )
