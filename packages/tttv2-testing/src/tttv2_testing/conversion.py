"""Moving values between the device world (``ttnn`` tensors) and the reference world (torch).

Three jobs:

- ``to_torch_tree``: any nesting of lists/tuples/dicts holding ttnn tensors -> the same nesting
  holding float32 torch tensors (integer tensors keep an integer dtype), for references.
- ``snapshot_tree`` / ``restore_tree``: a copy of a call's arguments that later in-place device
  updates (a KV-cache write, ``ttnn.deallocate`` of an input) cannot alter, kept on the HOST so a
  capture does not hold device L1/DRAM while the model keeps running; restored onto the original
  device with the original memory config for every re-run.
- Multi-device tensors: a replicated tensor (every device holds the same data, the TTTv2 residual
  stream) becomes one device's shard; a distributed tensor needs a mesh composer (e.g.
  ``ttnn.ConcatMeshToTensor``) or the conversion fails with ``NotReplicatedError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from tttv2_hwconfig import ttnn, ttnn_is_emulated


class NotReplicatedError(ValueError):
    """A multi-device tensor differs between devices and no mesh composer says how to join it."""


def is_ttnn_tensor(value: Any) -> bool:
    return isinstance(value, ttnn.Tensor)


def _as_reference_dtype(data: torch.Tensor) -> torch.Tensor:
    # References compute in float32; token ids and positions keep an integer dtype.
    return data.to(torch.float32) if data.is_floating_point() else data


def ttnn_to_torch(tensor, composer=None, *, what: str = "tensor") -> torch.Tensor:
    """One ttnn tensor (host or device, one or many devices) -> torch, float32 for float formats.

    Args:
        tensor: a ``ttnn.Tensor``.
        composer: a ``ttnn.MeshToTensor`` (``ConcatMeshToTensor(mesh, dim)``...) for distributed tensors.
        what: a name for error messages, e.g. ``"layers.0.attention::forward_prefill output"``.

    Raises:
        NotReplicatedError: the tensor lives on several devices with different data and no composer.
    """
    if composer is not None:
        return _as_reference_dtype(ttnn.to_torch(tensor, mesh_composer=composer))
    device_tensors = ttnn.get_device_tensors(tensor)
    if len(device_tensors) <= 1:
        only = device_tensors[0] if device_tensors else tensor
        return _as_reference_dtype(ttnn.to_torch(only))
    first = ttnn.to_torch(device_tensors[0])
    for index, other in enumerate(device_tensors[1:], 1):
        if not torch.equal(first, ttnn.to_torch(other)):
            raise NotReplicatedError(
                f"{what}: shape {list(tensor.shape)} is distributed over {len(device_tensors)} devices "
                f"(device {index} differs from device 0); give the module a "
                "reference_composer(method_name, name, mesh_device) hook returning a ttnn mesh composer "
                "such as ttnn.ConcatMeshToTensor(mesh_device, dim=-1)"
            )
    return _as_reference_dtype(first)


def to_torch_tree(value: Any, composer_for=None, *, what: str = "value") -> Any:
    """Convert every ttnn tensor inside ``value`` (lists, tuples, dicts) to torch.

    Args:
        value: anything; ttnn tensors (and snapshots of them) are converted, torch tensors are cast
            to float32 when floating, other leaves pass through.
        composer_for: optional ``callable(mesh_device) -> composer | None`` picking a mesh composer.
        what: a name for error messages.
    """
    if isinstance(value, TensorSnapshot):
        composer = composer_for(value.device) if composer_for is not None else None
        return ttnn_to_torch(value.host, composer, what=what)
    if is_ttnn_tensor(value):
        composer = composer_for(value.device()) if composer_for is not None else None
        return ttnn_to_torch(value, composer, what=what)
    if isinstance(value, torch.Tensor):
        return _as_reference_dtype(value.detach())
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(to_torch_tree(v, composer_for, what=what) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch_tree(v, composer_for, what=f"{what}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: to_torch_tree(v, composer_for, what=f"{what}[{k!r}]") for k, v in value.items()}
    return value


def flatten_tensors(value: Any) -> list[torch.Tensor]:
    """Every torch tensor inside ``value`` in order (lists, tuples, dicts, HF ModelOutput)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if hasattr(value, "to_tuple") and callable(value.to_tuple):  # transformers ModelOutput
        value = value.to_tuple()
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flatten_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in flatten_tensors(v)]
    return []


# --------------------------------------------------------------------------------------- snapshots


@dataclass
class TensorSnapshot:
    """A host copy of one ttnn tensor plus where it lived, restorable as a fresh device tensor."""

    host: Any  # a host ttnn tensor holding its own copy of the data
    device: Any  # the mesh device it came from, None for a host tensor
    memory_config: Any

    @classmethod
    def take(cls, tensor) -> TensorSnapshot:
        device = tensor.device()
        memory_config = tensor.memory_config() if device is not None else None
        if ttnn_is_emulated:
            host = ttnn.Tensor(_copy_shards(tensor.shards), tensor.dtype, tensor.layout)
        elif device is not None:
            host = ttnn.from_device(tensor)  # a device -> host copy
        else:
            host = tensor  # real host tensors are not written by device ops
        return cls(host=host, device=device, memory_config=memory_config)

    def restore(self):
        """A new tensor with the captured data, on the original device and memory config."""
        if ttnn_is_emulated:
            # Built directly (not via ttnn.to_device) so the restore adds nothing to the op trace.
            return ttnn.Tensor(
                _copy_shards(self.host.shards),
                self.host.dtype,
                self.host.layout,
                self.device,
                self.memory_config,
            )
        if self.device is None:
            return self.host
        return ttnn.to_device(self.host, self.device, memory_config=self.memory_config)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.host.shape)


def _copy_shards(shards: list[torch.Tensor]) -> list[torch.Tensor]:
    # Copy each distinct torch object once so replicated shards stay one shared object.
    copies: dict[int, torch.Tensor] = {}
    return [copies.setdefault(id(s), s.clone()) for s in shards]


def snapshot_tree(value: Any) -> Any:
    """Copy ``value`` so that later in-place updates of the originals do not change the copy."""
    if is_ttnn_tensor(value):
        return TensorSnapshot.take(value)
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(snapshot_tree(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot_tree(v) for v in value)
    if isinstance(value, dict):
        return {k: snapshot_tree(v) for k, v in value.items()}
    return value


def restore_tree(value: Any) -> Any:
    """Fresh tensors from a ``snapshot_tree`` result (each call returns new device tensors)."""
    if isinstance(value, TensorSnapshot):
        return value.restore()
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(restore_tree(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(restore_tree(v) for v in value)
    if isinstance(value, dict):
        return {k: restore_tree(v) for k, v in value.items()}
    return value


def describe(value: Any) -> str:
    """Short text for a (snapshot) value: shapes for tensors, type names otherwise."""
    if isinstance(value, TensorSnapshot) or is_ttnn_tensor(value) or isinstance(value, torch.Tensor):
        return f"{list(value.shape)}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    return type(value).__name__ if value is not None else "None"
