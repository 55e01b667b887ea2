"""config_tree.Snapshot (the per-step "ImplConfig unchanged?" check) against the full leaf-by-leaf diff."""

import pytest
from tttv2_patterns import CausalLM
from tttv2_patterns.config_tree import Snapshot, leaves, set_path


def _leaf_path(impl) -> str:
    return next(p for p, v in leaves(impl).items() if p.startswith("layers[0].") and v is not None)


def _replace_leaf(impl):
    set_path(impl, _leaf_path(impl), None)


def _grow_list(impl):
    impl.layers.append(impl.layers[0])


def test_snapshot_of_an_untouched_tree_is_unchanged(llama_spec_with_checkpoint, device):
    impl = CausalLM.ImplConfig(llama_spec_with_checkpoint, device)
    snapshot = Snapshot(impl)
    path = _leaf_path(impl)
    set_path(impl, path, leaves(impl)[path])  # the same object written back: no change
    assert snapshot.unchanged()


@pytest.mark.parametrize("edit", [_replace_leaf, _grow_list])
def test_snapshot_sees_every_edit_the_leaf_diff_sees(llama_spec_with_checkpoint, device, edit):
    impl = CausalLM.ImplConfig(llama_spec_with_checkpoint, device)
    before, snapshot = leaves(impl), Snapshot(impl)
    edit(impl)
    after = leaves(impl)
    assert {p for p in before.keys() | after.keys() if before.get(p) is not after.get(p)}  # a real edit
    assert not snapshot.unchanged()
