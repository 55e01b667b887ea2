"""Open an HF checkpoint folder: ``config.json`` + safetensors (single file or sharded), checked, never executed.

    with open_checkpoint("path/to/SmolLM2-135M-Instruct") as checkpoint:
        checkpoint.config.num_hidden_layers         # LlamaCheckpointConfig
        checkpoint.shape("model.norm.weight")       # from the header, nothing read
        checkpoint.get_tensor("model.norm.weight")  # read on demand (lazy) via safetensors.safe_open
        checkpoint.state_dict("model.layers.0.")    # every tensor under a prefix

Only safetensors files are read (no pickle, no ``torch.load``), so nothing in a checkpoint can run
code. Opening checks every file's header, the shard index, and every tensor's name, dtype and shape
against the shapes computed from the config, and raises one ``CheckpointError`` listing all problems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from tttv2_llama3.expected_tensors import expected_tensor_shapes, is_ignored_tensor, optional_tensor_shapes
from tttv2_llama3.hf_config import CheckpointError, LlamaCheckpointConfig, read_config

SINGLE_FILE_NAME = "model.safetensors"
INDEX_FILE_NAME = "model.safetensors.index.json"
FLOAT_DTYPES = ("F16", "BF16", "F32")  # safetensors dtype names of unquantized weights
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
MAX_NAMES_IN_ERROR = 12

if TYPE_CHECKING:  # torch is imported by safetensors only when a tensor is read; headers need numpy only
    import torch


@dataclass(frozen=True)
class TensorInfo:
    """Header facts of one stored tensor: where it is, its shape and its safetensors dtype name."""

    name: str
    file: Path
    shape: tuple[int, ...]
    dtype: str


class Checkpoint:
    """An opened, checked checkpoint folder. Use ``open_checkpoint`` to make one.

    Tensors are read on demand from memory-mapped safetensors files (``lazy=True``) or all at open
    time (``lazy=False``). Close it (or use it as a context manager) to release the file handles.
    """

    def __init__(self, directory: Path, config: LlamaCheckpointConfig, tensors: dict[str, TensorInfo]):
        self.directory = directory
        self.config = config
        self._tensors = tensors
        self._handles: dict[Path, object] = {}
        self._loaded: dict[str, torch.Tensor] = {}

    @property
    def files(self) -> tuple[Path, ...]:
        """The safetensors files holding the weights, in name order."""
        return tuple(sorted({info.file for info in self._tensors.values()}))

    def keys(self) -> list[str]:
        return sorted(self._tensors)

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def __len__(self) -> int:
        return len(self._tensors)

    def info(self, name: str) -> TensorInfo:
        """File, shape and dtype of ``name`` from the header (nothing is read)."""
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in checkpoint {self.directory}") from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self.info(name).shape

    def get_tensor(self, name: str) -> torch.Tensor:
        """The tensor ``name`` in its stored dtype, read now unless already loaded."""
        if name in self._loaded:
            return self._loaded[name]
        info = self.info(name)
        handle = self._handles.get(info.file)
        if handle is None:
            handle = self._handles[info.file] = safe_open(str(info.file), framework="pt")
        try:
            return handle.get_tensor(name)
        except SafetensorError as error:
            raise CheckpointError(f"{info.file}: cannot read tensor {name!r} ({error})") from error

    def state_dict(self, prefix: str = "", *, strip_prefix: bool = False) -> dict[str, torch.Tensor]:
        """Every tensor whose name starts with ``prefix`` (e.g. ``"model.layers.3."``).

        Args:
            prefix: name prefix to select; "" selects all.
            strip_prefix: return names with ``prefix`` removed (``"self_attn.q_proj.weight"``).
        """
        names = [n for n in self.keys() if n.startswith(prefix)]
        return {(n[len(prefix) :] if strip_prefix else n): self.get_tensor(n) for n in names}

    def load_all(self) -> None:
        """Read every tensor into memory now and release the file handles."""
        for name in self.keys():
            self._loaded[name] = self.get_tensor(name)
        self.close()

    def close(self) -> None:
        self._handles.clear()  # safe_open handles unmap their file when dropped

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.directory)!r}, tensors={len(self)}, files={len(self.files)})"


def open_checkpoint(checkpoint_dir: str | Path, *, lazy: bool = True, strict: bool = True) -> Checkpoint:
    """Open and check an HF checkpoint folder.

    Args:
        checkpoint_dir: folder with ``config.json`` and ``model.safetensors`` or
            ``model.safetensors.index.json`` + its shards.
        lazy: True reads tensors on demand; False reads them all now.
        strict: False tolerates tensors the config does not explain (they stay readable); missing
            or mis-shaped tensors are always errors.

    Raises:
        CheckpointError: anything that makes the folder unusable, named with its file: missing
            config or weights, unsupported architecture, corrupt safetensors file, a shard named in
            the index that is missing, missing/unexpected/mis-shaped/non-float tensors.
    """
    directory = Path(checkpoint_dir)
    config = read_config(directory)
    tensors = read_tensor_infos(directory)
    _check_tensors(directory, config, tensors, strict=strict)
    checkpoint = Checkpoint(directory, config, tensors)
    if not lazy:
        checkpoint.load_all()
    return checkpoint


def read_tensor_infos(directory: Path) -> dict[str, TensorInfo]:
    """Name -> ``TensorInfo`` of every tensor in the folder's safetensors files (headers only, unchecked).

    Raises:
        CheckpointError: no safetensors weights, a missing or inconsistent shard, a corrupt file (named).
    """
    single, index = directory / SINGLE_FILE_NAME, directory / INDEX_FILE_NAME
    if single.is_file():
        return _read_header(single)
    if index.is_file():
        return _read_sharded(index)
    unsafe = sorted(p.name for p in directory.iterdir() if p.suffix in UNSAFE_WEIGHT_SUFFIXES)
    hint = (
        f"; found {unsafe}, which are pickle files and are never read (they can execute code): "
        "convert them to safetensors first"
        if unsafe
        else ""
    )
    raise CheckpointError(f"{directory}: no {SINGLE_FILE_NAME} and no {INDEX_FILE_NAME}{hint}")


def _read_sharded(index_path: Path) -> dict[str, TensorInfo]:
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{index_path}: not a valid index (need a JSON 'weight_map'): {error}"
        ) from error
    names_by_shard: dict[str, list[str]] = {}
    for name, shard in weight_map.items():
        names_by_shard.setdefault(shard, []).append(name)
    missing_shards = [s for s in names_by_shard if not (index_path.parent / s).is_file()]
    if missing_shards:
        details = "; ".join(
            f"{s} (holds {len(names_by_shard[s])} tensors, e.g. {names_by_shard[s][0]!r})"
            for s in missing_shards
        )
        raise CheckpointError(f"{index_path}: shard files named in the index are missing: {details}")
    tensors: dict[str, TensorInfo] = {}
    for shard, names in sorted(names_by_shard.items()):
        shard_path = index_path.parent / shard
        in_shard = _read_header(shard_path)
        absent = [n for n in names if n not in in_shard]
        if absent:
            raise CheckpointError(
                f"{shard_path}: the index places {len(absent)} tensors in this shard that it does not hold: "
                f"{_names(absent)}"
            )
        tensors.update({n: in_shard[n] for n in names})
    return tensors


def _read_header(path: Path) -> dict[str, TensorInfo]:
    try:
        with safe_open(str(path), framework="numpy") as handle:  # header only: no torch import
            return {
                name: TensorInfo(
                    name=name,
                    file=path,
                    shape=tuple(handle.get_slice(name).get_shape()),
                    dtype=handle.get_slice(name).get_dtype(),
                )
                for name in handle.keys()  # noqa: SIM118 - safe_open has no __iter__
            }
    except SafetensorError as error:
        raise CheckpointError(
            f"{path}: corrupt or truncated safetensors file ({error}); re-download or re-convert it"
        ) from error
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error})") from error


def _check_tensors(
    directory: Path, config: LlamaCheckpointConfig, tensors: dict[str, TensorInfo], *, strict: bool
):
    expected = expected_tensor_shapes(config)
    allowed = {**expected, **optional_tensor_shapes(config)}
    problems = []
    missing = [n for n in expected if n not in tensors]
    if missing:
        problems.append(f"{len(missing)} missing tensors: {_names(missing)}")
    unexpected = [n for n in tensors if n not in allowed and not is_ignored_tensor(n)]
    if unexpected and strict:
        problems.append(
            f"{len(unexpected)} unexpected tensors (not part of {_arch(config)}): {_names(unexpected)}"
        )
    misshaped = [
        f"{n} in {tensors[n].file.name}: expected {allowed[n]}, got {tensors[n].shape}"
        for n in allowed
        if n in tensors and tensors[n].shape != allowed[n]
    ]
    if misshaped:
        problems.append(
            f"{len(misshaped)} tensors with the wrong shape: " + "; ".join(misshaped[:MAX_NAMES_IN_ERROR])
        )
    not_float = [
        f"{n} ({tensors[n].dtype})" for n in allowed if n in tensors and tensors[n].dtype not in FLOAT_DTYPES
    ]
    if not_float:
        problems.append(f"tensors not stored as {'/'.join(FLOAT_DTYPES)}: {_names(not_float)}")
    if problems:
        raise CheckpointError(
            f"{directory}: checkpoint does not match its config.json ({_arch(config)}):\n  - "
            + "\n  - ".join(problems)
        )


def _arch(config: LlamaCheckpointConfig) -> str:
    return (
        f"shapes from config: hidden_size={config.hidden_size}, intermediate_size={config.intermediate_size}, "
        f"num_hidden_layers={config.num_hidden_layers}, num_attention_heads={config.num_attention_heads}, "
        f"num_key_value_heads={config.num_key_value_heads}, head_dim={config.head_dim}, "
        f"vocab_size={config.vocab_size}, tie_word_embeddings={config.tie_word_embeddings}"
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_IN_ERROR])
    more = len(names) - MAX_NAMES_IN_ERROR
    return shown + (f", ... and {more} more" if more > 0 else "")
