"""The SmolLM2 accuracy targets (opt-in: ``pytest --run-slow``; ~1.5 min with a warm tensor cache).

Both compare against HF transformers float32 on the same (bfloat16) weights, on the 8 everyday prompts:

- accuracy strategy: greedy continuations equal to HF's for the first 16 tokens (up to HF's EOS) on
  at least 6 of 8 prompts;
- performance strategy: teacher-forced top-1 agreement >= 90 % over 32 positions per prompt.

The thresholds are the issue's targets. Measured (README, "Measured"): 6/8 and 90.6 %; every miss
is where HF's own top-2 logits are close (the gap is printed on failure).
"""

from __future__ import annotations

import pytest
import torch
from tttv2_llama3 import Llama3
from tttv2_patterns.family.benchmarks.accuracy import (
    GREEDY_TARGET_PROMPTS,
    TEACHER_FORCED_TARGET,
    build_model,
    greedy_agreement,
    greedy_summary,
    teacher_forced_agreement,
    teacher_forced_summary,
)
from tttv2_patterns.family.prompts import EVERYDAY_PROMPTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    from tttv2_llama3 import ensure_smollm2_checkpoint

    torch.set_num_threads(1)
    checkpoint_dir = ensure_smollm2_checkpoint()
    reference = Llama3.hf_reference(checkpoint_dir)
    return checkpoint_dir, reference, [reference.encode(p) for p in EVERYDAY_PROMPTS]


def test_accuracy_strategy_greedy_matches_hf(smollm2, device_name):
    checkpoint_dir, reference, prompt_ids = smollm2
    with build_model(Llama3, checkpoint_dir, device_name, "accuracy", prompt_ids, 16) as model:
        results = greedy_agreement(model, reference, list(EVERYDAY_PROMPTS), 16)
    details = "; ".join(
        f"{r.prompt!r}: token {r.first_divergence} (HF gap {r.hf_gap:.3f})" for r in results if not r.equal
    )
    assert sum(r.equal for r in results) >= GREEDY_TARGET_PROMPTS, f"{greedy_summary(results)}; {details}"


def test_performance_strategy_teacher_forced_top1(smollm2, device_name):
    checkpoint_dir, reference, prompt_ids = smollm2
    with build_model(Llama3, checkpoint_dir, device_name, "performance", prompt_ids, 32) as model:
        results = teacher_forced_agreement(model, reference, list(EVERYDAY_PROMPTS), 32)
    rate = sum(r.matched for r in results) / sum(r.compared for r in results)
    assert rate >= TEACHER_FORCED_TARGET, teacher_forced_summary(results)
