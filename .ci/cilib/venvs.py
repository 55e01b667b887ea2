"""Interpreters and virtual environments for the nox sessions.

Why not nox's own venvs: nox gives every parametrized session its own venv, so the 12 sessions of the
gate would install torch 12 times. Instead the tests share one dev venv, rebuilt only when a
``pyproject.toml`` (or the tool pins) change, and guarded by a file lock because several people run
nox in the same checkout at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from cilib.paths import REPO_ROOT


def pyenv_root() -> Path | None:
    """``$(pyenv root)`` if pyenv is installed, else None."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    exe = shutil.which("pyenv")
    if not exe:
        return None
    out = subprocess.run([exe, "root"], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def expose_pyenv_versions() -> None:
    """Let ``pythonX.Y`` shims resolve for every installed pyenv version.

    A bare ``python3.12`` pyenv shim fails unless PYENV_VERSION lists 3.12; the current version stays
    first so ``python`` keeps meaning the default (3.11).
    """
    exe = shutil.which("pyenv")
    if not exe:
        return
    bare = subprocess.run([exe, "versions", "--bare"], capture_output=True, text=True).stdout.split()
    current = (
        os.environ.get("PYENV_VERSION")
        or subprocess.run([exe, "version-name"], capture_output=True, text=True).stdout.strip()
    )
    ordered = [v for v in current.split(":") if v] + [v for v in bare if "/" not in v]
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys(ordered))


def find_python(version: str) -> str:
    """Full path of a CPython ``version`` (e.g. ``"3.12"``): pyenv's install first, then PATH.

    Raises:
        RuntimeError: no such interpreter on this machine.
    """
    root = pyenv_root()
    if root:
        candidates = sorted(
            glob.glob(str(root / "versions" / f"{version}.*" / "bin" / f"python{version}")),
            key=lambda p: [int(x) for x in Path(p).parents[1].name.split(".") if x.isdigit()],
        )
        if candidates:
            return candidates[-1]
    exe = shutil.which(f"python{version}")
    if exe:
        probe = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return exe
    raise RuntimeError(f"no python{version} found (looked in $(pyenv root)/versions and on PATH)")


def bin_dir(venv: Path) -> Path:
    """``<venv>/bin``."""
    return venv / "bin"


def python_of(venv: Path) -> str:
    """The interpreter of ``venv``."""
    return str(bin_dir(venv) / "python")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on ``path`` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fingerprint(*parts: str | bytes | Path) -> str:
    """Short sha256 over strings, bytes and file contents (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(str(part).encode())
            digest.update(part.read_bytes() if part.exists() else b"")
        else:
            digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def ensure_venv(
    venv: Path,
    key: str,
    python: str,
    install: Callable[[str], None],
    *,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Create ``venv`` with ``python`` and run ``install(venv_python)``, unless it is already built for ``key``.

    The stamp file is written only after ``install`` succeeds, so a half-built venv is never reused.
    ``fresh=True`` always rebuilds (isolated installs).
    """
    stamp = venv / ".tttv2-venv-key"
    with file_lock(venv.parent / f".{venv.name}.lock"):
        if not fresh and stamp.exists() and stamp.read_text() == key and Path(python_of(venv)).exists():
            log(f"reusing venv {venv} (key {key})")
            return venv
        log(f"creating venv {venv} with {python} (key {key})")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        install(python_of(venv))
        stamp.write_text(key)
    return venv


def pip_install(venv_python: str, *args: str, cwd: Path = REPO_ROOT) -> None:
    """``<venv python> -m pip install <args>`` (pip, not uv: pip's config finds the local torch wheel)."""
    subprocess.run(
        [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *args],
        check=True,
        cwd=cwd,
    )
