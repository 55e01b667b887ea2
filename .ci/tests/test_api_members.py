"""``cilib.api_diff`` on two tiny package versions: what each kind of change asks of the version bump.

griffe's breaking-change finder reports removals only, so an added method or property of an exported
class must be found by the diff itself (it is new public API: at least a minor bump).
"""

from __future__ import annotations

import textwrap

from cilib.api_diff import diff_api, load_api

BASE = '''
__all__ = ["Trace", "helper"]


class Trace:
    """An exported class."""

    def __init__(self):
        self.records = []

    def clear(self):
        self.records.clear()


def helper():
    return 1
'''


def _load(tmp_path, name: str, source: str):
    package = tmp_path / name / "tttv2_blocks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(source))
    return load_api("blocks", tmp_path / name)


def test_an_added_public_member_of_an_exported_class_needs_a_minor_bump(tmp_path):
    added = BASE.replace(
        "    def clear(self):",
        "    def since(self, mark):\n        return self.records[mark:]\n\n    def clear(self):",
    )
    diff = diff_api(_load(tmp_path, "old", BASE), _load(tmp_path, "new", added))
    assert diff.added_members == ["Trace.since"]
    assert diff.required_level == "minor"


def test_private_members_and_unchanged_classes_need_nothing(tmp_path):
    private = BASE.replace(
        "    def clear(self):", "    def _trim(self):\n        pass\n\n    def clear(self):"
    )
    assert diff_api(_load(tmp_path, "old", BASE), _load(tmp_path, "same", BASE)).required_level is None
    diff = diff_api(_load(tmp_path, "old2", BASE), _load(tmp_path, "private", private))
    assert (diff.added_members, diff.required_level) == ([], None)


def test_a_removed_member_is_still_breaking(tmp_path):
    removed = BASE.replace("    def clear(self):\n        self.records.clear()\n", "")
    diff = diff_api(_load(tmp_path, "old", BASE), _load(tmp_path, "new", removed))
    assert diff.required_level == "major"
