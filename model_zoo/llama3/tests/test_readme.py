"""The README's first example runs as written on the real SmolLM2 (opt-in: ``--run-slow``, ~30 s)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_quick_start_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert ".from_huggingface(" in code  # the factory (Llama3, also importable as ModelFactory)
    exec(compile(code, str(README), "exec"), {})
    # The README's comment claims this answer; the HF reference gives the same one (test_smollm2_real).
    assert capsys.readouterr().out.strip().splitlines()[-1] == "The capital of France is Paris."
