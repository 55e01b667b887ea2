"""Where things live in the monorepo; every other tooling module asks here."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Import-name suffixes of the four released packages, in dependency order.
PACKAGES = ("hwconfig", "blocks", "patterns", "testing")


def check_package(package: str) -> str:
    """Return ``package`` if it is one of ours, else raise ValueError listing the valid names."""
    if package not in PACKAGES:
        raise ValueError(f"unknown package {package!r}; expected one of {', '.join(PACKAGES)}")
    return package


def distribution_name(package: str) -> str:
    """``blocks`` -> ``tttv2-blocks`` (the name on an index and in requirements)."""
    return f"tttv2-{check_package(package)}"


def import_name(package: str) -> str:
    """``blocks`` -> ``tttv2_blocks``."""
    return f"tttv2_{check_package(package)}"


def package_dir(package: str, root: Path = REPO_ROOT) -> Path:
    """Relative-to-``root`` folder of a package, e.g. ``packages/tttv2-blocks``."""
    return root / "packages" / distribution_name(package)


def about_file(package: str) -> str:
    """Repo-relative path of the file whose ``__version__`` is the package's version."""
    return f"packages/{distribution_name(package)}/src/{import_name(package)}/__about__.py"


def changelog_file(package: str) -> str:
    """Repo-relative path of the package's CHANGELOG."""
    return f"packages/{distribution_name(package)}/CHANGELOG.md"


def package_from_distribution(dist: str) -> str | None:
    """``tttv2-blocks`` / ``tttv2_blocks`` -> ``blocks``; None when it is not one of ours."""
    normalized = dist.lower().replace("_", "-")
    if normalized.startswith("tttv2-") and normalized[len("tttv2-") :] in PACKAGES:
        return normalized[len("tttv2-") :]
    return None
