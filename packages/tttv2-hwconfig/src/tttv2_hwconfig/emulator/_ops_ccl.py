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

``topology=`` and ``num_links=`` default to the catalog's settings for the device and axis
(``DeviceSpec.collective(cluster_axis)``: TTTv1's Ring on T3K, Linear elsewhere, and its link counts); a
``num_links`` above the links the axis has is refused (rule ``*.links_available``). Both are recorded in
the OpRecord's attributes (``topology`` as the enum name, ``num_links``, ``cluster_axis``, ``group_size``),
which is where the perf model reads the link count from.
"""

from __future__ import annotations

import math

import torch

from . import _numerics
from ._memory import MemoryConfig, ShardSpec
from ._op import fail, new_tensor, record, require_tensor
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor, device_bytes
from ._types import ELEMENT_BYTES, BufferType, DataType, Layout, TensorMemoryLayout, Topology

__all__ = ["all_gather", "all_reduce", "reduce_scatter"]

_REDUCE_DTYPES = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32)

_AG = "ttnn.all_gather"
_AG_SRC = "ttnn/cpp/ttnn/operations/ccl/all_gather/device/all_gather_device_operation.cpp: validate_on_program_cache_miss"
_RS = "ttnn.reduce_scatter"
_RS_SRC = (
    "ttnn/cpp/ttnn/operations/experimental/ccl/reduce_scatter_common/reduce_scatter_validate_utils.cpp: "
    "reduce_scatter_common_validates"
)
_AR = "ttnn.all_reduce"
_DOC = 'the wheel\'s (0.81.1) {} docstring, "Supported dtypes and layouts"'
# Buffer alignment of Wormhole / Blackhole (tt-metal hal): DRAM 32 bytes, L1 16 bytes.
_ALIGNMENT = {BufferType.DRAM: 32, BufferType.L1: 16}

R_AG_DEVICE = rule(
    "all_gather.on_device", _AG, 'input_tensor on device ("Input tensor must be on device!")', _AG_SRC
)
R_AG_LINKS = rule(
    "all_gather.num_links",
    _AG,
    '0 < num_links <= compute grid rows ("Worker cores used by links ...")',
    _AG_SRC,
)
# The fabric builds one connection per requested link: tt_metal/fabric/fabric.cpp append_fabric_connection_rt_args
# TT_FATALs "requested link idx {}, out of bounds, max available {}" when a link index is past the active
# Ethernet channels towards the neighbour; the 0.81.1 _ttnncpp.so carries the CCL check
# "num_links.value_or(available_links) <= available_links". The links available per mesh axis are the
# catalog's (DeviceSpec.eth_links, from TTTv1 ccl.py get_num_links).
_LINKS_SRC = "tt_metal/fabric/fabric.cpp: append_fabric_connection_rt_args; links per axis: catalog eth_links"
_LINKS_TEXT = "num_links <= the Ethernet links between neighbouring chips along the collective's axis"
R_AG_AVAILABLE = rule("all_gather.links_available", _AG, _LINKS_TEXT, _LINKS_SRC)
R_AG_ALIGNED = rule(
    "all_gather.page_aligned",
    _AG,
    "page size % buffer alignment == 0 (row-major: row bytes % 32 in DRAM, % 16 in L1)",
    _AG_SRC,
)
R_AG_BLOCK = rule("all_gather.block_sharded_l1", _AG, "a BLOCK_SHARDED input is in L1", _AG_SRC)
# Not in the 0.81.1 wheel (its _ttnncpp.so lacks the messages): older tt-metal's "rank >= 2" and
# "num_devices > 1" all_gather checks; a one-device group is a copy here.
not_mirrored(
    "all_gather.memory_layout",
    _AG,
    "input memory layout INTERLEAVED, WIDTH_, BLOCK_ or HEIGHT_SHARDED",
    "every memory layout the emulator has is one of these: the rule cannot be violated",
)
not_mirrored(
    "all_gather.output_tensor",
    _AG,
    "a preallocated output_tensor matches the computed spec",
    "output_tensor is not modelled (NotImplementedError)",
)

R_RS_DEVICE = rule("reduce_scatter.on_device", _RS, "input_tensor on device", _RS_SRC)
R_RS_DTYPE = rule("reduce_scatter.dtype", _RS, "input dtype BFLOAT16, BFLOAT8_B or FLOAT32", _DOC.format(_RS))
R_RS_LINKS = rule("reduce_scatter.num_links", _RS, "num_links > 0", _RS_SRC)
R_RS_AVAILABLE = rule("reduce_scatter.links_available", _RS, _LINKS_TEXT, _LINKS_SRC)
R_RS_RANK = rule("reduce_scatter.rank", _RS, "input rank >= 2", _RS_SRC)
R_RS_ALIGNED = rule(
    "reduce_scatter.page_aligned",
    _RS,
    "page size % buffer alignment == 0 (native path only: an evenly split ROW_MAJOR input takes the composite "
    "path and is tilized first, so only a ROW_MAJOR input whose dim does not split evenly reaches this check)",
    _RS_SRC
    + "; ttnn/cpp/ttnn/operations/experimental/ccl/composite_common.cpp: use_composite_reduce_scatter",
)
R_RS_DIVISIBLE = rule(
    "reduce_scatter.dim_divisible",
    _RS,
    "the scatter dim splits evenly over the group (tile-misaligned splits take the composite path, which "
    "needs the size divisible)",
    _RS_SRC + "; ttnn/cpp/ttnn/operations/ccl/reduce_scatter/reduce_scatter.cpp: invoke",
)
R_RS_BLOCK = rule("reduce_scatter.block_sharded_l1", _RS, "a BLOCK_SHARDED input is in L1", _RS_SRC)
not_mirrored(
    "reduce_scatter.topology",
    _RS,
    "topology is Ring or Linear",
    "the wrapper converts 2D topologies to 1D before validate (convert_2d_to_1d_topology): not reachable",
)
not_mirrored(
    "reduce_scatter.output_tensor",
    _RS,
    "a preallocated output_tensor matches layout, dtype, memory_config and shape",
    "output_tensor is not modelled (NotImplementedError)",
)

R_AR_DEVICE = rule(
    "all_reduce.on_device",
    _AR,
    "input_tensor on device",
    "ttnn/cpp/ttnn/operations/ccl/all_reduce/all_reduce.cpp: invoke",
)
R_AR_DTYPE = rule("all_reduce.dtype", _AR, "input dtype BFLOAT16, BFLOAT8_B or FLOAT32", _DOC.format(_AR))
R_AR_RANK = rule(
    "all_reduce.rank", _AR, 'input rank >= 2 ("Input must be rank 2 or greater")', _DOC.format(_AR)
)
R_AR_AVAILABLE = rule("all_reduce.links_available", _AR, _LINKS_TEXT, _LINKS_SRC)
not_mirrored(
    "all_reduce.async_ops",
    _AR,
    "the validate of all_reduce_async's reduce-scatter / all-gather device ops",
    "not read for this release; all_reduce is checked against its documented dtypes and rank only",
)


def _on_device(name: str, tensor, rule_) -> None:
    require_tensor(rule_.op, name, tensor)
    check(tensor.device() is not None, rule_, f"{name} is on host")


def _page_aligned(tensor: Tensor, rule_) -> None:
    if tensor.layout != Layout.ROW_MAJOR:
        return  # tile pages (2048, 1088, 576, 4096 bytes) are 32-byte multiples
    config = tensor.memory_config()
    width = (
        config.shard_spec.shape[1]
        if config.is_sharded() and config.shard_spec is not None
        else tensor.padded_shape[-1]
    )
    page = width * ELEMENT_BYTES[tensor.dtype]
    alignment = _ALIGNMENT[config.buffer_type]
    check(
        page % alignment == 0,
        rule_,
        f"row-major page of {page} bytes in {config.buffer_type.name} (alignment {alignment})",
    )


def _block_sharded_l1(tensor: Tensor, rule_) -> None:
    config = tensor.memory_config()
    if config.memory_layout == TensorMemoryLayout.BLOCK_SHARDED:
        check(config.buffer_type == BufferType.L1, rule_, "input_tensor is BLOCK_SHARDED in DRAM")


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


def _default_topology(device, cluster_axis) -> Topology:
    """The catalog's topology for the axis (TTTv1's choice); Linear where the catalog has none."""
    return Topology.Ring if device.spec.collective(cluster_axis).topology == "ring" else Topology.Linear


def _links(device, groups, cluster_axis, num_links, rule_) -> int:
    """The links the collective uses: ``num_links`` (checked against the axis's links) or all of them."""
    available = device.spec.collective(cluster_axis).num_links
    if len(groups[0]) <= 1:
        return num_links if num_links is not None else available  # a copy: no link is used
    if num_links is None:
        return available  # the real op: num_links.value_or(available_links)
    axis = "the whole mesh" if cluster_axis is None else f"cluster_axis {cluster_axis}"
    check(
        num_links <= available,
        rule_,
        f"num_links={num_links}, but {device.spec.name} has {available} link(s) between neighbouring chips "
        f"along {axis} (links per axis {device.spec.eth_links.links_per_axis})",
    )
    return num_links


def _pieces_per_link(n: int, topology: Topology) -> int:
    """How many per-device pieces cross the busiest link direction."""
    if n <= 1:
        return 0
    return math.ceil((n - 1) / 2) if topology == Topology.Ring else n - 1


def _check_common(op: str, input_tensor, dim, cluster_axis, topology, memory_config, num_links):
    rank = len(input_tensor.shape)
    if dim is not None:
        if not isinstance(dim, int) or not -rank <= dim < rank:
            fail(op, f"dim must be an int in [{-rank}, {rank}), got {dim!r}")
        dim %= rank
    if topology is not None and not isinstance(topology, Topology):
        fail(op, f"topology must be a ttnn.Topology, got {topology!r}", TypeError)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    if num_links is not None and not isinstance(num_links, int):
        fail(op, f"num_links must be an int, got {num_links!r}", TypeError)
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


def _gather_shards(shards: list[torch.Tensor], groups: list[list[int]], dim: int) -> list[torch.Tensor]:
    """Each device's shard of an all-gather: its group's members concatenated along ``dim`` (one per group)."""
    out_shards: list[torch.Tensor | None] = [None] * len(shards)
    gathered: dict[tuple[int, ...], torch.Tensor] = {}
    for group, (key, members) in zip(groups, _group_inputs(shards, groups)):
        if key not in gathered:
            gathered[key] = torch.cat(members, dim=dim)
        for i in group:
            out_shards[i] = gathered[key]
    return out_shards


def _reduce(shards: list[torch.Tensor], dtype: DataType) -> torch.Tensor:
    total = shards[0]
    for shard in shards[1:]:
        total = total + shard
        if dtype != DataType.FLOAT32:
            total = _numerics.round_to_bfloat16(total)
    return total


def _record(
    op,
    device,
    input_tensor,
    out,
    groups,
    cluster_axis,
    topology,
    num_links: int,
    piece_bytes: int,
    collective_steps: int,
):
    """Append the OpRecord; its attributes carry cluster_axis, topology (a name), num_links and group_size."""
    n = len(groups[0])
    topology = topology or _default_topology(device, cluster_axis)
    record(
        op,
        device,
        [input_tensor],
        [out],
        ccl_bytes=collective_steps * _pieces_per_link(n, topology) * piece_bytes,
        cluster_axis=cluster_axis,
        topology=topology.name,
        num_links=num_links,
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
    op = _AG
    _on_device("input_tensor", input_tensor, R_AG_DEVICE)
    dim, device, groups = _check_common(
        op, input_tensor, dim, cluster_axis, topology, memory_config, num_links
    )
    if num_links is not None:
        rows = device.compute_with_storage_grid_size().y
        check(0 < num_links <= rows, R_AG_LINKS, f"num_links={num_links}, {rows} grid rows")
    links = _links(device, groups, cluster_axis, num_links, R_AG_AVAILABLE)
    _page_aligned(input_tensor, R_AG_ALIGNED)
    _block_sharded_l1(input_tensor, R_AG_BLOCK)
    if output_tensor is not None:
        fail(op, "output_tensor= is not modelled by the emulator", NotImplementedError)
    out_shards = _gather_shards(input_tensor.shards, groups, dim)
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
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, links, piece, 1)
    return out


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
    op = _RS
    _on_device("input_tensor", input_tensor, R_RS_DEVICE)
    check(
        input_tensor.dtype in _REDUCE_DTYPES, R_RS_DTYPE, f"input_tensor dtype is {input_tensor.dtype.name}"
    )
    if num_links is not None:
        check(num_links > 0, R_RS_LINKS, f"num_links={num_links}")
    check(len(input_tensor.shape) >= 2, R_RS_RANK, f"input_tensor shape {list(input_tensor.shape)}")
    dim, device, groups = _check_common(
        op, input_tensor, dim, cluster_axis, topology, memory_config, num_links
    )
    links = _links(device, groups, cluster_axis, num_links, R_RS_AVAILABLE)
    n = len(groups[0])
    size = input_tensor.shape[dim]
    # composite_common.cpp use_composite_reduce_scatter: evenly split ROW_MAJOR -> composite (tilize first).
    if not (input_tensor.layout == Layout.ROW_MAJOR and size % n == 0):
        _page_aligned(input_tensor, R_RS_ALIGNED)
    if output_tensor is not None:
        fail(op, "output_tensor= is not modelled by the emulator", NotImplementedError)
    check(size % n == 0, R_RS_DIVISIBLE, f"dim {dim} of size {size} over the {n} devices of the group")
    _block_sharded_l1(input_tensor, R_RS_BLOCK)
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
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, links, piece, 1)
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
    op = _AR
    _on_device("input_tensor", input_tensor, R_AR_DEVICE)
    check(
        input_tensor.dtype in _REDUCE_DTYPES, R_AR_DTYPE, f"input_tensor dtype is {input_tensor.dtype.name}"
    )
    check(len(input_tensor.shape) >= 2, R_AR_RANK, f"input_tensor shape {list(input_tensor.shape)}")
    _, device, groups = _check_common(
        op, input_tensor, None, cluster_axis, topology, memory_config, num_links
    )
    links = _links(device, groups, cluster_axis, num_links, R_AR_AVAILABLE)
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
    _record(op, device, input_tensor, out, groups, cluster_axis, topology, links, -(-full // n), 2)
    return out
