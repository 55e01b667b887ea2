"""Embedding block against torch.nn.Embedding and HF Gemma3TextScaledWordEmbedding.

Thresholds: a lookup does no arithmetic, so the only loss is bfloat16 rounding of the table
(and of the folded scale): PCC >= 0.999 for every strategy (the contract's accuracy bar), and the
unscaled lookup must equal the bfloat16-rounded table exactly.
"""

import math
import pathlib
import re

import pytest
import torch
from _pcc import pcc
from transformers.models.gemma3.modeling_gemma3 import Gemma3TextScaledWordEmbedding
from tttv2_blocks import Embedding, EmbeddingSpec, WeightError, get_default_impl_config, token_ids_to_device
from tttv2_hwconfig import ttnn

PCC = 0.999
DOCS = pathlib.Path(__file__).parents[1] / "docs" / "embeddings.md"
VOCAB = 1003  # not a multiple of 32


def device0(t):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).float()


def make(spec, device, strategy="default", **impl_fields):
    impl = get_default_impl_config(spec, device, "both", strategy)
    for name, value in impl_fields.items():
        setattr(impl, name, value)
    return Embedding(spec, impl, device)


@pytest.mark.parametrize("strategy", ["performance", "accuracy"])
@pytest.mark.parametrize("seq", [1, 33, 77])
def test_prefill_matches_nn_embedding(device, seq, strategy):
    hf = torch.nn.Embedding(VOCAB, 64)
    emb = make(EmbeddingSpec(VOCAB, 64), device, strategy)
    emb.load_weights({"weight": hf.weight.detach()})
    ids = torch.randint(0, VOCAB, (seq,))
    out = emb.forward_prefill(token_ids_to_device(ids, device))
    assert out.shape == (1, 1, seq, 64) and out.layout == ttnn.TILE_LAYOUT and out.dtype == ttnn.bfloat16
    shards = [ttnn.to_torch(s).float() for s in ttnn.get_device_tensors(out)]
    assert all(torch.equal(s, shards[0]) for s in shards)  # replicated residual stream
    with torch.no_grad():
        expected = hf(ids).reshape(1, 1, seq, 64)
    assert torch.equal(shards[0], expected.to(torch.bfloat16).float())  # lookup is exact on the bf16 table
    assert pcc(expected, shards[0]) >= PCC


@pytest.mark.parametrize("batch", [1, 5, 32])
def test_decode_matches_gemma_scaled_embedding(device, batch):
    dim = 96
    hf = Gemma3TextScaledWordEmbedding(VOCAB, dim, padding_idx=0, embed_scale=math.sqrt(dim))
    emb = make(EmbeddingSpec.gemma(VOCAB, dim), device)
    emb.load_weights({"weight": hf.weight.detach()})
    ids = torch.randint(0, VOCAB, (batch,))
    out = emb.forward_decode(token_ids_to_device(ids, device))
    assert out.shape == (1, 1, batch, dim)
    with torch.no_grad():
        expected = hf(ids.reshape(1, batch)).reshape(1, 1, batch, dim)
    assert pcc(expected, device0(out)) >= PCC
    # bfloat16 rounding of (w * sqrt(dim)): half an ulp, 2^-9 relative.
    torch.testing.assert_close(device0(out), expected, rtol=2**-8, atol=1e-6)
    assert pcc(emb.torch_reference()(ids).reshape(1, 1, batch, dim), device0(out)) >= PCC


def test_hidden_sharded_table_restores_replication(device):
    n = device.get_num_devices()
    dim = 32 * n * 2
    table = torch.randn(VOCAB, dim)
    emb = make(EmbeddingSpec(VOCAB, dim), device, shard_hidden=True)
    emb.load_weights({"weight": table})
    ids = torch.randint(0, VOCAB, (33,))
    out = emb.forward_prefill(token_ids_to_device(ids, device))
    assert out.shape == (1, 1, 33, dim)
    expected = table.to(torch.bfloat16).float()[ids].reshape(1, 1, 33, dim)
    for shard in ttnn.get_device_tensors(out):
        assert torch.equal(ttnn.to_torch(shard).float(), expected)
    gathers = device.trace.select("ttnn.all_gather", scope_prefix=emb.module_path)
    assert len(gathers) == 1 and (gathers[0].ccl_bytes > 0) == (n > 1)


def test_hidden_sharded_table_along_one_mesh_axis(device):
    rows, cols = tuple(device.shape)
    dim = 32 * cols
    emb = make(EmbeddingSpec(VOCAB, dim), device, shard_hidden=True, cluster_axis=1)
    table = torch.randn(VOCAB, dim)
    emb.load_weights({"weight": table})
    ids = torch.tensor([0, 1002, 17])
    out = emb.forward_prefill(token_ids_to_device(ids, device))
    assert torch.equal(device0(out), table.to(torch.bfloat16).float()[ids].reshape(1, 1, 3, dim))


# --- errors ---------------------------------------------------------------------------------------


def test_spec_validation():
    with pytest.raises(ValueError, match="EmbeddingSpec.vocab_size"):
        EmbeddingSpec(0, 64)
    with pytest.raises(ValueError, match="EmbeddingSpec.scale"):
        EmbeddingSpec(10, 64, scale=float("inf"))


def test_weight_errors_name_the_tensor(device):
    emb = make(EmbeddingSpec(VOCAB, 64), device)
    with pytest.raises(WeightError, match=r"missing weight 'weight' with shape \[1003, 64\]"):
        emb.load_weights({})
    with pytest.raises(WeightError, match=r"weight 'weight' has shape \[1024, 64\], expected \[1003, 64\]"):
        emb.load_weights({"weight": torch.randn(1024, 64)})
    with pytest.raises(WeightError, match=r"unexpected weights \['embed_tokens.weight'\]"):
        emb.load_weights({"weight": torch.randn(VOCAB, 64), "embed_tokens.weight": torch.randn(VOCAB, 64)})


def test_impl_errors_name_the_field(device):
    spec = EmbeddingSpec(VOCAB, 64)
    with pytest.raises(ValueError, match="Embedding.weight_dtype: dtype BFLOAT8_B"):
        make(spec, device, weight_dtype=ttnn.bfloat8_b)
    # The real ttnn.embedding takes BFLOAT16 tables only; a float32 table is refused at build time.
    with pytest.raises(
        ValueError,
        match=r"Embedding.weight_dtype: dtype FLOAT32 cannot be used here; the op accepts \['BFLOAT16'\]",
    ):
        make(spec, device, weight_dtype=ttnn.float32)
    with pytest.raises(ValueError, match="Embedding.decode_memory_config: must be interleaved"):
        make(spec, device, decode_memory_config=ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG)
    if device.get_num_devices() > 2:
        with pytest.raises(ValueError, match="Embedding.shard_hidden: dim 64"):
            make(spec, device, shard_hidden=True)


def test_token_id_errors(device):
    emb = make(EmbeddingSpec(VOCAB, 64), device)
    emb.load_weights({"weight": torch.randn(VOCAB, 64)})
    with pytest.raises(TypeError, match="token_ids must be an integer torch.Tensor"):
        token_ids_to_device(torch.tensor([1.0]), device)
    with pytest.raises(ValueError, match="at most 32 users"):
        emb.forward_decode(token_ids_to_device(torch.arange(33), device))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        emb.forward_prefill(token_ids_to_device(torch.tensor([VOCAB]), device))
    wrong = ttnn.from_torch(torch.zeros(1, 4, dtype=torch.int64), dtype=ttnn.uint32, device=device)
    with pytest.raises(ValueError, match=r"token_ids must be a \(1, 1, 1, tokens\)"):
        emb.forward_prefill(wrong)


def test_docs_example_runs():
    (example,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    exec(compile(example, str(DOCS), "exec"), {})
