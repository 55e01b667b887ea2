"""Family parity against HF transformers fp32 on a tiny random checkpoint: prefill + decode steps.

Every model-zoo family's parity test is this recipe, so it lives here once::

    from tttv2_testing.hf.parity import PCC, family_parity, write_tiny

    folder = write_tiny(tmp_path / "ckpt", config)                 # random, norms and biases randomised
    lowest, greedy_equal = family_parity(MyFamily, folder, "N150")
    assert lowest >= PCC and greedy_equal

PCC >= 0.9999 is the family-kit target for the accuracy strategy (bfloat16 weights, float32 residual
and logits). A mapped feature switched off must drop the PCC below it, which the weight scaling of
``write_tiny`` makes sure of (HF initialises norms to 1 and biases to 0, which would hide a dropped
norm or bias). The family is duck-typed: anything with ``from_huggingface(folder, device, ...)``
returning a model with ``prefill_forward`` / ``decode_forward`` / ``close``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tttv2_testing.hf.reference import HFReference
from tttv2_testing.pcc import compute_pcc

PCC = 0.9999
DECODE_STEPS = 8
NEAR_TIE = 0.005  # logits; see same_choice
PROMPT = [3, 17, 42, 5, 99, 61, 7, 23, 88, 14, 50, 9, 31, 77, 2, 66, 40, 12, 95, 28]


def write_tiny(folder: Path, config, *, norm_center: float = 1.0, seed: int = 0) -> Path:
    """Save a random HF model of ``config`` (seeded) with randomised norms (``norm_center`` + 0.3 N(0,1))
    and biases (0.5 N(0,1)); Gemma stores norms as ``w`` around 0 and applies ``1 + w``."""
    from transformers import AutoModelForCausalLM  # noqa: PLC0415 - heavy import

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(norm_center + 0.3 * torch.randn_like(parameter))
            elif name.endswith(".bias"):
                parameter.copy_(0.5 * torch.randn_like(parameter))
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def family_parity(
    family, folder: Path, device_name: str, *, prompt=PROMPT, steps: int = DECODE_STEPS
) -> tuple[float, bool]:
    """(lowest logits PCC over prefill + ``steps`` decode steps, greedy tokens equal) of ``family`` vs HF."""
    model = family.from_huggingface(
        folder, device_name, strategy="accuracy", tensor_cache=False, max_batch_size=1, max_seq_len=64,
        progress=False,
    )  # fmt: skip
    try:
        out = model.prefill_forward([list(prompt)])
        ours = [out.logits[0]]
        tokens = [int(out.next_tokens[0])]
        for _ in range(steps):
            out = model.decode_forward(out)
            ours.append(out.logits[0])
            tokens.append(int(out.next_tokens[0]))
    finally:
        model.close()
    theirs = HFReference(folder).logits([list(prompt) + tokens[:-1]])[0][len(prompt) - 1 :]
    lowest = min(compute_pcc(t, o) for t, o in zip(theirs, ours))
    return lowest, all(same_choice(t, token) for t, token in zip(theirs, tokens))


def same_choice(hf_logits_row: torch.Tensor, token: int) -> bool:
    """Our greedy token is HF's, or HF's runner-up within ``NEAR_TIE`` of its top logit (a tie that
    bfloat16 activations may break either way; random tiny models have gaps down to 0.001)."""
    top = hf_logits_row.topk(2)
    if token == int(top.indices[0]):
        return True
    return token == int(top.indices[1]) and float(top.values[0] - top.values[1]) < NEAR_TIE
