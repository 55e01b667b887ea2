"""On-disk caches of converted weights, one entry per block instance.

An entry is keyed by everything that affects the converted tensors: the block's class, spec and
impl config, the content fingerprint of the tensors it reads (a sha256 of each tensor's header
entry and bytes, and of each file's header: never sizes or mtimes, which a rewrite can keep;
``checkpoint_fingerprint``), the device (name, mesh shape,
arch), whether ttnn is emulated, and the versions of the tttv2 packages, ttnn and torch.

Layout::

    <directory>/<module path>/<key hash>/      # e.g. layers.0.attention/3f9c.../
        ttnn_0.tensor ... torch_tensors.safetensors
        manifest.json                          # key, per-file size + sha256, attribute state; written LAST
    <directory>/<module path>/<key hash>.lock  # filelock: one builder at a time, readers wait

An entry is built in a temporary directory and renamed into place, so it is either complete or
absent. On use, the manifest must parse, carry the same key, and every file must have the
recorded size and sha256; otherwise the entry is rebuilt (a stale, corrupt or half-written cache
is never used). Writing follows ``cache_entries``: temporary directory + rename, a lock per entry,
and a ``CacheDirectoryError`` naming the directory and the fix on a read-only or full disk.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import filelock
import torch
import tttv2_blocks
import tttv2_hwconfig
from tttv2_hwconfig import ttnn, ttnn_is_emulated

from tttv2_patterns.__about__ import __version__
from tttv2_patterns.block_state import (
    TensorCacheError,
    changed_attributes,
    restore_state,
    snapshot,
    write_state,
)
from tttv2_patterns.cache_entries import directory_error, lock_for, write_entry
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

    Raises:
        CacheDirectoryError: (a ``TensorCacheError``) the directory cannot be created, locked or
            written (read-only, full, no permission); the message names it and the fix. A read-only
            directory still serves the complete entries it holds.
    """

    def __init__(self, directory: str | os.PathLike, *, lock_timeout_s: float = 3600.0):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise directory_error(self.directory, "create the cache directory", error) from error
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
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            lock = lock_for(entry, self.lock_timeout_s)
            lock.acquire()
        except filelock.Timeout:
            raise TensorCacheError(
                f"tensor cache {self.directory}: {entry}.lock held for more than {self.lock_timeout_s} s by another "
                "process building the same entry; wait for it, or build with tensor_cache=False"
            ) from None
        except OSError as error:
            # Entries are renamed into place whole, so a complete one can be read without the lock.
            if self._problem(entry, key) is None and self._restore(module, entry, device):
                return True
            raise directory_error(self.directory, f"lock an entry for {module.module_path}", error) from error
        try:
            problem = self._problem(entry, key)
            if problem is None:
                if self._restore(module, entry, device):
                    return True
                problem = "restoring failed"
            before = snapshot(module)
            load_weights()
            changes = changed_attributes(module, before)
            write_entry(entry, lambda tmp: self._fill(tmp, key, module, changes), self.directory)
            kind = "built" if problem == "absent" else "rebuilt"
            if kind == "rebuilt":
                logger.warning(
                    "tensor cache %s: rebuilt %s (%s)", self.directory, module.module_path, problem
                )
            self.events.append((module.module_path, kind, problem))
            return False
        finally:
            lock.release()

    def _restore(self, module, entry: Path, device) -> bool:
        """Restore ``module`` from a valid entry; False if that fails (the entry is then rebuilt)."""
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
            restore_state(module, manifest["state"], entry, device)
        except TensorCacheError:
            raise
        except Exception as error:  # noqa: BLE001 - any unreadable entry is rebuilt, never used
            logger.warning("tensor cache %s: %s unusable (%s)", self.directory, entry, error)
            return False
        self.events.append((module.module_path, "hit", ""))
        return True

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
    @staticmethod
    def _fill(temporary: Path, key: dict, module, changes) -> None:
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

    def __repr__(self) -> str:
        return f"TensorCache({str(self.directory)!r})"
