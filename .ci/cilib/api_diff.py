"""``nox -s "api(package='blocks')"``: public-API diff against the package's last release.

The public API of a package is exactly its top-level ``__all__``. Compared with griffe (static
analysis; nothing is imported):

- names removed from ``__all__``, and griffe's breaking changes (``griffe.find_breaking_changes``:
  removed members, changed signatures, new required parameters/dataclass fields, ...) of the objects
  those names point to -> need a **major** bump;
- names added to ``__all__``, and public members added to an exported class (a method, property or
  field whose name does not start with ``_``; griffe reports only removals) -> need at least a
  **minor** bump.

Which release: the newest release older than the working-tree version (2.1.0.dev0 and 2.1.0 are both
compared with 2.0.0). If the working-tree version is itself a release, the tree must also still
have exactly that release's API (a change needs a new version first). No older release at all:
"no previous release", pass.

Run inside the dev venv (needs griffe): ``python -m cilib.api_diff <package>``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import griffe
from packaging.version import Version

from cilib.paths import REPO_ROOT, check_package, distribution_name, import_name, package_dir
from cilib.releases import (
    Release,
    bump,
    bump_level,
    current_version,
    is_release_version,
    last_release_before,
    releases,
)
from cilib.wheelhouse import extract_from_history

_LEVEL_RANK = {None: 0, "patch": 1, "minor": 2, "major": 3}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ApiDiff:
    """What changed in ``__all__`` and which griffe breakages touch exported objects."""

    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    breakages: list[str] = field(default_factory=list)
    added_members: list[str] = field(default_factory=list)  # "OpTrace.since"

    @property
    def required_level(self) -> str | None:
        """Smallest semver bump that this diff needs."""
        if self.removed or self.breakages:
            return "major"
        if self.added or self.added_members:
            return "minor"
        return None


def load_api(package: str, src_dir: Path) -> griffe.Module:
    """Load ``tttv2_<package>`` statically from ``src_dir`` (a ``src/`` folder)."""
    return griffe.load(
        import_name(package),
        search_paths=[src_dir],
        try_relative_path=False,
        allow_inspection=False,  # never import package code (it would pull in torch, devices...)
        resolve_aliases=True,
    )


def exported_names(module: griffe.Module) -> list[str]:
    """Names in the module's ``__all__`` (griffe understands ``=``, ``+=``, ``.extend`` and friends)."""
    exports = module.exports
    if exports is None:
        raise ValueError(f"{module.path} has no __all__; the public API of a package is its __all__")
    return sorted(str(name) if isinstance(name, str) else name.name for name in exports)


def _export_paths(module: griffe.Module, names: list[str]) -> set[str]:
    """Dotted paths under which the exported objects are defined (aliases followed)."""
    paths = set()
    for name in names:
        paths.add(f"{module.path}.{name}")
        member = module.all_members.get(name)
        if member is not None and member.is_alias:
            paths.add(member.target_path)
            try:
                paths.add(member.final_target.path)
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                pass
    return paths


def diff_api(old: griffe.Module, new: griffe.Module) -> ApiDiff:
    """Compare two loaded versions of one package's public API."""
    old_names, new_names = exported_names(old), exported_names(new)
    result = ApiDiff(
        removed=sorted(set(old_names) - set(new_names)),
        added=sorted(set(new_names) - set(old_names)),
    )
    common = sorted(set(old_names) & set(new_names))
    for name in common:
        before, after = _public_members(old, name), _public_members(new, name)
        result.added_members += [f"{name}.{member}" for member in sorted(after - before)]
    exported = _export_paths(old, common)
    for breakage in griffe.find_breaking_changes(old, new):
        path = breakage.obj.path
        if any(path == p or path.startswith(p + ".") for p in exported):
            result.breakages.append(_ANSI.sub("", breakage.explain()))
    return result


def _public_members(module: griffe.Module, name: str) -> set[str]:
    """Public member names of the class exported as ``name`` (inherited ones too); empty for non-classes."""
    try:
        target = module.all_members[name]
        target = target.final_target if target.is_alias else target
        if not target.is_class:
            return set()
        return {member for member in target.all_members if not member.startswith("_")}
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return set()  # an object griffe cannot follow statically: its __all__ name is still compared


def _load_release(release: Release, root: Path, tmp: Path) -> griffe.Module:
    src = package_dir(release.package, Path(".")).as_posix() + "/src"
    return load_api(
        release.package, extract_from_history(release.commit, src, tmp / release.commit[:12], root)
    )


def _report(against: Release, current: Version, allowed: str | None, diff: ApiDiff) -> bool:
    name = distribution_name(against.package)
    print(f"{name}: working tree {current} vs release {against.version} (commit {against.commit[:10]})")
    for removed in diff.removed:
        print(f"  removed from __all__: {removed}  [breaking]")
    for breakage in diff.breakages:
        print(f"  breaking: {breakage}")
    for added in diff.added:
        print(f"  added to __all__: {added}")
    for member in diff.added_members:
        print(f"  added public member: {member}")
    needed = diff.required_level
    ok = _LEVEL_RANK[allowed] >= _LEVEL_RANK[needed]
    if needed is None:
        print("  no public API change")
    elif ok:
        print(f"  needs a {needed} bump; {against.version} -> {current} is a {allowed} bump: OK")
    else:
        what = f"a {allowed} bump" if allowed else "no version change"
        print(f"  FAIL: this needs a {needed} bump, but {against.version} -> {current} is {what}")
        print(f'  fix: set __version__ = "{bump(against.version, needed)}.dev0" (or revert the API change)')
    return ok


def check(package: str, root: Path = REPO_ROOT) -> bool:
    """Print the API diff(s) for ``package`` and return whether its version bump covers them."""
    check_package(package)
    current = current_version(package, root)
    previous = last_release_before(package, current, root)
    same = next((r for r in releases(package, root) if r.version == current), None)
    if previous is None and same is None:
        print(f"{distribution_name(package)} {current}: no previous release, nothing to compare (pass)")
        return True
    new_api = load_api(package, package_dir(package, root) / "src")
    ok = True
    with tempfile.TemporaryDirectory(prefix="tttv2-api-") as tmp:
        if previous is not None:
            allowed = bump_level(previous.version, current)
            ok &= _report(
                previous, current, allowed, diff_api(_load_release(previous, root, Path(tmp)), new_api)
            )
        if same is not None and is_release_version(current):
            ok &= _report(same, current, None, diff_api(_load_release(same, root, Path(tmp)), new_api))
    return ok


def main(argv: list[str]) -> int:
    """CLI: ``python -m cilib.api_diff <package> [<package> ...]``."""
    if not argv:
        print("usage: python -m cilib.api_diff <package> [...]", file=sys.stderr)
        return 2
    results = [check(package) for package in argv]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
