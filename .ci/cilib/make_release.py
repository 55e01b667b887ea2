"""``nox -s release -- <package> <patch|minor|major>``: release exactly one package.

Bumps ``__version__`` in the package's ``__about__.py``, turns the CHANGELOG's ``## Unreleased``
section into ``## <version> — <date>`` under a fresh empty ``## Unreleased``, and commits exactly
those two files as ``release: tttv2-<package> <version>``. Nothing else is touched.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
import time
from pathlib import Path

from packaging.version import Version

from cilib.paths import PACKAGES, REPO_ROOT, about_file, changelog_file, check_package, distribution_name
from cilib.releases import _VERSION_LINE, BUMP_LEVELS, git, next_release_version

UNRELEASED_HEADING = "## Unreleased"
_HEADING = re.compile(r"^## ", re.MULTILINE)


class ReleaseError(Exception):
    """A release was refused; the message says why and what to do."""


def set_version(about_text: str, version: Version) -> str:
    """Return ``about_text`` with its ``__version__`` line set to ``version`` (rest unchanged)."""
    new_text, count = _VERSION_LINE.subn(f'__version__ = "{version}"', about_text, count=1)
    if count != 1:
        raise ReleaseError('__about__.py has no line __version__ = "..." to bump')
    return new_text


def release_changelog(text: str, version: Version, date: datetime.date, where: str) -> str:
    """Rename the ``## Unreleased`` section to ``## <version> — <date>`` and open a new empty one.

    Raises:
        ReleaseError: no ``## Unreleased`` heading, or nothing listed under it.
    """
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == UNRELEASED_HEADING)
    except StopIteration:
        raise ReleaseError(f"{where}: no '{UNRELEASED_HEADING}' heading to release") from None
    end = next((i for i in range(start + 1, len(lines)) if _HEADING.match(lines[i])), len(lines))
    if not any(line.strip() for line in lines[start + 1 : end]):
        raise ReleaseError(f"{where}: the '{UNRELEASED_HEADING}' section is empty; list the changes first")
    lines[start : start + 1] = [f"{UNRELEASED_HEADING}\n", "\n", f"## {version} — {date.isoformat()}\n"]
    return "".join(lines)


def _refuse_unless_clean(package: str, root: Path) -> None:
    """Refuse if anything is staged, or the two files we write have uncommitted changes."""
    staged = git("diff", "--cached", "--name-only", root=root).split()
    if staged:
        raise ReleaseError(
            "refusing to release: the git index has staged changes ("
            + ", ".join(staged)
            + "); commit or unstage them first so the release commit holds only the release"
        )
    paths = [about_file(package), changelog_file(package)]
    dirty = git("status", "--porcelain", "--", *paths, root=root).splitlines()
    if dirty:
        raise ReleaseError(
            "refusing to release: these files have uncommitted changes: "
            + ", ".join(line[3:] for line in dirty)
            + "; commit them (e.g. your CHANGELOG lines) or revert them first"
        )


def _commit(paths: list[str], message: str, root: Path) -> None:
    """``git commit --only <paths>``, retrying while another process holds ``.git/index.lock``."""
    for attempt in range(20):
        proc = subprocess.run(
            ["git", "commit", "--quiet", "-m", message, "--only", "--", *paths],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            return
        if "index.lock" not in proc.stderr or attempt == 19:
            raise ReleaseError(f"git commit failed:\n{proc.stderr.strip()}")
        time.sleep(0.5)


def release(package: str, level: str, root: Path = REPO_ROOT, today: datetime.date | None = None) -> Version:
    """Make the release commit for one package and return the version it published."""
    check_package(package)
    if level not in BUMP_LEVELS:
        raise ReleaseError(f"bump level {level!r} is not one of {', '.join(BUMP_LEVELS)}")
    _refuse_unless_clean(package, root)
    try:
        version = next_release_version(package, level, root)
    except ValueError as error:
        raise ReleaseError(str(error)) from error

    about_path = root / about_file(package)
    changelog_path = root / changelog_file(package)
    new_about = set_version(about_path.read_text(), version)
    new_changelog = release_changelog(
        changelog_path.read_text(), version, today or datetime.date.today(), changelog_file(package)
    )
    about_path.write_text(new_about)
    changelog_path.write_text(new_changelog)
    _commit(
        [about_file(package), changelog_file(package)],
        f"release: {distribution_name(package)} {version}",
        root,
    )
    return version


def main(argv: list[str]) -> int:
    """CLI: ``python -m cilib.make_release <package> <patch|minor|major>``."""
    if len(argv) != 2:
        print(
            f"usage: nox -s release -- <package> <{'|'.join(BUMP_LEVELS)}>   (package: {', '.join(PACKAGES)})",
            file=sys.stderr,
        )
        return 2
    package, level = argv
    try:
        version = release(package, level)
    except (ReleaseError, ValueError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(
        f"released {distribution_name(package)} {version} (commit: release: {distribution_name(package)} {version})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
