"""Mesh mappers (torch -> per-device shards) and composers (shards -> torch), as in TTNN."""

from __future__ import annotations

import torch


class TensorToMesh:
    """Base of the mappers: ``map(torch_tensor)`` returns one tensor per device, row-major over the mesh."""

    def __init__(self, mesh_device):
        self.mesh_device = mesh_device
        self.mesh_shape = tuple(mesh_device.shape)

    def map(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


class MeshToTensor:
    def __init__(self, mesh_device):
        self.mesh_device = mesh_device
        self.mesh_shape = tuple(mesh_device.shape)

    def compose(self, shards: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


def _split(tensor: torch.Tensor, dim: int, parts: int, who: str) -> list[torch.Tensor]:
    size = tensor.shape[dim]
    if size % parts:
        raise ValueError(f"{who}: dim {dim} of size {size} does not split evenly over {parts} devices")
    return [chunk.contiguous() for chunk in torch.chunk(tensor, parts, dim=dim)]


class ShardTensorToMesh(TensorToMesh):
    def __init__(self, mesh_device, dim: int):
        super().__init__(mesh_device)
        self.dim = dim

    def map(self, tensor):
        return _split(tensor, self.dim, self.mesh_device.get_num_devices(), "ShardTensorToMesh")


class ReplicateTensorToMesh(TensorToMesh):
    def map(self, tensor):
        shared = tensor.contiguous()
        return [shared] * self.mesh_device.get_num_devices()


class ShardTensor2dMesh(TensorToMesh):
    """Shard along ``dims[0]`` over mesh rows and ``dims[1]`` over mesh columns; ``None`` replicates."""

    def __init__(self, mesh_device, mesh_shape, dims):
        super().__init__(mesh_device)
        if tuple(mesh_shape) != self.mesh_shape:
            raise ValueError(
                f"ShardTensor2dMesh: mesh_shape {tuple(mesh_shape)} != device mesh {self.mesh_shape}"
            )
        if len(dims) != 2:
            raise ValueError(f"ShardTensor2dMesh: dims must be (row_dim, col_dim), got {dims}")
        self.dims = tuple(dims)

    def map(self, tensor):
        rows, cols = self.mesh_shape
        if self.dims[0] is None:
            # Replicated over rows: every row gets the SAME shard objects, so ops compute them once.
            row = (
                _split(tensor, self.dims[1], cols, "ShardTensor2dMesh")
                if self.dims[1] is not None
                else [tensor.contiguous()] * cols
            )
            return row * rows
        out = []
        for row_part in _split(tensor, self.dims[0], rows, "ShardTensor2dMesh"):
            if self.dims[1] is not None:
                out.extend(_split(row_part, self.dims[1], cols, "ShardTensor2dMesh"))
            else:
                out.extend([row_part.contiguous()] * cols)
        return out


class ConcatMeshToTensor(MeshToTensor):
    def __init__(self, mesh_device, dim: int):
        super().__init__(mesh_device)
        self.dim = dim

    def compose(self, shards):
        return torch.cat(list(shards), dim=self.dim)


class ConcatMesh2dToTensor(MeshToTensor):
    """Concatenate rows of the mesh along ``dims[0]`` and columns along ``dims[1]``."""

    def __init__(self, mesh_device, mesh_shape, dims):
        super().__init__(mesh_device)
        if tuple(mesh_shape) != self.mesh_shape:
            raise ValueError(
                f"ConcatMesh2dToTensor: mesh_shape {tuple(mesh_shape)} != device mesh {self.mesh_shape}"
            )
        if len(dims) != 2 or dims[0] == dims[1]:
            raise ValueError(f"ConcatMesh2dToTensor: dims must be two different dims, got {dims}")
        self.dims = tuple(dims)

    def compose(self, shards):
        rows, cols = self.mesh_shape
        row_tensors = [
            torch.cat(list(shards[r * cols : (r + 1) * cols]), dim=self.dims[1]) for r in range(rows)
        ]
        return torch.cat(row_tensors, dim=self.dims[0])
