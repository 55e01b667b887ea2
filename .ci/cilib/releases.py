"""Release identity, read from git history alone.

A release of package P at version V is the commit that set ``__version__ = "V"`` in
``packages/tttv2-P/src/tttv2_P/__about__.py``, where V is a final version (not ``.devN``, not
``aN``/``bN``/``rcN``). Every session (release, api, wheelhouse, zoo) asks this module, so there is
one definition of "what was released" and no separate record to keep in sync.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from cilib.paths import REPO_ROOT, about_file, distribution_name

BUMP_LEVELS = ("patch", "minor", "major")

_VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["'][ \t]*$""", re.MULTILINE)
_ADDED_VERSION_LINE = re.compile(r"""^\+__version__\s*=\s*["']([^"']+)["']\s*$""", re.MULTILINE)
_COMMIT_MARK = "@@commit "


@dataclass(frozen=True)
class Release:
    """One published version of one package."""

    package: str
    version: Version
    commit: str

    def __str__(self) -> str:
        return f"{distribution_name(self.package)} {self.version} (commit {self.commit[:10]})"


def git(*args: str, root: Path = REPO_ROOT) -> str:
    """Run git in ``root`` and return stdout; raise RuntimeError with git's stderr on failure."""
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}:\n{proc.stderr.strip()}")
    return proc.stdout


def parse_version(text: str, where: str) -> Version:
    """Return the ``__version__`` assigned in ``text`` (an ``__about__.py``); ``where`` names it in errors."""
    match = _VERSION_LINE.search(text)
    if not match:
        raise ValueError(f'{where}: no line of the form __version__ = "X.Y.Z"')
    try:
        return Version(match.group(1))
    except InvalidVersion as error:
        raise ValueError(f"{where}: __version__ {match.group(1)!r} is not a PEP 440 version") from error


def is_release_version(version: Version) -> bool:
    """True for a final version such as 2.1.0 (no dev/pre-release part, no local label)."""
    return not version.is_prerelease and version.local is None


def current_version(package: str, root: Path = REPO_ROOT) -> Version:
    """Version in the working tree (uncommitted edits included)."""
    path = root / about_file(package)
    return parse_version(path.read_text(), str(path))


def releases(package: str, root: Path = REPO_ROOT) -> list[Release]:
    """All releases of ``package`` found in the history of HEAD, oldest version first.

    One ``git log -p`` over the ``__about__.py`` file: every added ``__version__`` line with a final
    version marks a release; if a version was set more than once, its first commit is the release.
    """
    path = about_file(package)
    log = git("log", "--reverse", f"--format={_COMMIT_MARK}%H", "-p", "--unified=0", "--", path, root=root)
    found: dict[Version, str] = {}
    for chunk in log.split(_COMMIT_MARK)[1:]:
        commit, _, diff = chunk.partition("\n")
        for raw in _ADDED_VERSION_LINE.findall(diff):
            try:
                version = Version(raw)
            except InvalidVersion:
                continue  # a bad version string was never a release
            if is_release_version(version):
                found.setdefault(version, commit.strip())
    return [Release(package, v, c) for v, c in sorted(found.items())]


def find_release(package: str, version: str | Version, root: Path = REPO_ROOT) -> Release:
    """The release of ``package`` at exactly ``version``; ValueError listing the known ones otherwise."""
    wanted = Version(str(version))
    known = releases(package, root)
    for release in known:
        if release.version == wanted:
            return release
    listed = ", ".join(str(r.version) for r in known) or "none"
    raise ValueError(
        f"{distribution_name(package)} {wanted} was never released (releases in history: {listed})"
    )


def last_release_before(package: str, version: Version, root: Path = REPO_ROOT) -> Release | None:
    """Newest release strictly older than ``version`` (2.1.0.dev0 -> 2.0.0), or None."""
    older = [r for r in releases(package, root) if r.version < version]
    return older[-1] if older else None


def bump(version: Version, level: str) -> Version:
    """Semver bump of a final version: 2.1.3 + minor -> 2.2.0."""
    if level not in BUMP_LEVELS:
        raise ValueError(f"bump level {level!r} is not one of {', '.join(BUMP_LEVELS)}")
    major, minor, patch = (list(version.release) + [0, 0, 0])[:3]
    if level == "major":
        return Version(f"{major + 1}.0.0")
    if level == "minor":
        return Version(f"{major}.{minor + 1}.0")
    return Version(f"{major}.{minor}.{patch + 1}")


def bump_level(old: Version, new: Version) -> str | None:
    """Which semver part changed from ``old`` to ``new`` (base versions compared); None if none did."""
    old_parts = (list(old.release) + [0, 0, 0])[:3]
    new_parts = (list(Version(new.base_version).release) + [0, 0, 0])[:3]
    if new_parts[0] != old_parts[0]:
        return "major"
    if new_parts[1] != old_parts[1]:
        return "minor"
    if new_parts[2] != old_parts[2]:
        return "patch"
    return None


def next_release_version(package: str, level: str, root: Path = REPO_ROOT) -> Version:
    """Version that ``release <package> <level>`` publishes.

    - From ``X.Y.Z.devN`` (or a pre-release) the release publishes ``X.Y.Z``; ``level`` must be the
      step from the last release to ``X.Y.Z`` (any level is accepted for a first release).
    - From a final ``X.Y.Z`` it bumps by ``level``.
    """
    if level not in BUMP_LEVELS:
        raise ValueError(f"bump level {level!r} is not one of {', '.join(BUMP_LEVELS)}")
    current = current_version(package, root)
    name = distribution_name(package)
    if is_release_version(current):
        return bump(current, level)
    base = Version(current.base_version)
    previous = last_release_before(package, current, root)
    released = {r.version for r in releases(package, root)}
    if base in released:
        raise ValueError(f"{name} is at {current} but {base} is already released; set a newer dev version")
    if previous is not None and bump(previous.version, level) != base:
        needed = bump_level(previous.version, base)
        raise ValueError(
            f"{name} is at {current}, so this release publishes {base}; from the last release "
            f"{previous.version} that is a {needed} bump, but {level!r} was asked for"
        )
    return base


def last_commit_touching(path: str, root: Path = REPO_ROOT) -> str:
    """Hash of the newest commit that changed ``path`` (used in cache keys)."""
    return git("log", "-1", "--format=%H", "--", path, root=root).strip()
