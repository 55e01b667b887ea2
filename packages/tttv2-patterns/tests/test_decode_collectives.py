"""A traced decode step's collectives carry the catalog's topology and num_links (TTTv1's choices).

Expected values are typed in from TTTv1 (models/tt_transformers/tt/ccl.py ``get_num_links`` link_dict,
model_config.py ``ccl_topology``: Ring on a T3K, Linear elsewhere), not read from the catalog.
"""

import pytest
from tttv2_patterns import CausalLM

CCL_OPS = ("ttnn.all_gather", "ttnn.reduce_scatter", "ttnn.all_reduce")
# device: {cluster_axis: (ttnn.Topology name, num_links)}
TTTV1 = {
    "N300": {None: ("Linear", 1), 1: ("Linear", 1)},
    "T3K": {None: ("Ring", 1), 1: ("Ring", 1)},
    "TG": {None: ("Linear", 3), 0: ("Linear", 4), 1: ("Linear", 3)},
}


def test_traced_decode_step_collectives_use_the_catalogs_topology_and_links(
    llama_spec_with_checkpoint, device
):
    if device.spec.name not in TTTV1:
        pytest.skip(f"collective settings are checked on {list(TTTV1)}, not {device.spec.name}")
    model = CausalLM(llama_spec_with_checkpoint, device=device, progress=False)
    out = model.decode_forward(model.prefill_forward([[1, 5, 7], [3, 4]]))  # compile run + capture
    device.trace.clear()
    model.decode_forward(out)  # one replayed decode step
    collectives = [r for r in device.trace.records if r.name in CCL_OPS]
    assert collectives, "a decode step on a mesh ran no collective"
    expected = TTTV1[device.spec.name]
    for record in collectives:
        axis = record.attributes["cluster_axis"]
        got = (record.attributes.get("topology"), record.attributes.get("num_links"))
        assert got == expected[axis], (
            f"{record.name} (cluster_axis={axis}) in {record.scope or 'the model'}: "
            f"expected topology/num_links {expected[axis]} on {device.spec.name}, got {got}"
        )
