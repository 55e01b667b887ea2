"""Rule cases of TTTv1's 2D-mesh all-reduce pair: ``experimental.all_gather_async`` and ``experimental.fast_reduce_nc``.

tt-metal sources: ``ttnn/cpp/ttnn/operations/experimental/ccl/all_gather_async/all_gather_async.cpp`` and
``.../all_gather_async/device/all_gather_async_device_operation.cpp`` (``invoke``, ``select_version``,
``validate_on_program_cache_miss``); ``ttnn/cpp/ttnn/operations/experimental/reduction/fast_reduce_nc/
fast_reduce_nc.cpp`` and ``.../device/fast_reduce_nc_device_operation.cpp`` (``validate_on_program_cache_miss``,
``check_tensor`` of ``moreh_helper_functions.cpp``). all_gather_async cases run on the multi-device meshes
only (it refuses a one-device group); fast_reduce_nc runs everywhere.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

MESH = ("N300", "T3K", "TG", "P300", "P150x4")
AGA, FRN = "ttnn.experimental.all_gather_async", "ttnn.experimental.fast_reduce_nc"


def semaphores(d, count=2):
    grid = d.compute_with_storage_grid_size()
    cores = ttnn.CoreRangeSet([ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(grid.x - 1, grid.y - 1))])
    return [ttnn.create_global_semaphore(d, cores, 0) for _ in range(count)]


def gather(d, tensor, dim=0, count=2, **kwargs):
    """TTTv1's call (tt_all_reduce): both semaphore kinds, Linear, its tuning knobs."""
    kwargs.setdefault("topology", ttnn.Topology.Linear)
    return ttnn.experimental.all_gather_async(
        tensor,
        persistent_output_buffer=None,
        dim=dim,
        multi_device_global_semaphore=semaphores(d, count),
        barrier_semaphore=semaphores(d, 1)[0],
        chunks_per_sync=10,
        num_workers_per_link=2,
        num_buffers_per_channel=2,
        **kwargs,
    )


def host(shape):
    return ttnn.from_torch(torch.zeros(*shape), layout=ttnn.TILE_LAYOUT)


def block_dram(d, shape):
    height = shape[-2] * shape[-3] * shape[-4]
    config = sharded(
        (height, 32), (shape[-1] // 32, 1), ttnn.TensorMemoryLayout.BLOCK_SHARDED, buffer=ttnn.BufferType.DRAM
    )
    return dev(d, shape, memory_config=config)


def reduce(tensor, dims=(0,), **kwargs):
    return ttnn.experimental.fast_reduce_nc(
        tensor, dims=list(dims), output=None, compute_kernel_config=None, **kwargs
    )


CASES = [
    Case("all_gather_async.on_device", lambda d: gather(d, host((1, 1, 32, 32))), devices=MESH),
    Case("all_gather_async.dim_range", lambda d: gather(d, dev(d, (1, 1, 32, 32)), dim=4), devices=MESH),
    Case(
        "all_gather_async.num_devices",
        lambda d: gather(d, dev(d, (1, 1, 32, 32)), cluster_axis=0),
        devices=("N300", "T3K"),
        name="one_row",
    ),
    Case(
        "all_gather_async.two_semaphores", lambda d: gather(d, dev(d, (1, 1, 32, 32)), count=1), devices=MESH
    ),
    Case(
        "all_gather_async.page_aligned",
        lambda d: gather(d, dev(d, (1, 1, 4, 7), layout=ttnn.ROW_MAJOR_LAYOUT)),
        devices=MESH,
    ),
    Case(
        "all_gather_async.num_links", lambda d: gather(d, dev(d, (1, 1, 32, 32)), num_links=0), devices=MESH
    ),
    Case(
        "all_gather_async.links_in_grid",
        lambda d: gather(d, dev(d, (1, 1, 32, 32)), num_links=d.compute_with_storage_grid_size().y + 1),
        devices=MESH,
    ),
    Case(
        "all_gather_async.links_available",
        lambda d: gather(d, dev(d, (1, 1, 32, 32)), num_links=d.spec.collective().num_links + 1),
        devices=MESH,
    ),
    Case(
        "all_gather_async.links_available",
        lambda d: gather(d, dev(d, (1, 1, 32, 32)), cluster_axis=1, num_links=4),
        devices=("TG",),
        name="tg_axis1_has_3",
    ),
    Case(
        "all_gather_async.block_sharded_l1",
        lambda d: gather(d, block_dram(d, (1, 1, 64, 64)), dim=3),
        devices=MESH,
    ),
    Case(
        "all_gather_async.rank",
        lambda d: gather(d, dev(d, (64,), layout=ttnn.ROW_MAJOR_LAYOUT)),
        devices=MESH,
    ),
    Case("fast_reduce_nc.on_device", lambda d: reduce(host((2, 1, 32, 32)))),
    Case("fast_reduce_nc.dims_not_empty", lambda d: reduce(dev(d, (2, 1, 32, 32)), dims=())),
    Case(
        "fast_reduce_nc.tile_layout", lambda d: reduce(dev(d, (2, 1, 32, 32), layout=ttnn.ROW_MAJOR_LAYOUT))
    ),
    Case("fast_reduce_nc.dtype", lambda d: reduce(dev(d, (2, 1, 32, 32), dtype=ttnn.bfloat4_b))),
    Case("fast_reduce_nc.dim_range", lambda d: reduce(dev(d, (2, 1, 32, 32)), dims=(-1,))),
    Case("fast_reduce_nc.dim_rank", lambda d: reduce(dev(d, (2, 32, 32)), dims=(3,))),
    Case("fast_reduce_nc.max_rank", lambda d: reduce(dev(d, (2, 1, 1, 1, 1, 1, 1, 1, 32, 32)), dims=(0,))),
    Case("fast_reduce_nc.outer_dim", lambda d: reduce(dev(d, (2, 1, 32, 32)), dims=(2,))),
]

CONTROLS = [
    Control(AGA, lambda d: gather(d, dev(d, (1, 1, 32, 64)), num_links=1), devices=MESH, name="whole_mesh"),
    Control(
        AGA,
        lambda d: gather(d, dev(d, (1, 1, 32, 64)), cluster_axis=0, memory_config=ttnn.DRAM_MEMORY_CONFIG),
        devices=("TG",),
        name="tg_axis0_dram",
    ),
    Control(
        AGA,
        lambda d: gather(d, dev(d, (1, 1, 4, 16), layout=ttnn.ROW_MAJOR_LAYOUT), dim=3, cluster_axis=1),
        devices=("TG",),
        name="tg_axis1_row_major_aligned",
    ),
    Control(
        FRN, lambda d: reduce(dev(d, (4, 1, 32, 64)), memory_config=ttnn.L1_MEMORY_CONFIG), name="dim0_l1"
    ),
    Control(
        FRN, lambda d: reduce(dev(d, (2, 3, 32, 32), dtype=ttnn.bfloat8_b), dims=(1, 0)), name="dims_0_1_bfp8"
    ),
]
