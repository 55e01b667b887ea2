"""Build wheels: released versions from git history, or the working tree.

The release wheelhouse (``.nox/wheelhouse/`` by default, ``TTTV2_WHEELHOUSE`` overrides) holds only
wheels built from release commits (``git archive <commit> packages/tttv2-P``), one per version, and
is what ``zoo`` installs from. Working-tree wheels (``isolated``) are built elsewhere so a dev wheel
can never be mistaken for a release.
"""

from __future__ import annotations

import email.parser
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from cilib.paths import REPO_ROOT, distribution_name, package_dir
from cilib.releases import Release, find_release, releases
from cilib.venvs import file_lock

SOURCES_FILE = ".sources.json"  # wheel file name -> release commit it was built from


def default_wheelhouse(root: Path = REPO_ROOT) -> Path:
    """``$TTTV2_WHEELHOUSE`` or ``<root>/.nox/wheelhouse``."""
    return Path(os.environ.get("TTTV2_WHEELHOUSE", root / ".nox" / "wheelhouse"))


def build_wheel(python: str, source_dir: Path, out_dir: Path) -> Path:
    """Build one wheel of ``source_dir`` with ``python -m build`` (hatchling backend) into ``out_dir``.

    ``--no-isolation``: the dev venv already has hatchling, and isolation would reinstall it from
    the index for every build.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tttv2-build-") as tmp:
        subprocess.run(
            [python, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp, str(source_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        target = out_dir / wheel.name
        shutil.move(str(wheel), target)
    return target


def extract_from_history(commit: str, subdir: str, dest: Path, root: Path) -> Path:
    """``git archive <commit> <subdir>`` unpacked under ``dest``; returns ``dest/subdir``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, subdir], cwd=root, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / subdir


def build_release(release: Release, python: str, wheelhouse: Path, root: Path = REPO_ROOT, log=print) -> Path:
    """Wheel of one release, built from its commit; cached by version (and checked against the commit)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with file_lock(wheelhouse / ".lock"):
        sources_path = wheelhouse / SOURCES_FILE
        sources = json.loads(sources_path.read_text()) if sources_path.exists() else {}
        prefix = f"{distribution_name(release.package).replace('-', '_')}-{release.version}-"
        for name, commit in sources.items():
            if name.startswith(prefix) and commit == release.commit and (wheelhouse / name).exists():
                log(f"wheelhouse: {release} cached as {name}")
                return wheelhouse / name
        subdir = package_dir(release.package, Path(".")).as_posix()
        with tempfile.TemporaryDirectory(prefix="tttv2-release-src-") as tmp:
            source = extract_from_history(release.commit, subdir, Path(tmp), root)
            wheel = build_wheel(python, source, wheelhouse)
        sources[wheel.name] = release.commit
        sources_path.write_text(json.dumps(sources, indent=2, sort_keys=True))
        log(f"wheelhouse: built {wheel.name} from {release}")
        return wheel


def build_releases(
    wanted: list[tuple[str, str]] | None, python: str, wheelhouse: Path, root: Path = REPO_ROOT, log=print
) -> list[Path]:
    """Build ``[(package, version), ...]``, or every release of every package when ``wanted`` is None."""
    from cilib.paths import PACKAGES

    if wanted is None:
        targets = [r for p in PACKAGES for r in releases(p, root)]
    else:
        targets = [find_release(p, v, root) for p, v in wanted]
    return [build_release(r, python, wheelhouse, root, log) for r in targets]


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """``Requires-Dist`` of a wheel (read from its METADATA, no install needed)."""
    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(meta_name).decode())
    return [Requirement(value) for value in message.get_all("Requires-Dist") or []]
