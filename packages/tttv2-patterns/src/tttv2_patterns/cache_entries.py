"""Cache directory entries that are complete or absent, whatever happens while they are written.

One entry is a directory ``<parent>/<name>``; its writer holds ``<parent>/<name>.lock`` (a
``filelock.FileLock``, released by the OS when the process dies, even by ``kill -9``), writes into a
fresh ``<name>.tmp-<pid>-<random>`` beside it (same file system) and renames it into place, so a
reader sees the old entry, no entry, or the new one, never part of one. Leftover temporaries of a
writer that died are removed by the next writer, under the lock.

OS errors (a read-only or full disk, no permission) become ``CacheDirectoryError`` naming the cache
directory and the ways out; the temporary directory is removed first, so nothing partial remains.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import filelock

from tttv2_patterns.block_state import TensorCacheError

FIX = "free space or make it writable, pass another cache directory, or build with tensor_cache=False"
_REASONS = {
    errno.EROFS: "is on a read-only file system",
    errno.EACCES: "is not writable (permission denied)",
    errno.EPERM: "is not writable (operation not permitted)",
    errno.ENOSPC: "is on a full disk (no space left)",
    errno.EDQUOT: "is over its disk quota",
}


class CacheDirectoryError(TensorCacheError):
    """A cache directory that cannot be created, locked or written (read-only, full, no permission)."""


def directory_error(directory: Path, action: str, error: OSError) -> CacheDirectoryError:
    """A ``CacheDirectoryError`` naming ``directory``, what failed and the fix."""
    reason = _REASONS.get(error.errno, f"raised {type(error).__name__}: {error.strerror or error}")
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(directory) else ""
    return CacheDirectoryError(f"tensor cache {directory} {reason}: cannot {action}{where}; {FIX}")


def lock_for(entry: Path, timeout_s: float) -> filelock.FileLock:
    return filelock.FileLock(str(entry) + ".lock", timeout=timeout_s)


def remove_leftovers(entry: Path) -> None:
    """Remove temporaries of writers that died (call only while holding the entry's lock)."""
    for leftover in entry.parent.glob(f"{entry.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_entry(entry: Path, fill: Callable[[Path], None], directory: Path) -> None:
    """Fill a temporary directory with ``fill(tmp)`` and rename it onto ``entry`` (hold the lock).

    Raises:
        CacheDirectoryError: an OS error while writing; the temporary directory is removed and a
            previous ``entry`` is left as it was.
    """
    temporary = entry.with_name(f"{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        remove_leftovers(entry)
        temporary.mkdir()
        fill(temporary)
        if entry.exists():  # a stale entry: move it aside so the rename can happen, then drop it
            trash = entry.with_name(f"{entry.name}.tmp-old-{uuid.uuid4().hex[:8]}")
            os.replace(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(temporary, entry)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise directory_error(
            directory, f"write the entry {entry.name} of {entry.parent.name}", error
        ) from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
