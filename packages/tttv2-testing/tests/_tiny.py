"""Tiny modules for testing the toolkit: real TTTv2 blocks (RMSNorm) plus small ttnn modules.

Every module has an independent float32 torch reference (``torch_reference``), so the suite's
verdicts are checked against plain torch math, never against the code under test.
"""

from __future__ import annotations

import torch
from tttv2_blocks import RMSNorm, RMSNormSpec, get_default_impl_config
from tttv2_blocks.module import Module
from tttv2_hwconfig import op_scope, ttnn

DIM = 64
HIDDEN = 128


def to_device(x: torch.Tensor, device) -> ttnn.Tensor:
    """A replicated (1, 1, rows, dim) TILE bfloat16 activation, the TTTv2 convention."""
    return ttnn.from_torch(x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device)


def to_host(x: ttnn.Tensor) -> torch.Tensor:
    return ttnn.to_torch(ttnn.get_device_tensors(x)[0]).to(torch.float32)


class TinyMLP(Module):
    """``down(silu(up(x)))``; ``wrong_sign=True`` negates the down projection ON DEVICE only."""

    def __init__(self, device, *, dim: int = DIM, hidden: int = HIDDEN, wrong_sign: bool = False):
        super().__init__(spec=(dim, hidden), impl_config=None, device=device)
        self.up = torch.randn(hidden, dim) / dim**0.5  # HF layout (out, in)
        self.down = torch.randn(dim, hidden) / hidden**0.5
        sign = -1.0 if wrong_sign else 1.0
        self.up_w = self._weight(self.up.T)
        self.down_w = self._weight(sign * self.down.T)
        self.calls = 0

    def _weight(self, w: torch.Tensor):
        return ttnn.from_torch(
            w.contiguous(), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=self.device
        )

    def _mlp(self, x):
        self.calls += 1
        with op_scope(self.module_path):
            h = ttnn.silu(ttnn.linear(x, self.up_w))
            return ttnn.linear(h, self.down_w)

    def forward_prefill(self, x):
        """``(1, 1, seq, dim)`` -> ``(1, 1, seq, dim)``."""
        return self._mlp(x)

    def forward_decode(self, x):
        """``(1, 1, batch, dim)`` -> ``(1, 1, batch, dim)``."""
        return self._mlp(x)

    def torch_reference(self):
        up, down = self.up, self.down
        return lambda x: torch.nn.functional.silu(x @ up.T) @ down.T


def make_norm(device, dim: int = DIM) -> RMSNorm:
    spec = RMSNormSpec(dim=dim, eps=1e-5)
    norm = RMSNorm(spec, get_default_impl_config(spec, device, "both"), device)
    norm.load_weights({"weight": 1.0 + 0.1 * torch.randn(dim)})
    return norm


class TinyLayer(Module):
    """Pre-norm residual block: ``x + mlp(norm(x))``."""

    def __init__(self, device, *, wrong_sign: bool = False):
        super().__init__(spec=None, impl_config=None, device=device)
        self.norm = make_norm(device)
        self.mlp = TinyMLP(device, wrong_sign=wrong_sign)

    def forward_prefill(self, x):
        return ttnn.add(x, self.mlp.forward_prefill(self.norm.forward_prefill(x)))

    def forward_decode(self, x):
        return ttnn.add(x, self.mlp.forward_decode(self.norm.forward_decode(x)))

    def torch_reference(self):
        norm, mlp = self.norm.torch_reference(), self.mlp.torch_reference()
        return lambda x: x + mlp(norm(x))


class TinyModel:
    """Layers then a final norm; torch in, torch out. Not a Module: the root a user would write."""

    def __init__(self, device, *, num_layers: int = 2, wrong_sign_layer: int | None = None):
        self.device = device
        self.layers = [TinyLayer(device, wrong_sign=(i == wrong_sign_layer)) for i in range(num_layers)]
        self.norm = make_norm(device)
        for index, layer in enumerate(self.layers):  # what a pattern does when it composes blocks
            layer.module_path = f"layers.{index}"
            layer.norm.module_path = f"layers.{index}.norm"
            layer.mlp.module_path = f"layers.{index}.mlp"
        self.norm.module_path = "norm"

    def prefill_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(seq, dim)`` -> ``(seq, dim)``."""
        h = to_device(x.reshape(1, 1, *x.shape), self.device)
        for layer in self.layers:
            h = layer.forward_prefill(h)
        return to_host(self.norm.forward_prefill(h)).reshape(x.shape)

    def decode_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, dim)`` -> ``(batch, dim)``."""
        h = to_device(x.reshape(1, 1, *x.shape), self.device)
        for layer in self.layers:
            h = layer.forward_decode(h)
        return to_host(self.norm.forward_decode(h)).reshape(x.shape)
