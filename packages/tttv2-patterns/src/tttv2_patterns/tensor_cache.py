"""On-disk caches of converted weights, one entry per block instance.

An entry is keyed by everything that affects the converted tensors: the block's class, spec and
impl config, the checkpoint fingerprint of the tensors it reads (file names, sizes, mtimes and
header hashes, or tensor hashes for an in-memory state dict), the device (name, mesh shape,
arch), whether ttnn is emulated, and the versions of the tttv2 packages, ttnn and torch.

Layout::

    <directory>/<module path>/<key hash>/      # e.g. layers.0.attention/3f9c.../
        ttnn_0.tensor ... torch_tensors.safetensors
        manifest.json                          # key, per-file size + sha256, attribute state; written LAST
    <directory>/<module path>/<key hash>.lock  # filelock: one builder at a time, readers wait

An entry is built in a temporary directory and renamed into place, so it is either complete or
absent. On use, the manifest must parse, carry the same key, and every file must have the
recorded size and sha256; otherwise the entry is rebuilt (a stale, corrupt or half-written cache
is never used).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
import tttv2_blocks
import tttv2_hwconfig
from filelock import FileLock
from tttv2_hwconfig import ttnn, ttnn_is_emulated

from tttv2_patterns.__about__ import __version__
from tttv2_patterns.block_state import (
    TensorCacheError,
    changed_attributes,
    restore_state,
    snapshot,
    write_state,
)
from tttv2_patterns.devices import device_name

FORMAT = "tttv2-tensor-cache/1"
MANIFEST = "manifest.json"
logger = logging.getLogger(__name__)


def stable_repr(value) -> str:
    """A deterministic text of a config value (no memory addresses), for cache keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(
            f"{f.name}={stable_repr(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__qualname__}({fields})"
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(stable_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in sorted(value.items(), key=str))
            + "}"
        )
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    text = repr(value)
    if " at 0x" not in text:
        return text
    if hasattr(value, "__dict__"):
        return f"{type(value).__qualname__}({stable_repr(vars(value))})"
    raise TensorCacheError(
        f"cannot key the tensor cache on a {type(value).__qualname__} (its repr has no stable text)"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def block_cache_key(module, checkpoint_fingerprint: dict, device) -> dict:
    """Everything that affects a block's converted tensors, as a JSON-able dict."""
    return {
        "format": FORMAT,
        "module_path": module.module_path,
        "block": f"{type(module).__module__}.{type(module).__qualname__}",
        "spec": stable_repr(module.spec),
        "impl_config": stable_repr(module.impl_config),
        "device": {
            "name": device_name(device),
            "mesh_shape": list(tuple(device.shape)),
            "arch": str(device.arch()),
        },
        "ttnn_emulated": ttnn_is_emulated,
        "versions": {
            "tttv2_hwconfig": tttv2_hwconfig.__version__,
            "tttv2_blocks": tttv2_blocks.__version__,
            "tttv2_patterns": __version__,
            "ttnn": getattr(ttnn, "__version__", None),
            "torch": torch.__version__,
        },
        "checkpoint": checkpoint_fingerprint,
    }


class TensorCache:
    """A directory of converted block weights; see the module docstring for the guarantees.

    Args:
        directory: where entries live (created if missing).
        lock_timeout_s: how long to wait for another process building the same entry.

    Attributes:
        events: ``(module_path, "hit" | "built" | "rebuilt", reason)`` per ``load_or_build`` call.
    """

    def __init__(self, directory: str | os.PathLike, *, lock_timeout_s: float = 3600.0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lock_timeout_s = lock_timeout_s
        self.events: list[tuple[str, str, str]] = []

    def entry_path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return self.directory / key["module_path"] / digest

    def load_or_build(self, module, key: dict, load_weights: Callable[[], None], device) -> bool:
        """Restore ``module``'s converted state from the entry for ``key``, or run ``load_weights`` and store it.

        Returns:
            True on a cache hit (``load_weights`` was not called, no checkpoint tensor was read).
        """
        entry = self.entry_path(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(entry) + ".lock", timeout=self.lock_timeout_s):
            problem = self._problem(entry, key)
            if problem is None:
                try:
                    manifest = json.loads((entry / MANIFEST).read_text())
                    restore_state(module, manifest["state"], entry, device)
                    self.events.append((module.module_path, "hit", ""))
                    return True
                except TensorCacheError:
                    raise
                except Exception as error:  # noqa: BLE001 - any unreadable entry is rebuilt, never used
                    problem = f"restoring failed: {error}"
            before = snapshot(module)
            load_weights()
            self._write(entry, key, module, changed_attributes(module, before))
            kind = "built" if problem == "absent" else "rebuilt"
            if kind == "rebuilt":
                logger.warning(
                    "tensor cache %s: rebuilt %s (%s)", self.directory, module.module_path, problem
                )
            self.events.append((module.module_path, kind, problem))
            return False

    # --- validity ----------------------------------------------------------------------------------------
    def _problem(self, entry: Path, key: dict) -> str | None:
        """Why ``entry`` cannot be used, or None if it is complete and matches ``key``."""
        if not entry.exists():
            return "absent"
        manifest_path = entry / MANIFEST
        if not manifest_path.is_file():
            return "no manifest (half-written entry)"
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:
            return f"unreadable manifest ({error})"
        if manifest.get("format") != FORMAT or manifest.get("key") != key:
            return "stale: manifest key differs"
        for name, info in manifest.get("files", {}).items():
            path = entry / name
            if not path.is_file():
                return f"missing file {name}"
            if path.stat().st_size != info["size"]:
                return f"{name} has {path.stat().st_size} bytes, manifest says {info['size']}"
            if _sha256(path) != info["sha256"]:
                return f"{name} checksum differs from the manifest (corrupt)"
        return None

    # --- writing -----------------------------------------------------------------------------------------
    def _write(self, entry: Path, key: dict, module, changes) -> None:
        temporary = entry.with_name(f"{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        for leftover in entry.parent.glob(f"{entry.name}.tmp-*"):  # crashed builders (we hold the lock)
            shutil.rmtree(leftover, ignore_errors=True)
        temporary.mkdir()
        try:
            state, files = write_state(changes, temporary, module.module_path)
            manifest = {
                "format": FORMAT,
                "key": key,
                "files": {
                    name: {"size": (temporary / name).stat().st_size, "sha256": _sha256(temporary / name)}
                    for name in files
                },
                "state": state,
            }
            with open(temporary / MANIFEST, "w") as handle:  # the manifest is written last
                json.dump(manifest, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            if entry.exists():
                trash = entry.with_name(f"{entry.name}.tmp-old-{uuid.uuid4().hex[:8]}")
                os.replace(entry, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(temporary, entry)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def __repr__(self) -> str:
        return f"TensorCache({str(self.directory)!r})"
