"""Shared machinery for emulated ops: argument checks, per-shard compute, output creation, tracing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ._memory import MemoryConfig
from ._ops_trace import program_cache_check
from ._tensor import Tensor, quantize
from ._trace import OpRecord, current_scope
from ._types import DataType, Layout


def fail(op_name: str, message: str, error=ValueError):
    raise error(f"{op_name}: {message}")


def require_tensor(op_name: str, arg_name: str, value) -> Tensor:
    if not isinstance(value, Tensor):
        fail(op_name, f"{arg_name} must be a ttnn.Tensor, got {type(value).__name__}", TypeError)
    return value


def require_on_device(op_name: str, arg_name: str, tensor: Tensor) -> None:
    require_tensor(op_name, arg_name, tensor)
    if tensor.device() is None:
        fail(
            op_name,
            f"{arg_name} must be on device (call ttnn.to_device or pass device= to ttnn.from_torch); it is on host",
        )


def require_layout(op_name: str, arg_name: str, tensor: Tensor, *layouts: Layout) -> None:
    if tensor.layout not in layouts:
        fail(
            op_name,
            f"{arg_name} must be in {' or '.join(lay.name for lay in layouts)} layout, got {tensor.layout.name}",
        )


def require_dtype(op_name: str, arg_name: str, tensor: Tensor, *dtypes: DataType) -> None:
    if tensor.dtype not in dtypes:
        fail(op_name, f"{arg_name} dtype must be one of {[d.name for d in dtypes]}, got {tensor.dtype.name}")


def same_device(op_name: str, *tensors: Tensor):
    devices = {id(t.device()) for t in tensors if isinstance(t, Tensor)}
    if len(devices) > 1:
        fail(op_name, "all tensors must be on the same device")
    for t in tensors:
        if isinstance(t, Tensor):
            t.device().check_open(op_name)
            return t.device()
    return None


def shard_map(fn: Callable[..., torch.Tensor], *args) -> list[torch.Tensor]:
    """Apply ``fn`` device by device. Tensor args are replaced by their shard; other args pass through.

    Replicated inputs (the same torch objects on every device) are computed once and shared.
    """
    counts = {t.num_shards for t in args if isinstance(t, Tensor)}
    counts.discard(1)
    if len(counts) > 1:
        raise ValueError(f"tensors are spread over different numbers of devices: {sorted(counts)}")
    n = counts.pop() if counts else 1
    cache: dict[tuple[int, ...], torch.Tensor] = {}
    out = []
    for index in range(n):
        shard_args = [
            (a.shards[index if a.num_shards > 1 else 0] if isinstance(a, Tensor) else a) for a in args
        ]
        key = tuple(id(a) for a in shard_args if isinstance(a, torch.Tensor))
        if key not in cache:
            cache[key] = fn(*shard_args)
        out.append(cache[key])
    return out


def new_tensor(
    op_name: str,
    shards: list[torch.Tensor],
    dtype: DataType,
    layout: Layout,
    device,
    memory_config: MemoryConfig | None,
    *,
    already_rounded: bool = False,
) -> Tensor:
    """Make an op's output: round to ``dtype`` (once per distinct shard) and allocate it.

    ``already_rounded`` skips the rounding for pure data moves of data already in ``dtype``.
    """
    if already_rounded:
        return Tensor(list(shards), dtype, layout, device, memory_config, op_name=op_name)
    return Tensor(round_shards(shards, dtype), dtype, layout, device, memory_config, op_name=op_name)


def round_shards(shards: list[torch.Tensor], dtype: DataType) -> list[torch.Tensor]:
    """``shards`` rounded to ``dtype``, once per distinct shard (replicated shards stay shared)."""
    rounded: dict[int, torch.Tensor] = {}
    data = []
    for shard in shards:
        if id(shard) not in rounded:
            rounded[id(shard)] = quantize(shard, dtype)
        data.append(rounded[id(shard)])
    return data


_DTYPE_NAMES = {dtype: dtype.name.lower() for dtype in DataType}  # enum .name is slow on a hot path


def _memory_kind(tensor: Tensor) -> str:
    """``"DRAM_INTERLEAVED"``, ``"L1_WIDTH_SHARDED"``... (``"HOST"`` off device): what the perf model reads."""
    config = tensor.memory_config()
    return "HOST" if config is None else f"{config.buffer_type.name}_{config.memory_layout.name}"


def _describe(tensors: Iterable):
    shapes, dtypes, memory, nbytes = [], [], [], []
    for t in tensors:
        if isinstance(t, Tensor):
            shapes.append(tuple(t.padded_shape))
            dtypes.append(_DTYPE_NAMES[t.dtype])
            memory.append(_memory_kind(t))
            nbytes.append(t.device_nbytes)
    return tuple(shapes), tuple(dtypes), tuple(memory), tuple(nbytes)


def record(
    op_name: str,
    device,
    inputs: Iterable,
    outputs: Iterable,
    *,
    flops: int = 0,
    math_fidelity=None,
    compute_dtype: DataType | None = None,
    cores_used: int | None = None,
    ccl_bytes: int = 0,
    bytes_moved: int | None = None,
    **attributes,
) -> None:
    """Append one OpRecord to the device trace (per-device figures)."""
    if device is None or getattr(device, "replaying", False):
        return  # a trace replay: the captured records stand for it (_ops_trace.execute_trace)
    in_shapes, in_dtypes, in_memory, in_nbytes = _describe(inputs)
    out_shapes, out_dtypes, out_memory, out_nbytes = _describe(outputs)
    in_bytes, out_bytes = sum(in_nbytes), sum(out_nbytes)
    program_cache_check(device, (op_name, in_shapes, in_dtypes, out_shapes, out_dtypes))
    if device.trace is None:
        return
    device.trace.append(
        OpRecord(
            name=op_name,
            input_shapes=in_shapes,
            input_dtypes=in_dtypes,
            output_shapes=out_shapes,
            output_dtypes=out_dtypes,
            input_memory=in_memory,
            output_memory=out_memory,
            input_nbytes=in_nbytes,
            output_nbytes=out_nbytes,
            flops=int(flops),
            bytes_moved=int(in_bytes + out_bytes if bytes_moved is None else bytes_moved),
            math_fidelity=getattr(math_fidelity, "name", math_fidelity),
            compute_dtype=compute_dtype.name.lower() if compute_dtype is not None else None,
            cores_used=cores_used,
            ccl_bytes=int(ccl_bytes),
            num_devices=device.get_num_devices(),
            scope=current_scope(),
            attributes=attributes,
        )
    )
