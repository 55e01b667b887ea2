"""Build a folder once, atomically, safe against crashes and concurrent processes.

    folder = build_folder_once(Path("~/.cache/tttv2/x"), build=write_files, key={"source": "...", "v": 1})

- ``build(tmp_dir)`` writes into a fresh temporary folder beside the target (same file system).
- A marker file holding ``key`` is written last, then the temporary folder is renamed onto the
  target. A rename is atomic, so readers see either no folder or a complete one.
- A folder without the marker, or with a different key (a half-written or stale build), is never
  used: it is removed and rebuilt.
- A ``filelock.FileLock`` beside the target serializes builders; the second process waits, then
  finds the finished folder and returns it without building again.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

MARKER_FILE_NAME = ".tttv2-complete.json"
DEFAULT_LOCK_TIMEOUT_S = 1800.0  # a real conversion takes ~1 min; waiting longer means a stuck builder


def is_complete(folder: Path, key: dict[str, Any]) -> bool:
    """True if ``folder`` was finished by ``build_folder_once`` with this exact ``key``."""
    marker = folder / MARKER_FILE_NAME
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == _normalized(key)
    except (OSError, json.JSONDecodeError):
        return False


def build_folder_once(
    target: Path,
    build: Callable[[Path], None],
    key: dict[str, Any],
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> Path:
    """Return ``target``, building it with ``build`` first unless a complete build with ``key`` exists.

    Args:
        target: the folder to produce.
        build: writes the folder's content into the (empty) folder it is given.
        key: JSON-serializable description of everything that affects the content; a folder built
            with another key is rebuilt.
        lock_timeout_s: how long to wait for another process building the same folder.

    Raises:
        filelock.Timeout: another process held the lock for longer than ``lock_timeout_s``.
        Whatever ``build`` raises; the temporary folder is removed and ``target`` is left untouched.
    """
    target = Path(target).expanduser()
    if is_complete(target, key):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock"), timeout=lock_timeout_s):
        if is_complete(target, key):  # another process finished while we waited
            return target
        _remove_leftover_temporaries(target)
        tmp = _new_temporary_folder(target)
        try:
            build(tmp)
            (tmp / MARKER_FILE_NAME).write_text(
                json.dumps(_normalized(key), sort_keys=True), encoding="utf-8"
            )
            if target.exists():  # incomplete or stale: move it aside first so the rename can happen
                stale = _new_temporary_folder(target)
                os.replace(target, stale / "old")
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _new_temporary_folder(target: Path) -> Path:
    # Not tempfile.mkdtemp: that makes the folder 0700, and a cache is often shared; mkdir uses the umask.
    folder = target.parent / f"{_tmp_prefix(target)}{uuid.uuid4().hex}"
    folder.mkdir()
    return folder


def _remove_leftover_temporaries(target: Path) -> None:
    # Only called under the lock, so every temporary folder left is from a builder that died.
    for leftover in target.parent.glob(_tmp_prefix(target) + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _normalized(key: dict[str, Any]) -> Any:
    return json.loads(json.dumps(key, sort_keys=True))
