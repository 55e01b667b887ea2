"""The family runs against exactly the tttv2 releases its pyproject pins (not the monorepo's main)."""

import importlib
import importlib.metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

FAMILY_DIR = Path(__file__).resolve().parents[1]
REPO_PACKAGES_DIR = FAMILY_DIR.parents[1] / "packages"


def _pins() -> dict[str, str]:
    project = tomllib.loads((FAMILY_DIR / "pyproject.toml").read_text())["project"]
    pins = {}
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.name.startswith("tttv2-"):
            (spec,) = requirement.specifier
            pins[requirement.name] = spec.version
    return pins


@pytest.mark.parametrize("distribution", sorted(_pins()))
def test_installed_version_is_the_pin(distribution):
    assert importlib.metadata.version(distribution) == _pins()[distribution]


@pytest.mark.parametrize("distribution", sorted(_pins()))
def test_imported_from_an_installed_wheel_not_the_source_tree(distribution):
    module = importlib.import_module(distribution.replace("-", "_"))
    assert REPO_PACKAGES_DIR not in Path(module.__file__).resolve().parents
