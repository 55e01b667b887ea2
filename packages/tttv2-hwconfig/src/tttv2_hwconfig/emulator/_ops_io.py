"""Tensor files: ``dump_tensor`` / ``load_tensor`` in a safetensors container.

One file holds the distinct device shards of a tensor (replicated shards are stored once) plus
its dtype, layout and mesh placement in the safetensors metadata. Values are stored exactly:
bfloat16-representable data (bfloat16, bfloat8_b, bfloat4_b) as bfloat16, anything else as is.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._op import fail, require_tensor
from ._tensor import Tensor
from ._types import DataType, Layout

__all__ = ["dump_tensor", "load_tensor"]

_FORMAT = "tttv2-emulator-tensor/1"


def _compact(shard: torch.Tensor) -> torch.Tensor:
    if shard.dtype == torch.float32:
        as_bf16 = shard.to(torch.bfloat16)
        if torch.equal(as_bf16.to(torch.float32), shard):
            return as_bf16
    return shard.contiguous()


def dump_tensor(file_name, tensor: Tensor, *, mode=None) -> None:
    """Write ``tensor`` (host or device) to ``file_name`` atomically (temp file + rename)."""
    op = "ttnn.dump_tensor"
    require_tensor(op, "tensor", tensor)
    distinct: dict[int, int] = {}
    placement, stored = [], {}
    for shard in tensor.shards:
        if id(shard) not in distinct:
            distinct[id(shard)] = len(distinct)
            stored[f"shard_{distinct[id(shard)]}"] = _compact(shard)
        placement.append(distinct[id(shard)])
    metadata = {
        "format": _FORMAT,
        "dtype": tensor.dtype.name,
        "layout": tensor.layout.name,
        "placement": json.dumps(placement),
    }
    path = Path(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(stored, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensor(file_name, *, device=None) -> Tensor:
    """Read a tensor written by ``dump_tensor``; onto ``device`` (DRAM interleaved) if given."""
    op = "ttnn.load_tensor"
    path = Path(file_name)
    if not path.is_file():
        fail(op, f"no tensor file at {path}", FileNotFoundError)
    try:
        from safetensors import safe_open  # noqa: PLC0415

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        data = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        fail(op, f"{path} is not a readable tensor file ({error})")
    if metadata.get("format") != _FORMAT:
        fail(op, f"{path} was not written by dump_tensor (format {metadata.get('format')!r})")
    placement = json.loads(metadata["placement"])
    try:
        shards = [data[f"shard_{index}"] for index in placement]
    except KeyError as missing:
        fail(op, f"{path} lacks shard {missing}")
    dtype = DataType[metadata["dtype"]]
    as_float = [s.to(torch.float32) if s.is_floating_point() else s for s in shards]
    # Re-share replicated shards so ops keep computing them once.
    unique = {index: as_float[i] for i, index in enumerate(placement)}
    shards = [unique[index] for index in placement]
    if device is not None and len(shards) not in (1, device.get_num_devices()):
        fail(op, f"{path} holds {len(shards)} device shards, the device has {device.get_num_devices()}")
    host = Tensor(shards, dtype, Layout[metadata["layout"]])
    if device is None:
        return host
    from ._ops_core import to_device  # noqa: PLC0415

    return to_device(host, device)
