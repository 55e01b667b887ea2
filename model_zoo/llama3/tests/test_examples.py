"""The design document's code examples (``model_zoo/llama3/examples/``) run on a tiny checkpoint.

Each script holds its own checks (``# CHECK:`` lines): comparisons with HF transformers on the same
checkpoint, TestSuite reports that must pass with real comparisons, errors that must name the path.
They run in this process (``runpy``) so the heavy imports are paid once.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from conftest import write_tiny_llama, write_tiny_tokenizer

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = (
    "existing_model.py",
    "tttv2_apis.py",
    "impl_config.py",
    "test_suite_explicit_inputs.py",
    "test_suite_trace_capture.py",
)


@pytest.fixture(scope="module")
def example_checkpoint(tmp_path_factory) -> Path:
    """4 layers (the trace-capture snippet tests ``layers[3]``), a chat tokenizer, EOS id 2."""
    folder = write_tiny_llama(
        tmp_path_factory.mktemp("examples") / "ckpt", num_hidden_layers=4, eos_token_id=2
    )
    write_tiny_tokenizer(folder)
    return folder


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES_DIR.glob("*.py") if p.name != "conftest.py") == sorted(EXAMPLES)


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(script, example_checkpoint, device_name, tmp_path, monkeypatch, capsys):
    # The seed reads input_prompts.json from the working directory.
    (tmp_path / "input_prompts.json").write_text(json.dumps(["what is the capital of france", "hello world"]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script, str(example_checkpoint), "--device", device_name])
    runpy.run_path(str(EXAMPLES_DIR / script), run_name="__main__")
    assert f"{script}: OK" in capsys.readouterr().out
