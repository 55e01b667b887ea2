"""Finding the module instances inside a model and naming them by attribute path.

A *module* here is any object (not a class, not a ``torch.nn.Module``) with at least one forward
method (``FORWARD_METHODS``): TTTv2 blocks and patterns, or a user's own class. The walk follows
instance attributes and lists/tuples/dicts of them, so ``model.layers[0].attention`` is found at
path ``layers.0.attention``. It does not descend into ``reference`` (an HF submodule used as the
golden), ``device``, ``spec`` or ``impl_config``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

FORWARD_METHODS = ("forward_prefill", "forward_decode", "prefill_forward", "decode_forward", "forward")
_NOT_CHILDREN = frozenset({"reference", "device", "mesh_device", "spec", "impl_config", "model_spec"})


def is_module(value: Any) -> bool:
    """True for a module instance: an object with a forward method that is not torch's."""
    if isinstance(value, type) or isinstance(value, torch.nn.Module):
        return False
    return any(callable(getattr(type(value), name, None)) for name in FORWARD_METHODS)


def forward_methods(module: Any) -> list[str]:
    """The names in ``FORWARD_METHODS`` that ``module``'s class defines."""
    return [name for name in FORWARD_METHODS if callable(getattr(type(module), name, None))]


def _children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield _join(path, str(index)), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield _join(path, str(key)), item
    elif is_module(value):
        names = [n for n in vars(value) if n not in _NOT_CHILDREN and not n.startswith("__")]
        # Public attributes first, so a block kept both in `self.attention` and in a private
        # registry (`self._blocks`) is named by the public path.
        for name in sorted(names, key=lambda n: n.startswith("_")):
            yield _join(path, name), vars(value)[name]


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def walk_modules(root: Any) -> list[tuple[str, Any]]:
    """Every module inside ``root`` (``root`` itself first, at path ``""``), depth first.

    Each instance appears once, at the first path it is reached by.
    """
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def visit(path: str, value: Any) -> None:
        if id(value) in seen:
            return
        if is_module(value):
            seen.add(id(value))
            found.append((path, value))
        elif not isinstance(value, (list, tuple, dict)):
            return
        for child_path, child in _children(value, path):
            if is_module(child) or isinstance(child, (list, tuple, dict)):
                visit(child_path, child)

    visit("", root)
    return found


def module_path_of(module: Any, root: Any = None) -> str:
    """The name used in reports: the module's own ``module_path`` when it was set to something other
    than the default (its class name), else its attribute path inside ``root``, else the class name.
    """
    own = getattr(module, "module_path", None)
    if isinstance(own, str) and own and own != type(module).__name__:
        return own
    if root is not None:
        for path, candidate in walk_modules(root):
            if candidate is module:
                return path or type(module).__name__
    return own if isinstance(own, str) and own else type(module).__name__
