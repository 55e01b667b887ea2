"""Family parity against HF transformers fp32 on a tiny random checkpoint: prefill + decode steps.

PCC >= 0.9999 (the issue's target for the accuracy strategy: bfloat16 weights, float32 residual and
logits; what is left is bfloat16 activations inside the blocks). A mapped feature switched off must
drop the PCC below that bar, which the weight scaling below makes sure of (HF initialises norms to
1 and biases to 0, which would hide a dropped norm or bias).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tttv2_testing import compute_pcc

PCC = 0.9999
DECODE_STEPS = 8
NEAR_TIE = 0.005  # logits; see _same_choice
PROMPT = [3, 17, 42, 5, 99, 61, 7, 23, 88, 14, 50, 9, 31, 77, 2, 66, 40, 12, 95, 28]


def write_tiny(folder: Path, config, *, norm_center: float = 1.0) -> Path:
    """Save a random HF model of ``config`` (seeded) with randomised norms and biases."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(norm_center + 0.3 * torch.randn_like(parameter))
            elif name.endswith(".bias"):
                parameter.copy_(0.5 * torch.randn_like(parameter))
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def hf_logits(folder: Path, ids: list[int]) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    with torch.inference_mode():
        return model.eval()(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()


def parity(family, folder: Path, device_name: str) -> tuple[float, bool]:
    """(lowest PCC over prefill + decode steps, greedy tokens equal) of ``family`` vs HF on ``folder``."""
    model = family.from_huggingface(
        folder, device_name, strategy="accuracy", tensor_cache=False, max_batch_size=1, max_seq_len=64,
        progress=False,
    )  # fmt: skip
    try:
        out = model.prefill_forward([PROMPT])
        ours = [out.logits[0]]
        tokens = [int(out.next_tokens[0])]
        for _ in range(DECODE_STEPS):
            out = model.decode_forward(out)
            ours.append(out.logits[0])
            tokens.append(int(out.next_tokens[0]))
    finally:
        model.close()
    theirs = hf_logits(folder, PROMPT + tokens[:-1])[len(PROMPT) - 1 :]
    lowest = min(compute_pcc(t, o) for t, o in zip(theirs, ours))
    return lowest, all(_same_choice(t, token) for t, token in zip(theirs, tokens))


def _same_choice(hf_logits_row: torch.Tensor, token: int) -> bool:
    """Our greedy token is HF's, or HF's runner-up within ``NEAR_TIE`` of its top logit (a tie that
    bfloat16 activations may break either way; random tiny models have gaps down to 0.001)."""
    top = hf_logits_row.topk(2)
    if token == int(top.indices[0]):
        return True
    return token == int(top.indices[1]) and float(top.values[0] - top.values[1]) < NEAR_TIE
