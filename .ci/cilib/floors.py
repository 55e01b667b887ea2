"""Floors of the third-party requirements of our packages, as a pip constraints file.

The four library packages declare ranges (``torch>=2.13``); the ``lowest`` nox session installs
exactly each floor (``torch==2.13``), the way google-cloud-python's ``testing/constraints-*.txt``
do, but generated from the pyproject files so that a floor and its test cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _requirements(project_dir: Path, extras: tuple[str, ...]) -> list[tuple[str, Requirement]]:
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    for extra in extras:
        found += [
            (f"optional-dependencies.{extra}", Requirement(r))
            for r in project.get("optional-dependencies", {}).get(extra, [])
        ]
    return found


def floor_of(requirement: Requirement, where: str) -> str:
    """The version of the single ``>=`` specifier of ``requirement``.

    Raises:
        ValueError: no ``>=`` floor, an exact ``==`` pin, or more than one floor.
    """
    floors = [s.version for s in requirement.specifier if s.operator == ">="]
    pins = [s for s in requirement.specifier if s.operator in ("==", "===", "~=")]
    if pins or len(floors) != 1:
        raise ValueError(
            f"{where}: {requirement} must be a range with one tested floor (e.g. {requirement.name}>=X.Y) "
            "and no exact pin; exact versions belong to applications (model_zoo, lock/constraints files)"
        )
    return floors[0]


def floor_constraints(project_dirs: list[Path], extras: tuple[str, ...] = ("test",)) -> dict[str, str]:
    """``{distribution: floor}`` over the third-party requirements of ``project_dirs`` (``tttv2-*`` skipped).

    Raises:
        ValueError: a requirement without a floor, or two packages that disagree on one floor.
    """
    floors: dict[str, tuple[str, str]] = {}
    for project_dir in project_dirs:
        for section, requirement in _requirements(project_dir, extras):
            name = canonicalize_name(requirement.name)
            if name.startswith("tttv2-"):
                continue
            where = f"{project_dir.name}/pyproject.toml [{section}]"
            floor = floor_of(requirement, where)
            if name in floors and floors[name][0] != floor:
                raise ValueError(
                    f"{where}: {name}>={floor}, but {floors[name][1]} says {name}>={floors[name][0]}; "
                    "use one floor so the lowest session tests what both promise"
                )
            floors[name] = (floor, where)
    return {name: floor for name, (floor, _) in sorted(floors.items())}


def write_constraints(floors: dict[str, str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}=={version}\n" for name, version in floors.items()))
    return path
