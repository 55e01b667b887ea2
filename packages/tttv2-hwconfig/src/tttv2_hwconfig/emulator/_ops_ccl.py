"""Collectives over the emulated mesh: ``all_gather``, ``reduce_scatter``, ``all_reduce``.

Devices are grouped by ``cluster_axis`` (mesh shape ``(rows, cols)``, shards in row-major mesh
order): ``cluster_axis=0`` runs one collective per mesh column over its rows, ``cluster_axis=1``
one per mesh row over its columns, ``None`` one over every device of the mesh. A group of one
device is the degenerate case (a copy, no link traffic), which is what a single chip sees.

Reductions add the group's shards in group order; bfloat16/bfloat8_b inputs are reduced in
bfloat16 (each partial sum rounded), float32 in float32, as the ``all_reduce`` docs state.

Each collective computes once per DISTINCT group input: groups whose members hold the same torch
objects in the same order (e.g. the 8 rows of TG for ``cluster_axis=1`` when the input is
replicated over rows) share one result, and their devices get the same output objects, so the
per-device dedup of later ops (``shard_map``) keeps computing each distinct value once.

``ccl_bytes`` (per chip, for the perf model) is what the busiest link direction carries. With
``n`` devices and a per-device piece of ``P`` bytes (the input of an all-gather, the output of a
reduce-scatter): Linear (bidirectional line) moves ``(n - 1) * P`` over the last hop, Ring
(bidirectional ring) ``ceil((n - 1) / 2) * P`` per direction. all_reduce = reduce_scatter +
all_gather.
"""

from __future__ import annotations

import math

import torch

from . import _numerics
from ._memory import MemoryConfig, ShardSpec
from ._op import fail, new_tensor, record, require_dtype, require_on_device
from ._tensor import Tensor, device_bytes
from ._types import DataType, Topology

__all__ = ["all_gather", "all_reduce", "reduce_scatter"]

_REDUCE_DTYPES = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32)


def device_groups(device, cluster_axis: int | None, op: str) -> list[list[int]]:
    """Mesh device indices of each collective group, in ring/line order."""
    rows, cols = tuple(device.shape)
    if cluster_axis is None:
        return [list(range(device.get_num_devices()))]
    if cluster_axis not in (0, 1):
        fail(op, f"cluster_axis must be None, 0 (mesh rows) or 1 (mesh columns), got {cluster_axis!r}")
    if cluster_axis == 0:
        return [[r * cols + c for r in range(rows)] for c in range(cols)]
    return [[r * cols + c for c in range(cols)] for r in range(rows)]


def _default_topology(device) -> Topology:
    return Topology.Ring if getattr(device.spec.eth_links, "topology", "") == "ring" else Topology.Linear


def _pieces_per_link(n: int, topology: Topology) -> int:
    """How many per-device pieces cross the busiest link direction."""
    if n <= 1:
        return 0
    return math.ceil((n - 1) / 2) if topology == Topology.Ring else n - 1


def _check_common(op: str, input_tensor, dim, cluster_axis, topology, memory_config, num_links):
    require_on_device(op, "input_tensor", input_tensor)
    rank = len(input_tensor.shape)
    if dim is not None:
        if not isinstance(dim, int) or not -rank <= dim < rank:
            fail(op, f"dim must be an int in [{-rank}, {rank}), got {dim!r}")
        dim %= rank
    if topology is not None and not isinstance(topology, Topology):
        fail(op, f"topology must be a ttnn.Topology, got {topology!r}", TypeError)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    if num_links is not None and (not isinstance(num_links, int) or num_links < 1):
        fail(op, f"num_links must be a positive int, got {num_links!r}")
    device = input_tensor.device()
    device.check_open(op)
    groups = device_groups(device, cluster_axis, op)
    return dim, device, groups


def _output_memory_config(input_tensor: Tensor, memory_config, out_shape, dim: int) -> MemoryConfig:
    """The requested config, or the input's with its shard grown/shrunk along ``dim``."""
    if memory_config is not None:
        return memory_config
    config = input_tensor.memory_config()
    if not config.is_sharded() or config.shard_spec is None:
        return config
    height, width = config.shard_spec.shape
    old, new = input_tensor.shape[dim], out_shape[dim]
    if dim == len(out_shape) - 1:
        width = width * new // old
    else:
        height = height * new // old
    return MemoryConfig(
        config.memory_layout,
        config.buffer_type,
        ShardSpec(config.shard_spec.grid, (height, width), config.shard_spec.orientation),
    )


def _group_inputs(shards: list[torch.Tensor], groups: list[list[int]]):
    """Per group: (key, member shards); groups holding the same objects in the same order share a key."""
    out = []
    for group in groups:
        members = [shards[i] if len(shards) > 1 else shards[0] for i in group]
        out.append((tuple(id(m) for m in members), members))  # the input keeps members alive: ids stay valid
    return out


def _reduce(shards: list[torch.Tensor], dtype: DataType) -> torch.Tensor:
    total = shards[0]
    for shard in shards[1:]:
        total = total + shard
        if dtype != DataType.FLOAT32:
            total = _numerics.round_to_bfloat16(total)
    return total


def _record(
    op, device, input_tensor, out, groups, cluster_axis, topology, piece_bytes: int, collective_steps: int
):
    n = len(groups[0])
    topology = topology or _default_topology(device)
    record(
        op,
        device,
        [input_tensor],
        [out],
        ccl_bytes=collective_steps * _pieces_per_link(n, topology) * piece_bytes,
        cluster_axis=cluster_axis,
        topology=topology.name,
        group_size=n,
    )


def all_gather(
    input_tensor: Tensor,
    dim: int,
    *,
    cluster_axis: int | None = None,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    subdevice_id=None,
    sub_core_grids=None,
    num_links: int | None = None,
    topology: Topology | None = None,
    chunks_per_sync: int | None = None,
    num_workers_per_link: int | None = None,
    num_buffers_per_channel: int | None = None,
    use_l1_small_for_semaphores: bool = False,
) -> Tensor:
    """Concatenate the group's shards along ``dim``; every device of a group gets the same result.

    Output shape: the input shape with ``shape[dim] * group_size``.
    """
    op = "ttnn.all_gather"
    dim, device, groups = _check_common(
        op, input_tensor, dim, cluster_axis, topology, memory_config, num_links
    )
    if output_tensor is not None:
        fail(op, "output_tensor= is not modelled by the emulator", NotImplementedError)
    shards = input_tensor.shards
    out_shards: list[torch.Tensor | None] = [None] * len(shards)
    gathered: dict[tuple[int, ...], torch.Tensor] = {}
    for group, (key, members) in zip(groups, _group_inputs(shards, groups)):
        if key not in gathered:
            gathered[key] = torch.cat(members, dim=dim)
        for i in group:
            out_shards[i] = gathered[key]
    out_shape = list(input_tensor.shape)
    out_shape[dim] *= len(groups[0])
    out = new_tensor(
        op,
        out_shards,
        input_tensor.dtype,
        input_tensor.layout,
        device,
        _output_memory_config(input_tensor, memory_config, out_shape, dim),
    )
    piece = device_bytes(input_tensor.shape, input_tensor.dtype, input_tensor.layout)
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, piece, 1)
    return out


def _check_reducible(op: str, input_tensor: Tensor) -> None:
    require_on_device(op, "input_tensor", input_tensor)
    require_dtype(op, "input_tensor", input_tensor, *_REDUCE_DTYPES)
    if len(input_tensor.shape) < 2:
        fail(op, f"input_tensor must have rank >= 2, got shape {list(input_tensor.shape)}")


def reduce_scatter(
    input_tensor: Tensor,
    dim: int,
    *,
    cluster_axis: int | None = None,
    subdevice_id=None,
    memory_config: MemoryConfig | None = None,
    intermediate_memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    num_links: int | None = None,
    topology: Topology | None = None,
    chunks_per_sync: int | None = None,
    num_workers_per_link: int | None = None,
    num_buffers_per_channel: int | None = None,
    compute_kernel_config=None,
    use_l1_small_for_semaphores: bool = False,
) -> Tensor:
    """Sum the group's shards, then give device k of the group the k-th slice along ``dim``.

    Output shape: the input shape with ``shape[dim] / group_size``.
    """
    op = "ttnn.reduce_scatter"
    _check_reducible(op, input_tensor)
    dim, device, groups = _check_common(
        op, input_tensor, dim, cluster_axis, topology, memory_config, num_links
    )
    if output_tensor is not None:
        fail(op, "output_tensor= is not modelled by the emulator", NotImplementedError)
    n = len(groups[0])
    size = input_tensor.shape[dim]
    # A tiled scatter that breaks tiles runs the real op's composite (all-broadcast) path: same result.
    if size % n:
        fail(op, f"dim {dim} of size {size} does not split evenly over the {n} devices of the group")
    shards = input_tensor.shards
    out_shards: list[torch.Tensor | None] = [None] * len(shards)
    scattered: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for group, (key, members) in zip(groups, _group_inputs(shards, groups)):
        if key not in scattered:
            total = _reduce(members, input_tensor.dtype)
            scattered[key] = [chunk.contiguous() for chunk in torch.chunk(total, n, dim=dim)]
        for k, chunk in enumerate(scattered[key]):
            out_shards[group[k]] = chunk
    out_shape = list(input_tensor.shape)
    out_shape[dim] //= n
    out = new_tensor(
        op,
        out_shards,
        input_tensor.dtype,
        input_tensor.layout,
        device,
        _output_memory_config(input_tensor, memory_config, out_shape, dim),
    )
    piece = device_bytes(out_shape, input_tensor.dtype, input_tensor.layout)
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, piece, 1)
    return out


def all_reduce(
    input_tensor: Tensor,
    *,
    cluster_axis: int | None = None,
    subdevice_id=None,
    memory_config: MemoryConfig | None = None,
    num_links: int | None = None,
    topology: Topology | None = None,
) -> Tensor:
    """Sum the group's shards; every device of a group gets the sum (same shape as the input)."""
    op = "ttnn.all_reduce"
    _check_reducible(op, input_tensor)
    _, device, groups = _check_common(
        op, input_tensor, None, cluster_axis, topology, memory_config, num_links
    )
    shards = input_tensor.shards
    out_shards: list[torch.Tensor | None] = [None] * len(shards)
    totals: dict[tuple[int, ...], torch.Tensor] = {}
    for group, (key, members) in zip(groups, _group_inputs(shards, groups)):
        if key not in totals:
            totals[key] = _reduce(members, input_tensor.dtype)
        for i in group:
            out_shards[i] = totals[key]
    config = memory_config or input_tensor.memory_config()
    out = new_tensor(op, out_shards, input_tensor.dtype, input_tensor.layout, device, config)
    # Modelled as reduce_scatter + all_gather: two passes of 1/n of the tensor per link step.
    n = len(groups[0])
    full = device_bytes(input_tensor.shape, input_tensor.dtype, input_tensor.layout)
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, -(-full // n), 2)
    return out
