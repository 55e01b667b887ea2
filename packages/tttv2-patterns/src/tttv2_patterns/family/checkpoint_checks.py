"""Checkpoint-folder checks driven by the spec: every tensor the spec expects (through the family's
``CheckpointLayout`` name map), with its shape, and nothing else; all problems in one error.

    checkpoint = read_checkpoint(folder)        # the files of tttv2_patterns.checkpoint_files, headers only
    check_checkpoint(spec, checkpoint)          # CheckpointError listing missing/unexpected/mis-shaped/...
    spec.attach_checkpoint(checkpoint)          # the loader reads exactly the files that were checked

Only safetensors files are read (no pickle, no ``torch.load``), so nothing in a checkpoint can run code.
The same ``Checkpoint`` object is checked and loaded: there is one reader and one file set.
"""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import SafetensorError

from tttv2_patterns.checkpoint import INDEX_FILE, SINGLE_FILE, Checkpoint
from tttv2_patterns.family.errors import CheckpointError
from tttv2_patterns.weight_shapes import expected_weight_shapes

FLOAT_DTYPES = ("F16", "BF16", "F32")  # safetensors dtype names of unquantized weights
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
MAX_NAMES_IN_ERROR = 12


def read_checkpoint(checkpoint_dir: str | os.PathLike) -> Checkpoint:
    """The folder's ``Checkpoint`` (headers read, no tensor), every failure a ``CheckpointError``.

    Which files: ``tttv2_patterns.checkpoint_files`` (transformers' precedence: ``model.safetensors``,
    else the index and its shards).
    """
    directory = Path(checkpoint_dir)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder {directory} does not exist or is not a folder")
    if not (directory / SINGLE_FILE).is_file() and not (directory / INDEX_FILE).is_file():
        unsafe = sorted(p.name for p in directory.iterdir() if p.suffix in UNSAFE_WEIGHT_SUFFIXES)
        hint = (
            f"; found {unsafe}, which are pickle files and are never read (they can execute code): "
            "convert them to safetensors first"
            if unsafe
            else ""
        )
        raise CheckpointError(f"{directory}: no {SINGLE_FILE} and no {INDEX_FILE}{hint}")
    try:
        return Checkpoint.from_path(directory)
    except SafetensorError as error:
        raise CheckpointError(
            f"{directory}: corrupt or truncated safetensors file ({error}); re-download or re-convert it"
        ) from error
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{directory}: {error}") from error


def expected_tensors(spec) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """``(required, optional)``: full checkpoint name -> shape, from every module spec and the layout.

    A tied LM head reads the embedding, so ``lm_head.weight`` is optional then (HF drops it on save).
    Modules whose spec declares no ``weight_shapes`` add nothing.
    """
    layout = spec.checkpoint_layout
    required: dict[str, tuple[int, ...]] = {}
    optional: dict[str, tuple[int, ...]] = {}
    for path, module_spec in spec.module_specs().items():
        shapes = expected_weight_shapes(module_spec) or {}
        target = optional if (path == "lm_head" and spec.tie_word_embeddings) else required
        prefix, name = layout.prefix(path), layout.module_name(path)
        target.update(
            {f"{prefix}.{layout.checkpoint_key(name, key)}": tuple(shape) for key, shape in shapes.items()}
        )
    return required, optional


def check_checkpoint(spec, checkpoint: Checkpoint, *, strict: bool = True) -> None:
    """Every expected tensor present with its shape and a float dtype; with ``strict`` nothing unexpected.

    Raises:
        CheckpointError: one error listing every problem (missing, unexpected, mis-shaped, non-float),
            each tensor named with its file.
    """
    required, optional = expected_tensors(spec)
    allowed = {**required, **optional}
    ignored = spec.checkpoint_layout.ignored_suffixes
    names = set(checkpoint)
    problems = []
    missing = [n for n in required if n not in names]
    if missing:
        problems.append(f"{len(missing)} missing tensors: {_names(missing)}")
    unexpected = sorted(n for n in names if n not in allowed and not n.endswith(tuple(ignored)))
    if unexpected and strict:
        problems.append(
            f"{len(unexpected)} unexpected tensors (the spec does not use them): {_names(unexpected)}"
        )
    present = [n for n in allowed if n in names]
    misshaped = [
        f"{n} in {_file(checkpoint, n)}: expected {list(allowed[n])}, got {list(checkpoint.shape(n))}"
        for n in present
        if tuple(checkpoint.shape(n)) != allowed[n]
    ]
    if misshaped:
        problems.append(
            f"{len(misshaped)} tensors with the wrong shape: " + "; ".join(misshaped[:MAX_NAMES_IN_ERROR])
        )
    not_float = [f"{n} ({checkpoint.dtype(n)})" for n in present if checkpoint.dtype(n) not in FLOAT_DTYPES]
    if not_float:
        problems.append(f"tensors not stored as {'/'.join(FLOAT_DTYPES)}: {_names(not_float)}")
    if problems:
        files = ", ".join(f.name for f in checkpoint.files) or checkpoint.source
        raise CheckpointError(
            f"{checkpoint.source}: checkpoint ({files}) does not match the model spec from its config.json:\n  - "
            + "\n  - ".join(problems)
        )


def _file(checkpoint: Checkpoint, name: str) -> str:
    file = checkpoint.file_of(name)
    return file.name if file is not None else "<state_dict>"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_IN_ERROR])
    more = len(names) - MAX_NAMES_IN_ERROR
    return shown + (f", ... and {more} more" if more > 0 else "")
