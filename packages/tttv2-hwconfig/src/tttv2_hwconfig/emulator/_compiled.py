"""A captured op as a straight-line torch program, for trace replay without the op's Python logic.

At capture each top-level op runs once under :class:`_Recorder` (a ``TorchFunctionMode``): every
torch call it makes is kept with its arguments. The torch tensors it reads are then classified:
a shard of one of the op's ttnn tensor arguments is a *slot* read again at replay (its current
value); a tensor made by an earlier call of the same op is a slot too; anything else (a weight
cache entry, a constant) is kept as is. Replay runs the calls in order on the slots and stores the
results in the op's output tensors (and in any argument whose shards the op replaced).

An op whose result depends on values through Python (``.item()``, ``bool(t)``, ``.tolist()``, a
``torch.Generator`` it seeds itself) cannot be replayed that way: it is marked *dynamic* and the
replay runs the op function itself (``_ops_trace.execute_trace``), unless the op hands the capture
its own replay function with :func:`replay_with` (a :class:`Kernel`): the op's compute with every
argument check and every value fixed by the capture already bound, reading the device values it
depends on (positions, page tables) from its tensor arguments at each replay. The paged cache
update and flash decode do this: they are the same code the op runs, so the bits are the op's.
"""

from __future__ import annotations

import sys

import torch
from torch.overrides import TorchFunctionMode

from . import _numerics
from ._tensor import Tensor

# Calls whose non-tensor result is metadata (fixed by the shapes and dtypes the capture pinned).
_METADATA = frozenset(
    {
        "size",
        "dim",
        "numel",
        "nelement",
        "stride",
        "shape",
        "ndim",
        "dtype",
        "device",
        "layout",
        "is_contiguous",
        "element_size",
        "is_floating_point",
        "is_complex",
        "is_meta",
        "is_sparse",
        "is_cuda",
        "requires_grad",
        "storage_offset",
        "__len__",
        "dim_order",
        "names",
        "is_quantized",
        "is_nested",
        "_base",
        "grad_fn",
        "is_leaf",
        "__repr__",
        "__format__",
        "_version",
    }
)
_SCALARS = (bool, int, float, complex, str, list)
# Metadata reads that return a tensor only looked at by Python (``x._base is None``), never computed on.
_INSPECTED = frozenset({"_base", "grad_fn"})


def _name(func) -> str:
    name = getattr(func, "__name__", "")
    if name in ("__get__", "__set__"):
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name


def _tensors(value, out: list) -> list:
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, list | tuple):
        for v in value:
            _tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors(v, out)
    return out


def _caller() -> str:
    """file:line of the emulator code that made the current torch call (for the dynamic reason)."""
    frame = sys._getframe(2)
    while frame is not None and (
        "/torch/" in frame.f_code.co_filename or frame.f_code.co_filename == __file__
    ):
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"


_recording: list = []  # the active _Recorder (at most one: captures do not nest)


def depends_on(source: torch.Tensor) -> None:
    """Say that a value cached outside the recorded calls derives from ``source`` (a fidelity slice).

    The program then keeps ``source``'s version: a replay after ``source`` was written in place
    re-runs the op instead of using the stale cached value.
    """
    if _recording:
        _recording[-1].guards.append((source, source._version))


def replay_with(kernel, *tensors) -> None:
    """Inside a capture, replay the current op as ``kernel(*tensors)`` rather than re-running it.

    ``tensors`` are ttnn tensor arguments of the op (or None), passed again at each replay (the
    replay's persistent buffers); ``kernel`` returns the output shards, one list per ttnn tensor the
    op returned (in the order of ``flat_tensors(outputs)``), or None for an op that writes into its
    arguments in place and returns them. It must compute exactly what the op computes (the op
    should call it itself) and may read device values through Python: it runs without a recorder.
    Outside a capture this does nothing.
    """
    if _recording:
        _recording[-1].kernel = (kernel, tensors)


def leaf(function, *args):
    """``function(*args)``, recorded by a capture as one call (its own torch calls are not recorded).

    For a pure function of its arguments that is cheaper called whole than replayed call by call
    (the small block-float rounding runs on numpy, which a recorder does not see). Outside a
    capture it is a plain call.
    """
    if not _recording:
        return function(*args)
    recorder = _recording[-1]
    recorder.paused += 1
    try:
        result = function(*args)
    finally:
        recorder.paused -= 1
    recorder.calls.append((function, args, {}, result))
    return result


class Kernel:
    """An op replayed by its own function (see :func:`replay_with`)."""

    __slots__ = ("function", "reads", "outputs")

    def __init__(self, function, reads: tuple, outputs: int):
        self.function = function
        self.reads = reads  # position of each tensor in the op's flat ttnn tensor args (None: None)
        self.outputs = outputs  # how many ttnn tensors the op returned (0: in place)

    def run(self, arg_tensors: list, out_tensors: list) -> bool:
        # No value-dependent shortcuts (same bits, but a pass and a host sync each) at replay either.
        previous = _numerics.value_branches(False)
        try:
            results = self.function(*(None if p is None else arg_tensors[p] for p in self.reads))
        finally:
            _numerics.value_branches(previous)
        if self.outputs:
            for target, shards in zip(out_tensors, results):
                target._shards = shards
        return True


class _Recorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls: list = []
        self.dynamic: str | None = None
        self.guards: list = []
        self.kernel = None
        self.paused = 0  # > 0 inside a leaf call (recorded whole)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.paused:
            return result
        name = _name(func)
        if self.dynamic is None:
            if isinstance(result, _SCALARS) and name not in _METADATA:
                self.dynamic = f"torch {name} returned a Python value at {_caller()}"
            elif any(isinstance(v, torch.Generator) for v in (*args, *kwargs.values())):
                self.dynamic = f"torch {name} draws from a generator at {_caller()}"
        self.calls.append((func, args, kwargs, result))
        return result


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class _Seq:
    """A list, tuple or dict argument holding slots somewhere inside."""

    __slots__ = ("kind", "items")

    def __init__(self, kind, items):
        self.kind, self.items = kind, items


def _template(value, slots: dict):
    """``value`` with every slot tensor replaced by its :class:`_Slot` (None: nothing to replace)."""
    if isinstance(value, torch.Tensor):
        index = slots.get(id(value))
        return None if index is None else _Slot(index)
    if isinstance(value, list | tuple):
        parts = [_template(v, slots) for v in value]
        if all(p is None for p in parts):
            return None
        return _Seq(type(value), [v if p is None else p for v, p in zip(value, parts)])
    if isinstance(value, dict):
        parts = {k: _template(v, slots) for k, v in value.items()}
        if all(p is None for p in parts.values()):
            return None
        return _Seq(dict, {k: value[k] if parts[k] is None else parts[k] for k in value})
    return None


def _resolve(template, values: list):
    if type(template) is _Slot:
        return values[template.index]
    if type(template) is not _Seq:
        return template
    if template.kind is dict:
        return {k: _resolve(v, values) for k, v in template.items.items()}
    items = [_resolve(v, values) for v in template.items]
    return items if template.kind is list else template.kind(items)


def flat_tensors(value, out: list | None = None) -> list:
    out = [] if out is None else out
    if isinstance(value, Tensor):
        out.append(value)
    elif isinstance(value, list | tuple):
        for v in value:
            flat_tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            flat_tensors(v, out)
    return out


class Program:
    """One captured op as torch calls over slots (see the module docstring).

    :meth:`run` executes it as straight-line Python generated once (:func:`_generate`): each slot a
    local variable, each constant a closure variable, so a replayed call costs what the torch call
    costs. :meth:`interpret` walks the same call list (the reference it is tested against).
    """

    __slots__ = ("inputs", "calls", "writes", "size", "guards", "_replay")

    def __init__(self, inputs, calls, writes, size, guards=()):
        # (arg position or None, shard index or None, torch tensor, its version at capture): cached
        # values derive from these tensors, which must still be that argument's shard, unmodified.
        self.guards = tuple(guards)
        self.inputs = inputs  # [(position in the op's flat ttnn tensor args, shard index, slot)]
        self.calls = calls  # [(func, kind, args or template, kwargs or template, fills, result slot(s))]
        self.writes = writes  # [(which: "arg"/"out", position, [slot per shard])]
        self.size = size
        self._replay = None

    def _unchanged(self, arg_tensors: list) -> bool:
        for position, shard, source, version in self.guards:
            if source._version != version or (
                position is not None and arg_tensors[position]._shards[shard] is not source
            ):
                return False
        return True

    def run(self, arg_tensors: list, out_tensors: list) -> bool:
        """Replay; False (nothing done) when a guarded source changed since the capture."""
        if self.guards and not self._unchanged(arg_tensors):
            return False
        if self._replay is None:
            self._replay = _generate(self)
        self._replay(arg_tensors, out_tensors)
        return True

    def interpret(self, arg_tensors: list, out_tensors: list) -> bool:
        """:meth:`run` by walking the call list (no generated code)."""
        if self.guards and not self._unchanged(arg_tensors):
            return False
        values = [None] * self.size
        for position, shard, slot in self.inputs:
            values[slot] = arg_tensors[position]._shards[shard]
        for func, kind, args, kwargs, fills, result_slots in self.calls:
            if kind == _FLAT:  # the common case: slots only among the positional arguments
                args = list(args)
                for position, slot in fills:
                    args[position] = values[slot]
            elif kind == _NESTED:
                args, kwargs = _resolve(args, values), _resolve(kwargs, values)
            result = func(*args, **kwargs)
            if type(result_slots) is int:
                values[result_slots] = result
            elif result_slots is not None:
                for slot, tensor in zip(result_slots, _tensors(result, [])):
                    values[slot] = tensor
        for which, position, slots in self.writes:
            target = (arg_tensors if which == "arg" else out_tensors)[position]
            target._shards = [values[s] for s in slots]
        return True


_CONSTANT, _FLAT, _NESTED = 0, 1, 2


class _Source:
    """The generated replay function's text and the constants it closes over."""

    def __init__(self):
        self.lines: list[str] = []
        self.constants: list = []

    def constant(self, value) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def expression(self, template) -> str:
        """Python source building ``template`` (:class:`_Slot` / :class:`_Seq` / a constant)."""
        if type(template) is _Slot:
            return f"s{template.index}"
        if type(template) is not _Seq:
            return self.constant(template)
        if template.kind is dict:
            items = ", ".join(f"{self.constant(k)}: {self.expression(v)}" for k, v in template.items.items())
            return "{" + items + "}"
        items = "".join(f"{self.expression(v)}, " for v in template.items)
        if template.kind is list:
            return f"[{items}]"
        if template.kind is tuple:
            return f"({items})"
        return f"{self.constant(template.kind)}(({items}))"  # a tuple subclass (torch.Size...)


def _generate(program: Program):
    """``replay(arg_tensors, out_tensors)``: ``program`` as straight-line Python (see :class:`Program`)."""
    src = _Source()
    body = src.lines
    for position, shard, slot in program.inputs:
        body.append(f"s{slot} = A[{position}]._shards[{shard}]")
    for func, kind, args, kwargs, fills, result_slots in program.calls:
        f = src.constant(func)
        if kind == _NESTED:
            call = f"{f}(*{src.expression(args)}, **{src.expression(kwargs)})"
        else:
            filled = dict(fills)
            parts = [f"s{filled[i]}" if i in filled else src.constant(a) for i, a in enumerate(args)]
            if kwargs:
                parts.append(f"**{src.constant(kwargs)}")
            call = f"{f}({', '.join(parts)})"
        if type(result_slots) is int:
            body.append(f"s{result_slots} = {call}")
        elif result_slots:
            targets = "".join(f"s{slot}, " for slot in result_slots)
            body.append(f"({targets}) = {src.constant(_tensors)}({call}, [])[:{len(result_slots)}]")
        else:
            body.append(call)
    for which, position, slots in program.writes:
        shards = ", ".join(f"s{slot}" for slot in slots)
        body.append(f"{'A' if which == 'arg' else 'O'}[{position}]._shards = [{shards}]")
    names = ", ".join(f"c{i}" for i in range(len(src.constants)))
    text = f"def make({names}):\n    def replay(A, O):\n"
    text += "".join(f"        {line}\n" for line in body or ["pass"])
    text += "    return replay\n"
    namespace: dict = {}
    exec(compile(text, "<tttv2 trace replay>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["make"](*src.constants)


def _call(func, call_args: tuple, call_kwargs: dict, slots: dict):
    """(func, kind, args, kwargs, fills) of one recorded call: how its slot arguments are filled in."""
    fills = [
        (i, slots[id(a)]) for i, a in enumerate(call_args) if isinstance(a, torch.Tensor) and id(a) in slots
    ]
    nested_args = [
        a for a in call_args if isinstance(a, list | tuple | dict) and _template(a, slots) is not None
    ]
    if not nested_args and _template(call_kwargs, slots) is None:
        if not fills:
            return func, _CONSTANT, call_args, call_kwargs, ()
        filled = {i for i, _ in fills}  # not kept: the capture-time tensors would stay alive
        kept = tuple(None if i in filled else a for i, a in enumerate(call_args))
        return func, _FLAT, kept, call_kwargs, fills
    args_t = _template(call_args, slots) or _Seq(tuple, list(call_args))
    kwargs_t = _template(call_kwargs, slots) or _Seq(dict, dict(call_kwargs))
    return func, _NESTED, args_t, kwargs_t, ()


def _returns_its_input(func, call_args: tuple, call_kwargs: dict, result) -> bool:
    """An out-of-place call that handed back its first argument itself: a no-op (the shapes, dtypes and
    strides it decided on are pinned by the capture). In-place calls (``add_``, ``__iand__``, ``out=``)
    also return their input and are kept."""
    if not call_args or result is not call_args[0] or "out" in call_kwargs:
        return False
    name = _name(func)
    return not (name.endswith("_") or (name.startswith("__i") and name.endswith("__")))


def _kernel(recorder: _Recorder, arg_tensors: list, outputs):
    """The :class:`Kernel` an op registered, or why it cannot be used (a tensor not among the args)."""
    kernel, tensors = recorder.kernel
    recorder.calls.clear()
    positions = {}
    for position, tensor in enumerate(arg_tensors):
        positions.setdefault(id(tensor), position)
    reads = []
    for tensor in tensors:
        if tensor is not None and id(tensor) not in positions:
            return "its replay kernel reads a tensor that is not one of its arguments"
        reads.append(None if tensor is None else positions[id(tensor)])
    returned = flat_tensors(outputs, [])
    in_place = all(id(t) in positions for t in returned)
    return Kernel(kernel, tuple(reads), 0 if in_place else len(returned))


def capture(function, args: tuple, kwargs: dict):
    """Run op ``function`` once, recording its torch program. Returns (outputs, Program or reason)."""
    arg_tensors = flat_tensors((args, kwargs), [])
    before = [list(t._shards) if t._shards is not None else None for t in arg_tensors]
    recorder = _Recorder()
    previous = _numerics.value_branches(False)
    _recording.append(recorder)
    try:
        with recorder:
            outputs = function(*args, **kwargs)
    finally:
        _recording.pop()
        _numerics.value_branches(previous)
    if recorder.kernel is not None:
        return outputs, _kernel(recorder, arg_tensors, outputs)
    if recorder.dynamic is not None:
        return outputs, recorder.dynamic
    slots: dict[int, int] = {}
    inputs = []
    for position, shards in enumerate(before):
        for index, shard in enumerate(shards or ()):
            if id(shard) not in slots:
                slots[id(shard)] = len(slots)
                inputs.append((position, index, slots[id(shard)]))
    calls = []
    for func, call_args, call_kwargs, result in recorder.calls:
        produced = _tensors(result, [])
        name = _name(func)
        if (not produced and name in _METADATA) or name in _INSPECTED:
            continue  # shape, dtype, x._base... : no side effect, its value was used by Python already
        if _returns_its_input(func, call_args, call_kwargs, result):
            continue  # x.to(x.dtype), x.contiguous() on a contiguous x: the same tensor at every replay
        call = _call(func, call_args, call_kwargs, slots)
        result_slots = None
        if isinstance(result, torch.Tensor):
            if id(result) not in slots:
                slots[id(result)] = len(slots)
            result_slots = slots[id(result)]
        elif produced:
            result_slots = []
            for tensor in produced:
                if id(tensor) not in slots:
                    slots[id(tensor)] = len(slots)
                result_slots.append(slots[id(tensor)])
        calls.append((*call, result_slots))
    writes = []
    out_tensors = flat_tensors(outputs, [])
    for which, tensors, previous in (("arg", arg_tensors, before), ("out", out_tensors, None)):
        for position, tensor in enumerate(tensors):
            current = tensor._shards
            old = previous[position] if previous is not None else None
            if current is None or (
                old is not None and len(old) == len(current) and all(a is b for a, b in zip(old, current))
            ):
                continue
            ids = [slots.get(id(s)) for s in current]
            if any(i is None for i in ids):
                return outputs, "an output shard was not made by a recorded torch call"
            writes.append((which, position, ids))
    # Keep the recorded values alive until here so ids stayed unique; drop them now.
    recorder.calls.clear()
    where = {id(before[p][i]): (p, i) for p, i, _ in inputs}
    guards, seen = [], set()
    for source, version in recorder.guards:
        made_here = id(source) in slots and id(source) not in where  # recomputed at every replay
        if not made_here and id(source) not in seen:
            seen.add(id(source))
            guards.append((*where.get(id(source), (None, None)), source, version))
    return outputs, Program(inputs, calls, writes, len(slots), guards)
