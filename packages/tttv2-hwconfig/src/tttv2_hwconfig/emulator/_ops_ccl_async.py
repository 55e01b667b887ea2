"""``ttnn.create_global_semaphore`` and ``ttnn.experimental.all_gather_async`` (TTTv1's collectives).

TTTv1 (tt-metal ``models/tt_transformers/tt/ccl.py``) runs its collectives through the ``experimental``
async ops, each given a pair of global semaphores (``multi_device_global_semaphore``) and a barrier
semaphore that ``TT_CCL`` creates once per mesh with ``ttnn.create_global_semaphore``. On a 2D mesh
its ``tt_all_reduce`` is ``all_gather_async`` of every device's full partial result followed by a local
``experimental.fast_reduce_nc`` (``_ops_fast_reduce_nc``).

Semantics: as ``ttnn.all_gather`` (``_ops_ccl``): the group's shards concatenated along ``dim``, every
device of a group gets the same result. The output memory config is ``memory_config`` or the input's
(``memory_config.value_or(input_tensor.memory_config())`` in the device op's ``invoke``). The semaphores
are only checked for type and count: the emulator runs collectives synchronously, so they order nothing.
The record carries what ``ttnn.all_gather``'s does (``ccl_bytes``, ``cluster_axis``, ``topology``,
``num_links``, ``group_size``); the perf model prices it as an all-gather.

Sources (tenstorrent/tt-metal, newest version in the code index; every quoted message is in the 0.81.1
wheel's ``_ttnncpp.so``): ``ttnn/cpp/ttnn/operations/experimental/ccl/all_gather_async/all_gather_async.cpp``
(the overloads), ``.../all_gather_async/device/all_gather_async_device_operation.cpp`` (``invoke``,
``select_version``, ``validate_on_program_cache_miss``).
"""

from __future__ import annotations

from ._memory import CoreRangeSet, MemoryConfig
from ._op import fail, new_tensor, require_tensor
from ._ops_ccl import _check_common, _gather_shards, _links, _record
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor, device_bytes
from ._types import ELEMENT_BYTES, BufferType, Layout, TensorMemoryLayout, Topology

__all__ = ["create_global_semaphore"]

_OP = "ttnn.experimental.all_gather_async"
_DIR = "ttnn/cpp/ttnn/operations/experimental/ccl/all_gather_async/"
_WRAPPER = _DIR + "all_gather_async.cpp: all_gather_async (persistent-buffer overload)"
_INVOKE = _DIR + "device/all_gather_async_device_operation.cpp: AllGatherAsyncDeviceOperation::invoke"
_VERSION = _DIR + "device/all_gather_async_device_operation.cpp: select_version"
_VALIDATE = _DIR + "device/all_gather_async_device_operation.cpp: validate_on_program_cache_miss"
# Buffer alignment of Wormhole / Blackhole (tt-metal hal): DRAM 32 bytes, L1 16 bytes.
_ALIGNMENT = {BufferType.DRAM: 32, BufferType.L1: 16}


class _GlobalSemaphore:
    """What ``ttnn.create_global_semaphore`` returns: one semaphore word on each core of ``cores``."""

    def __init__(self, mesh_device, cores: CoreRangeSet, initial_value: int, buffer_type: BufferType):
        self.mesh_device = mesh_device
        self.cores = cores
        self.initial_value = initial_value
        self.buffer_type = buffer_type

    def __repr__(self) -> str:
        return f"GlobalSemaphore(cores={self.cores!r}, initial_value={self.initial_value})"


def create_global_semaphore(mesh_device, cores, initial_value, buffer_type=BufferType.L1):
    """A global semaphore on ``cores`` of every chip of ``mesh_device`` (TTTv1's ``TT_CCL`` makes 2 per
    collective plus a barrier). Not accounted in L1: one word per core."""
    name = "ttnn.create_global_semaphore"
    if not hasattr(mesh_device, "get_num_devices"):
        fail(name, f"mesh_device must be a ttnn.MeshDevice, got {type(mesh_device).__name__}", TypeError)
    mesh_device.check_open(name)
    if not isinstance(cores, CoreRangeSet):
        fail(name, f"cores must be a ttnn.CoreRangeSet, got {type(cores).__name__}", TypeError)
    if not isinstance(initial_value, int) or initial_value < 0:
        fail(name, f"initial_value must be an int >= 0, got {initial_value!r}", TypeError)
    if not isinstance(buffer_type, BufferType):
        fail(name, f"buffer_type must be a ttnn.BufferType, got {buffer_type!r}", TypeError)
    return _GlobalSemaphore(mesh_device, cores, initial_value, buffer_type)


R_DEVICE = rule(
    "all_gather_async.on_device",
    _OP,
    "input_tensor is on a (mesh) device",
    _WRAPPER,
    message="Mesh device is required for all_gather_async operation",
)
R_DIM = rule(
    "all_gather_async.dim_range",
    _OP,
    "-rank <= dim <= rank - 1",
    _INVOKE,
    message="Dimension input should be in between -{} and {}, but has {}",
)
R_GROUP = rule(
    "all_gather_async.num_devices",
    _OP,
    "the collective's group has more than one device (TTTv1's tt_all_reduce / tt_all_gather skip it otherwise)",
    _INVOKE,
    message="all_gather_async op will only work for num_devices > 1, but has {}",
)
R_SEMAPHORES = rule(
    "all_gather_async.two_semaphores",
    _OP,
    "multi_device_global_semaphore holds 2 semaphores (the minimal default implementation)",
    _VERSION,
    message="Default implementation requires 2 semaphores",
)
R_ALIGNED = rule(
    "all_gather_async.page_aligned",
    _OP,
    "page size % buffer alignment == 0 (row-major: row bytes % 32 in DRAM, % 16 in L1)",
    _VALIDATE,
    message="All Gather currently requires aligned pages",
)
R_LINKS = rule(
    "all_gather_async.num_links",
    _OP,
    "num_links > 0",
    _VALIDATE,
    message="Error, num_links should be more than 0 but has {}",
)
R_LINK_ROWS = rule(
    "all_gather_async.links_in_grid",
    _OP,
    "num_links <= compute grid rows",
    _VALIDATE,
    message="Worker cores used by links are parallelizaed over rows",
)
R_AVAILABLE = rule(
    "all_gather_async.links_available",
    _OP,
    "num_links <= the Ethernet links between neighbouring chips along the collective's axis",
    "tt_metal/fabric/fabric.cpp: append_fabric_connection_rt_args; links per axis: catalog eth_links",
)
R_BLOCK = rule(
    "all_gather_async.block_sharded_l1",
    _OP,
    "a BLOCK_SHARDED input is in L1",
    _VALIDATE,
    message="We don't support input DRAM block sharding",
)
R_RANK = rule(
    "all_gather_async.rank",
    _OP,
    "input rank >= 2",
    _VALIDATE,
    message="AllGatherAsync requires tensor of rank 2 or greater",
)
not_mirrored(
    "all_gather_async.composite",
    _OP,
    "inputs use_composite_all_gather routes to composite_all_gather (composite_common.cpp) skip the minimal "
    "op's checks",
    "not read for this release: the emulator runs every call through the minimal op's checks",
)
not_mirrored(
    "all_gather_async.llama_sharded",
    _OP,
    "the llama-sharded variant (use_all_gather_async_llama_sharded): rank 4 and its own checks",
    "not modelled: the emulator has the minimal default implementation only",
)
not_mirrored(
    "all_gather_async.memory_layout",
    _OP,
    "input memory layout INTERLEAVED, WIDTH_, BLOCK_ or HEIGHT_SHARDED",
    "every memory layout the emulator has is one of these: the rule cannot be violated",
)
not_mirrored(
    "all_gather_async.persistent_output_buffer",
    _OP,
    "a persistent_output_buffer matches layout, dtype, page config, memory config and shape",
    "persistent_output_buffer is not modelled (NotImplementedError)",
)
not_mirrored(
    "all_gather_async.buffer_on_device",
    _OP,
    'input storage is DEVICE ("Operands to all_gather need to be on device!")',
    "shadowed: the wrapper's mesh-device check (all_gather_async.on_device) runs first",
)


def _check_semaphore(name: str, value) -> None:
    if not isinstance(value, _GlobalSemaphore):
        fail(
            _OP, f"{name} must be a ttnn global semaphore (create_global_semaphore), got {value!r}", TypeError
        )


def _page_aligned(tensor: Tensor) -> None:
    if tensor.layout != Layout.ROW_MAJOR:
        return  # tile pages (2048, 1088, 576, 4096 bytes) are 32-byte multiples
    config = tensor.memory_config()
    width = config.shard_spec.shape[1] if config.is_sharded() else tensor.padded_shape[-1]
    page = width * ELEMENT_BYTES[tensor.dtype]
    alignment = _ALIGNMENT[config.buffer_type]
    check(page % alignment == 0, R_ALIGNED, f"row-major page of {page} bytes in {config.buffer_type.name}")


def all_gather_async(
    input_tensor: Tensor,
    persistent_output_buffer: Tensor | None,
    dim: int,
    multi_device_global_semaphore: list,
    *,
    num_links: int | None = None,
    memory_config: MemoryConfig | None = None,
    topology: Topology = Topology.Ring,
    subdevice_id=None,
    cluster_axis: int | None = None,
    use_optimal_ccl_for_llama: bool = False,
    barrier_semaphore=None,
    chunks_per_sync: int | None = None,
    num_workers_per_link: int | None = None,
    num_buffers_per_channel: int | None = None,
) -> Tensor:
    """Concatenate the group's shards along ``dim`` (the persistent-buffer overload TTTv1 calls).

    Output shape: the input shape with ``shape[dim] * group_size``. ``persistent_output_buffer`` has no
    default here (the real one defaults to None; ttnn's other overloads take ``dim`` second, so an
    emulator default would let a call through that one of them reads differently): pass ``None`` as
    TTTv1 does. ``chunks_per_sync``,
    ``num_workers_per_link`` and ``num_buffers_per_channel`` tune the kernel and change no result.
    """
    require_tensor(_OP, "input_tensor", input_tensor)
    check(input_tensor.device() is not None, R_DEVICE, "input_tensor is on host")
    if persistent_output_buffer is not None:
        fail(_OP, "persistent_output_buffer= is not modelled by the emulator", NotImplementedError)
    if not isinstance(multi_device_global_semaphore, (list, tuple)):
        fail(_OP, "multi_device_global_semaphore must be a list of global semaphores", TypeError)
    for index, semaphore in enumerate(multi_device_global_semaphore):
        _check_semaphore(f"multi_device_global_semaphore[{index}]", semaphore)
    if barrier_semaphore is not None:
        _check_semaphore("barrier_semaphore", barrier_semaphore)
    rank = len(input_tensor.shape)
    check(
        isinstance(dim, int) and -rank <= dim <= rank - 1,
        R_DIM,
        f"dim={dim!r} for a rank-{rank} input_tensor",
    )
    dim, device, groups = _check_common(
        _OP, input_tensor, dim, cluster_axis, topology, memory_config, num_links
    )
    n = len(groups[0])
    axis = "the whole mesh" if cluster_axis is None else f"cluster_axis {cluster_axis}"
    check(n > 1, R_GROUP, f"{axis} of a {tuple(device.shape)} mesh has {n} device(s)")
    # num_links.value_or(get_num_links(mesh_device, cluster_axis)) in the wrapper: the axis's links.
    links = device.spec.collective(cluster_axis).num_links if num_links is None else num_links
    count = len(multi_device_global_semaphore)
    check(count == 2, R_SEMAPHORES, f"multi_device_global_semaphore has {count} semaphore(s)")
    _page_aligned(input_tensor)
    check(links > 0, R_LINKS, f"num_links={links}")
    rows = device.compute_with_storage_grid_size().y
    check(links <= rows, R_LINK_ROWS, f"num_links={links}, {rows} compute grid rows")
    config = input_tensor.memory_config()
    if config.memory_layout == TensorMemoryLayout.BLOCK_SHARDED:
        check(config.buffer_type == BufferType.L1, R_BLOCK, "input_tensor is BLOCK_SHARDED in DRAM")
    check(rank >= 2, R_RANK, f"input_tensor shape {list(input_tensor.shape)}")
    links = _links(device, groups, cluster_axis, links, R_AVAILABLE)  # the fabric, at program creation
    out_shards = _gather_shards(input_tensor.shards, groups, dim)
    out = new_tensor(
        _OP,
        out_shards,
        input_tensor.dtype,
        input_tensor.layout,
        device,
        memory_config or config,
        already_rounded=True,
    )
    piece = device_bytes(input_tensor.shape, input_tensor.dtype, input_tensor.layout)
    _record(_OP, device, input_tensor, out, groups, cluster_axis, topology, links, piece, 1)
    return out
