"""Trace capture and replay: ``begin_trace_capture`` ... ``end_trace_capture``, ``execute_trace``.

Semantics mirrored from the device (docs/trace.md has the full contract):

* Inside a capture no host read or write of device data is allowed (``_host_access``): the device
  fails "Reads/Writes are not supported during trace capture".
* Every op inside a capture must already be in the program cache (run once eagerly with the same
  shapes and dtypes): the device cannot compile during capture ("Cannot load new binaries during
  trace capture"). The emulator's program key is (op, input and output shapes and dtypes).
* A trace's inputs are the device tensors its ops read; the only way to change them between
  replays is writing into them in place (``copy_host_to_device_tensor``). Its outputs are the
  tensors the captured ops produced; each replay overwrites them in place.

How: every public op of the emulator namespace is wrapped by :func:`dispatch`. During a capture
the wrapper runs each top-level op once under ``_compiled.capture``, which records the op's torch
calls as a straight-line program over the shards of its ttnn tensor arguments; the step keeps (op
function, arguments, outputs, program). A replay runs each step's program on the same argument
objects (the persistent buffers) and stores the results into the captured output objects, so
later steps and the caller see the new values: no argument check, accounting or op record runs
(all done at capture; the captured records are appended again for the perf model). An op whose
result depends on device values through Python (``.item()``, ``.tolist()``, ``bool(t)``: index
bounds, positions, page tables) has no program; the replay calls its function again, as the
device's host-side code would not but as the emulator's checks need. ``compiled_replay = False``
makes every step re-run its function (the reference path the tests compare against).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import weakref
from dataclasses import dataclass, field

from . import _compiled, _host_access
from ._rules import check, rule
from ._tensor import Tensor, quantize

__all__ = [
    "MeshTraceId",
    "begin_trace_capture",
    "copy_device_to_host_tensor",
    "copy_host_to_device_tensor",
    "end_trace_capture",
    "execute_trace",
    "release_trace",
]

_TRACE_SRC = (
    "tt_metal/distributed/mesh_device.cpp: MeshDevice::begin_mesh_trace / end_mesh_trace / replay_mesh_trace"
)
_CQ_SRC = "tt_metal/distributed/fd_mesh_command_queue.cpp: enqueue_read_shards / enqueue_write_shards / enqueue_program"
_COPY_SRC = "ttnn/cpp/ttnn/operations/core/core.cpp: copy_host_to_device_tensor (docstring Limitations)"

NOT_NESTED = rule(
    "trace.capture_not_nested",
    "ttnn.begin_trace_capture",
    "no other trace capture is in progress on the device",
    _TRACE_SRC,
)
CAPTURE_OPEN = rule(
    "trace.end_matches_begin",
    "ttnn.end_trace_capture",
    "trace_id and cq_id are those of the capture in progress on the device",
    _TRACE_SRC,
)
TRACE_EXISTS = rule(
    "trace.trace_exists",
    "ttnn.execute_trace",
    "trace_id names a captured, ended, not released trace of this device",
    _TRACE_SRC,
)
NO_REPLAY_IN_CAPTURE = rule(
    "trace.no_replay_during_capture",
    "ttnn.execute_trace",
    "no trace capture is in progress on the device",
    _TRACE_SRC,
)
RELEASE_EXISTS = rule(
    "trace.release_exists", "ttnn.release_trace", "trace_id names a trace of this device", _TRACE_SRC
)
PROGRAM_CACHED = rule(
    "trace.program_cached",
    "ttnn.begin_trace_capture",
    "every op inside a capture already ran eagerly with the same shapes and dtypes "
    "(device: 'Cannot load new binaries during trace capture')",
    _CQ_SRC,
)
COPY_HOST_SIDE = rule(
    "copy_host_to_device_tensor.host_tensor_on_host",
    "ttnn.copy_host_to_device_tensor",
    "host_tensor is a host tensor and device_tensor a device tensor",
    _COPY_SRC,
)
COPY_SAME_SPEC = rule(
    "copy_host_to_device_tensor.same_spec",
    "ttnn.copy_host_to_device_tensor",
    "host and device tensors have the same shape, dtype and layout",
    _COPY_SRC,
)
COPY_BACK_SPEC = rule(
    "copy_device_to_host_tensor.same_spec",
    "ttnn.copy_device_to_host_tensor",
    "device_tensor is on a device, host_tensor on the host, with the same shape, dtype and layout",
    "ttnn/cpp/ttnn/operations/core/core.cpp: copy_device_to_host_tensor (docstring Limitations)",
)


class MeshTraceId:
    """The id of a captured trace (``ttnn.MeshTraceId``)."""

    def __init__(self, arg: int, /):
        self._value = int(arg)

    def __int__(self) -> int:
        return self._value

    def __eq__(self, other) -> bool:
        return isinstance(other, MeshTraceId) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"MeshTraceId({self._value})"


@dataclass
class _Step:
    function: object
    args: tuple
    kwargs: dict
    outputs: object  # the outputs' replay shadows (see ``_Capture.record``)
    originals: tuple = ()  # (weakref to the tensor the caller got, its shadow): overwritten while alive
    program: object = None  # its torch program (``_compiled.Program``), or why it has none (str)
    arg_tensors: list = field(default_factory=list)  # the ttnn tensors among args, kwargs (flat)
    out_tensors: list = field(default_factory=list)  # the ttnn tensors among outputs (flat)


@dataclass
class _Capture:
    device: object
    trace_id: MeshTraceId
    cq_id: int
    forbid_token: object
    steps: list[_Step] = field(default_factory=list)
    first_record: int = 0
    records: list = field(default_factory=list)
    depth: int = 0  # > 0 while inside an op (nested public calls are part of the outer op)
    ended: bool = False
    shadows: dict = field(default_factory=dict)  # id(tensor made in the capture) -> (weakref, shadow)

    def record(self, function, args: tuple, kwargs: dict, outputs, program=None) -> None:
        """Keep one op call for replay without keeping its tensors' buffers allocated.

        On the device a buffer made inside a capture is freed when the program drops it (the trace
        rewrites that address at replay). Here the replay needs the objects, so each tensor an op
        makes is replaced in the recorded call by a *shadow*: the same tensor without an allocation.
        The original keeps its allocation and frees it when dropped, as on the device; the caller's
        copies (the trace outputs) are overwritten at replay while they are alive.
        """
        inputs = {}
        args, kwargs = self._substitute(args, inputs), self._substitute(kwargs, inputs)
        originals: list = []
        shadow_outputs = self._shadow(outputs, inputs, originals)
        step = _Step(function, args, kwargs, shadow_outputs, tuple(originals), program)
        if isinstance(program, _compiled.Program | _compiled.Kernel):
            step.arg_tensors = _compiled.flat_tensors((args, kwargs))
            step.out_tensors = _compiled.flat_tensors(shadow_outputs)
        self.steps.append(step)

    def _lookup(self, tensor: Tensor):
        entry = self.shadows.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def _substitute(self, value, inputs: dict):
        if isinstance(value, Tensor):
            inputs[id(value)] = replaced = self._lookup(value) or value
            return replaced
        if isinstance(value, list | tuple):
            return type(value)(self._substitute(v, inputs) for v in value)
        if isinstance(value, dict):
            return {k: self._substitute(v, inputs) for k, v in value.items()}
        return value

    def _shadow(self, value, inputs: dict, originals: list):
        if isinstance(value, Tensor):
            if id(value) in inputs:  # an in-place op returned one of its inputs
                return inputs[id(value)]
            shadow = object.__new__(Tensor)
            shadow.__dict__.update(value.__dict__)
            shadow._allocation, shadow._finalizer = None, None
            self.shadows[id(value)] = (weakref.ref(value), shadow)
            originals.append((weakref.ref(value), shadow))
            return shadow
        if isinstance(value, list | tuple):
            return type(value)(self._shadow(v, inputs, originals) for v in value)
        return value


_REPLAYABLE = (_compiled.Program, _compiled.Kernel)
compiled_replay = True  # False: a replay re-runs each op function (the reference path, for tests)
_ids = itertools.count()
_active: list[_Capture] = []  # captures in progress (at most one per device)


def _traces(device) -> dict:
    if not hasattr(device, "_traces"):
        device._traces = {}
        device._program_cache = set()
        device._capturing = None
        device.replaying = False
    return device._traces


def _cq(cq_id) -> int:
    return 0 if cq_id is None else int(cq_id)


def begin_trace_capture(mesh_device, *, cq_id=None) -> MeshTraceId:
    op = "ttnn.begin_trace_capture"
    mesh_device.check_open(op)
    _traces(mesh_device)
    check(
        mesh_device._capturing is None,
        NOT_NESTED,
        f"trace {mesh_device._capturing.trace_id if mesh_device._capturing else None} is still being "
        f"captured on {mesh_device.spec.name}; end it with ttnn.end_trace_capture first",
    )
    trace_id = MeshTraceId(next(_ids))
    reason = f"a trace capture (ttnn.begin_trace_capture on {mesh_device.spec.name}, {trace_id})"
    token = _host_access.forbid_globally(reason)
    capture = _Capture(mesh_device, trace_id, _cq(cq_id), token)
    if mesh_device.trace is not None:
        capture.first_record = mesh_device.trace.total
    mesh_device._capturing = capture
    _active.append(capture)
    return trace_id


def end_trace_capture(mesh_device, trace_id, *, cq_id=None) -> None:
    op = "ttnn.end_trace_capture"
    _traces(mesh_device)
    capture = mesh_device._capturing
    check(
        capture is not None and capture.trace_id == trace_id and capture.cq_id == _cq(cq_id),
        CAPTURE_OPEN,
        f"{op}: trace_id={trace_id!r}, cq_id={cq_id!r} on {mesh_device.spec.name}; capture in progress: "
        f"{(capture.trace_id, capture.cq_id) if capture else None}",
    )
    _host_access.allow_globally(capture.forbid_token)
    _active.remove(capture)
    mesh_device._capturing = None
    if mesh_device.trace is not None:
        capture.records = mesh_device.trace.since(capture.first_record)
    capture.ended = True
    mesh_device._traces[trace_id] = capture


def execute_trace(mesh_device, trace_id, *, cq_id=None, blocking: bool = True) -> None:
    op = "ttnn.execute_trace"
    mesh_device.check_open(op)
    traces = _traces(mesh_device)
    check(
        mesh_device._capturing is None,
        NO_REPLAY_IN_CAPTURE,
        f"trace {mesh_device._capturing.trace_id if mesh_device._capturing else None} is being captured",
    )
    capture = traces.get(trace_id)
    check(
        capture is not None,
        TRACE_EXISTS,
        f"trace_id={trace_id!r} on {mesh_device.spec.name}; traces: {sorted(map(int, traces))}",
    )
    mesh_device.replaying = True
    try:
        for step in capture.steps:
            program = step.program if compiled_replay else None
            if type(program) not in _REPLAYABLE or not program.run(step.arg_tensors, step.out_tensors):
                fresh = step.function(*step.args, **step.kwargs)
                _overwrite(step.outputs, fresh)
            for original, shadow in step.originals:
                tensor = original()
                if tensor is not None:  # the caller still holds it: a trace output
                    tensor._shards = shadow._shards
    finally:
        mesh_device.replaying = False
    if mesh_device.trace is not None:
        from ._op import record  # noqa: PLC0415

        record(op, mesh_device, [], [], trace_id=int(trace_id), ops=len(capture.steps))
        for captured in capture.records:
            mesh_device.trace.append(captured)


def release_trace(mesh_device, trace_id) -> None:
    traces = _traces(mesh_device)
    check(
        trace_id in traces,
        RELEASE_EXISTS,
        f"trace_id={trace_id!r} on {mesh_device.spec.name}; traces: {sorted(map(int, traces))}",
    )
    del traces[trace_id]


def _overwrite(captured, fresh) -> None:
    """Move a replayed result into the tensors the capture handed out (they are the trace outputs)."""
    if isinstance(captured, Tensor):
        if fresh is not captured:
            captured._shards = fresh._shards
    elif isinstance(captured, list | tuple):
        for old, new in zip(captured, fresh):
            _overwrite(old, new)


# --- host <-> device copies into persistent tensors --------------------------------------------


def _write_into(target: Tensor, shards: list) -> None:
    """Write new values into ``target``'s buffers in place, keeping its replication pattern."""
    current = target.shards
    n = len(current)
    shards = shards * n if len(shards) == 1 and n > 1 else shards
    distinct_now = [id(s) for s in current]
    same_pattern = all(
        (distinct_now[i] == distinct_now[j]) == (shards[i] is shards[j]) for i in range(n) for j in range(i)
    )
    if same_pattern:
        done = set()
        for old, new in zip(current, shards):
            if id(old) not in done:
                old.copy_(new)
                done.add(id(old))
    else:
        target._shards = [s.clone() for s in shards]


def copy_host_to_device_tensor(host_tensor, device_tensor, cq_id=None) -> None:
    """Write a host tensor's values into an existing device tensor, in place (same buffers)."""
    op = "ttnn.copy_host_to_device_tensor"
    check(
        isinstance(host_tensor, Tensor)
        and isinstance(device_tensor, Tensor)
        and host_tensor.device() is None
        and device_tensor.device() is not None,
        COPY_HOST_SIDE,
        f"host_tensor on {'host' if getattr(host_tensor, 'device', lambda: 1)() is None else 'device'}, "
        f"device_tensor on {'host' if getattr(device_tensor, 'device', lambda: None)() is None else 'device'}",
    )
    check(
        host_tensor.shape == device_tensor.shape
        and host_tensor.dtype == device_tensor.dtype
        and host_tensor.layout == device_tensor.layout,
        COPY_SAME_SPEC,
        f"host_tensor {list(host_tensor.shape)} {host_tensor.dtype.name} {host_tensor.layout.name}, "
        f"device_tensor {list(device_tensor.shape)} {device_tensor.dtype.name} {device_tensor.layout.name}",
    )
    device = device_tensor.device()
    device.check_open(op)
    host_shards = host_tensor.shards
    if len(host_shards) not in (1, device_tensor.num_shards):
        from ._op import fail  # noqa: PLC0415

        fail(
            op,
            f"host_tensor holds {len(host_shards)} device shards, device_tensor {device_tensor.num_shards}",
        )
    _write_into(device_tensor, [quantize(s, device_tensor.dtype) for s in host_shards])
    from ._op import record  # noqa: PLC0415

    record(op, device, [], [device_tensor])


def copy_device_to_host_tensor(device_tensor, host_tensor, blocking: bool = True, cq_id=None) -> None:
    """Read a device tensor's values into an existing host tensor, in place."""
    op = "ttnn.copy_device_to_host_tensor"
    check(
        isinstance(host_tensor, Tensor)
        and isinstance(device_tensor, Tensor)
        and host_tensor.device() is None
        and device_tensor.device() is not None
        and host_tensor.shape == device_tensor.shape
        and host_tensor.dtype == device_tensor.dtype
        and host_tensor.layout == device_tensor.layout,
        COPY_BACK_SPEC,
        f"device_tensor {device_tensor!r}, host_tensor {host_tensor!r}",
    )
    host_tensor._shards = [s.clone() for s in device_tensor.shards]
    from ._op import record  # noqa: PLC0415

    record(op, device_tensor.device(), [device_tensor], [])


# --- the dispatch wrapper every public op goes through -----------------------------------------


def _tensor_arg(args, kwargs, position: int, name: str):
    if len(args) > position:
        return args[position]
    return kwargs.get(name)


def _make_guard(name: str, function):
    """The host-transfer check of op ``name`` (None when the op moves no data across)."""
    op = f"ttnn.{name}"
    if name in ("to_torch", "from_device"):
        return lambda a, k: _host_access.host_read(op, _tensor_arg(a, k, 0, "tensor"))
    if name == "dump_tensor":
        return lambda a, k: _host_access.host_read(op, _tensor_arg(a, k, 1, "tensor"))
    if name == "copy_device_to_host_tensor":
        return lambda a, k: _host_access.host_read(op, _tensor_arg(a, k, 0, "device_tensor"))
    if name == "copy_host_to_device_tensor":
        return lambda a, k: _host_access.host_write(op, _tensor_arg(a, k, 1, "device_tensor"))
    if name == "to_device":

        def guard(a, k):
            tensor = _tensor_arg(a, k, 0, "tensor")
            if isinstance(tensor, Tensor) and tensor.device() is None:
                _host_access.host_write(op, tensor)

        return guard
    if name in ("from_torch", "load_tensor", "zeros", "ones", "full", "arange", "empty"):
        try:
            position = list(inspect.signature(function).parameters).index("device")
        except ValueError:
            return None
        keyword_only = inspect.signature(function).parameters["device"].kind == inspect.Parameter.KEYWORD_ONLY

        def guard(a, k):
            device = k.get("device") if keyword_only or len(a) <= position else a[position]
            if device is not None:
                _host_access.host_write(op, None)

        return guard
    return None


def dispatch(name: str, function):
    """Wrap public op ``function``: host-transfer checks, and the step record of a capture."""
    guard = _make_guard(name, function)

    @functools.wraps(function)
    def op(*args, **kwargs):
        if guard is not None:
            guard(args, kwargs)
        if not _active:
            return function(*args, **kwargs)
        capture = _active[-1]
        if capture.depth:
            return function(*args, **kwargs)
        capture.depth += 1
        try:
            outputs, program = _compiled.capture(function, args, kwargs)
        finally:
            capture.depth -= 1
        capture.record(function, args, kwargs, outputs, program)
        return outputs

    op.__wrapped_op__ = function
    return op


_NOT_OPS = frozenset(
    {
        "begin_trace_capture",
        "end_trace_capture",
        "execute_trace",
        "release_trace",
        "synchronize_device",
        "deallocate",
    }
)


def wrap_namespace(module, names) -> None:
    """Replace each public function ``name`` of ``module`` by its :func:`dispatch` wrapper."""
    for name in names:
        value = getattr(module, name)
        if inspect.isfunction(value) and not hasattr(value, "__wrapped_op__") and name not in _NOT_OPS:
            setattr(module, name, dispatch(name, value))


def program_cache_check(device, key) -> None:
    """Called by ``_op.record``: ops inside a capture must hit the program cache."""
    capturing = getattr(device, "_capturing", None)
    cache = getattr(device, "_program_cache", None)
    if cache is None:
        _traces(device)
        cache = device._program_cache
    if capturing is not None and key not in cache:
        check(
            False,
            PROGRAM_CACHED,
            f"{key[0]} with inputs {list(key[1])} {list(key[2])} was not run before the capture on "
            f"{device.spec.name}; run the program once eagerly (TTTv1's compile run) before begin_trace_capture",
        )
    cache.add(key)
