"""A method call as data: parameter name -> value, checked against the method's signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .conversion import describe, restore_tree, snapshot_tree

_P = inspect.Parameter


@dataclass
class RecordedCall:
    """The arguments of one call (``{parameter name: snapshot}``) and which call it was (0-based)."""

    arguments: dict[str, Any]
    call_index: int = 0

    @classmethod
    def capture(
        cls, signature: inspect.Signature, args: tuple, kwargs: dict, call_index: int
    ) -> RecordedCall:
        """Bind ``args``/``kwargs`` to names and snapshot them (host copies of device tensors)."""
        arguments = dict(signature.bind(*args, **kwargs).arguments)
        return cls({name: snapshot_tree(value) for name, value in arguments.items()}, call_index)

    def describe(self) -> str:
        return ", ".join(f"{name}={describe(value)}" for name, value in self.arguments.items())


def method_signature(method: Callable) -> inspect.Signature:
    """The signature callers use (``self`` already bound), following ``functools.wraps``."""
    return inspect.signature(method)


def materialize(signature: inspect.Signature, arguments: dict[str, Any]) -> tuple[list, dict]:
    """``(args, kwargs)`` holding fresh device copies of the recorded ``arguments``."""
    return split_arguments(signature, {name: restore_tree(v) for name, v in arguments.items()})


def invoke(method: Callable, signature: inspect.Signature, arguments: dict[str, Any]) -> Any:
    """Call ``method`` with fresh device copies of the recorded ``arguments``."""
    args, kwargs = materialize(signature, arguments)
    return method(*args, **kwargs)


def split_arguments(signature: inspect.Signature, arguments: dict[str, Any]) -> tuple[list, dict]:
    """``{name: value}`` -> ``(args, kwargs)`` respecting positional-only and variadic parameters."""
    args: list = []
    kwargs: dict = {}
    for name, parameter in signature.parameters.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if parameter.kind == _P.POSITIONAL_ONLY:
            args.append(value)
        elif parameter.kind == _P.VAR_POSITIONAL:
            args.extend(value)
        elif parameter.kind == _P.VAR_KEYWORD:
            kwargs.update(value)
        else:
            kwargs[name] = value
    if any(p.kind == _P.VAR_POSITIONAL for p in signature.parameters.values()):
        # Values bound by keyword cannot follow *args; pass the named positional ones positionally.
        positional = [
            n for n, p in signature.parameters.items() if p.kind == _P.POSITIONAL_OR_KEYWORD and n in kwargs
        ]
        args = [kwargs.pop(n) for n in positional] + args
    return args, kwargs


def reference_view(signature: inspect.Signature, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a flat ``{name: value}``: ``**kwargs`` entries merged in by their own names."""
    flat: dict[str, Any] = {}
    for name, value in arguments.items():
        parameter = signature.parameters.get(name)
        if parameter is not None and parameter.kind == _P.VAR_KEYWORD:
            flat.update(value)
        else:
            flat[name] = value
    return flat


def explicit_input_problems(signature: inspect.Signature, inputs: dict[str, Any]) -> list[str]:
    """What is wrong with an explicit ``{parameter name: value}`` for this signature (empty if fine)."""
    problems = []
    parameters = signature.parameters
    takes_any_keyword = any(p.kind == _P.VAR_KEYWORD for p in parameters.values())
    names = [n for n, p in parameters.items() if p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)]
    unknown = [n for n in inputs if n not in parameters]
    if unknown and not takes_any_keyword:
        problems.append(f"unknown parameter(s) {unknown}; the method takes {names}")
    missing = [
        n
        for n, p in parameters.items()
        if p.default is _P.empty and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD) and n not in inputs
    ]
    if missing:
        problems.append(f"missing required parameter(s) {missing}")
    return problems


def explicit_call(signature: inspect.Signature, inputs: dict[str, Any]) -> RecordedCall:
    """A RecordedCall from an explicit inputs dict (names not in the signature go to ``**kwargs``)."""
    arguments: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in inputs.items():
        if name in signature.parameters:
            arguments[name] = snapshot_tree(value)
        else:
            extra[name] = snapshot_tree(value)
    if extra:
        var_keyword = next(n for n, p in signature.parameters.items() if p.kind == _P.VAR_KEYWORD)
        arguments[var_keyword] = extra
    # Keep the signature's order so positional calls line up.
    ordered = {n: arguments[n] for n in signature.parameters if n in arguments}
    return RecordedCall(ordered, 0)
