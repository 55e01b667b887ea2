"""Capturing what ``load_weights`` did to a block, writing it to files and restoring it.

The converted state of a block is exactly the attributes its ``load_weights`` set, on the block
and on any object of a tttv2 package it holds (child ``Module``s, ``LinearOp``s, in lists or dicts
too). ``snapshot`` records attribute identities before,
``changed_attributes`` lists what changed after (new objects, and dicts/lists filled in place).

Values are encoded as: ttnn tensors -> ``ttnn.dump_tensor`` files; torch tensors -> one
safetensors file; None/bool/int/float/str -> JSON; tuples, lists and str-keyed dicts of those ->
JSON structure; ttnn enums (``ttnn.bfloat8_b``) -> their name. Anything else raises
``TensorCacheError``: a block whose state cannot be represented must not be cached silently wrong.
"""

from __future__ import annotations

import enum
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tttv2_blocks import Module
from tttv2_hwconfig import ttnn

from tttv2_patterns.memory_config_json import memory_config_from_json, memory_config_to_json

TORCH_FILE = "torch_tensors.safetensors"


class TensorCacheError(RuntimeError):
    """A block's converted state cannot be stored in (or restored from) the tensor cache."""


# --- which attributes changed -------------------------------------------------------------------------


# Attributes that describe a block rather than hold its converted state.
_NOT_STATE = ("spec", "impl_config", "impl", "device", "reference")


def _is_state_node(value) -> bool:
    """Objects whose attributes may hold converted state: blocks and their helpers (``LinearOp``...)."""
    if isinstance(value, Module):
        return True
    module = type(value).__module__
    return (
        module.startswith(("tttv2_blocks", "tttv2_patterns"))
        and hasattr(value, "__dict__")
        and not isinstance(value, type)
    )


def _child_modules(module, path: str = "", found: dict | None = None) -> dict[str, object]:
    """The module and every block/helper object reachable through its attributes (directly or in lists/dicts)."""
    found = {path: module} if found is None else found
    for name, value in vars(module).items():
        if name in _NOT_STATE:
            continue
        items = []
        if _is_state_node(value):
            items = [(name, value)]
        elif isinstance(value, list | tuple):
            items = [(f"{name}.{i}", v) for i, v in enumerate(value) if _is_state_node(v)]
        elif isinstance(value, dict):
            items = [(f"{name}.{k}", v) for k, v in value.items() if _is_state_node(v)]
        for child_path, child in items:
            if not any(child is seen for seen in found.values()):
                full = f"{path}.{child_path}" if path else child_path
                found[full] = child
                _child_modules(child, full, found)
    return found


def _signature(value):
    """Identity of a value, and of its items for dicts/lists (to see in-place fills)."""
    if isinstance(value, dict):
        return (id(value), tuple((k, id(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (id(value), tuple(id(v) for v in value))
    return (id(value), None)


def snapshot(module: Module) -> dict:
    """Attribute identities of the module tree (keeps the values alive so ids stay unique)."""
    return {
        path: {name: (value, _signature(value)) for name, value in vars(node).items()}
        for path, node in _child_modules(module).items()
    }


def changed_attributes(module: Module, before: dict) -> dict[str, dict[str, object]]:
    """Node path -> {attribute: new value} for every attribute set or refilled since ``before``."""
    changes: dict[str, dict[str, object]] = {}
    for path, node in _child_modules(module).items():
        previous = before.get(path, {})
        removed = sorted(set(previous) - set(vars(node)))
        if removed:
            raise TensorCacheError(
                f"{module.module_path}: load_weights deleted attributes {removed}; cannot cache that"
            )
        node_changes = {
            name: value
            for name, value in vars(node).items()
            if name not in previous or previous[name][1] != _signature(value)
        }
        if node_changes:
            changes[path] = node_changes
    return changes


# --- encoding ------------------------------------------------------------------------------------------


class StateWriter:
    """Encodes attribute values into JSON plus tensor files in ``directory``."""

    def __init__(self, directory: Path, where: str):
        self.directory = directory
        self.where = where
        self.torch_tensors: dict[str, torch.Tensor] = {}
        self._seen: dict[int, dict] = {}  # one file per distinct tensor object

    def encode(self, value, path: str):
        if isinstance(value, ttnn.Tensor | torch.Tensor) and id(value) in self._seen:
            return self._seen[id(value)]
        if isinstance(value, ttnn.Tensor):
            encoded = self._encode_ttnn(value)
        elif isinstance(value, torch.Tensor):
            key = f"tensor_{len(self.torch_tensors)}"
            self.torch_tensors[key] = value.detach().cpu().contiguous().clone()
            encoded = {"torch": key}
        elif value is None or isinstance(value, bool | int | float | str):
            return {"json": value}
        elif isinstance(value, enum.Enum) and getattr(ttnn, type(value).__name__, None) is type(value):
            return {"ttnn_enum": type(value).__name__, "name": value.name}
        elif isinstance(value, tuple | list):
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {kind: [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: self.encode(v, f"{path}[{k!r}]") for k, v in value.items()}}
        else:
            raise TensorCacheError(
                f"{self.where}.{path}: load_weights set a {type(value).__module__}.{type(value).__qualname__}, which the "
                "tensor cache cannot store (supported: ttnn/torch tensors, None/bool/int/float/str, ttnn enums, and "
                "tuples/lists/str-keyed dicts of those); build this model without tensor_cache"
            )
        self._seen[id(value)] = encoded
        return encoded

    def _encode_ttnn(self, tensor) -> dict:
        name = f"ttnn_{len(self._seen)}.tensor"
        ttnn.dump_tensor(self.directory / name, tensor)
        encoded = {"ttnn": name, "on_device": tensor.device() is not None}
        memory_config = tensor.memory_config()
        if memory_config is not None:
            encoded["memory_config"] = memory_config_to_json(memory_config)
        return encoded

    def finish(self) -> list[str]:
        """Write the torch tensors; return the names of every file written."""
        if self.torch_tensors:
            save_file(self.torch_tensors, str(self.directory / TORCH_FILE))
        files = sorted({e["ttnn"] for e in self._seen.values() if "ttnn" in e})
        return files + ([TORCH_FILE] if self.torch_tensors else [])


class StateReader:
    """Decodes what a ``StateWriter`` wrote, putting ttnn tensors on ``device``."""

    def __init__(self, directory: Path, device, where: str):
        self.directory = directory
        self.device = device
        self.where = where
        torch_file = directory / TORCH_FILE
        self.torch_tensors = load_file(str(torch_file)) if torch_file.is_file() else {}
        self._loaded: dict[str, object] = {}

    def decode(self, encoded):
        if "json" in encoded:
            return encoded["json"]
        if "ttnn_enum" in encoded:
            return getattr(ttnn, encoded["ttnn_enum"])[encoded["name"]]
        if "tuple" in encoded:
            return tuple(self.decode(v) for v in encoded["tuple"])
        if "list" in encoded:
            return [self.decode(v) for v in encoded["list"]]
        if "dict" in encoded:
            return {k: self.decode(v) for k, v in encoded["dict"].items()}
        if "torch" in encoded:
            return self.torch_tensors[encoded["torch"]]
        if "ttnn" in encoded:
            if encoded["ttnn"] not in self._loaded:
                self._loaded[encoded["ttnn"]] = self._load_ttnn(encoded)
            return self._loaded[encoded["ttnn"]]
        raise TensorCacheError(f"{self.where}: unknown cache entry {encoded!r:.80}")

    def _load_ttnn(self, encoded):
        path = self.directory / encoded["ttnn"]
        if not encoded["on_device"]:
            return ttnn.load_tensor(path)
        # Straight into the recorded memory config (DRAM-sharded weights stay DRAM-sharded).
        memory_config = memory_config_from_json(encoded["memory_config"])
        return ttnn.to_device(ttnn.load_tensor(path), self.device, memory_config=memory_config)


def write_state(changes: dict[str, dict[str, object]], directory: Path, where: str) -> tuple[dict, list[str]]:
    """Encode ``changed_attributes`` output; return (JSON state, files written)."""
    writer = StateWriter(directory, where)
    state = {
        node_path: {
            name: writer.encode(value, f"{node_path}.{name}" if node_path else name)
            for name, value in attrs.items()
        }
        for node_path, attrs in changes.items()
    }
    return state, writer.finish()


def restore_state(module: Module, state: dict, directory: Path, device) -> None:
    """Set the stored attributes back on the module tree."""
    reader = StateReader(directory, device, module.module_path)
    nodes = _child_modules(module)
    for node_path, attrs in state.items():
        if node_path not in nodes:
            raise TensorCacheError(
                f"{module.module_path}: cached state names a sub-module {node_path!r} the block lacks"
            )
        for name, encoded in attrs.items():
            setattr(nodes[node_path], name, reader.decode(encoded))
