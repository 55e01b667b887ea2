"""``tttv2_testing.hf.parity`` against a stand-in family whose model returns HF's own logits.

Exact logits must give PCC ~1 and equal greedy tokens; logits with noise must fall below the 0.9999
bar and a wrong greedy token must be seen. The stand-in is independent of the helper: it runs the HF
model of the folder itself, token by token with its KV cache.
"""

from types import SimpleNamespace

import torch
from tttv2_testing.hf.parity import PCC, family_parity, same_choice, write_tiny


def _family(noise: float = 0.0, wrong_token_at: int | None = None):
    class StandIn:
        @staticmethod
        def from_huggingface(folder, device_name, **kwargs):
            from transformers import AutoModelForCausalLM

            hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
            state = {"past": None, "step": 0}

            def step(ids):
                with torch.inference_mode():
                    out = hf(input_ids=torch.tensor([ids]), past_key_values=state["past"], use_cache=True)
                state["past"] = out.past_key_values
                logits = out.logits[0, -1].float()
                logits = logits + noise * torch.randn_like(logits) * logits.std()
                token = int(logits.argmax())
                if state["step"] == wrong_token_at:
                    token = int(logits.argmin())
                state["step"] += 1
                return SimpleNamespace(logits=logits.unsqueeze(0), next_tokens=[token])

            return SimpleNamespace(
                prefill_forward=lambda prompts: step(prompts[0]),
                decode_forward=lambda out: step([int(out.next_tokens[0])]),
                close=lambda: None,
            )

    return StandIn


def _folder(tmp_path):
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, eos_token_id=None, pad_token_id=None,
    )  # fmt: skip
    return write_tiny(tmp_path / "ckpt", config)


def test_exact_logits_pass_and_noise_or_a_wrong_token_fails(tmp_path):
    folder = _folder(tmp_path)
    lowest, greedy_equal = family_parity(_family(), folder, "N150", steps=3)
    assert lowest > 0.99999 and greedy_equal
    noisy, _ = family_parity(_family(noise=0.05), folder, "N150", steps=3)
    assert noisy < PCC
    _, wrong = family_parity(_family(wrong_token_at=2), folder, "N150", steps=3)
    assert not wrong


def test_same_choice_allows_only_a_near_tie():
    row = torch.tensor([0.0, 5.0, 4.999, 1.0])
    assert same_choice(row, 1) and same_choice(row, 2) and not same_choice(row, 3)
    assert not same_choice(torch.tensor([0.0, 5.0, 4.9, 1.0]), 2)


def test_write_tiny_randomises_norms_and_biases(tmp_path):
    from safetensors import safe_open

    folder = _folder(tmp_path)
    with safe_open(folder / "model.safetensors", "pt") as f:
        norm = f.get_tensor("model.norm.weight")
    assert not torch.equal(norm, torch.ones_like(norm)) and abs(float(norm.mean()) - 1.0) < 0.2
