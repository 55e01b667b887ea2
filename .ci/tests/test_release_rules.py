"""Release identity and version rules of ``.ci/cilib`` on a tiny throw-away git repository."""

from __future__ import annotations

import datetime
import subprocess

import pytest
from conftest import GIT_IDENTITY
from packaging.version import Version

from cilib.make_release import ReleaseError, release
from cilib.paths import about_file, changelog_file
from cilib.releases import next_release_version, releases

TODAY = datetime.date(2026, 1, 2)


def _git(repo, *args):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), **GIT_IDENTITY}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """One package (blocks) at 2.0.0.dev0 with a CHANGELOG, committed."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    (tmp_path / about_file("blocks")).parent.mkdir(parents=True)
    (tmp_path / about_file("blocks")).write_text('__version__ = "2.0.0.dev0"\n')
    (tmp_path / changelog_file("blocks")).write_text("# Changelog\n\n## Unreleased\n\n- First release.\n")
    _git(tmp_path, "init", "--quiet")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "--quiet", "-m", "init")
    return tmp_path


def _set(repo, version, message="bump"):
    (repo / about_file("blocks")).write_text(f'__version__ = "{version}"\n')
    changelog = repo / changelog_file("blocks")
    changelog.write_text(changelog.read_text().replace("## Unreleased\n", "## Unreleased\n\n- change\n", 1))
    _git(repo, "commit", "--quiet", "-am", message)


def test_first_release_publishes_the_dev_base_at_any_level(repo):
    assert next_release_version("blocks", "patch", repo) == Version("2.0.0")
    assert release("blocks", "major", repo, today=TODAY) == Version("2.0.0")
    (found,) = releases("blocks", repo)
    assert (found.version, found.commit) == (Version("2.0.0"), _git(repo, "rev-parse", "HEAD").strip())
    text = (repo / changelog_file("blocks")).read_text()
    assert text == "# Changelog\n\n## Unreleased\n\n## 2.0.0 — 2026-01-02\n\n- First release.\n"


def test_dev_versions_are_not_releases_and_levels_must_match(repo):
    release("blocks", "major", repo, today=TODAY)
    _set(repo, "2.1.0.dev0")
    assert [str(r.version) for r in releases("blocks", repo)] == ["2.0.0"]
    with pytest.raises(ValueError, match="minor bump, but 'patch'"):
        next_release_version("blocks", "patch", repo)
    assert release("blocks", "minor", repo, today=TODAY) == Version("2.1.0")
    # From a final version the release bumps by semver.
    _set(repo, "2.1.0", message="changelog only")
    assert next_release_version("blocks", "patch", repo) == Version("2.1.1")
    assert next_release_version("blocks", "major", repo) == Version("3.0.0")


def test_release_refuses_an_empty_unreleased_section(repo):
    release("blocks", "major", repo, today=TODAY)
    with pytest.raises(ReleaseError, match="empty"):
        release("blocks", "patch", repo, today=TODAY)


def test_release_refuses_staged_changes(repo):
    (repo / "other.txt").write_text("x")
    _git(repo, "add", "other.txt")
    with pytest.raises(ReleaseError, match="staged"):
        release("blocks", "major", repo, today=TODAY)
    assert releases("blocks", repo) == []


def test_set_version_keeps_the_rest_of_the_file():
    from cilib.make_release import set_version  # noqa: PLC0415

    text = '# header\n__version__ = "2.0.0.dev0"\n'
    assert set_version(text, Version("2.0.0")) == '# header\n__version__ = "2.0.0"\n'
