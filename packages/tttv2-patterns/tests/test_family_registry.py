"""Families are found through the ``tttv2.families`` entry points of installed distributions."""

from __future__ import annotations

import sys

import pytest
from tttv2_patterns.family import UnknownFamilyError, families, family_for_architectures, get_family


def _install_fake_distribution(root, name: str, entry_points: str) -> None:
    """A minimal installed distribution (``*.dist-info`` on ``sys.path``): what pip leaves behind."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "fake_family.py").write_text(
        "import _family\n\nclass Fake(_family.TinyLlama):\n    name = 'fake'\n    architectures = ('FakeForCausalLM',)\n"
        "\nNOT_A_FAMILY = 3\n"
    )
    yield tmp_path
    sys.modules.pop("fake_family", None)


def test_installed_family_is_found_by_name_and_architecture(site):
    _install_fake_distribution(site, "fake_family_dist", "[tttv2.families]\nfake = fake_family:Fake\n")
    import fake_family  # noqa: PLC0415

    assert families()["fake"] is fake_family.Fake
    assert get_family("fake") is fake_family.Fake
    assert family_for_architectures(["FakeForCausalLM"]) is fake_family.Fake


def test_unknown_family_lists_the_installed_ones(site):
    _install_fake_distribution(site, "fake_family_dist", "[tttv2.families]\nfake = fake_family:Fake\n")
    with pytest.raises(UnknownFamilyError, match=r"no installed family 'nope'; installed: \[.*'fake'"):
        get_family("nope")
    with pytest.raises(
        UnknownFamilyError, match=r"no installed family handles architectures \['GPT2LMHeadModel'\]"
    ):
        family_for_architectures(["GPT2LMHeadModel"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fake_family:NOT_A_FAMILY", "is not a ModelFactory subclass"),
        ("no_such_module:X", "cannot be loaded"),
    ],
)
def test_broken_entry_point_is_named(site, value, message):
    _install_fake_distribution(site, "broken_dist", f"[tttv2.families]\nbroken = {value}\n")
    with pytest.raises(UnknownFamilyError, match=rf"family 'broken' \({value}, from broken_dist\) {message}"):
        families()
