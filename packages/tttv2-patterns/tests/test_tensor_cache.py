"""On-disk tensor caches: hits skip conversion and checkpoint reads; stale/corrupt/half-written entries are rebuilt."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from _llama import llama_spec, tiny_llama
from tttv2_blocks import Module
from tttv2_hwconfig import ttnn
from tttv2_patterns import CausalLM, TensorCache, TensorCacheError
from tttv2_patterns.block_state import changed_attributes, snapshot, write_state

PROMPT = [[5, 17, 300, 2, 88]]


@pytest.fixture
def checkpoint_dir(llama_checkpoint, tmp_path):
    """A private copy of the tiny checkpoint (tests here rewrite it)."""
    _, path = llama_checkpoint
    return shutil.copytree(path, tmp_path / "checkpoint")


def _build(hf_config, checkpoint_dir, device, cache_dir, impl_edit=None):
    spec = llama_spec(hf_config).attach_checkpoint(checkpoint_dir)
    impl = CausalLM.ImplConfig(spec, device)
    if impl_edit:
        impl_edit(impl)
    cache = TensorCache(cache_dir)
    model = CausalLM(spec, impl, device, tensor_cache=cache, progress=False)
    return model, cache, spec.checkpoint


def _kinds(cache) -> dict[str, str]:
    return {path: kind for path, kind, _ in cache.events}


def _entry(cache_dir, module_path):
    (entry,) = [p for p in (cache_dir / module_path).iterdir() if p.is_dir()]
    return entry


def test_second_build_reads_nothing_and_gives_identical_logits(
    llama_checkpoint, checkpoint_dir, device, tmp_path
):
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    first, cache, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    assert set(_kinds(cache).values()) == {"built"}
    expected = first.prefill_forward(PROMPT).logits
    second, cache, checkpoint = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    assert set(_kinds(cache).values()) == {"hit"}
    assert len(_kinds(cache)) == 11  # embedding, 2 x 4 layer blocks, final_norm, lm_head
    assert checkpoint.tensors_read == 0  # a hit never reads a weight
    assert torch.equal(second.prefill_forward(PROMPT).logits, expected)
    # DRAM-sharded decode weights come back DRAM-sharded (same memory config as converted).
    for a, b in ((first.layers[0].ffn, second.layers[0].ffn), (first.lm_head, second.lm_head)):
        for name in vars(a):
            value = getattr(a, name)
            if isinstance(value, ttnn.Tensor):
                assert getattr(b, name).memory_config() == value.memory_config(), name


def test_changed_override_rebuilds_only_that_block(llama_checkpoint, checkpoint_dir, device, tmp_path):
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    _build(hf_model.config, checkpoint_dir, device, cache_dir)

    def override(impl):
        impl.layers[1].ffn.up_proj.dtype = ttnn.bfloat16

    _, cache, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir, override)
    kinds = _kinds(cache)
    assert kinds.pop("layers.1.ffn") == "built"
    assert set(kinds.values()) == {"hit"}


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "drop_manifest", "edit_manifest_key"])
def test_damaged_entry_is_rebuilt_not_used(llama_checkpoint, checkpoint_dir, device, tmp_path, damage):
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    reference, _, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    expected = reference.prefill_forward(PROMPT).logits
    entry = _entry(cache_dir, "layers.0.attention")
    tensor_file = sorted(entry.glob("ttnn_*.tensor"))[0]
    if damage == "flip_bytes":  # same size, different content: only the checksum can tell
        data = bytearray(tensor_file.read_bytes())
        data[-10:] = bytes(255 - b for b in data[-10:])
        tensor_file.write_bytes(bytes(data))
    elif damage == "truncate":  # a half-written file
        tensor_file.write_bytes(tensor_file.read_bytes()[:100])
    elif damage == "drop_manifest":  # a builder died before the manifest (written last)
        (entry / "manifest.json").unlink()
    else:  # an entry that claims another key
        manifest = json.loads((entry / "manifest.json").read_text())
        manifest["key"]["versions"]["tttv2_blocks"] = "0.0.1"
        (entry / "manifest.json").write_text(json.dumps(manifest))
    (entry.parent / f"{entry.name}.tmp-999-dead").mkdir()  # leftover of a crashed builder
    model, cache, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    kinds = _kinds(cache)
    assert kinds.pop("layers.0.attention") == "rebuilt"
    assert set(kinds.values()) == {"hit"}
    assert torch.equal(model.prefill_forward(PROMPT).logits, expected)
    assert not list(entry.parent.glob("*.tmp-*"))


def test_changed_checkpoint_is_stale(llama_checkpoint, checkpoint_dir, device, tmp_path):
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    _build(hf_model.config, checkpoint_dir, device, cache_dir)
    torch.manual_seed(99)
    new_weights = tiny_llama()
    new_weights.save_pretrained(checkpoint_dir, safe_serialization=True)  # same names and shapes, new values
    model, cache, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    assert set(_kinds(cache).values()) == {"built"}  # new fingerprint: nothing old is used
    uncached = CausalLM(
        llama_spec(hf_model.config).attach_checkpoint(checkpoint_dir), device=device, progress=False
    )
    assert torch.equal(model.prefill_forward(PROMPT).logits, uncached.prefill_forward(PROMPT).logits)


BUILD_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from _llama import llama_spec, read_config
from tttv2_hwconfig import open_device
from tttv2_patterns import CausalLM
torch.set_num_threads(1)
config = read_config({checkpoint!r})
spec = llama_spec(config).attach_checkpoint({checkpoint!r})
with open_device({device!r}) as device:
    model = CausalLM(spec, device=device, tensor_cache={cache!r}, progress=False)
    torch.save(model.prefill_forward([[5, 17, 300, 2, 88]]).logits, sys.argv[1])
"""


def test_two_processes_building_the_same_cache_both_succeed(
    llama_checkpoint, checkpoint_dir, device, device_name, tmp_path
):
    hf_model, _ = llama_checkpoint
    cache_dir = tmp_path / "cache"
    script = tmp_path / "build.py"
    tests = os.path.dirname(__file__)
    script.write_text(
        textwrap.dedent(BUILD_SCRIPT).format(
            tests=tests, checkpoint=str(checkpoint_dir), device=device_name, cache=str(cache_dir)
        )
    )
    outputs = [tmp_path / f"logits_{i}.pt" for i in range(2)]
    processes = [
        subprocess.Popen([sys.executable, str(script), str(out)], stderr=subprocess.PIPE, text=True)
        for out in outputs
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-2000:]
    logits = [torch.load(out) for out in outputs]
    uncached = CausalLM(
        llama_spec(hf_model.config).attach_checkpoint(checkpoint_dir), device=device, progress=False
    )
    expected = uncached.prefill_forward(PROMPT).logits
    assert torch.equal(logits[0], expected) and torch.equal(logits[1], expected)
    # Exactly one complete entry per block, no leftovers.
    for module_dir in cache_dir.iterdir():
        assert len([p for p in module_dir.iterdir() if p.is_dir()]) == 1, module_dir
    model, cache, _ = _build(hf_model.config, checkpoint_dir, device, cache_dir)
    assert set(_kinds(cache).values()) == {"hit"}


class _OpaqueState(Module):
    def load_weights(self, state_dict):
        self.handle = object()  # nothing the cache knows how to store


def test_unrepresentable_block_state_is_an_error(device, tmp_path):
    block = _OpaqueState(spec=None, impl_config=None, device=device)
    block.module_path = "layers.0.custom"
    before = snapshot(block)
    block.load_weights({})
    with pytest.raises(
        TensorCacheError, match=r"layers\.0\.custom\.handle: load_weights set a builtins\.object"
    ):
        write_state(changed_attributes(block, before), tmp_path, block.module_path)
