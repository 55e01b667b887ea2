"""Fixtures for the promise tests: a temporary clone of this repository with 2.0.0-style releases.

What the clone holds: ``git clone`` of the committed HEAD, then the *working-tree* copies of the
tooling under test (``noxfile.py``, ``.ci/``, root ``pyproject.toml``) laid over it and committed in
the clone. Package sources are the committed ones: half-written, uncommitted work of other people in
the checkout never enters the clone. In CI (a fresh clone) the overlay changes nothing.

Nested nox runs reuse the outer dev venv for their tools (``TTTV2_DEV_VENV``); every venv they make
(zoo, the example user's venv) is new and lives in the clone or in tmp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / ".ci"))

from cilib.paths import PACKAGES, about_file  # noqa: E402
from cilib.releases import bump_level, current_version, is_release_version, last_release_before  # noqa: E402

TOOLING_PATHS = ("noxfile.py", ".ci", "pyproject.toml")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "tttv2 promise tests",
    "GIT_AUTHOR_EMAIL": "promises@example.invalid",
    "GIT_COMMITTER_NAME": "tttv2 promise tests",
    "GIT_COMMITTER_EMAIL": "promises@example.invalid",
}


def dev_venv() -> Path:
    """The dev venv that runs these tests (nox's ``promises`` session passes it explicitly)."""
    return Path(os.environ.get("TTTV2_DEV_VENV") or sys.prefix)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for nested git/nox: our git identity, the outer dev venv, no outer report/wheel dirs or lane."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TTTV2_JUNIT_DIR", "TTTV2_WHEELHOUSE", "TTTV2_GATE_LANE")
    }
    env.update(GIT_IDENTITY, TTTV2_DEV_VENV=str(dev_venv()), **extra)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run a command, capture its output, and on an unexpected failure show that output."""
    proc = subprocess.run(args, cwd=cwd, env=child_env(**env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({proc.returncode}) in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def git(clone: Path, *args: str) -> str:
    return run(["git", *args], cwd=clone).stdout


def nox(clone: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """``nox`` of the clone's own noxfile (tools from the outer dev venv)."""
    python = str(dev_venv() / "bin" / "python")
    return run([python, "-m", "nox", "--non-interactive", "-f", str(clone / "noxfile.py"), *args],
               cwd=clone, check=check, **env)  # fmt: skip


def clone_repo(source: Path, dest: Path) -> Path:
    """``git clone`` ``source`` into ``dest`` (a plain local clone, own object store)."""
    run(["git", "clone", "--quiet", "--no-hardlinks", str(source), str(dest)], cwd=dest.parent)
    return dest


@dataclass
class ReleasedClone:
    """A clone where every package has a final release (``versions``), wheels in its wheelhouse."""

    path: Path
    versions: dict[str, str]

    @property
    def wheelhouse(self) -> Path:
        return self.path / ".nox" / "wheelhouse"


@pytest.fixture(scope="session")
def released_clone(tmp_path_factory) -> ReleasedClone:
    """Clone + tooling overlay, then release each package that is still at a dev version.

    The bump level of each release is the one its dev version implies (any level for a first
    release), so this works before and after the real 2.0.0 releases land on main.
    """
    clone = clone_repo(REPO_ROOT, tmp_path_factory.mktemp("promises") / "repo")
    for rel in TOOLING_PATHS:
        source, target = REPO_ROOT / rel, clone / rel
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    git(clone, "add", "--", *TOOLING_PATHS)
    if git(clone, "status", "--porcelain", "--", *TOOLING_PATHS).strip():
        git(clone, "commit", "--quiet", "-m", "test: working-tree tooling overlay", "--", *TOOLING_PATHS)

    versions = {}
    for package in PACKAGES:
        version = current_version(package, clone)
        if not is_release_version(version):
            previous = last_release_before(package, version, clone)
            level = bump_level(previous.version, version) if previous else "major"
            nox(clone, "-s", "release", "--", package, level)
            version = current_version(package, clone)
        assert is_release_version(version), f"{package} still at {version} after its release"
        versions[package] = str(version)
    # The current release of every package, built once from history and shared by all tests.
    nox(clone, "-s", "wheelhouse", "--", *[arg for p in PACKAGES for arg in (p, versions[p])])
    return ReleasedClone(clone, versions)


def about_path(clone: Path, package: str) -> Path:
    return clone / about_file(package)


PROBE_NAME = "promise_probe_added"
PROBE_CODE = f"""


def {PROBE_NAME}() -> str:
    \"\"\"Added by the promise tests, in a temporary clone only.\"\"\"
    return "probe"


__all__ += ("{PROBE_NAME}",)
"""


def add_probe(clone: Path, name: str = PROBE_NAME) -> None:
    """Append a public function ``name`` to blocks' ``__init__`` and ``__all__`` (working tree)."""
    init = clone / "packages/tttv2-blocks/src/tttv2_blocks/__init__.py"
    init.write_text(init.read_text() + PROBE_CODE.replace(PROBE_NAME, name))


def set_version(clone: Path, package: str, version: str) -> None:
    """Rewrite the ``__version__`` line of a package in the working tree."""
    path = about_path(clone, package)
    lines = [
        f'__version__ = "{version}"' if line.startswith("__version__") else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class BumpedClone:
    """``released_clone`` after a public addition to blocks and ``release -- blocks minor``."""

    path: Path
    before: dict[str, str]  # versions of the earlier releases (the zoo family pins these)
    blocks_new: str
    release_commit: str
    api_before_release: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def bumped_clone(released_clone: ReleasedClone) -> BumpedClone:
    clone = released_clone.path
    add_probe(clone)
    changelog = clone / "packages/tttv2-blocks/CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace("## Unreleased\n", f"## Unreleased\n\n- Added `{PROBE_NAME}`.\n", 1)
    )
    git(clone, "commit", "--quiet", "-am", "blocks: add promise_probe_added (promise test)")
    api_before = nox(clone, "-s", "api(package='blocks')", check=False)

    nox(clone, "-s", "release", "--", "blocks", "minor")
    return BumpedClone(
        path=clone,
        before=dict(released_clone.versions),
        blocks_new=str(current_version("blocks", clone)),
        release_commit=git(clone, "rev-parse", "HEAD").strip(),
        api_before_release=api_before,
    )
