"""Collective rule cases: ``ttnn.all_gather``, ``ttnn.reduce_scatter``, ``ttnn.all_reduce``.

tt-metal sources: ``ttnn/cpp/ttnn/operations/ccl/all_gather/device/all_gather_device_operation.cpp``
(``validate_on_program_cache_miss``), ``ttnn/cpp/ttnn/operations/experimental/ccl/reduce_scatter_common/
reduce_scatter_validate_utils.cpp`` (``reduce_scatter_common_validates``), ``ttnn/cpp/ttnn/operations/ccl/
reduce_scatter/reduce_scatter.cpp`` and ``ttnn/cpp/ttnn/operations/ccl/all_reduce/all_reduce.cpp`` (``invoke``).
Every case runs on the multi-device meshes only (a one-chip "collective" is a copy).
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

MESH = ("N300", "T3K", "TG", "P300", "P150x4")
AG, RS, AR = "ttnn.all_gather", "ttnn.reduce_scatter", "ttnn.all_reduce"


def host(shape):
    return ttnn.from_torch(torch.zeros(*shape), layout=ttnn.TILE_LAYOUT)


def rm(d, shape):
    """A ROW_MAJOR bfloat16 device tensor."""
    return dev(d, shape, layout=ttnn.ROW_MAJOR_LAYOUT)


def n_dev(d):
    return d.get_num_devices()


def block(d, shape, buffer):
    """``shape`` BLOCK_SHARDED in ``buffer``: one row of full-height, 32-wide shards."""
    height = shape[-2] * shape[-3] * shape[-4]
    config = sharded((height, 32), (shape[-1] // 32, 1), ttnn.TensorMemoryLayout.BLOCK_SHARDED, buffer=buffer)
    return dev(d, shape, memory_config=config)


def over_links(d, cluster_axis=None):
    """One link more than the catalog gives the device along ``cluster_axis``."""
    return d.spec.collective(cluster_axis).num_links + 1


CASES = [
    # all_gather
    Case(
        "all_gather.links_available",
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 3, num_links=over_links(d)),
        devices=MESH,
    ),
    Case(
        "all_gather.links_available",
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 3, cluster_axis=1, num_links=4),
        devices=("TG",),
        name="tg_axis1_has_3",
    ),
    Case(
        "all_gather.num_links",
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 3, num_links=0),
        devices=MESH,
        name="zero",
    ),
    Case(
        "all_gather.num_links",
        lambda d: ttnn.all_gather(
            dev(d, (1, 1, 32, 32)), 3, num_links=d.compute_with_storage_grid_size().y + 1
        ),
        devices=MESH,
        name="over_grid_rows",
    ),
    Case(
        "all_gather.block_sharded_l1",
        lambda d: ttnn.all_gather(block(d, (1, 1, 64, 64), ttnn.BufferType.DRAM), 3),
        devices=MESH,
    ),
    # reduce_scatter
    Case("reduce_scatter.on_device", lambda d: ttnn.reduce_scatter(host((1, 1, 32, 64)), 3), devices=MESH),
    Case(
        "reduce_scatter.num_links",
        lambda d: ttnn.reduce_scatter(dev(d, (n_dev(d), 1, 32, 32)), 0, num_links=0),
        devices=MESH,
    ),
    Case(
        "reduce_scatter.links_available",
        lambda d: ttnn.reduce_scatter(dev(d, (n_dev(d), 1, 32, 32)), 0, num_links=over_links(d)),
        devices=MESH,
    ),
    Case("reduce_scatter.rank", lambda d: ttnn.reduce_scatter(rm(d, (32 * n_dev(d),)), 0), devices=MESH),
    # Only the native path checks pages: an evenly split ROW_MAJOR input goes composite (tilized first), so
    # the scatter dim must not split evenly, which also breaks the later dim_divisible (as on device).
    Case("reduce_scatter.page_aligned", lambda d: ttnn.reduce_scatter(rm(d, (1, 3, 4, 7)), 1), devices=MESH),
    Case(
        "reduce_scatter.dim_divisible",
        lambda d: ttnn.reduce_scatter(dev(d, (1, 3, 32, 32)), 1),
        devices=MESH,
        name="all",
    ),
    Case(
        "reduce_scatter.dim_divisible",
        lambda d: ttnn.reduce_scatter(dev(d, (1, 4, 32, 32)), 1, cluster_axis=0),
        devices=("TG",),
        name="tg_axis0_rows",
    ),
    Case(
        "reduce_scatter.block_sharded_l1",
        lambda d: ttnn.reduce_scatter(block(d, (n_dev(d), 1, 32, 64), ttnn.BufferType.DRAM), 0),
        devices=MESH,
    ),
    # all_reduce
    Case("all_reduce.on_device", lambda d: ttnn.all_reduce(host((1, 1, 32, 32))), devices=MESH),
    Case("all_reduce.rank", lambda d: ttnn.all_reduce(rm(d, (64,))), devices=MESH),
    Case(
        "all_reduce.links_available",
        lambda d: ttnn.all_reduce(dev(d, (1, 1, 32, 32)), num_links=over_links(d)),
        devices=MESH,
    ),
]

# A sharded input names its output config: the composite paths reject a sharded input without one.
DRAM = ttnn.DRAM_MEMORY_CONFIG
CONTROLS = [
    Control(
        AG,
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 3, num_links=1),
        devices=MESH,
        name="mesh_num_links",
    ),
    Control(
        AG,
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 2, cluster_axis=0, num_links=4),
        devices=("TG",),
        name="tg_axis0_all_4_links",
    ),
    Control(
        AR,
        lambda d: ttnn.all_reduce(dev(d, (1, 1, 32, 32)), num_links=d.spec.collective().num_links),
        devices=MESH,
        name="catalog_num_links",
    ),
    Control(AG, lambda d: ttnn.all_gather(rm(d, (1, 1, 4, 16)), 3), devices=MESH, name="row_major_aligned"),
    Control(
        AG,
        lambda d: ttnn.all_gather(block(d, (1, 1, 64, 64), ttnn.BufferType.L1), 3, memory_config=DRAM),
        devices=MESH,
        name="block_l1",
    ),
    Control(
        AG,
        lambda d: ttnn.all_gather(dev(d, (1, 1, 32, 32)), 2, cluster_axis=1),
        devices=("TG",),
        name="tg_axis1",
    ),
    Control(
        RS,
        lambda d: ttnn.reduce_scatter(dev(d, (1, 8, 32, 32)), 1, cluster_axis=0),
        devices=("TG",),
        name="tg_axis0",
    ),
    Control(
        RS,
        lambda d: ttnn.reduce_scatter(
            block(d, (n_dev(d), 1, 32, 64), ttnn.BufferType.L1), 0, memory_config=DRAM
        ),
        devices=MESH,
        name="block_l1",
    ),
    Control(
        AR,
        lambda d: ttnn.all_reduce(dev(d, (1, 32, 32)), cluster_axis=0),
        devices=("TG",),
        name="tg_axis0_rank3",
    ),
    Control(AR, lambda d: ttnn.all_reduce(rm(d, (2, 64))), devices=MESH, name="rank2_row_major"),
    Control(
        RS,
        lambda d: ttnn.reduce_scatter(rm(d, (n_dev(d), 1, 4, 7)), 0),
        devices=MESH,
        name="row_major_composite",
    ),
]
