"""Promise 2: one package is released (here: a minor bump of blocks) without touching any other,
and the API check holds the version bump to what changed in ``__all__``."""

from __future__ import annotations

import re

import pytest
from conftest import PROBE_NAME, add_probe, clone_repo, git, nox, set_version
from packaging.version import Version

from cilib.paths import PACKAGES, about_file, changelog_file
from cilib.releases import bump, current_version, find_release


def test_release_commit_holds_only_blocks_version_and_changelog(bumped_clone):
    clone = bumped_clone.path
    changed = git(clone, "show", "--name-only", "--format=", bumped_clone.release_commit).split()
    assert sorted(changed) == sorted([about_file("blocks"), changelog_file("blocks")])
    subject = git(clone, "show", "-s", "--format=%s", bumped_clone.release_commit).strip()
    assert subject == f"release: tttv2-blocks {bumped_clone.blocks_new}"
    # A minor bump of the previous release, recognised as a release from history alone.
    assert Version(bumped_clone.blocks_new) == bump(Version(bumped_clone.before["blocks"]), "minor")
    assert find_release("blocks", bumped_clone.blocks_new, clone).commit == bumped_clone.release_commit
    for package in PACKAGES:
        if package != "blocks":
            assert str(current_version(package, clone)) == bumped_clone.before[package]
    assert not git(clone, "status", "--porcelain", "--untracked-files=no").strip()


def test_release_turns_unreleased_into_the_version_section(bumped_clone):
    text = (bumped_clone.path / changelog_file("blocks")).read_text()
    heading = f"## {bumped_clone.blocks_new} — "
    unreleased, rest = text.split(heading, 1)
    # A fresh, empty Unreleased section above the new version; the listed change moved under it.
    assert unreleased.rstrip().endswith("## Unreleased")
    assert re.match(r"\d{4}-\d{2}-\d{2}\n", rest)
    assert PROBE_NAME in rest.split("\n## ", 1)[0]


def test_api_rejected_the_addition_before_the_bump(bumped_clone):
    proc = bumped_clone.api_before_release
    assert proc.returncode != 0, proc.stdout
    assert f"added to __all__: {PROBE_NAME}" in proc.stdout


def test_api_accepts_the_minor_release(bumped_clone):
    proc = nox(bumped_clone.path, "-s", "api(package='blocks')")
    assert f"added to __all__: {PROBE_NAME}" in proc.stdout
    assert "minor bump: OK" in proc.stdout


@pytest.fixture
def scratch(bumped_clone, tmp_path):
    """A throw-away clone of the bumped clone, for working-tree edits."""
    return clone_repo(bumped_clone.path, tmp_path / "scratch")


def _api(clone):
    return nox(clone, "-s", "api(package='blocks')", check=False)


def test_api_rejects_a_removed_name_without_a_major_bump(bumped_clone, scratch):
    init = scratch / "packages/tttv2-blocks/src/tttv2_blocks/__init__.py"
    init.write_text(init.read_text().replace(f'__all__ += ("{PROBE_NAME}",)\n', ""))
    new = Version(bumped_clone.blocks_new)
    set_version(scratch, "blocks", f"{bump(new, 'minor')}.dev0")
    proc = _api(scratch)
    assert proc.returncode != 0, proc.stdout
    assert f"removed from __all__: {PROBE_NAME}" in proc.stdout
    # Control: the same removal with a major bump is accepted, so the failure above was the bump level.
    set_version(scratch, "blocks", f"{bump(new, 'major')}.dev0")
    assert _api(scratch).returncode == 0


def test_api_rejects_an_added_name_with_only_a_patch_bump(bumped_clone, scratch):
    add_probe(scratch, "promise_probe_patch")
    new = Version(bumped_clone.blocks_new)
    set_version(scratch, "blocks", f"{bump(new, 'patch')}.dev0")
    proc = _api(scratch)
    assert proc.returncode != 0, proc.stdout
    assert "added to __all__: promise_probe_patch" in proc.stdout
    set_version(scratch, "blocks", f"{bump(new, 'minor')}.dev0")
    assert _api(scratch).returncode == 0


def test_release_refuses_unrelated_uncommitted_changes(bumped_clone, scratch):
    changelog = scratch / changelog_file("blocks")
    changelog.write_text(changelog.read_text() + "\n- uncommitted line\n")
    proc = nox(scratch, "-s", "release", "--", "blocks", "patch", check=False)
    assert proc.returncode != 0
    assert "uncommitted changes" in proc.stdout + proc.stderr
    assert git(scratch, "rev-parse", "HEAD").strip() == bumped_clone.release_commit
