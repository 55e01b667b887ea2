"""Predicted device decode speed from the emulator's op trace (a roofline PREDICTION, not a measurement).

The trace of a generation holds one prefill and ``new_tokens - 1`` decode steps (the first new token
comes out of the prefill). Running the same batch once more for a single token gives the prefill
alone; the difference, divided by the decode steps, is one decode step:

    decode_step_s = (predicted(trace of N tokens) - predicted(trace of 1 token)) / (N - 1)
"""

from __future__ import annotations

from collections.abc import Iterable


def predicted_decode_step_s(
    generation_records: Iterable, prefill_records: Iterable, new_tokens: int, device_name: str
) -> float:
    """PREDICTED seconds of one decode step (all users of the batch) on ``device_name``.

    Args:
        generation_records: op records of a generation of ``new_tokens`` tokens.
        prefill_records: op records of the same batch generating 1 token (the prefill alone).
        new_tokens: tokens generated per user in ``generation_records``; at least 2.
        device_name: catalog name, e.g. "N150".
    """
    from tttv2_hwconfig import predict_trace  # noqa: PLC0415 - only needed once a device is used

    if new_tokens < 2:
        raise ValueError(f"need at least 2 generated tokens to isolate a decode step, got {new_tokens}")
    full_s = predict_trace(list(generation_records), device_name).total_latency_s
    prefill_s = predict_trace(list(prefill_records), device_name).total_latency_s
    step_s = (full_s - prefill_s) / (new_tokens - 1)
    if not step_s > 0:
        raise ValueError(
            f"predicted generation time {full_s:.6f} s is not above the prefill alone ({prefill_s:.6f} s); "
            "the two traces do not come from the same batch"
        )
    return step_s
