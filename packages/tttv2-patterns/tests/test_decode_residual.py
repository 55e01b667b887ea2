"""The decode residual stream and the pre-norms on the DRAM-sharded matmuls' input grid.

A tiny Llama whose QKV (K 256, N 384) and gate/up (K 256, N 384) read the same 4-core width-sharded
input (the most cores dividing K and N in tiles), where the norms on their own pick 8 cores: the
default ImplConfig puts both pre-norms (hence the residual) on the matmuls' 4 cores, so a decode
layer has no reshard before a norm or a matmul. Values must not depend on where the shards live: the model is
compared with the same model on the norms' own grid (bit-identical logits) and with HF (PCC 0.99,
the patterns-level bar of test_causal_lm.py).

Where QKV and gate/up read different grids (N300, T3K; TG, whose attention splits heads over the 4
mesh columns and whose FFN splits over all 32 chips), each pre-norm writes its own matmul's input and
the reshard runs in front of the norm, never between the norm and its matmul."""

import pytest
import torch
from _llama import llama_spec, save_tiny_llama
from _pcc import pcc
from tttv2_hwconfig import shapes_only
from tttv2_patterns import CausalLM
from tttv2_patterns.decode_residual import tttv1_data_flow
from tttv2_patterns.shapes_only import shapes_only_model

SHAPES = dict(hidden_size=256, intermediate_size=384, num_attention_heads=8, num_key_value_heads=2)
# TG splits heads over its 4 columns and the FFN over all 32 chips: QKV N 128 (2 query + 2 x 1 KV
# heads) and gate/up N 4096 / 32 = 128 both read 4 cores of K 256 there.
SHAPES_BY_DEVICE = {
    "TG": dict(hidden_size=256, intermediate_size=4096, num_attention_heads=8, num_key_value_heads=4)
}
PROMPT = [1, 5, 7, 9, 200, 13, 40, 41]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, device_name):
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("tiny_llama_grid")
    return save_tiny_llama(path, **SHAPES_BY_DEVICE.get(device_name, SHAPES)), path


def _matmul_reads(spec, impl, device) -> set:
    """The decode input configs QKV, gate and up read, from the blocks' own LinearOps."""
    with shapes_only():
        model = shapes_only_model(spec, impl, device)
        layer = model.layers[0]
        reads = {
            op.decode_input_memory_config()
            for op in (layer.attention.qkv_proj, layer.ffn.gate_proj, layer.ffn.up_proj)
        }
        model.close()
    return reads


def _applies(spec, device):
    reads = _matmul_reads(spec, CausalLM.ImplConfig(spec, device), device)
    if len(reads) != 1:
        pytest.skip(
            f"QKV and gate/up read {len(reads)} different input configs on {device}: nothing to share"
        )
    return reads.pop()


def test_norms_write_what_the_decode_matmuls_read(checkpoint, device):
    hf_model, path = checkpoint
    spec = llama_spec(hf_model.config)
    read = _applies(spec, device)
    impl = CausalLM.ImplConfig(spec, device)
    layer = impl.layers[0]
    assert layer.attention_norm.decode_memory_config == read
    assert layer.ffn_norm.decode_memory_config == read
    assert layer.attention.output_decode_memory_config == read
    assert layer.ffn.output_decode_memory_config == read
    names = _decode_layer_ops(spec, impl, device)
    _assert_norms_feed_their_matmuls(names)
    for index, name in enumerate(names):
        if name == "ttnn.rms_norm":
            assert index == 0 or names[index - 1] not in RESHARDS, names  # nor in front of the norm
    own = _decode_layer_ops(spec, _on_norms_own_grid(spec, device, strategy="default"), device)
    # On the norms' own grid (8 cores) QKV and gate/up each need their input resharded (4 cores on one
    # chip); the output projections are resharded into the residual either way.
    assert own.count("ttnn.to_memory_config") == names.count("ttnn.to_memory_config") + 2, (own, names)


RESHARDS = (
    "ttnn.to_memory_config",
    "ttnn.interleaved_to_sharded",
    "ttnn.reshard",
    "ttnn.sharded_to_interleaved",
)


def _assert_norms_feed_their_matmuls(names: list[str]) -> None:
    """Each pre-norm (two per layer) is followed by its matmul, with no reshard in between."""
    norms = [index for index, name in enumerate(names) if name == "ttnn.rms_norm"]
    assert len(norms) == 2, names
    for index in norms:
        after = names[index + 1]
        assert after == "ttnn.linear", (
            f"{after} between a norm and its matmul (a reshard: {after in RESHARDS}): {names}"
        )


def _decode_layer_ops(spec, impl, device) -> list[str]:
    """Op names of layer 0 in one untraced decode step (shapes-only: the program, no numerics)."""
    with shapes_only():
        model = shapes_only_model(spec, impl, device)
        model.enable_trace = False
        model.prefill_forward([PROMPT])
        model.device.trace.clear()
        model.decode_forward(token_ids=[1], cache_position=len(PROMPT), user_ids=[0], return_logits=False)
        return [r.name for r in model.device.trace.records if r.scope.startswith("layers.0")]


def _on_norms_own_grid(spec, device, strategy):
    """The default ImplConfig with norms (and the residual) on the grid the norms pick for themselves."""
    impl = CausalLM.ImplConfig(spec, device, strategy=strategy)
    before = impl.layers[0].attention_norm.decode_memory_config
    tttv1_data_flow(impl, spec, device)
    assert impl.layers[0].attention_norm.decode_memory_config != before
    return impl


def test_values_do_not_depend_on_the_shard_grid(checkpoint, device):
    hf_model, path = checkpoint
    _applies(llama_spec(hf_model.config), device)
    spec = llama_spec(hf_model.config).attach_checkpoint(path)
    on_matmul_grid = CausalLM.ImplConfig(spec, device, strategy="accuracy")
    own_grid = _on_norms_own_grid(spec, device, strategy="accuracy")
    logits = []
    for impl in (on_matmul_grid, own_grid):
        model = CausalLM(spec, impl, device, progress=False)
        out = model.prefill_forward([PROMPT])
        steps = []
        for _ in range(3):
            out = model.decode_forward(out)
            steps.append(out.logits[0].clone())
        logits.append(torch.stack(steps))
        model.close()
    assert torch.equal(logits[0], logits[1])
    with torch.no_grad():
        fed = list(PROMPT)
        model = CausalLM(spec, on_matmul_grid, device, progress=False)
        out = model.prefill_forward([PROMPT])
        fed.append(int(out.next_tokens[0]))
        out = model.decode_forward(out)
        reference = hf_model(torch.tensor([fed])).logits[0, -1]
        model.close()
    assert pcc(reference, out.logits[0]) >= 0.99


# gate/up N 512 (16 tiles) reads 8 cores of K 256 (8 tiles); QKV N 384 (12 tiles) reads 4: two grids.
TWO_GRIDS = dict(hidden_size=256, intermediate_size=512, num_attention_heads=8, num_key_value_heads=2)


@pytest.fixture(scope="module")
def two_grid_checkpoint(tmp_path_factory):
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("tiny_llama_two_grids")
    return save_tiny_llama(path, **TWO_GRIDS), path


def _reads_per_norm(spec, impl, device):
    """(input config QKV reads, input config gate/up read), from the blocks' own LinearOps."""
    with shapes_only():
        model = shapes_only_model(spec, impl, device)
        layer = model.layers[0]
        qkv = layer.attention.qkv_proj.decode_input_memory_config()
        gate, up = (op.decode_input_memory_config() for op in (layer.ffn.gate_proj, layer.ffn.up_proj))
        model.close()
    assert gate == up
    return qkv, gate


def test_each_norm_writes_its_own_matmuls_input_when_the_grids_differ(two_grid_checkpoint, device):
    hf_model, path = two_grid_checkpoint
    spec = llama_spec(hf_model.config)
    impl = CausalLM.ImplConfig(spec, device)
    qkv_reads, ffn_reads = _reads_per_norm(spec, impl, device)
    if qkv_reads == ffn_reads:
        pytest.skip(f"QKV and gate/up read one input config on {device}: the shared-grid tests cover it")
    layer = impl.layers[0]
    assert layer.attention_norm.decode_memory_config == qkv_reads
    assert layer.ffn_norm.decode_memory_config == ffn_reads
    names = _decode_layer_ops(spec, impl, device)
    _assert_norms_feed_their_matmuls(names)
    # The reshard moved in front of the norm (TTTv1's place for it), it was not added.
    own = _decode_layer_ops(spec, _on_norms_own_grid(spec, device, strategy="default"), device)
    assert own.count("ttnn.to_memory_config") == names.count("ttnn.to_memory_config"), (own, names)

    spec = spec.attach_checkpoint(path)
    logits = []
    for impl in (
        CausalLM.ImplConfig(spec, device, strategy="accuracy"),
        _on_norms_own_grid(spec, device, "accuracy"),
    ):
        model = CausalLM(spec, impl, device, progress=False)
        out = model.prefill_forward([PROMPT])
        fed = [*PROMPT, int(out.next_tokens[0])]
        out = model.decode_forward(out)
        logits.append(out.logits[0].clone())
        model.close()
    assert torch.equal(logits[0], logits[1])
    with torch.no_grad():
        reference = hf_model(torch.tensor([fed])).logits[0, -1]
    assert pcc(reference, logits[0]) >= 0.99
