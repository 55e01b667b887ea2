"""The collectives of the blocks: the catalog's topology and link count, and how partial sums are all-reduced.

    out = ttnn.all_reduce(out, **collective_kwargs(self.device, cluster_axis=1))
    out = self.all_reduce(out, cluster_axis=1)      # an AllReduce: the ImplConfig's composition

TTTv1 (``models/tt_transformers/tt/ccl.py``) passes ``num_links=get_num_links(mesh_device, cluster_axis)``
and ``topology=args.ccl_topology()`` (Ring on a T3K, Linear on other meshes) to each collective; the
catalog holds those choices per device and axis (``DeviceSpec.collective``), so blocks read them there.

All-reduce compositions (the ``collective`` field of the attention / FFN / MoE ImplConfigs):

- ``"all_reduce"`` (default): one ``ttnn.all_reduce`` per mesh axis.
- ``"all_gather_reduce"``: what TTTv1's ``tt_all_reduce`` runs on a 2D mesh (TG; ``use_composite=False``,
  i.e. hidden sizes below 8192): ``ttnn.experimental.all_gather_async`` of every device's full partial
  result along dim 0 (two double-buffered global semaphores and a barrier semaphore per axis, as
  ``TT_CCL`` cycles them; ``chunks_per_sync=10, num_workers_per_link=2, num_buffers_per_channel=2``),
  then ``ttnn.experimental.fast_reduce_nc(dims=[0])`` sums the copies on each device. A sharded input is
  first moved to L1 interleaved (``fast_reduce_nc`` takes interleaved tensors; TTTv1 makes the same move
  after the gather), and the result stays interleaved in that buffer. A one-device group is skipped,
  as TTTv1 does (``all_gather_async`` refuses it). The sums are the same as ``all_reduce``'s: group
  order, each partial sum rounded to bfloat16 unless the data is float32.
"""

from __future__ import annotations

from tttv2_hwconfig import device_spec_of, ttnn

__all__ = ["ALL_REDUCE_COMPOSITIONS", "AllReduce", "check_composition", "collective_kwargs"]

ALL_REDUCE_COMPOSITIONS = ("all_reduce", "all_gather_reduce")
# TTTv1 ccl.py tt_all_reduce / tt_all_gather: the tuning knobs every all_gather_async call passes.
TTTV1_ALL_GATHER_KNOBS = {"chunks_per_sync": 10, "num_workers_per_link": 2, "num_buffers_per_channel": 2}


def is_2d_mesh(device) -> bool:
    """More than one device along both mesh axes (TG): the blocks reduce along each axis in turn."""
    rows, cols = tuple(device.shape)
    return rows > 1 and cols > 1


def collective_kwargs(device, cluster_axis: int | None = None) -> dict:
    """``cluster_axis``, ``topology`` and ``num_links`` for a collective on ``device`` along ``cluster_axis``.

    Where the axis has no chip-to-chip links (a single chip, a one-chip mesh axis) the collective is a
    copy and only ``cluster_axis`` is given.
    """
    settings = device_spec_of(device).collective(cluster_axis)
    if settings.num_links == 0:
        return {"cluster_axis": cluster_axis}
    topology = ttnn.Topology.Ring if settings.topology == "ring" else ttnn.Topology.Linear
    return {"cluster_axis": cluster_axis, "topology": topology, "num_links": settings.num_links}


def all_gather_semaphores(device) -> list:
    """One ``all_gather_async``'s global semaphores, as TTTv1's ``TT_CCL`` makes them on every core of the
    grid: ``[first, second, barrier]`` (``multi_device_global_semaphore=[first, second]``)."""
    grid = device.compute_with_storage_grid_size()
    cores = ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(grid.x - 1, grid.y - 1))])
    return [ttnn.create_global_semaphore(device, cores, 0) for _ in range(3)]


def check_composition(value, where: str) -> str:
    """``value`` if it names an all-reduce composition, else a ValueError naming ``where``."""
    if value not in ALL_REDUCE_COMPOSITIONS:
        raise ValueError(f"{where}: collective must be one of {ALL_REDUCE_COMPOSITIONS}, got {value!r}")
    return value


def group_size(device, cluster_axis: int | None) -> int:
    """Devices in one collective group along ``cluster_axis`` (None: the whole mesh)."""
    rows, cols = tuple(device.shape)
    return {None: rows * cols, 0: rows, 1: cols}[cluster_axis]


class AllReduce:
    """Sums a block's row-parallel partial results over a mesh axis with the configured composition.

    Made once per block (its global semaphores are created with it, as TTTv1's ``TT_CCL`` makes them
    at model construction, never inside a trace capture).
    """

    def __init__(self, device, composition: str = "all_reduce", *, where: str = "AllReduce"):
        self.device = device
        self.composition = check_composition(composition, where)
        self._semaphores: dict[int | None, list] = {}
        self._turn: dict[int | None, int] = {}
        if self.composition == "all_gather_reduce":
            for axis in (0, 1, None):
                if group_size(device, axis) > 1:
                    self._semaphores[axis] = [
                        all_gather_semaphores(device) for _ in range(2)
                    ]  # double-buffered
                    self._turn[axis] = 0

    def __call__(self, x, cluster_axis: int | None = None):
        """``x`` summed over the devices of each group along ``cluster_axis`` (every device gets the sum)."""
        if self.composition == "all_reduce":
            return ttnn.all_reduce(x, **collective_kwargs(self.device, cluster_axis))
        if group_size(self.device, cluster_axis) == 1:
            return x
        return self._all_gather_reduce(x, cluster_axis)

    def _next_semaphores(self, cluster_axis):
        turn = self._turn[cluster_axis]
        self._turn[cluster_axis] = 1 - turn
        return self._semaphores[cluster_axis][turn]

    def _all_gather_reduce(self, x, cluster_axis):
        shape = tuple(x.shape)
        if shape[0] != 1 or shape[1] != 1:  # tt_all_reduce: "Ensure dim 0 and 1 are 1"
            x = ttnn.reshape(x, (1, 1, shape[0] * shape[1] * shape[2], shape[3]))
        if x.is_sharded():
            x = ttnn.sharded_to_interleaved(x, ttnn.L1_MEMORY_CONFIG)
        config = x.memory_config()
        first, second, barrier = self._next_semaphores(cluster_axis)
        gathered = ttnn.experimental.all_gather_async(
            x,
            persistent_output_buffer=None,
            dim=0,
            multi_device_global_semaphore=[first, second],
            barrier_semaphore=barrier,
            memory_config=config,
            **collective_kwargs(self.device, cluster_axis),
            **TTTV1_ALL_GATHER_KNOBS,
        )
        out = ttnn.experimental.fast_reduce_nc(
            gathered, dims=[0], output=None, compute_kernel_config=None, memory_config=config
        )
        ttnn.deallocate(gathered)
        if shape[0] != 1 or shape[1] != 1:
            out = ttnn.reshape(out, shape)
        return out
