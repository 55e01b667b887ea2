"""TTTv1's per-layer collectives on a 2D mesh (TG), as ``tttv1-precision`` predictions run them.

Expected counts are read off TTTv1's sources (tt-metal ``models/tt_transformers/tt/attention.py``
``forward_decode``, ``mlp.py`` ``forward``, ``ccl.py``), not off the code under test: per decoder layer,
5 all-reduces (QKV and w1 / w3 along axis 1, wo and w2 along axis 0), each an all-gather +
``to_memory_config`` + ``fast_reduce_nc``, and 3 plain all-gathers (two norm statistics, the users),
plus two selection matmuls, one ``to_memory_config`` after the users' gather and two
``rms_norm_pre_all_gather``. Hidden 8192 swaps wo / w2 for reduce-scatter + all-gather and w1 / w3 for
reduce-scatters with an all-gather of ``w2_in``.
"""

from collections import Counter

import pytest
from _family import (
    TINY_LLAMA_CONFIG,
    TinyLlama,
    tiny_family_only,  # noqa: F401 - the fixture, used by every test here
)
from tttv2_hwconfig import open_device
from tttv2_patterns import model_families
from tttv2_patterns.tttv1_mesh_ops import SCOPE, tttv1_2d_mesh_records

AG, RS = "ttnn.experimental.all_gather_async", "ttnn.reduce_scatter"
FR, MEM, MM, PRE = (
    "ttnn.experimental.fast_reduce_nc",
    "ttnn.to_memory_config",
    "ttnn.matmul",
    "ttnn.rms_norm_pre_all_gather",
)
# Every width TTTv1 shards over the 8 rows or 4 columns of the mesh is a whole number of tiles.
TG_LLAMA = {
    **TINY_LLAMA_CONFIG,
    "hidden_size": 512,
    "intermediate_size": 1024,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
}
pytestmark = pytest.mark.usefixtures("tiny_family_only")


def _spec(**overrides):
    builder = model_families.FamilyBuilder("LlamaForCausalLM", TinyLlama)
    return builder.spec({**TG_LLAMA, **overrides}, max_batch_size=1, max_seq_len=64)


def test_each_layer_runs_tttv1s_eight_collectives():
    spec = _spec()
    records = tttv1_2d_mesh_records(spec, open_device("TG"))
    for index in range(len(spec.layers)):
        layer = [r for r in records if r.scope == f"layers.{index}.{SCOPE}"]
        assert Counter(r.name for r in layer) == {AG: 8, FR: 5, MEM: 6, MM: 2, PRE: 2}
        groups = Counter(r.attributes["group_size"] for r in layer if r.name == AG)
        assert groups == {4: 6, 8: 2}  # axis 1 (4 columns): norms, QKV, users, w1, w3; axis 0: wo, w2


def test_hidden_8192_takes_tttv1s_composite_reductions():
    spec = _spec(
        hidden_size=8192,
        intermediate_size=1024,
        num_attention_heads=64,
        num_key_value_heads=8,
        num_hidden_layers=1,
    )
    layer = tttv1_2d_mesh_records(spec, open_device("TG"))
    assert Counter(r.name for r in layer) == {AG: 7, RS: 4, FR: 1, MEM: 3, MM: 2, PRE: 2}


def test_tttv1_precision_on_tg_replaces_tttv2s_layer_collectives():
    from tttv2_patterns.predict import predict_model

    tttv1 = predict_model(TG_LLAMA, device="TG", prompt_len=32, program="tttv1-precision")
    tttv2 = predict_model(TG_LLAMA, device="TG", prompt_len=32)

    def layer_collectives(prediction, inside):
        return [
            op
            for op in prediction.decode.ops
            if op.name == AG and op.scope.startswith("layers.") and inside(op)
        ]

    layers = len(_spec().layers)
    assert not layer_collectives(tttv1, lambda op: SCOPE not in op.scope)  # TTTv2's are gone ...
    assert len(layer_collectives(tttv1, lambda op: SCOPE in op.scope)) == 8 * layers  # ... TTTv1's run
    # TTTv2's own program keeps its all-reduces and runs none of TTTv1's ops.
    assert any(op.name == "ttnn.all_reduce" and op.scope.startswith("layers.") for op in tttv2.decode.ops)
    assert not any(SCOPE in op.scope for op in tttv2.decode.ops)
