"""Content fingerprints of safetensors tensors, for tensor-cache keys.

A file's size and mtime say nothing about its bytes: ``cp -p``, ``rsync -t`` or an unpacked archive
rewrite weights and keep both. So a tensor's fingerprint is the sha256 of its header entry (dtype,
shape, offsets) and of its data bytes, read straight from the file through ``mmap`` (no tensor is
built). Measured on SmolLM2-135M (269 MB of bfloat16), hashing every tensor costs about a third of
a second, small against building the model, so every tensor is hashed in full, never sampled.

Digests are memoized per file for as long as its identity holds: device, inode, size, mtime and
ctime. ctime cannot be set from user space (``os.utime`` updates it), so a rewrite in place is
always seen.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from pathlib import Path

# safetensors: an 8-byte little-endian header length, then that many bytes of JSON.
_HEADER_LENGTH = struct.Struct("<Q")
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit


class CheckpointFingerprintError(ValueError):
    """A safetensors file whose header cannot be read while fingerprinting it."""


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def read_header(file: Path, data: bytes | mmap.mmap) -> tuple[dict, int]:
    """The parsed JSON header of a safetensors file and the offset where tensor data starts."""
    if len(data) < _HEADER_LENGTH.size:
        raise CheckpointFingerprintError(f"{file}: {len(data)} bytes, too short for a safetensors header")
    (length,) = _HEADER_LENGTH.unpack_from(data, 0)
    if length > _MAX_HEADER_BYTES or _HEADER_LENGTH.size + length > len(data):
        raise CheckpointFingerprintError(
            f"{file}: header length {length} does not fit the file of {len(data)} bytes (truncated or corrupt)"
        )
    try:
        header = json.loads(bytes(data[_HEADER_LENGTH.size : _HEADER_LENGTH.size + length]))
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointFingerprintError(f"{file}: the safetensors header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise CheckpointFingerprintError(f"{file}: the safetensors header is not a JSON object")
    return header, _HEADER_LENGTH.size + length


class FileFingerprints:
    """Per-tensor content digests of safetensors files, memoized while each file is unchanged."""

    def __init__(self):
        self._memo: dict[Path, tuple[tuple[int, ...], str, dict[str, str]]] = {}

    def header_sha256(self, file: Path) -> str:
        return self._entry(file)[1]

    def tensor_sha256(self, file: Path, key: str) -> str:
        digests = self._entry(file)[2]
        if key not in digests:
            raise CheckpointFingerprintError(f"{file}: no tensor {key!r} in its header (file changed?)")
        return digests[key]

    def _entry(self, file: Path):
        identity = _identity(file.stat())
        cached = self._memo.get(file)
        if cached is None or cached[0] != identity:
            header_digest, digests = self._hash_file(file)
            cached = (identity, header_digest, digests)
            self._memo[file] = cached
        return cached

    @staticmethod
    def _hash_file(file: Path) -> tuple[str, dict[str, str]]:
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise CheckpointFingerprintError(f"{file}: empty file, not a safetensors checkpoint")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                header, start = read_header(file, data)
                header_digest = hashlib.sha256(data[:start]).hexdigest()
                digests = {}
                view = memoryview(data)
                try:
                    for key, info in header.items():
                        if key == "__metadata__":
                            continue
                        try:
                            begin, end = (int(v) for v in info["data_offsets"])
                        except (KeyError, TypeError, ValueError):
                            raise CheckpointFingerprintError(
                                f"{file}: tensor {key!r} has no valid data_offsets in the header"
                            ) from None
                        if not 0 <= begin <= end <= size - start:
                            raise CheckpointFingerprintError(
                                f"{file}: tensor {key!r} data_offsets [{begin}, {end}] lie outside the "
                                f"{size - start} data bytes (truncated or corrupt)"
                            )
                        digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode())
                        digest.update(view[start + begin : start + end])
                        digests[key] = digest.hexdigest()
                finally:
                    view.release()
        return header_digest, digests
