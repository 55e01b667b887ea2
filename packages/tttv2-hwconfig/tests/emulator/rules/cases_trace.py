"""Trace capture / replay and persistent-tensor copy rule cases (emulator ``_ops_trace.py``).

Ops: ttnn.begin_trace_capture / end_trace_capture / execute_trace / release_trace
(tt_metal/distributed/mesh_device.cpp: MeshDevice::begin_mesh_trace / end_mesh_trace /
replay_mesh_trace / release_mesh_trace; fd_mesh_command_queue.cpp for 'Cannot load new binaries
during trace capture'), ttnn.copy_host_to_device_tensor / copy_device_to_host_tensor
(ttnn/cpp/ttnn/operations/core/core.cpp).

A capture in progress is global emulator state (it forbids host transfers everywhere), so every
case that opens one ends it in a ``finally`` (see :func:`capturing`) and releases what it captured:
a case that raises leaves no capture open and no trace behind, whatever order the cases run in.
"""

import contextlib

import torch
from rulecase import Case, Control, dev
from tttv2_hwconfig import open_device, ttnn

NEVER_CAPTURED = ttnn.MeshTraceId(10**9)
SHAPE = (1, 1, 32, 64)


@contextlib.contextmanager
def capturing(d, *, cq_id=0):
    """Begin a capture; whatever the block raises, end it and release the trace."""
    trace_id = ttnn.begin_trace_capture(d, cq_id=cq_id)
    try:
        yield trace_id
    finally:
        ttnn.end_trace_capture(d, trace_id, cq_id=cq_id)
        ttnn.release_trace(d, trace_id)


def host(data, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT):
    return ttnn.from_torch(data, dtype=dtype, layout=layout)


def first(t):
    """The first device's values of ``t`` (a host tensor read back from a mesh holds one per device)."""
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0] if t.num_shards > 1 else t)


def program(x, w):
    return ttnn.softmax(ttnn.add(ttnn.matmul(x, w), x), dim=-1)


def captured(d):
    """A persistent input ``x``, a compiled and captured ``program(x, w)``: (trace_id, x, w, out)."""
    x, w = dev(d, SHAPE), dev(d, (64, 64), data=torch.randn(64, 64) / 8)
    program(x, w)  # the compile run: the device cannot compile inside a capture
    trace_id = ttnn.begin_trace_capture(d, cq_id=0)
    try:
        out = program(x, w)
    finally:
        ttnn.end_trace_capture(d, trace_id, cq_id=0)
    return trace_id, x, w, out


# --- trace rule cases -----------------------------------------------------------------------


def nested_capture(d):
    with capturing(d):
        ttnn.begin_trace_capture(d, cq_id=0)


def end_without_capture(d):
    ttnn.end_trace_capture(d, NEVER_CAPTURED, cq_id=0)


def end_wrong(d, *, trace_id=None, cq_id=0):
    with capturing(d) as real:
        ttnn.end_trace_capture(d, trace_id if trace_id is not None else real, cq_id=cq_id)


def end_twice(d):
    trace_id, *_ = captured(d)
    try:
        ttnn.end_trace_capture(d, trace_id, cq_id=0)
    finally:
        ttnn.release_trace(d, trace_id)


def execute_released(d):
    trace_id, *_ = captured(d)
    ttnn.release_trace(d, trace_id)
    ttnn.execute_trace(d, trace_id, cq_id=0)


def execute_on_other_device(d):
    trace_id, *_ = captured(d)
    try:
        with open_device(d.spec.name) as other:
            ttnn.execute_trace(other, trace_id, cq_id=0)
    finally:
        ttnn.release_trace(d, trace_id)


def execute_during_capture(d):
    trace_id, *_ = captured(d)
    try:
        with capturing(d):
            ttnn.execute_trace(d, trace_id, cq_id=0)
    finally:
        ttnn.release_trace(d, trace_id)


def execute_own_capture(d):
    with capturing(d) as trace_id:
        ttnn.execute_trace(d, trace_id, cq_id=0)


def release_twice(d):
    trace_id, *_ = captured(d)
    ttnn.release_trace(d, trace_id)
    ttnn.release_trace(d, trace_id)


def uncompiled_in_capture(d, compile_shape=None, compile_dtype=None):
    """``ttnn.exp`` inside a capture, compiled before only for ``compile_shape`` / ``compile_dtype`` (if given)."""
    x = dev(d, SHAPE)
    if compile_shape or compile_dtype:
        ttnn.exp(dev(d, compile_shape or SHAPE, dtype=compile_dtype))
    with capturing(d):
        ttnn.exp(x)


# --- copy rule cases ------------------------------------------------------------------------


def copy_in(d, host_tensor):
    ttnn.copy_host_to_device_tensor(host_tensor, dev(d, SHAPE))


def copy_out(d, host_tensor, device_tensor=None):
    ttnn.copy_device_to_host_tensor(
        device_tensor if device_tensor is not None else dev(d, SHAPE), host_tensor
    )


CASES = [
    Case("trace.capture_not_nested", nested_capture),
    Case("trace.end_matches_begin", end_without_capture),
    Case("trace.end_matches_begin", lambda d: end_wrong(d, trace_id=NEVER_CAPTURED), name="trace_id"),
    Case("trace.end_matches_begin", lambda d: end_wrong(d, cq_id=1), name="cq_id"),
    Case("trace.end_matches_begin", end_twice, name="ended_twice"),
    Case("trace.trace_exists", lambda d: ttnn.execute_trace(d, NEVER_CAPTURED, cq_id=0)),
    Case("trace.trace_exists", execute_released, name="released"),
    Case("trace.trace_exists", execute_on_other_device, name="other_device"),
    Case("trace.no_replay_during_capture", execute_during_capture),
    Case("trace.no_replay_during_capture", execute_own_capture, name="own_trace"),
    Case("trace.release_exists", lambda d: ttnn.release_trace(d, NEVER_CAPTURED)),
    Case("trace.release_exists", release_twice, name="released_twice"),
    Case("trace.program_cached", uncompiled_in_capture),
    Case("trace.program_cached", lambda d: uncompiled_in_capture(d, (1, 1, 32, 128)), name="new_shape"),
    Case(
        "trace.program_cached",
        lambda d: uncompiled_in_capture(d, compile_dtype=ttnn.bfloat8_b),
        name="new_dtype",
    ),
    Case("copy_host_to_device_tensor.host_tensor_on_host", lambda d: copy_in(d, dev(d, SHAPE))),
    Case(
        "copy_host_to_device_tensor.host_tensor_on_host",
        lambda d: ttnn.copy_host_to_device_tensor(host(torch.zeros(SHAPE)), host(torch.zeros(SHAPE))),
        name="device_tensor_on_host",
    ),
    Case("copy_host_to_device_tensor.same_spec", lambda d: copy_in(d, host(torch.zeros(1, 1, 32, 32)))),
    Case(
        "copy_host_to_device_tensor.same_spec",
        lambda d: copy_in(d, host(torch.zeros(SHAPE), ttnn.float32)),
        name="dtype",
    ),
    Case(
        "copy_host_to_device_tensor.same_spec",
        lambda d: copy_in(d, host(torch.zeros(SHAPE), layout=ttnn.ROW_MAJOR_LAYOUT)),
        name="layout",
    ),
    Case("copy_device_to_host_tensor.same_spec", lambda d: copy_out(d, host(torch.zeros(1, 1, 32, 32)))),
    Case(
        "copy_device_to_host_tensor.same_spec",
        lambda d: copy_out(d, host(torch.zeros(SHAPE), ttnn.float32)),
        name="dtype",
    ),
    Case(
        "copy_device_to_host_tensor.same_spec",
        lambda d: copy_out(d, host(torch.zeros(SHAPE), layout=ttnn.ROW_MAJOR_LAYOUT)),
        name="layout",
    ),
    Case(
        "copy_device_to_host_tensor.same_spec",
        lambda d: copy_out(d, dev(d, SHAPE)),
        name="host_tensor_on_device",
    ),
    Case(
        "copy_device_to_host_tensor.same_spec",
        lambda d: copy_out(d, host(torch.zeros(SHAPE)), host(torch.zeros(SHAPE))),
        name="device_tensor_on_host",
    ),
]


# --- controls -------------------------------------------------------------------------------


def capture_then_release(d):
    trace_id, *_ = captured(d)
    ttnn.release_trace(d, trace_id)


def empty_capture_default_cq(d):
    """begin with cq_id=0, end with the default cq (0): the same queue."""
    trace_id = ttnn.begin_trace_capture(d, cq_id=0)
    ttnn.end_trace_capture(d, trace_id)
    ttnn.release_trace(d, trace_id)


def replay_equals_eager(d):
    """Write a new input in place, replay: the captured output equals an eager run bit for bit."""
    trace_id, x, w, out = captured(d)
    try:
        for _ in range(2):
            data = torch.randn(SHAPE)
            ttnn.copy_host_to_device_tensor(host(data), x)
            ttnn.execute_trace(d, trace_id, cq_id=0, blocking=True)
            assert torch.equal(first(out), first(program(dev(d, SHAPE, data=data), w)))
    finally:
        ttnn.release_trace(d, trace_id)


def release_then_capture_again(d):
    capture_then_release(d)
    capture_then_release(d)


def copy_in_place(d, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT):
    target = dev(d, SHAPE, data=torch.zeros(SHAPE), dtype=dtype, layout=layout)
    buffer = target.shards[0]
    data = torch.randint(0, 100, SHAPE).float()
    ttnn.copy_host_to_device_tensor(host(data, dtype, layout), target)
    assert target.shards[0] is buffer and torch.equal(first(target).float(), data)


def copy_back(d):
    data = torch.randn(SHAPE).to(torch.bfloat16)
    out = host(torch.zeros(SHAPE))
    ttnn.copy_device_to_host_tensor(dev(d, SHAPE, data=data.float()), out)
    assert out.device() is None and torch.equal(first(out), data)


CONTROLS = [
    Control("ttnn.begin_trace_capture", capture_then_release),
    Control("ttnn.end_trace_capture", empty_capture_default_cq),
    Control("ttnn.execute_trace", replay_equals_eager),
    Control("ttnn.release_trace", release_then_capture_again),
    Control("ttnn.copy_host_to_device_tensor", copy_in_place),
    Control(
        "ttnn.copy_host_to_device_tensor",
        lambda d: copy_in_place(d, ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT),
        name="uint32_row_major",
    ),
    Control("ttnn.copy_device_to_host_tensor", copy_back),
]
