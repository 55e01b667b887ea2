"""Padded decode inputs that live on the device, and the decode trace captured over them.

A decode step runs one of two programs, its *row bucket* (:func:`decode_rows`): one row for a step
of a single user sampled greedily, else ``DECODE_ROWS`` = 32 rows (one tile of users), whatever the
number of users, so one program (and one trace) fits every such step. Rows past the step's users are
idle and marked as the real ops skip them (TTTv1 ``models/tt_transformers/tt/generator.py``:
``cur_pos = -1`` for inactive users; ``paged_update_cache`` writes nothing and
``paged_scaled_dot_product_attention_decode`` attends nothing for them).

The device computes whole tiles either way (a one-row tensor is tile-padded to 32 rows; TTTv1 runs
``max_batch_size=1`` the same way), so both buckets cost the device about the same (the head split
and merge use one core instead of 32); the emulator, which computes logical rows only, does 1/32 of
the element-wise work in the one-row bucket (the matmuls still read every weight).
Device sampling (``ttnn.sampling``) takes 32 rows, so a sampled step always uses the 32-row bucket.

The four inputs of a step are persistent device tensors, written in place with
``ttnn.copy_host_to_device_tensor`` before each step (TTTv1's ``copy_host_to_device``), so a trace
captured over them replays with the new values:

=================  ==========================  =========================================================
tensor             shape, dtype                idle row
=================  ==========================  =========================================================
``token_ids``      ``(1, 1, 1, rows)`` uint32  token 0
``current_pos``    ``(rows,)`` int32           -1 (skipped by the cache update and SDPA decode)
``rot_idxs``       ``(1, rows)`` uint32        0 (``ttnn.embedding`` needs a valid row; result unused)
``page_table``     ``(rows, blocks)`` int32    the first user's row (never read: its position is -1)
=================  ==========================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tttv2_hwconfig import ttnn

DECODE_ROWS = 32  # one tile of users: the most users of one decode step, and its large row bucket
SINGLE_USER_ROWS = 1  # the row bucket of a greedy single-user step


def decode_rows(users: int, *, device_sampling: bool) -> int:
    """The row bucket of a decode step of ``users`` users (see the module docstring)."""
    return SINGLE_USER_ROWS if users == 1 and not device_sampling else DECODE_ROWS


def _host_tensor(values: torch.Tensor, dtype):
    return ttnn.from_torch(values, dtype=dtype, layout=ttnn.ROW_MAJOR_LAYOUT)


@dataclass
class DecodeInputs:
    """The persistent device inputs of one decode step (see the module docstring)."""

    token_ids: object
    current_pos: object
    rot_idxs: object
    page_table: object

    @staticmethod
    def host_values(
        tokens: list[int], positions: list[int], table_rows: torch.Tensor, rows: int = DECODE_ROWS
    ) -> dict:
        """Host torch values of the four inputs, padded to ``rows`` rows (the step's row bucket)."""
        users, pad = len(tokens), rows - len(tokens)
        if not 1 <= users <= rows:
            raise ValueError(f"decode: {users} users in one step; a {rows}-row decode step takes 1 to {rows}")
        table = torch.cat([table_rows, table_rows[:1].expand(pad, -1)]).to(torch.int32)
        return {
            "token_ids": (torch.tensor(tokens + [0] * pad).reshape(1, 1, 1, rows), ttnn.uint32),
            "current_pos": (torch.tensor(positions + [-1] * pad, dtype=torch.int32), ttnn.int32),
            "rot_idxs": (torch.tensor(positions + [0] * pad).reshape(1, rows), ttnn.uint32),
            "page_table": (table, ttnn.int32),
        }

    @classmethod
    def allocate(cls, values: dict, device) -> DecodeInputs:
        """Put the first step's values on ``device`` (replicated), as the persistent tensors."""
        return cls(
            **{
                name: ttnn.from_torch(
                    tensor,
                    dtype=dtype,
                    layout=ttnn.ROW_MAJOR_LAYOUT,
                    device=device,
                    memory_config=ttnn.DRAM_MEMORY_CONFIG,
                    mesh_mapper=ttnn.ReplicateTensorToMesh(device),
                )
                for name, (tensor, dtype) in values.items()
            }
        )

    def write(self, values: dict) -> None:
        """Write a step's values into the persistent tensors in place (the only host writes of a step)."""
        for name, (tensor, dtype) in values.items():
            ttnn.copy_host_to_device_tensor(_host_tensor(tensor, dtype), getattr(self, name))


@dataclass
class DecodeTrace:
    """A captured decode step: replay it with ``ttnn.execute_trace``; ``outputs`` are overwritten."""

    trace_id: object
    outputs: tuple


class DecodeTraces:
    """One captured trace per decode row bucket on the model's device (TTTv1's ``trace_id_decode``),
    keyed by the bucket's row count (:func:`decode_rows`)."""

    def __init__(self, device):
        self.device = device
        self.traces: dict[int, DecodeTrace] = {}

    def run(self, rows: int, step, inputs: DecodeInputs) -> tuple:
        """Outputs of ``step(inputs)``: replay the bucket's trace, capturing it first if needed.

        The first call of a bucket runs the step eagerly (the compile run: the device cannot compile
        inside a capture), captures it, then replays it; all three write the same KV entries from the
        same inputs, so the first step's results equal the later replays'.
        """
        trace = self.traces.get(rows)
        if trace is None:
            step(inputs)  # compile run
            trace_id = ttnn.begin_trace_capture(self.device, cq_id=0)
            try:
                outputs = step(inputs)
            finally:
                ttnn.end_trace_capture(self.device, trace_id, cq_id=0)
            trace = self.traces[rows] = DecodeTrace(trace_id, outputs)
        ttnn.execute_trace(self.device, trace.trace_id, cq_id=0, blocking=False)
        return trace.outputs

    def release(self) -> None:
        """Release every captured trace (the blocks or the KV cache they read are being replaced)."""
        for trace in self.traces.values():
            ttnn.release_trace(self.device, trace.trace_id)
        self.traces.clear()


def padded_prefill_len(seq_len: int, capacity: int) -> int:
    """The length a prompt is padded to, so prefill programs are reused across prompt lengths.

    TTTv1's rule (``models/tt_transformers/tt/common.py: get_padded_prefill_len``): 128 up to 128
    tokens, then the smaller of the next power of two and the next multiple of 2048; capped at the
    user's KV-cache capacity (``capacity``, a multiple of 32), never below ``seq_len``.
    """
    if seq_len <= 128:
        bucket = 128
    else:
        bucket = min(1 << (seq_len - 1).bit_length(), 2048 * -(-seq_len // 2048))
    return max(seq_len, min(bucket, capacity))
