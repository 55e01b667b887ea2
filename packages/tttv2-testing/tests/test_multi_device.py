"""Multi-device tensors: replicated ones convert from one device, distributed ones need a composer."""

import pytest
import torch
from _tiny import DIM, to_device
from tttv2_blocks.module import Module
from tttv2_hwconfig import open_device, ttnn
from tttv2_testing import NotReplicatedError, TestSuite, ttnn_to_torch

# bfloat16 column-parallel projection vs float32 torch: PCC ~0.9999; 0.99 catches a wrong shard order.
PCC = 0.99


class ColumnParallel(Module):
    """``x @ w.T`` with ``w`` split by output columns over the mesh: the output is width-distributed."""

    def __init__(self, device, out_features: int = 128):
        super().__init__(spec=None, impl_config=None, device=device)
        self.w = torch.randn(out_features, DIM) / DIM**0.5
        self.w_dev = ttnn.from_torch(
            self.w.T.contiguous(),
            dtype=ttnn.bfloat16,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            mesh_mapper=ttnn.ShardTensorToMesh(device, dim=-1),
        )

    def forward_prefill(self, x):
        return ttnn.linear(x, self.w_dev)

    def torch_reference(self):
        return lambda x: x @ self.w.T


class ComposedColumnParallel(ColumnParallel):
    def reference_composer(self, method_name, name, mesh_device):
        return ttnn.ConcatMeshToTensor(mesh_device, dim=-1) if name == "output" else None


@pytest.fixture
def mesh():
    with open_device("N300") as dev:  # a 1x2 mesh whatever TTTV2_DEVICE says
        yield dev


def test_replicated_tensor_converts_from_one_device(mesh):
    x = torch.randn(1, 1, 32, DIM)
    converted = ttnn_to_torch(to_device(x, mesh))
    assert torch.equal(converted, x.to(torch.bfloat16).float())


def test_distributed_output_without_composer_is_reported(mesh):
    module = ColumnParallel(mesh)
    suite = TestSuite(verbose=False)
    suite.add_case(module.forward_prefill).with_inputs(
        {"x": to_device(torch.randn(1, 1, 32, DIM), mesh)}
    ).expect_pcc(PCC)
    with pytest.raises(
        AssertionError, match=r"NotReplicatedError: .* distributed over 2 devices .*reference_composer"
    ):
        suite.run()
    with pytest.raises(NotReplicatedError):
        ttnn_to_torch(module.forward_prefill(to_device(torch.randn(1, 1, 32, DIM), mesh)))


def test_composer_hook_joins_the_distributed_output(mesh):
    module = ComposedColumnParallel(mesh)
    suite = TestSuite(verbose=False)
    suite.add_case(module.forward_prefill).with_inputs(
        {"x": to_device(torch.randn(1, 1, 32, DIM), mesh)}
    ).expect_pcc(PCC)
    (result,) = suite.run().results
    assert result.figure > PCC
