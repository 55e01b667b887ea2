"""``--model`` / ``--checkpoint`` of the demo and benchmarks: which installed family, which folder.

``--model`` is a family name (``llama3``: its ``default_checkpoint``) or a hub name some installed
family has offline (``HuggingFaceTB/SmolLM2-135M-Instruct``); ``--checkpoint DIR`` is a local folder,
whose family is found by its ``config.json`` ``architectures`` unless ``--model`` names one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tttv2_patterns.family.registry import families, family_for_checkpoint

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # today's demo model (family llama3)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help=f"an installed family's name (its default checkpoint) or an offline hub name (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a local HF checkpoint folder (safetensors) instead"
    )


def resolve_model(model: str | None, checkpoint: Path | None) -> tuple[type, Path]:
    """``(family, checkpoint folder)``; converts an offline checkpoint on first use.

    Raises:
        ValueError: no installed family fits; the message lists the installed families and names.
    """
    installed = families()
    if checkpoint is not None:
        if model is None:
            return family_for_checkpoint(checkpoint), Path(checkpoint)
        if model not in installed:
            raise ValueError(
                f"--model {model!r} with --checkpoint must be a family name; installed: {sorted(installed)}"
            )
        return installed[model], Path(checkpoint)
    model = model or DEFAULT_MODEL
    if model in installed:
        family = installed[model]
        if not family.default_checkpoint:
            raise ValueError(f"family {model!r} has no default checkpoint; pass --checkpoint DIR")
        model = family.default_checkpoint
    for family in installed.values():
        for name, make_folder in family.offline_checkpoints.items():
            if name.lower() == model.strip().lower():
                return family, Path(make_folder())
    offline = {name: sorted(f.offline_checkpoints) for name, f in installed.items()}
    raise ValueError(
        f"--model {model!r}: not an installed family nor an offline checkpoint of one; "
        f"installed families and their offline checkpoints: {offline or 'none'}"
    )
