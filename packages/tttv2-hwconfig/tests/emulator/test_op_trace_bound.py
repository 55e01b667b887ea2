"""The op trace is bounded: it keeps the newest ``max_records`` and still reads windows exactly.

Through ``generate`` every replayed decode step appends its ~800 captured records, so an unbounded trace
grows with every token a server produces.
"""

import pytest
import torch
from tttv2_hwconfig import open_device, ttnn
from tttv2_hwconfig.emulator._trace import DEFAULT_MAX_RECORDS, OpRecord, OpTrace


def _record(i: int) -> OpRecord:
    return OpRecord(f"op{i}", (), (), (), ())


def test_keeps_the_newest_records_and_counts_the_dropped_ones():
    trace = OpTrace(max_records=8)
    for i in range(100):
        trace.append(_record(i))
        assert len(trace) <= 8 + 8 // 4  # trimmed in chunks, never far above the bound
    assert trace.total == 100
    assert trace.dropped + len(trace) == 100
    assert [r.name for r in trace.records] == [f"op{i}" for i in range(trace.dropped, 100)]


def test_a_window_reads_exactly_its_records_across_drops():
    trace = OpTrace(max_records=8)
    for i in range(50):
        trace.append(_record(i))
    mark = trace.total
    for i in range(50, 56):
        trace.append(_record(i))
    assert [r.name for r in trace.since(mark)] == [f"op{i}" for i in range(50, 56)]


def test_a_window_whose_start_was_dropped_is_refused():
    trace = OpTrace(max_records=8)
    mark = trace.total
    for i in range(20):
        trace.append(_record(i))
    with pytest.raises(ValueError, match=r"OpTrace.since\(0\): records 0\.\.\d+ were dropped.*max_records=8"):
        trace.since(mark)


def test_unbounded_and_bad_bounds():
    trace = OpTrace(max_records=None)
    for i in range(1000):
        trace.append(_record(i))
    assert (len(trace), trace.dropped) == (1000, 0)
    trace.max_records = 10  # lowering the bound trims at once
    assert (len(trace), trace.dropped) == (10, 990)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_records must be a positive int or None"):
            trace.max_records = bad
    trace.clear()
    assert (trace.total, trace.dropped) == (0, 0)


def test_devices_start_bounded():
    with open_device("N150") as device:
        assert device.trace.max_records == DEFAULT_MAX_RECORDS


def test_a_trace_captured_after_drops_records_its_own_ops():
    with open_device("N150") as device:
        device.trace.max_records = 4
        x = ttnn.from_torch(
            torch.ones(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
        )
        for _ in range(12):  # fill the trace past its bound before the capture
            ttnn.add(x, x)
        ttnn.multiply(x, x)  # the compile run the device needs before a capture
        assert device.trace.dropped > 0
        trace_id = ttnn.begin_trace_capture(device, cq_id=0)
        y = ttnn.multiply(x, x)
        ttnn.end_trace_capture(device, trace_id, cq_id=0)
        before = device.trace.total
        ttnn.execute_trace(device, trace_id, cq_id=0, blocking=True)
        replayed = device.trace.since(before)
        assert "ttnn.execute_trace" in [r.name for r in replayed]
        assert any(r.name == "ttnn.multiply" for r in replayed)  # the captured op, not an older add
        assert not any(r.name == "ttnn.add" for r in replayed)
        ttnn.release_trace(device, trace_id)
        del y
