"""Lazy checkpoints: HF-layout tensors read only when a block asks for them.

A ``Checkpoint`` is a read-only ``Mapping[str, torch.Tensor]`` over safetensors files (opened with
``safe_open``: listing keys and shapes reads only the headers) or over an in-memory state dict. A
tensor cache hit therefore never reads a weight: blocks are restored from the cache and the
checkpoint is only asked for its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from tttv2_patterns.checkpoint_fingerprint import FileFingerprints

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def checkpoint_files(directory: str | os.PathLike) -> list[Path]:
    """The safetensors files of a checkpoint folder: THE rule every reader of a folder follows.

    transformers' own precedence (``PreTrainedModel.from_pretrained`` on a local folder), so the HF
    reference, the checks and the TTTv2 loader always read the same bytes:

    1. ``model.safetensors`` when it exists (an index beside it is ignored, as transformers does);
    2. else ``model.safetensors.index.json`` and exactly the shards its ``weight_map`` names;
    3. else (not an HF folder) every ``*.safetensors`` file in it, in name order.

    Raises:
        FileNotFoundError: no safetensors file at all, or a shard named in the index is missing.
        ValueError: an index that is not JSON with a ``weight_map`` object.
    """
    directory = Path(directory)
    single, index = directory / SINGLE_FILE, directory / INDEX_FILE
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted({directory / name for name in weight_map.values()})
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{index}: not a valid index (need a JSON 'weight_map' object): {error!r}"
            ) from error
        missing = [shard.name for shard in shards if not shard.is_file()]
        if missing:
            raise FileNotFoundError(f"{index}: shard files named in the index are missing: {missing}")
        return shards
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"Checkpoint.from_path: no .safetensors files in {directory}")
    return files


class Checkpoint(Mapping):
    """HF-layout tensors by full key (``model.layers.0.self_attn.q_proj.weight``), read lazily.

    Build with ``Checkpoint.from_path(dir_or_file)`` or ``Checkpoint.from_state_dict(dict)``.

    Attributes:
        tensors_read: how many tensors were read so far (a cache hit reads none).
    """

    def __init__(
        self, key_to_file: dict[str, Path] | None = None, state_dict: Mapping | None = None, source: str = ""
    ):
        self._key_to_file = key_to_file or {}
        self._state_dict = state_dict
        self.source = source
        self.files: tuple[Path, ...] = tuple(sorted(set(self._key_to_file.values())))
        self.tensors_read = 0
        self._file_digests = FileFingerprints()
        self._headers: dict[str, tuple[tuple[int, ...], str]] = {}  # key -> (shape, dtype) from the headers
        self._tensor_hashes: dict[str, str] = {}

    # --- construction ----------------------------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str | os.PathLike) -> Checkpoint:
        """Open a ``.safetensors`` file or a checkpoint folder; the files are chosen by ``checkpoint_files``."""
        path = Path(path)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = checkpoint_files(path)
        else:
            raise FileNotFoundError(f"Checkpoint.from_path: {path} is neither a file nor a directory")
        key_to_file: dict[str, Path] = {}
        headers: dict[str, tuple[tuple[int, ...], str]] = {}
        for file in files:
            try:
                handle_cm = safe_open(str(file), framework="pt")
            except SafetensorError as error:  # truncated, empty, a garbled header: name the file
                raise ValueError(
                    f"{file}: corrupt or truncated safetensors file ({error}); re-download or re-convert it"
                ) from error
            with handle_cm as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    if key in key_to_file:
                        raise ValueError(
                            f"Checkpoint.from_path: tensor {key!r} is in both {key_to_file[key]} and {file}"
                        )
                    key_to_file[key] = file
                    header = handle.get_slice(key)
                    headers[key] = (tuple(header.get_shape()), header.get_dtype())
        checkpoint = cls(key_to_file=key_to_file, source=str(path))
        checkpoint.files = tuple(files)
        checkpoint._headers = headers
        return checkpoint

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> Checkpoint:
        """Wrap an in-memory state dict (fingerprinted by hashing tensor bytes)."""
        for key, value in state_dict.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"Checkpoint.from_state_dict: {key!r} is a {type(value).__name__}, expected torch.Tensor"
                )
        return cls(state_dict=dict(state_dict), source="<state_dict>")

    @classmethod
    def coerce(cls, source) -> Checkpoint:
        """A ``Checkpoint`` from a Checkpoint, a path, or a mapping of torch tensors."""
        if isinstance(source, Checkpoint):
            return source
        if isinstance(source, str | os.PathLike):
            return cls.from_path(source)
        if isinstance(source, Mapping):
            return cls.from_state_dict(source)
        raise TypeError(
            f"checkpoint must be a path, a state dict or a Checkpoint, got {type(source).__name__}"
        )

    # --- Mapping ---------------------------------------------------------------------------------------
    def _keys(self):
        return self._state_dict.keys() if self._state_dict is not None else self._key_to_file.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key) -> bool:
        return key in self._keys()

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self:
            raise KeyError(key)
        self.tensors_read += 1
        if self._state_dict is not None:
            return self._state_dict[key]
        with safe_open(str(self._key_to_file[key]), framework="pt") as handle:
            return handle.get_tensor(key)

    def shape(self, key: str) -> tuple[int, ...]:
        """The shape of ``key`` without reading the tensor."""
        if self._state_dict is not None:
            return tuple(self._state_dict[key].shape)
        if key in self._headers:
            return self._headers[key][0]
        with safe_open(str(self._key_to_file[key]), framework="pt") as handle:
            return tuple(handle.get_slice(key).get_shape())

    def dtype(self, key: str) -> str:
        """The stored dtype of ``key``: a safetensors name (``"BF16"``), or the torch dtype's name."""
        if self._state_dict is not None:
            return str(self._state_dict[key].dtype).removeprefix("torch.")
        if key in self._headers:
            return self._headers[key][1]
        with safe_open(str(self._key_to_file[key]), framework="pt") as handle:
            return handle.get_slice(key).get_dtype()

    def file_of(self, key: str) -> Path | None:
        """The safetensors file holding ``key`` (None for an in-memory state dict)."""
        return self._key_to_file.get(key)

    # --- views and fingerprints --------------------------------------------------------------------------
    def view(
        self, prefix: str, *, aliases: Mapping[str, str] | None = None, ignored_suffixes=(), rename=None
    ) -> CheckpointView:
        """Block-local view: keys under ``prefix + "."`` with the prefix stripped, plus ``aliases`` (local -> full).

        ``rename``: local key -> the name the block reads it by (``CheckpointLayout.block_key``).
        """
        start = prefix + "."
        rename = rename or (lambda key: key)
        mapping = {
            rename(key[len(start) :]): key
            for key in self
            if key.startswith(start) and not any(key.endswith(s) for s in ignored_suffixes)
        }
        mapping.update(aliases or {})
        return CheckpointView(self, mapping, prefix)

    def fingerprint(self, keys) -> dict:
        """What identifies the bytes of ``keys``: a sha256 of each tensor's header entry and data.

        Never file sizes or mtimes (a rewrite can keep both); see ``checkpoint_fingerprint``.
        """
        keys = sorted(keys)
        if self._state_dict is not None:
            return {"tensors": {key: self._tensor_hash(key) for key in keys}}
        files = self._key_to_file
        return {
            "tensors": {key: self._file_digests.tensor_sha256(files[key], key) for key in keys},
            "headers": {
                file.name: self._file_digests.header_sha256(file) for file in sorted({files[k] for k in keys})
            },
        }

    def _tensor_hash(self, key: str) -> str:
        if key not in self._tensor_hashes:
            tensor = self._state_dict[key].detach().contiguous().cpu()
            digest = hashlib.sha256(f"{tensor.dtype}{list(tensor.shape)}".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
            self._tensor_hashes[key] = digest.hexdigest()
        return self._tensor_hashes[key]

    def __repr__(self) -> str:
        return f"Checkpoint({self.source}, {len(self)} tensors)"


class CheckpointView(Mapping):
    """The tensors of one block, by block-local key (``q_proj.weight``); reads go to the checkpoint."""

    def __init__(self, checkpoint: Checkpoint, mapping: dict[str, str], prefix: str):
        self.checkpoint = checkpoint
        self.mapping = mapping
        self.prefix = prefix

    def __iter__(self):
        return iter(self.mapping)

    def __len__(self):
        return len(self.mapping)

    def __contains__(self, key) -> bool:
        return key in self.mapping

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.checkpoint[self.mapping[key]]

    def shape(self, key: str) -> tuple[int, ...]:
        return self.checkpoint.shape(self.mapping[key])

    def full_key(self, key: str) -> str:
        return self.mapping[key]

    def fingerprint(self) -> dict:
        return {
            "keys": dict(sorted(self.mapping.items())),
            **self.checkpoint.fingerprint(self.mapping.values()),
        }

    def __repr__(self) -> str:
        return f"CheckpointView({self.prefix!r}, {sorted(self.mapping)})"
