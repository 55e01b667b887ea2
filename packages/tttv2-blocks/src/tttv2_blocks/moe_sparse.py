"""The sparse expert path of ``MoE``: each device computes only the (token block, local expert) pairs
that some token of the block is routed to, with ``ttnn.sparse_matmul``.

Expert parallelism as the dense path (device ``d`` holds experts ``d*L .. d*L + L-1``, ``L = E/n``,
the input is replicated, one ``all_reduce`` sums the devices), but the experts' matmuls are
batched over the ``L`` local experts and skip unrouted pairs (tt-metal ``models/demos/gpt_oss``
experts and DeepSeek-V3's MoE use ``sparse_matmul`` the same way)::

    x (1, 1, T, H), routing weights w and top-k mask m (1, 1, T, E)   [from MoE's router]
    w_d, m_d = w @ S_d, m @ S_d          S_d (E, L): one-hot columns of device d's experts   (1, 1, T, L)
    T rows -> nb blocks of r rows (r = 32 when T % 32 == 0, else one block of T rows)
    sparsity[b, j] = sum of m_d over block b's rows      (tokens of block b routed to expert j)
    gate, up  = sparse_matmul(x (1, nb, r, H), W (1, L, H, I), sparsity (1, nb, 1, L))  -> (1, nb, 1, L, r, I)
    inner     = act(gate) * up                                                         (nb, L, r, I)
    down      = sparse_matmul(inner, W_down (1, L, I, H), sparsity (1, 1, nb, L),
                              is_input_a_sparse=True, is_input_b_sparse=False)          (nb, L, r, H)
    out_d     = sum_j down[:, j] * w_d[..., j]                                         (1, 1, T, H)

Skipped pairs are exact zeros (the op zero-fills them) and their routing weight is zero too, so the
sum equals the dense path's up to the order of the bfloat16 additions. The selection by ``S_d`` is
a matmul of bfloat16 values with a one-hot matrix at HiFi4 with fp32 accumulation: exact.

A block computes an expert when *any* of its rows picks it: decode (one block of <= 32 users) and
short prefills skip most of a 128-expert layer; a long prefill routes nearly every expert in every
32-row block and does dense-path work in fewer, larger ops.
"""

from __future__ import annotations

import torch
from tttv2_hwconfig import ttnn

from tttv2_blocks.config import compute_kernel_config
from tttv2_blocks.ffn import unary_activation
from tttv2_blocks.linear_op import check_precision
from tttv2_blocks.program_configs import sparse_matmul_config
from tttv2_blocks.weights import to_device_weight

TILE = 32
# The one-hot selection of each device's experts must be exact (see module docstring).
_SELECT_KERNEL = compute_kernel_config(ttnn.MathFidelity.HiFi4, fp32_dest_acc_en=True)


class SparseExperts:
    """The routed experts of one MoE block on the sparse path (weights, sparsity, the three sparse matmuls)."""

    def __init__(self, spec, impl_config, device, module_path: str):
        self.spec, self.impl, self.device = spec, impl_config, device
        self.module_path = module_path
        self.num_devices = device.get_num_devices()
        self.local = spec.num_experts // self.num_devices
        self.gate = self.up = self.down = self.selector = None
        self._configs: dict = {}
        for proj in ("gate_proj", "up_proj", "down_proj"):
            self._validate(proj)

    def _validate(self, proj: str) -> None:
        """Construction-time checks of one projection's config, naming its path."""
        impl, path = getattr(self.impl, proj), f"{self.module_path}.{proj}"
        check_precision(path, impl)
        for mode in ("prefill", "decode"):
            user = getattr(impl, f"{mode}_program_config")
            if user is None:
                continue
            if not isinstance(user, ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig) or not user.mcast_in0:
                raise ValueError(
                    f"{path}.{mode}_program_config: the sparse path runs ttnn.sparse_matmul, which takes only a "
                    f"MatmulMultiCoreReuseMultiCast1DProgramConfig with mcast_in0=True; got {type(user).__name__}"
                    + (
                        ""
                        if not isinstance(user, ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig)
                        else " with mcast_in0=False"
                    )
                )
            if user.fused_activation is not None:
                raise ValueError(
                    f"{path}.{mode}_program_config: fused_activation must be None on the sparse path (the "
                    "activation is applied by the gate * up multiply)"
                )

    def load(self, w: dict[str, torch.Tensor]) -> None:
        """Stack each device's experts as ``(1, L, K, N)`` weights; ``w`` holds block-local float32 weights."""
        n, local, e = self.num_devices, self.local, self.spec.num_experts
        stack = ttnn.ShardTensorToMesh(self.device, dim=0)  # device d gets row d: its L experts
        for proj in ("gate_proj", "up_proj", "down_proj"):
            kn = torch.stack([w[f"experts.{x}.{proj}.weight"].T for x in range(e)])  # (E, K, N)
            weight = kn.reshape(n, local, *kn.shape[1:])
            setattr(
                self,
                proj.removesuffix("_proj"),
                to_device_weight(weight, self.device, getattr(self.impl, proj).dtype, mesh_mapper=stack),
            )
        onehot = torch.zeros(n, 1, e, local)
        for d in range(n):
            onehot[d, 0, d * local + torch.arange(local), torch.arange(local)] = 1.0
        self.selector = to_device_weight(onehot, self.device, ttnn.bfloat16, mesh_mapper=stack)

    # --- configs ---------------------------------------------------------------------------------
    def _program_config(self, proj: str, rows: int, mode: str):
        user = getattr(getattr(self.impl, proj), f"{mode}_program_config")
        if user is not None:
            return user
        key = (proj, rows)
        if key not in self._configs:
            h, i = self.spec.hidden_dim, self.spec.expert_intermediate_dim
            k, n = (i, h) if proj == "down_proj" else (h, i)
            self._configs[key] = sparse_matmul_config(
                rows,
                k,
                n,
                self.device.compute_with_storage_grid_size(),
                fp32_dest_acc_en=getattr(self.impl, proj).compute_kernel_config.fp32_dest_acc_en,
            )
        return self._configs[key]

    def _matmul(self, a, proj: str, sparsity, rows: int, mode: str, memory_config, **sparse_modes):
        impl = getattr(self.impl, proj)
        return ttnn.sparse_matmul(
            a,
            getattr(self, proj.removesuffix("_proj")),
            sparsity=sparsity,
            program_config=self._program_config(proj, rows, mode),
            memory_config=memory_config,
            dtype=impl.activation_dtype,
            compute_kernel_config=impl.compute_kernel_config,
            **sparse_modes,
        )

    def _select(self, values):
        """``(1, 1, T, E)`` -> this device's ``(1, 1, T, L)`` columns, in bfloat16 (exact)."""
        if values.dtype != ttnn.bfloat16:
            values = ttnn.typecast(values, ttnn.bfloat16)
        return ttnn.matmul(values, self.selector, compute_kernel_config=_SELECT_KERNEL, dtype=ttnn.bfloat16)

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, x, weights, mask, mode: str, memory_config):
        """Per-device partial sum ``(1, 1, T, H)`` of this device's experts (before the all_reduce)."""
        h, i, local = self.spec.hidden_dim, self.spec.expert_intermediate_dim, self.local
        t = x.shape[-2]
        rows = TILE if t % TILE == 0 else t
        blocks = t // rows
        local_weights, local_mask = self._select(weights), self._select(mask)
        routed = ttnn.sum(ttnn.reshape(local_mask, (1, blocks, rows, local)), dim=2, keepdim=True)
        sparsity = ttnn.to_layout(routed, ttnn.ROW_MAJOR_LAYOUT)  # (1, nb, 1, L): tokens per pair
        xb = ttnn.reshape(x, (1, blocks, rows, h)) if blocks > 1 else x
        gate = self._matmul(xb, "gate_proj", sparsity, rows, mode, memory_config)
        up = self._matmul(xb, "up_proj", sparsity, rows, mode, memory_config)
        inner = ttnn.mul(
            ttnn.reshape(gate, (blocks, local, rows, i)),
            ttnn.reshape(up, (blocks, local, rows, i)),
            input_tensor_a_activations=[unary_activation(self.spec.activation)],
            dtype=self.impl.product_dtype,
            memory_config=memory_config,
        )
        down = self._matmul(
            inner,
            "down_proj",
            ttnn.reshape(sparsity, (1, 1, blocks, local)),
            rows,
            mode,
            memory_config,
            is_input_a_sparse=True,
            is_input_b_sparse=False,
        )
        scale = ttnn.permute(ttnn.reshape(local_weights, (1, blocks, rows, local)), (1, 3, 2, 0))
        scale = ttnn.typecast(scale, down.dtype) if scale.dtype != down.dtype else scale
        scaled = ttnn.mul(down, scale, memory_config=memory_config)  # (nb, L, r, H) * (nb, L, r, 1)
        out = ttnn.sum(scaled, dim=1, keepdim=True, memory_config=memory_config)  # (nb, 1, r, H)
        return ttnn.reshape(out, (1, 1, t, h)) if blocks > 1 else out
