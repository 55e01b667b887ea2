"""Choosing next tokens on the device, so only token ids leave it.

Greedy: ``ttnn.argmax`` over the vocab (first index on ties, as ``torch.argmax``). Sampling: the
top 32 logits per row (``ttnn.topk``), then ``ttnn.sampling`` (top-k mask, times the reciprocal
temperature, softmax, top-p cut, one draw per row), as TTTv1's sampling does. The device looks at
the 32 most likely tokens only, so sampling on the device needs ``1 <= top_k <= 32``; HF's
``top_k=None`` (the whole vocab) is host sampling (``tttv2_patterns.sampling``), which stays the
reference these are checked against.
"""

from __future__ import annotations

import torch
from tttv2_hwconfig import ttnn

from tttv2_patterns.sampling import SamplingParams

DEVICE_TOP_K = 32  # ttnn.sampling looks at this many candidates per row (TTTv1: topk k=32)


def device_can_sample(params: SamplingParams) -> bool:
    """True when the device gives ``params``' semantics: greedy, or sampling with 1 <= top_k <= 32."""
    return not params.do_sample or (params.top_k is not None and 1 <= params.top_k <= DEVICE_TOP_K)


def check_device_sampling(params: SamplingParams, where: str) -> None:
    if not device_can_sample(params):
        raise ValueError(
            f"{where}: sampling on the device keeps the {DEVICE_TOP_K} most likely tokens (ttnn.sampling), so it needs "
            f"1 <= top_k <= {DEVICE_TOP_K}, got top_k={params.top_k!r}; pass a top_k, or sample on the host "
            "(generate(..., sample_on_device=False))"
        )


def greedy_tokens(logits):
    """``(1, 1, rows, vocab)`` device logits -> ``(1, 1, rows)`` uint32 device argmax.

    Block-float logits (``bfloat8_b``) are cast to bfloat16 first (argmax takes BFLOAT16/FLOAT32);
    the cast is exact, so the argmax is the host's argmax of the same logits.
    """
    if logits.dtype not in (ttnn.bfloat16, ttnn.float32):
        logits = ttnn.typecast(logits, ttnn.bfloat16)
    return ttnn.argmax(logits, dim=-1)


class DeviceSampler:
    """Persistent ``k`` / ``p`` / ``temp`` device tensors per ``SamplingParams`` and the sampling ops."""

    def __init__(self, device, rows: int):
        self.device = device
        self.rows = rows
        self._params: dict[SamplingParams, tuple] = {}

    def _tensors(self, params: SamplingParams) -> tuple:
        if params not in self._params:
            rows = self.rows

            def put(values, dtype):
                return ttnn.from_torch(
                    values,
                    dtype=dtype,
                    layout=ttnn.ROW_MAJOR_LAYOUT,
                    device=self.device,
                    mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
                )

            top_p = 1.0 if params.top_p is None else float(params.top_p)
            self._params[params] = (
                put(torch.full((rows,), params.top_k, dtype=torch.int32), ttnn.uint32),
                put(torch.full((rows,), top_p), ttnn.bfloat16),
                put(torch.full((rows,), 1.0 / params.temperature), ttnn.bfloat16),  # the op takes 1/T
            )
        return self._params[params]

    def sample(self, logits, params: SamplingParams, seed: int | None):
        """``(1, 1, rows, vocab)`` device logits -> ``(1, 1, 1, rows)`` uint32 sampled token ids.

        ``seed``: a non-zero seed re-seeds the device generator for this call; None continues it.
        """
        if logits.shape[-1] < DEVICE_TOP_K:
            raise ValueError(
                f"device sampling needs a vocab of at least {DEVICE_TOP_K}, got {logits.shape[-1]}"
            )
        k, p, temp = self._tensors(params)
        if logits.dtype != ttnn.bfloat16:
            logits = ttnn.typecast(logits, ttnn.bfloat16)
        values, indices = ttnn.topk(logits, k=DEVICE_TOP_K, dim=-1)
        indices = ttnn.to_layout(ttnn.typecast(indices, ttnn.uint32), ttnn.ROW_MAJOR_LAYOUT)
        return ttnn.sampling(values, indices, k, p, temp, seed=seed)


def tokens_to_torch(tokens) -> torch.Tensor:
    """Token ids of a replicated device tensor as a flat int64 torch tensor (the one host read).

    Read through a mesh composer (every device's copy, the first kept), so the read is a
    ``ttnn.to_torch`` of the device tensor that trace-safety tools see.
    """
    device = tokens.device()
    values = ttnn.to_torch(tokens, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=0))
    return values[:1].reshape(-1).to(torch.int64)
