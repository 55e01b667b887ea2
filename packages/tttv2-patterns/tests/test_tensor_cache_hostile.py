"""Tensor caches under hostile conditions: rewritten checkpoints, read-only/full disks, kill -9 mid-write."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from _llama import llama_spec
from safetensors import safe_open
from tttv2_patterns import CausalLM, TensorCache, TensorCacheError
from tttv2_patterns import tensor_cache as tensor_cache_module
from tttv2_patterns.cache_entries import CacheDirectoryError

PROMPT = [[5, 17, 300, 2, 88]]


@pytest.fixture
def checkpoint_dir(llama_checkpoint, tmp_path):
    _, path = llama_checkpoint
    return shutil.copytree(path, tmp_path / "checkpoint")


def _build(hf_config, checkpoint_dir, device, cache):
    spec = llama_spec(hf_config).attach_checkpoint(checkpoint_dir)
    return CausalLM(spec, device=device, tensor_cache=cache, progress=False)


def _uncached_logits(hf_config, checkpoint_dir, device):
    return _build(hf_config, checkpoint_dir, device, None).prefill_forward(PROMPT).logits


def _tensor_byte_range(file, key):
    """Byte offsets of ``key``'s data in a safetensors file (from its header, read independently)."""
    import json  # noqa: PLC0415
    import struct  # noqa: PLC0415

    data = file.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    begin, end = json.loads(data[8 : 8 + length])[key]["data_offsets"]
    return 8 + length + begin, 8 + length + end


def test_rewrite_with_same_size_and_mtime_is_not_reused(llama_checkpoint, checkpoint_dir, device, tmp_path):
    """Reproduces issue 13 case 2: the cache keyed by size + mtime + header reused stale weights.

    One tensor's bytes are rewritten in place (same size, same header) and the mtime restored with
    ``os.utime``, as ``cp -p`` / ``rsync -t`` do. Before the fix every block was a cache hit and the
    logits were the old checkpoint's.
    """
    hf_model, _ = llama_checkpoint
    cache = TensorCache(tmp_path / "cache")
    _build(hf_model.config, checkpoint_dir, device, cache)
    file = checkpoint_dir / "model.safetensors"
    stat = file.stat()
    key = "model.layers.0.self_attn.q_proj.weight"
    begin, end = _tensor_byte_range(file, key)
    data = bytearray(file.read_bytes())
    with safe_open(str(file), framework="pt") as handle:
        old = handle.get_tensor(key)
    new = (old * -1.5).contiguous()  # same dtype and shape: same header, same size
    data[begin:end] = new.view(torch.uint8).numpy().tobytes()
    file.write_bytes(bytes(data))
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file.stat().st_size == stat.st_size and file.stat().st_mtime_ns == stat.st_mtime_ns

    cache = TensorCache(tmp_path / "cache")
    model = _build(hf_model.config, checkpoint_dir, device, cache)
    kinds = {path: kind for path, kind, _ in cache.events}
    assert kinds.pop("layers.0.attention") == "built"  # a new key: the stale entry is not looked at
    assert set(kinds.values()) == {"hit"}  # blocks that read unchanged tensors still hit
    expected = _uncached_logits(hf_model.config, checkpoint_dir, device)
    assert torch.equal(model.prefill_forward(PROMPT).logits, expected)  # bit-identical: same conversion


def _entries(cache_dir):
    return sorted(p.relative_to(cache_dir) for p in cache_dir.rglob("*") if p.is_dir() and "tmp" in p.name)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_full_or_read_only_disk_is_a_named_error_and_leaves_nothing(
    llama_checkpoint, checkpoint_dir, device, tmp_path, monkeypatch, code
):
    """Reproduces issue 13 case 4: an OSError while writing an entry surfaced as a bare OSError.

    The write fails after part of the entry's files exist (as a disk filling up does); the error must
    name the cache directory and the fix, and no temporary or partial entry may remain.
    """
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    real_write_state = tensor_cache_module.write_state

    def failing_write_state(changes, directory, where):
        real_write_state(changes, directory, where)  # files are on disk: the failure is mid-entry
        raise OSError(code, os.strerror(code), str(directory / "manifest.json"))

    monkeypatch.setattr(tensor_cache_module, "write_state", failing_write_state)
    with pytest.raises(CacheDirectoryError, match=r"tensor cache .*cache .*tensor_cache=False") as info:
        _build(hf_model.config, checkpoint_dir, device, TensorCache(cache_dir))
    assert ("full disk" if code == errno.ENOSPC else "read-only") in str(info.value)
    assert isinstance(info.value, TensorCacheError)
    assert _entries(cache_dir) == []  # no temporaries
    assert not [p for p in cache_dir.rglob("manifest.json")]  # no entry at all


def test_read_only_cache_serves_complete_entries_and_names_missing_ones(
    llama_checkpoint, checkpoint_dir, device, tmp_path, monkeypatch
):
    """A read-only directory (lock files cannot be created) still serves its complete entries."""
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    reference = _build(hf_model.config, checkpoint_dir, device, TensorCache(cache_dir))
    expected = reference.prefill_forward(PROMPT).logits

    def read_only_acquire(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), self.lock_file)

    import filelock  # noqa: PLC0415

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only_acquire)
    cache = TensorCache(cache_dir)
    model = _build(hf_model.config, checkpoint_dir, device, cache)
    assert {kind for _, kind, _ in cache.events} == {"hit"}
    assert torch.equal(model.prefill_forward(PROMPT).logits, expected)
    shutil.rmtree(cache_dir / "layers.1.ffn")
    with pytest.raises(
        CacheDirectoryError, match=r"read-only file system: cannot lock an entry for layers\.1\.ffn"
    ):
        _build(hf_model.config, checkpoint_dir, device, TensorCache(cache_dir))


def test_uncreatable_cache_directory_is_a_named_error(tmp_path):
    """A cache path under a regular file: NotADirectoryError became a bare traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(
        CacheDirectoryError, match=r"tensor cache .*file/cache .*cannot create the cache directory"
    ):
        TensorCache(blocker / "cache")


KILL_SCRIPT = """
import os, sys, time, torch
sys.path.insert(0, {tests!r})
from _llama import llama_spec, read_config
from tttv2_hwconfig import open_device
from tttv2_patterns import CausalLM, TensorCache
from tttv2_patterns import tensor_cache as tc
torch.set_num_threads(1)
real = tc.write_state
def slow_write_state(changes, directory, where):
    result = real(changes, directory, where)
    if where == "layers.1.attention":  # files written, manifest not yet: signal and wait to be killed
        open({marker!r}, "w").write(str(directory))
        time.sleep(600)
    return result
tc.write_state = slow_write_state
config = read_config({checkpoint!r})
spec = llama_spec(config).attach_checkpoint({checkpoint!r})
with open_device({device!r}) as device:
    CausalLM(spec, device=device, tensor_cache=TensorCache({cache!r}), progress=False)
"""


def test_kill_9_mid_write_leaves_the_next_run_correct(
    llama_checkpoint, checkpoint_dir, device, device_name, tmp_path
):
    """A builder killed with SIGKILL while writing an entry: the next run rebuilds it and is exact."""
    hf_model, _ = llama_checkpoint
    cache_dir, marker = tmp_path / "cache", tmp_path / "writing"
    script = tmp_path / "kill.py"
    script.write_text(
        textwrap.dedent(KILL_SCRIPT).format(
            tests=os.path.dirname(__file__),
            checkpoint=str(checkpoint_dir),
            device=device_name,
            cache=str(cache_dir),
            marker=str(marker),
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the builder never reached layers.1.attention"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert _entries(cache_dir)  # the half-written temporary is there
    assert not list((cache_dir / "layers.1.attention").glob("*/manifest.json"))  # no entry was published

    cache = TensorCache(cache_dir)
    model = _build(hf_model.config, checkpoint_dir, device, cache)
    kinds = {path: kind for path, kind, _ in cache.events}
    assert kinds["layers.1.attention"] == "built"
    assert kinds["layers.0.attention"] == "hit"  # finished before the kill
    assert _entries(cache_dir) == []  # leftovers removed under the lock
    assert torch.equal(
        model.prefill_forward(PROMPT).logits, _uncached_logits(hf_model.config, checkpoint_dir, device)
    )
