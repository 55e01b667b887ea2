"""Walking ImplConfig trees by path: ``layers[0].attention.qkv_proj.dtype``.

A tree is made of nodes (objects with named children: mutable dataclasses, and the pattern impl
configs, which list their children in ``TREE_FIELDS``), lists, and leaves (anything else,
including frozen dataclasses such as memory configs, which can only be replaced, not edited).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

_SEGMENT = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def _is_mutable_dataclass(value) -> bool:
    return (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and not value.__dataclass_params__.frozen
    )


def child_names(node) -> list[str] | None:
    """Names of a node's children (declared fields first, then extra public attributes), or None for a leaf."""
    if hasattr(node, "TREE_FIELDS"):
        return list(node.TREE_FIELDS)
    if _is_mutable_dataclass(node):
        declared = [f.name for f in dataclasses.fields(node)]
        extra = [name for name in vars(node) if not name.startswith("_") and name not in declared]
        return declared + extra
    return None


def unknown_fields(node) -> list[str]:
    """Public attributes set on a dataclass node that are not among its fields (typos, stale names)."""
    if not _is_mutable_dataclass(node):
        return []
    declared = {f.name for f in dataclasses.fields(node)}
    return [name for name in vars(node) if not name.startswith("_") and name not in declared]


def iter_nodes(node, path: str = "") -> Iterator[tuple[str, object]]:
    """Every node and leaf of the tree with its path, depth first (the root has path "")."""
    yield path, node
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_nodes(item, f"{path}[{index}]")
        return
    names = child_names(node)
    for name in names or ():
        yield from iter_nodes(getattr(node, name), f"{path}.{name}" if path else name)


def leaves(node, path: str = "") -> dict[str, object]:
    """Path -> leaf object for every leaf under ``node``."""
    return {
        p: value
        for p, value in iter_nodes(node, path)
        if not isinstance(value, list) and child_names(value) is None
    }


class Snapshot:
    """The shape of a tree at one moment (every node's children, by identity): a fast "unchanged?".

    ``unchanged()`` is True only when no node has another child object, no list another length and
    no dataclass node a new attribute: then every leaf is the same object as when taken. It walks a
    flat list (no paths, no recursion), so a per-step check of a large ImplConfig costs little.
    """

    def __init__(self, root):
        self.root = root
        self._edges: list = []
        self._take(root)

    def _take(self, node) -> None:
        if isinstance(node, list):
            self._edges.append((node, None, tuple(node), -1))
            for item in node:
                self._take(item)
            return
        names = child_names(node)
        if names is None:
            return
        children = tuple(getattr(node, name) for name in names)
        extras = -1 if hasattr(node, "TREE_FIELDS") else len(vars(node))
        self._edges.append((node, tuple(names), children, extras))
        for child in children:
            self._take(child)

    def unchanged(self) -> bool:
        for node, names, children, extras in self._edges:
            if names is None:
                if len(node) != len(children) or any(a is not b for a, b in zip(node, children)):
                    return False
                continue
            if extras >= 0 and len(vars(node)) != extras:
                return False
            for name, child in zip(names, children):
                if getattr(node, name) is not child:
                    return False
        return True


def parse_path(path: str) -> list[str | int]:
    """``"layers[0].attention.qkv_proj"`` -> ``["layers", 0, "attention", "qkv_proj"]``."""
    segments, position = [], 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if not match or match.end() == position:
            raise ValueError(f"bad config path {path!r} at character {position}")
        segments.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    return segments


def get_path(root, path: str):
    node = root
    for segment in parse_path(path):
        node = node[segment] if isinstance(segment, int) else getattr(node, segment)
    return node


def set_path(root, path: str, value) -> None:
    """Set the leaf at ``path``; raise ValueError naming the path if its parent does not exist."""
    *parents, last = parse_path(path)
    node = root
    try:
        for segment in parents:
            node = node[segment] if isinstance(segment, int) else getattr(node, segment)
        if isinstance(last, int):
            node[last] = value
        else:
            setattr(node, last, value)
    except (AttributeError, IndexError, TypeError) as error:
        raise ValueError(f"{path}: cannot be set on this config tree ({error})") from error


def module_path_to_config_path(module_path: str) -> str:
    """``"layers.0.attention"`` (module path) -> ``"layers[0].attention"`` (config path)."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", module_path)
