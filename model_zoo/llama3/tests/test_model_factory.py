"""ModelFactory.from_huggingface on tiny random checkpoints written by transformers (the independent reference).

Thresholds: the accuracy strategy keeps bfloat16 weights and a float32 residual stream, so logits
track HF float32 at PCC ~0.9999 on these random models; 0.99 (the patterns-level bar) fails any
wrong mapping (a swapped projection, a missing rope scaling, an untied head) by a wide margin.
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM
from tttv2_llama3 import ModelFactory
from tttv2_patterns import CausalLM, CausalLMSpec
from tttv2_patterns.family import TextCausalLM
from tttv2_testing import compute_pcc

PCC = 0.99
PROMPTS = [[1, 5, 9, 17, 33, 2, 8], [1, 60, 2, 99, 7, 100, 3, 4, 50, 51, 52]]


def _hf(folder) -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()


def _build(folder, device_name, **kwargs):
    kwargs = {"strategy": "accuracy", "progress": False, "max_batch_size": 4, "max_seq_len": 64, **kwargs}
    return ModelFactory.from_huggingface(folder, device_name, **kwargs)


@torch.no_grad()
def _hf_last_logits(hf, ids):
    return hf(torch.tensor([ids])).logits[0, -1]


def test_model_matches_hf_prefill_and_decode(tiny_checkpoint, device_name):
    hf = _hf(tiny_checkpoint)
    with _build(tiny_checkpoint, device_name) as model:
        assert isinstance(model, TextCausalLM) and isinstance(model, CausalLM)
        assert model.impl_config.strategy == "accuracy" and model.weights_loaded
        prompt = PROMPTS[1]
        out = model.prefill_forward([prompt])
        assert compute_pcc(_hf_last_logits(hf, prompt), out.logits[0]) >= PCC
        fed = list(prompt)
        for _ in range(3):
            fed.append(int(out.next_tokens[0]))
            out = model.decode_forward(out)
            assert compute_pcc(_hf_last_logits(hf, fed), out.logits[0]) >= PCC


def test_greedy_generation_equals_hf(tiny_checkpoint, device_name):
    hf = _hf(tiny_checkpoint)
    with _build(tiny_checkpoint, device_name) as model:
        ours = model.generate(PROMPTS, max_new_tokens=12).token_ids
    for prompt, tokens in zip(PROMPTS, ours):
        expected = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0, len(prompt) :]
        assert tokens == expected.tolist(), f"prompt {prompt}"


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("tied", {"tie_word_embeddings": True}),
        ("bias", {"attention_bias": True, "mlp_bias": True}),
        (
            "llama3_rope",  # Llama 3.1 scaling; positions beyond the original context are exercised below
            {
                "rope_parameters": {
                    "rope_type": "llama3",
                    "rope_theta": 500000.0,
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16,
                }
            },
        ),
    ],
)
def test_llama_variants_match_hf(make_tiny_llama, device_name, name, overrides):
    # initializer_range 0.1 (HF: 0.02) makes attention sharp enough that positions matter: without the
    # llama3 scaling the logits' PCC drops to ~0.83 (measured), far below the threshold.
    folder = make_tiny_llama(name, initializer_range=0.1, **overrides)
    hf = _hf(folder)
    prompt = list(range(3, 43))  # 40 positions: past llama3's original 16-position context
    with _build(folder, device_name) as model:
        rope = model.spec.layers[0].attention.rope
        if name == "llama3_rope":
            assert (rope.scaling.kind, rope.scaling.factor, rope.theta) == ("llama3", 8.0, 500000.0)
        if name == "bias":
            assert model.spec.layers[0].attention.qkv_bias and model.spec.layers[0].ffn.bias
        assert model.spec.tie_word_embeddings is (name == "tied")
        out = model.prefill_forward([prompt])
        assert compute_pcc(_hf_last_logits(hf, prompt), out.logits[0]) >= PCC
        step = model.decode_forward(token_ids=[7], cache_position=[len(prompt)], user_ids=[0])
        assert compute_pcc(_hf_last_logits(hf, [*prompt, 7]), step.logits[0]) >= PCC


def test_sharded_checkpoint(tiny_sharded_checkpoint, device_name):
    hf = _hf(tiny_sharded_checkpoint)
    with _build(tiny_sharded_checkpoint, device_name) as model:
        out = model.prefill_forward([PROMPTS[0]])
    assert compute_pcc(_hf_last_logits(hf, PROMPTS[0]), out.logits[0]) >= PCC


def test_performance_strategy_builds_and_tracks_hf(tiny_checkpoint, device_name):
    hf = _hf(tiny_checkpoint)
    with _build(tiny_checkpoint, device_name, strategy="performance") as model:
        assert model.impl_config.strategy == "performance"
        out = model.prefill_forward([PROMPTS[1]])
    # bfloat4_b gate/up weights with LoFi: the blocks' own bar for "performance" is PCC >= 0.99 per block;
    # over 2 layers + LM head the logits stay above 0.98.
    assert compute_pcc(_hf_last_logits(hf, PROMPTS[1]), out.logits[0]) >= 0.98


def test_tensor_cache_is_reused_and_lazy_defers_loading(tiny_checkpoint, device_name, tmp_path):
    cache_dir = tmp_path / "cache"
    with _build(tiny_checkpoint, device_name, cache_dir=cache_dir) as model:
        first = model.prefill_forward([PROMPTS[0]]).logits
        assert {kind for _, kind, _ in model.tensor_cache.events} == {"built"}
    with _build(tiny_checkpoint, device_name, cache_dir=cache_dir, lazy=True) as model:
        assert not model.weights_loaded and model.tensor_cache.events == []
        again = model.prefill_forward([PROMPTS[0]]).logits  # loads now, from the cache
        assert model.weights_loaded
        assert {kind for _, kind, _ in model.tensor_cache.events} == {"hit"}
        assert model.spec.checkpoint.tensors_read == 0  # a cache hit reads no checkpoint tensor
    assert torch.equal(first, again)


def test_no_tensor_cache_writes_nothing(tiny_checkpoint, device_name, tmp_path):
    with _build(tiny_checkpoint, device_name, tensor_cache=False, cache_dir=tmp_path / "unused") as model:
        assert model.tensor_cache is None
    assert not (tmp_path / "unused").exists()


def test_validate_false_returns_the_spec_for_patching(tiny_checkpoint, device_name):
    # The seed's call: a hub name plus the local folder that holds the (new) model.
    spec = ModelFactory.from_huggingface(
        "meta-llama/Llama-3-8b", checkpoint_path=tiny_checkpoint, validate=False, max_seq_len=64
    )
    assert isinstance(spec, CausalLMSpec)
    assert len(spec.layers) == 2 and spec.layers[0].attention.num_kv_heads == 2
    spec.validate()  # the unpatched spec matches the checkpoint
    from dataclasses import replace

    spec.layers[1].ffn = replace(spec.layers[1].ffn, intermediate_dim=100)
    with pytest.raises(ValueError, match=r"model\.layers\.1\.mlp\.\w+_proj\.weight has shape \[96, 64\]"):
        spec.validate()


def test_hub_name_without_network_is_a_clear_error(device_name):
    with pytest.raises(
        ValueError, match=r"'meta-llama/Llama-3-8b' is not a local folder.*no model-hub access"
    ):
        ModelFactory.from_huggingface("meta-llama/Llama-3-8b", device_name)


def test_offline_hub_name_resolves_to_its_folder(tiny_checkpoint, monkeypatch, device_name):
    monkeypatch.setattr(
        ModelFactory, "offline_checkpoints", {"HuggingFaceTB/SmolLM2-135M-Instruct": lambda: tiny_checkpoint}
    )
    spec = ModelFactory.from_huggingface(
        "huggingfacetb/smollm2-135m-instruct", validate=False, max_seq_len=64
    )
    assert spec.embedding.vocab_size == 128


def test_text_prompts_use_the_chat_template_and_stop_at_eos(tiny_chat_checkpoint, device_name):
    from tttv2_testing.hf import HFReference

    reference = HFReference(tiny_chat_checkpoint)
    prompt = "what is the capital of france"
    with _build(tiny_chat_checkpoint, device_name) as model:
        assert model.encode(prompt) == [reference.encode(prompt)]
        out = model(prompt)  # the seed's `model(user_input)`: a prefill of the chat-formatted prompt
        expected = reference.logits([reference.encode(prompt)])[0, -1]
        assert compute_pcc(expected, out.logits[0]) >= PCC
        generated = model.generate([prompt], max_new_tokens=6)
        assert generated.text == [reference.decode(generated.token_ids[0])]
        always = model.generate([prompt], max_new_tokens=6, stop_token_ids=())
        assert len(always.token_ids[0]) == 6
    hf_ids = reference.greedy_generate([reference.encode(prompt)], 6)[0].tolist()
    assert generated.token_ids[0] == hf_ids  # HF stops after EOS too (id 2 is this config's EOS)


@pytest.mark.parametrize("strategy", ["accuracy", "performance"])
def test_lm_head_of_a_large_vocabulary_fits_l1(strategy, device_name):
    """SmolLM2's LM head (576 x 49152): the blocks' default chunk fails decode on L1; the family's fits."""
    from tttv2_blocks import EmbeddingSpec, LMHead, LMHeadSpec, RMSNormSpec
    from tttv2_hwconfig import open_device, ttnn

    hidden, vocab = 576, 49152
    with open_device(device_name) as device:
        spec = CausalLMSpec(
            embedding=EmbeddingSpec(vocab, hidden),
            layers=[_tiny_layer(hidden)],
            final_norm=RMSNormSpec(hidden),
            lm_head=LMHeadSpec(hidden, vocab),
        )
        impl = ModelFactory.default_impl_config(spec, device, strategy)
        head = LMHead(spec.lm_head, impl.lm_head, device)
        weight = torch.randn(vocab, hidden) / hidden**0.5
        head.load_weights({"weight": weight})
        x = torch.randn(1, 1, 4, hidden)
        logits = head.forward_decode(
            ttnn.from_torch(
                x, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device,
                mesh_mapper=ttnn.ReplicateTensorToMesh(device),
            )
        )  # fmt: skip
        got = ttnn.to_torch(ttnn.get_device_tensors(logits)[0]).float().reshape(4, vocab)
    # bfloat8_b/bfloat16 weights against float32: PCC ~0.9999; a dropped or misplaced chunk is far below.
    assert compute_pcc(x.reshape(4, hidden) @ weight.T, got) >= 0.999


def _tiny_layer(hidden):
    from tttv2_blocks import AttentionSpec, FeedForwardSpec, RMSNormSpec, RopeSpec
    from tttv2_patterns import DecoderLayerSpec

    return DecoderLayerSpec(
        attention=AttentionSpec(hidden_dim=hidden, num_heads=9, num_kv_heads=3, rope=RopeSpec(head_dim=64)),
        ffn=FeedForwardSpec(hidden_dim=hidden, intermediate_dim=1536),
        attention_norm=RMSNormSpec(hidden),
        ffn_norm=RMSNormSpec(hidden),
    )
