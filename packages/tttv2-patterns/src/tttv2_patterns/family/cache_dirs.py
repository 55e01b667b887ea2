"""Where the kit keeps what it converts: ``$TTTV2_CACHE`` (default ``~/.cache/tttv2``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "TTTV2_CACHE"


def cache_root() -> Path:
    """``$TTTV2_CACHE``, or ``~/.cache/tttv2``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "tttv2").expanduser()


def default_tensor_cache_dir(checkpoint_dir: str | os.PathLike) -> Path:
    """``<cache root>/tensor_cache/<folder name>-<hash of its absolute path>``: one per checkpoint folder."""
    resolved = str(Path(checkpoint_dir).resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    return cache_root() / "tensor_cache" / f"{Path(checkpoint_dir).name}-{digest}"
