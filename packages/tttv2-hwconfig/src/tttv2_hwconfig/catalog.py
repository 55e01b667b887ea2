"""Device catalog: one ``DeviceSpec`` per Tenstorrent product TTTv2 targets.

    spec = device_spec("n300")          # case-insensitive
    spec.mesh_shape, spec.compute_grid  # (1, 2), (8, 8)
    spec.peak_flops_per_s("bfloat8_b", "HiFi2")

Every figure below carries its public source in a comment. Abbreviations used in those comments:

- [WH-SPEC]   docs.tenstorrent.com/aibs/wormhole/specifications.html (n150/n300 card table)
- [BH-SPEC]   docs.tenstorrent.com/aibs/blackhole/specifications.html (p100a/p150a/p150b card table)
- [WH-INSTALL] docs.tenstorrent.com/aibs/wormhole/index.html, Pre-Installation: "PCI Express 4.0 x16 slot"
- [BH-FW]     docs.tenstorrent.com/tt-system-firmware .../tt_blackhole_configuration (board variants,
              asic_fmax) and tt-system-firmware release v19.5.0 (Jan 2026: every p150 presents
              120 Tensix cores), quoted in tenstorrent/tt-metal issue #47014 / PR #47015; its
              Blackhole overview: "16 PCIe 5.0 lanes for 500 Gb/s of throughput"
- [RW-BUFFER] tenstorrent/tt-metal tests/tt_metal/tt_metal/perf_microbenchmark/dispatch/
              benchmark_rw_buffer_golden.json (Wormhole CI host, 2025-11-13, commit 0e9b656) and
              benchmark_rw_buffer_blackhole_golden.json (2026-05-15, commit 040a27c): the CI goldens of
              ``benchmark_rw_buffer`` (ReadShard of a 64 MiB DRAM buffer, 2 KiB pages, median of 11)
- [SOC-WH]    tenstorrent/tt-metal tt_metal/soc_descriptors/wormhole_b0_80_arch.yaml
- [SOC-BH]    tenstorrent/tt-metal tt_metal/soc_descriptors/blackhole_140_arch.yaml
- [CORE-WH]   tt_metal/core_descriptors/wormhole_b0_80_arch{,_eth_dispatch}.yaml (shipped in the
              ttnn 0.81.1 wheel): compute_with_storage_grid_range per product and dispatch mode
- [CORE-BH]   tt_metal/core_descriptors/blackhole_140_arch.yaml (same wheel)
- [MEMMAP]    tt_metal/hw/inc/internal/tt-1xx/{wormhole,blackhole}/dev_mem_map.h (same wheel):
              MEM_L1_SIZE and MEM_MAP_END; usable = MEM_L1_SIZE - MEM_MAP_END, which is what
              ``ttnn.device.get_max_worker_l1_unreserved_size()`` returns under a mock cluster
- [DISPATCH]  tt-metal ttnn/cpp/ttnn/device.hpp ``create_cluster_aware_dispatch_config``: default
              dispatch cores are ETH on N300/T3K clusters, WORKER elsewhere; axis COL on Blackhole,
              ROW otherwise (checked with ttnn 0.81.1 + mock clusters: N150 -> WORKER/ROW,
              P150 -> WORKER/COL)
- [TTTv1]     tenstorrent/tt-metal models/tt_transformers/tt/model_config.py
              (``determine_device_name``: "P100 DRAM grid is 7x1, P150 is 8x1") and
              models/tt_transformers/tt/ccl.py (``get_num_links`` link_dict) and model_config.py
              ``ccl_topology`` ("Use ring on a T3K": 8 devices on a T3K -> Ring, other meshes Linear)
- [MATRIX]    tt-metal tech_reports/matrix_engine/matrix_engine.md and
              tech_reports/GEMM_FLOPS/GEMM_FLOPS.md: 8x16 @ 16x16 per cycle = 4096 FLOP/cycle per
              Tensix at LoFi, divided by the fidelity phase count (HiFi2 2, HiFi3 3, HiFi4 4);
              "All numbers and values apply to both Wormhole and Blackhole devices"
- [HOTCHIPS]  Tenstorrent, "Blackhole & TT-Metalium", Hot Chips 2024: Wormhole 16x100 Gbps
              Ethernet, Blackhole 10x400 Gbps Ethernet
- [ISSUE-12074] tenstorrent/tt-metal issue #12074: in traced Llama decode "roughly 4k cycles
              constant dispatch time regardless the kernel" per op
- [DRAM-BW]   tt-metal tech_reports/Saturating_DRAM_bandwidth/Saturating_DRAM_bandwidth.md (Wormhole,
              GDDR6 at 12 GBps = 288 GB/s spec): DRAM u-benchmark 267 GB/s; DRAM-sharded matmuls of
              "Llama3-70 decode" 239-260 GB/s
- [PR-42593]  tenstorrent/tt-metal PR #42593: M=32 decode matmuls, DRAM-sharded vs interleaved-weight
              1D-multicast program: 32x8192x1280 61.6 vs 90.4 us (1.47x), 32x8192x1024 50.7 vs 69.4 us (1.37x)
- [PR-54242]  tenstorrent/tt-metal PR #54242: Blackhole DRAM-sharded matmul with the default one reader per
              bank reaches 55 % of DRAM bandwidth (90 % with the opt-in multi-reader)
- [CCL-BW]    tt-metal tech_reports/CCLs/CCL_bandwidth.md: per-hop forwarding latency (1D fabric)
              Wormhole 711 ns, Blackhole 515 ns; large-message link utilization on Wormhole: lines
              84-94 % of line rate, rings 66-83 %; Blackhole lines 66-96 %, rings 68-95 %; Blackhole
              links "currently run at half their rated speed" (normalised to 25 GB/s)
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass

# [MATRIX]: one Tensix matrix engine does 8x16 @ 16x16 per cycle = 2*8*16*16 FLOP at LoFi.
MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI = 4096
# [MATRIX]: "eltwise add/sub/mul: 8x16 in a single cycle" on the matrix engine (FPU).
VECTOR_FLOPS_PER_CYCLE_PER_CORE = 128
# [MATRIX]: throughput is divided by the number of fidelity phases.
MATH_FIDELITY_PHASES: Mapping[str, int] = types.MappingProxyType(
    {"LoFi": 1, "HiFi2": 2, "HiFi3": 3, "HiFi4": 4}
)
# Operand dtypes the matrix engine takes. [MATRIX] gives one rate per fidelity for every format:
# the dtype changes how many bytes move (and which fidelity is needed for full precision), not the
# FLOP/cycle of the engine. float32 operands are truncated to the engine's input width (tf32-like).
COMPUTE_DTYPES = ("bfloat16", "bfloat8_b", "bfloat4_b", "float32")
# [ISSUE-12074]: ~4000 cycles of dispatch per op even under trace (measured on Wormhole at 1 GHz).
# Assumed (inferred) to be the same cycle count on Blackhole.
DISPATCH_OVERHEAD_CYCLES = 4000
TOPOLOGIES = ("none", "linear", "ring", "mesh")

# --- perf-model constants (per arch), each with its source; the fitted ones live in perf_fit.json ---
# [DRAM-BW]: DRAM-sharded decode matmuls reach 239-260 of 288 GB/s on Wormhole; the midpoint 249.5.
# [PR-54242]: Blackhole's default DRAM-sharded matmul reaches 55 %.
DRAM_SHARDED_EFFICIENCY: Mapping[str, float] = types.MappingProxyType(
    {"wormhole_b0": 249.5 / 288, "blackhole": 0.55}
)
# [PR-42593]: the same decode matmul reading interleaved weights takes 1.37-1.47x (mean 1.42x) as long.
# Blackhole: the same ratio is assumed (no public Blackhole comparison was found).
INTERLEAVED_DRAM_SLOWDOWN = (1.47 + 1.37) / 2
# [CCL-BW]: per-hop forwarding latency of the 1D fabric.
CCL_HOP_LATENCY_S: Mapping[str, float] = types.MappingProxyType({"wormhole_b0": 711e-9, "blackhole": 515e-9})
# [CCL-BW]: large-message link utilization (midpoints of the measured ranges), by topology.
CCL_LINK_EFFICIENCY: Mapping[str, Mapping[str, float]] = types.MappingProxyType(
    {
        "wormhole_b0": types.MappingProxyType({"linear": 0.89, "ring": 0.745}),
        # [CCL-BW]: Blackhole links run at half rate today: 50 GB/s rated x 0.5 x ~0.81 utilization.
        "blackhole": types.MappingProxyType({"linear": 0.5 * 0.81, "ring": 0.5 * 0.815}),
    }
)
# The card's host link, per direction (a peak, for reference). [WH-INSTALL] the n150/n300 need a
# "PCI Express 4.0 x16 slot": 16 GT/s x 16 lanes x 128/130 / 8 bits = 31.5 GB/s. [BH-FW] Blackhole:
# "16 PCIe 5.0 lanes for 500 Gb/s of throughput" = 62.5 GB/s.
HOST_LINK_BYTES_PER_S: Mapping[str, float] = types.MappingProxyType(
    {"wormhole_b0": 16e9 * 16 * 128 / 130 / 8, "blackhole": 500e9 / 8}
)
# What a blocking device-to-host read of a DRAM buffer achieves (MEASURED by tt-metal's CI, not
# fitted): [RW-BUFFER] median bytes_per_second of "Read/2048/67108864/0/0" (page 2 KiB, 64 MiB, DRAM,
# device 0): 12.46 GB/s on Wormhole (40 % of the link's peak), 14.66 GB/s on Blackhole. The perf model
# uses it only for logits read back by a demo that samples on the host.
HOST_READ_BYTES_PER_S: Mapping[str, float] = types.MappingProxyType(
    {"wormhole_b0": 1.2457837846017511e10, "blackhole": 14658990171.84644}
)
# ASSUMED (neither cited nor fitted; see docs/perf_model.md): an L1-resident operand streams through a
# core's NoC port at 32 bytes/cycle per direction, two NoCs per core.
L1_BYTES_PER_CYCLE_PER_CORE = 64


@dataclass(frozen=True)
class EthernetLinks:
    """Chip-to-chip Ethernet as TTTv2's collectives see it.

    Attributes:
        links_per_axis: Ethernet links a collective uses between two neighbouring chips along mesh
            axis 0 (rows) and axis 1 (columns); 0 where the axis has one chip.
        link_bandwidth_bytes_per_s: one link, one direction.
        topology: "none" (single chip), "linear", "ring" or "mesh" (2D).
    """

    links_per_axis: tuple[int, int]
    link_bandwidth_bytes_per_s: float
    topology: str
    # [TTTv1] model_config.py ``ccl_topology``: the ttnn.Topology TTTv1's collectives run along each mesh axis
    # ("ring", "linear", or "none" where the axis has one chip).
    ccl_topology_per_axis: tuple[str, str] = ("none", "none")

    def links_for_axis(self, cluster_axis: int | None = None) -> int:
        """Links along ``cluster_axis`` (0 or 1); None gives the smallest count over axes that have links."""
        if cluster_axis in (0, 1):
            return self.links_per_axis[cluster_axis]
        if cluster_axis is not None:
            raise ValueError(f"cluster_axis must be 0, 1 or None, got {cluster_axis!r}")
        used = [n for n in self.links_per_axis if n > 0]
        return min(used) if used else 0

    def collective(self, cluster_axis: int | None = None) -> CollectiveSettings:
        """Topology and link count of a collective along ``cluster_axis`` (None: over the whole mesh).

        As TTTv1 picks them ([TTTv1] ccl.py ``get_num_links``, model_config.py ``ccl_topology``): the axis's
        links and topology; over the whole mesh the smallest link count of the axes that have links, and
        Ring only when every such axis is a ring (a 2D mesh runs Linear).
        """
        num_links = self.links_for_axis(cluster_axis)
        if cluster_axis is not None:
            return CollectiveSettings(self.ccl_topology_per_axis[cluster_axis], num_links)
        used = [t for t, n in zip(self.ccl_topology_per_axis, self.links_per_axis) if n > 0]
        if not used:
            return CollectiveSettings("none", 0)
        return CollectiveSettings("ring" if used == ["ring"] else "linear", num_links)


@dataclass(frozen=True)
class CollectiveSettings:
    """What a collective (all_gather / reduce_scatter / all_reduce) passes on one device and mesh axis.

    Attributes:
        topology: "ring", "linear" or "none" (no chip-to-chip links along that axis: no collective runs).
        num_links: Ethernet links between neighbouring chips the collective uses (0 with "none").
    """

    topology: str
    num_links: int


@dataclass(frozen=True)
class DeviceSpec:
    """One Tenstorrent product as TTTv2 sees it. Per-chip figures unless the name says otherwise.

    Attributes:
        name: catalog name, e.g. "N150".
        arch: "wormhole_b0" or "blackhole" (as ``ttnn.get_arch_name()`` spells it).
        mesh_shape: (rows, cols) of the ``ttnn.MeshShape`` the product opens as.
        compute_grid: (x, y) as ``device.compute_with_storage_grid_size()`` reports with the default
            dispatch configuration.
        dram_grid: (x, y) as ``device.dram_grid_size()`` reports.
        tensix_cores_per_chip: Tensix cores enabled on the chip (vendor count; includes the cores
            the runtime keeps for dispatch, so it is >= compute_grid x * y).
        l1_bytes_per_core: total L1 SRAM of one Tensix core.
        l1_usable_bytes_per_core: L1 left for buffers and circular buffers after the firmware's
            reserved region (``ttnn.device.get_max_worker_l1_unreserved_size()``).
        dram_bytes_per_chip: DRAM capacity of one chip as the allocator sees it.
        dram_banks: DRAM banks (one per ``dram_grid`` entry).
        dram_bandwidth_bytes_per_s: peak DRAM bandwidth of one chip.
        clock_hz: Tensix (AI) clock.
        eth_links: chip-to-chip links, see ``EthernetLinks``.
        dispatch_core_type: "worker" or "ethernet": which cores run the command dispatcher by default.
        dispatch_core_axis: "row" or "col": which grid edge dispatch takes when it uses Tensix cores.
        dispatch_overhead_s: fixed device time per op for dispatch (used by the perf model).
    """

    name: str
    arch: str
    mesh_shape: tuple[int, int]
    compute_grid: tuple[int, int]
    dram_grid: tuple[int, int]
    tensix_cores_per_chip: int
    l1_bytes_per_core: int
    l1_usable_bytes_per_core: int
    dram_bytes_per_chip: int
    dram_banks: int
    dram_bandwidth_bytes_per_s: float
    clock_hz: float
    eth_links: EthernetLinks
    dispatch_core_type: str
    dispatch_core_axis: str
    dispatch_overhead_s: float

    @property
    def num_chips(self) -> int:
        return self.mesh_shape[0] * self.mesh_shape[1]

    def collective(self, cluster_axis: int | None = None) -> CollectiveSettings:
        """Topology and num_links of a collective along ``cluster_axis``; see ``EthernetLinks.collective``."""
        return self.eth_links.collective(cluster_axis)

    @property
    def compute_cores(self) -> int:
        """Cores ops can use on one chip: compute_grid x * y."""
        return self.compute_grid[0] * self.compute_grid[1]

    def peak_flops_per_s(self, dtype: str, math_fidelity: str, cores: int | None = None) -> float:
        """Peak matrix-engine FLOP/s of one chip (a prediction ceiling, not a measurement).

        Derivation ([MATRIX]): ``cores * clock_hz * 4096 / phases(math_fidelity)``.

        Args:
            dtype: operand dtype, one of ``COMPUTE_DTYPES`` (validated; it does not change the rate).
            math_fidelity: "LoFi", "HiFi2", "HiFi3" or "HiFi4".
            cores: cores to count; default ``compute_cores``. Pass ``tensix_cores_per_chip`` to get the
                figure vendors publish, which counts every enabled core.
        """
        _check_dtype(dtype)
        phases = fidelity_phases(math_fidelity)
        cores = self.compute_cores if cores is None else cores
        return cores * self.clock_hz * MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI / phases

    def vector_flops_per_s(self, cores: int | None = None) -> float:
        """Peak element-wise FLOP/s of one chip on the matrix engine ([MATRIX]: 8x16 per cycle per core)."""
        cores = self.compute_cores if cores is None else cores
        return cores * self.clock_hz * VECTOR_FLOPS_PER_CYCLE_PER_CORE


def fidelity_phases(math_fidelity: str) -> int:
    """Phase count of a math fidelity name ("LoFi" 1 ... "HiFi4" 4); ValueError for anything else."""
    name = getattr(math_fidelity, "name", math_fidelity)  # accept ttnn.MathFidelity members too
    if name not in MATH_FIDELITY_PHASES:
        raise ValueError(f"math_fidelity must be one of {list(MATH_FIDELITY_PHASES)}, got {math_fidelity!r}")
    return MATH_FIDELITY_PHASES[name]


def _check_dtype(dtype: str) -> None:
    name = str(getattr(dtype, "name", dtype)).lower().removeprefix("datatype.")
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {list(COMPUTE_DTYPES)}, got {dtype!r}")


# --------------------------------------------------------------------------------------------------
# Wormhole B0
# --------------------------------------------------------------------------------------------------
_WH_CLOCK_HZ = 1.0e9  # [WH-SPEC] "AI Clock 1 GHz"
# [HOTCHIPS] Wormhole "16x100 Gbps Ethernet": 12.5 GB/s per link per direction.
_WH_LINK_BYTES_PER_S = 100e9 / 8

_N150 = DeviceSpec(
    name="N150",
    arch="wormhole_b0",
    mesh_shape=(1, 1),
    # [CORE-WH] product nebula_x1, tensix dispatch on the last row: range [0,0]-[7,7] -> 8x8.
    # [DISPATCH] N150 defaults to WORKER/ROW dispatch.
    compute_grid=(8, 8),
    # [SOC-WH] 12 dram_views (6 GDDR6 channels x 2 views of 1 GiB each) -> dram_grid_size() == (12, 1).
    dram_grid=(12, 1),
    tensix_cores_per_chip=72,  # [WH-SPEC] n150 "Tensix Cores 72"
    # [MEMMAP] wormhole MEM_L1_SIZE (1464 * 1024); [SOC-WH] worker_l1_size 1499136.
    l1_bytes_per_core=1464 * 1024,
    l1_usable_bytes_per_core=1464 * 1024 - 35168,  # [MEMMAP] MEM_MAP_END = 35168 bytes reserved -> 1463968
    dram_bytes_per_chip=12 * 2**30,  # [SOC-WH] 12 views x dram_view_size 1073741824; [WH-SPEC] "12GB GDDR6"
    dram_banks=12,  # [SOC-WH] 12 dram_views
    dram_bandwidth_bytes_per_s=288e9,  # [WH-SPEC] n150 "Memory Bandwidth 288 GB/sec"
    clock_hz=_WH_CLOCK_HZ,
    # [TTTv1] ccl.py link_dict "N150": (0, 0): a single chip has no mesh links.
    eth_links=EthernetLinks(
        links_per_axis=(0, 0), link_bandwidth_bytes_per_s=_WH_LINK_BYTES_PER_S, topology="none"
    ),
    dispatch_core_type="worker",  # [DISPATCH]
    dispatch_core_axis="row",  # [DISPATCH]
    dispatch_overhead_s=DISPATCH_OVERHEAD_CYCLES / _WH_CLOCK_HZ,  # [ISSUE-12074] ~4000 cycles -> 4 us
)

_N300 = dataclasses.replace(
    _N150,
    name="N300",
    mesh_shape=(1, 2),  # [WH-SPEC] n300: 2 Wormhole ASICs; [TTTv1] determine_device_name: 2 devices -> "N300"
    # [CORE-WH] product nebula_x2 (64 Tensix per chip); [DISPATCH] N300 defaults to ETH dispatch, so the
    # eth-dispatch descriptor applies: range [0,0]-[7,7] -> 8x8 (with worker dispatch it would be 8x7).
    compute_grid=(8, 8),
    tensix_cores_per_chip=64,  # [WH-SPEC] n300 "128 (64 per ASIC)"
    dram_bandwidth_bytes_per_s=288e9,  # [WH-SPEC] n300 "576 GB/sec" per board / 2 ASICs
    # [TTTv1] ccl.py link_dict "N300": (1, 1); [WH-SPEC] "Internal Chip-to-Chip 400GbE".
    # [TTTv1] ccl_topology: multi-chip meshes other than 8 chips run ttnn.Topology.Linear.
    eth_links=EthernetLinks(
        links_per_axis=(0, 1),
        link_bandwidth_bytes_per_s=_WH_LINK_BYTES_PER_S,
        topology="linear",
        ccl_topology_per_axis=("none", "linear"),
    ),
    dispatch_core_type="ethernet",  # [DISPATCH] ETH for N300/T3K clusters
)

_T3K = dataclasses.replace(
    _N300,
    name="T3K",
    # [TTTv1] determine_device_name: 8 Wormhole devices -> "T3K"; opened as a 1x8 MeshShape (4 n300 cards).
    mesh_shape=(1, 8),
    # [TTTv1] ccl.py link_dict "T3K": (1, 1). The 8 chips close into a ring; [TTTv1] ccl_topology: "Use ring
    # on a T3K" (num_devices == 8 on a T3K cluster -> ttnn.Topology.Ring, passed to every collective).
    eth_links=EthernetLinks(
        links_per_axis=(0, 1),
        link_bandwidth_bytes_per_s=_WH_LINK_BYTES_PER_S,
        topology="ring",
        ccl_topology_per_axis=("none", "ring"),
    ),
)

_TG = dataclasses.replace(
    _N150,
    name="TG",
    # [TTTv1] determine_device_name: 32 Wormhole devices -> "TG"; TTTv1 runs it as cluster_shape (8, 4).
    mesh_shape=(8, 4),
    # [CORE-WH] product galaxy (80 Tensix per chip, 8x10); [DISPATCH] TG defaults to WORKER/ROW, whose
    # descriptor range is [0,0]-[7,8] -> 8x9. (Demos that pass DispatchCoreAxis.COL get 7x10.)
    compute_grid=(8, 9),
    # [CORE-WH] galaxy eth-dispatch range [0,0]-[7,9] = 80 (no harvesting); [HOTCHIPS] "Wormhole 80 Tensix
    # cores ... 328 TOPS (FP8)" = 80 x 4096 FLOP/cycle x 1 GHz, which also confirms the [MATRIX] rate.
    tensix_cores_per_chip=80,
    # Same Wormhole chip and 192-bit GDDR6 as the n150 ([WH-SPEC] 12 GB, 288 GB/s): inferred per chip.
    # [TTTv1] ccl.py link_dict "TG": (4, 3) links along axis 0 / axis 1 of the 8x4 mesh; [TTTv1]
    # ccl_topology: 32 devices -> ttnn.Topology.Linear on both axes.
    eth_links=EthernetLinks(
        links_per_axis=(4, 3),
        link_bandwidth_bytes_per_s=_WH_LINK_BYTES_PER_S,
        topology="mesh",
        ccl_topology_per_axis=("linear", "linear"),
    ),
)

# --------------------------------------------------------------------------------------------------
# Blackhole
# --------------------------------------------------------------------------------------------------
_BH_CLOCK_HZ = 1.35e9  # [BH-SPEC] "AI Clock Up to 1.35 GHz"; [BH-FW] asic_fmax 1350 (MHz) on every board
# [HOTCHIPS] Blackhole "10 x 400 Gbps Ethernet": 50 GB/s per link per direction.
_BH_LINK_BYTES_PER_S = 400e9 / 8
_BH_DRAM_VIEW_BYTES = 4278190080  # [SOC-BH] dram_view_size (one GDDR6 channel)

_P150 = DeviceSpec(
    name="P150",
    arch="blackhole",
    mesh_shape=(1, 1),
    # [BH-FW] firmware >= v19.5.0 presents 120 Tensix (12x10) on every p150; [CORE-BH] "2xharvested",
    # col dispatch: range [0,0]-[10,9] -> 11x10. tt-mlir PR #9248: "metal's Blackhole (p150) mock reports
    # 10x11 = 110". (Older firmware with 140 cores gave 13x10.)
    compute_grid=(11, 10),
    # [SOC-BH] 8 dram_views (GDDR6 channels); [TTTv1] "P150 is 8x1".
    dram_grid=(8, 1),
    tensix_cores_per_chip=120,  # [BH-FW] "all Blackhole p150 accelerator cards ... 120 Tensix cores"
    # [MEMMAP] blackhole MEM_L1_SIZE (1536 * 1024); [SOC-BH] worker_l1_size 1572864.
    l1_bytes_per_core=1536 * 1024,
    l1_usable_bytes_per_core=1536 * 1024 - 41088,  # [MEMMAP] MEM_MAP_END = 41088 -> 1531776 (ttnn mock P150)
    dram_bytes_per_chip=8 * _BH_DRAM_VIEW_BYTES,  # [SOC-BH] 8 x 4278190080; [BH-SPEC] "32 GB GDDR6"
    dram_banks=8,  # [SOC-BH] 8 dram_views
    dram_bandwidth_bytes_per_s=512e9,  # [BH-SPEC] p150a/p150b "Memory Bandwidth 512 GB/sec"
    clock_hz=_BH_CLOCK_HZ,
    # [TTTv1] ccl.py link_dict "P150": (0, 0). [BH-SPEC] p150: "4x QSFP-DD 800G" for card-to-card links.
    eth_links=EthernetLinks(
        links_per_axis=(0, 0), link_bandwidth_bytes_per_s=_BH_LINK_BYTES_PER_S, topology="none"
    ),
    dispatch_core_type="worker",  # [DISPATCH] verified: ttnn 0.81.1 mock P150 -> WORKER
    dispatch_core_axis="col",  # [DISPATCH] verified: ttnn 0.81.1 mock P150 -> COL
    dispatch_overhead_s=DISPATCH_OVERHEAD_CYCLES / _BH_CLOCK_HZ,  # [ISSUE-12074] cycles, inferred for BH
)

_P100 = dataclasses.replace(
    _P150,
    name="P100",
    # [CORE-BH] "2xharvested" (120 Tensix) col dispatch -> 11x10; tt-metal issue #25433 (p100: 11x10).
    compute_grid=(11, 10),
    dram_grid=(7, 1),  # [TTTv1] model_config.py: "P100 DRAM grid is 7x1"
    tensix_cores_per_chip=120,  # [BH-SPEC] p100a "Tensix Cores 120"
    dram_bytes_per_chip=7 * _BH_DRAM_VIEW_BYTES,  # one of 8 channels harvested; [BH-SPEC] p100a "28 GB GDDR6"
    dram_banks=7,
    dram_bandwidth_bytes_per_s=448e9,  # [BH-SPEC] p100a "Memory Bandwidth 448 GB/sec"
    # [BH-SPEC] p100a "Connectivity: -" (no Ethernet ports); [TTTv1] ccl.py "P100": (0, 0).
    eth_links=EthernetLinks(links_per_axis=(0, 0), link_bandwidth_bytes_per_s=0.0, topology="none"),
)

_P300 = dataclasses.replace(
    _P150,
    name="P300",
    # [BH-FW] board variants P300A_L / P300A_R (asic_location 1 / 0): two Blackhole ASICs per card;
    # [TTTv1] determine_device_name: 2 Blackhole devices -> "P300". Per-chip grid, L1, DRAM and bandwidth
    # are INFERRED equal to one p150 chip (no public per-chip p300 table was found).
    mesh_shape=(1, 2),
    # [TTTv1] ccl.py link_dict "P300": (2, 2); [TTTv1] ccl_topology: 2 devices -> ttnn.Topology.Linear.
    eth_links=EthernetLinks(
        links_per_axis=(0, 2),
        link_bandwidth_bytes_per_s=_BH_LINK_BYTES_PER_S,
        topology="linear",
        ccl_topology_per_axis=("none", "linear"),
    ),
)

_P150X4 = dataclasses.replace(
    _P150,
    name="P150x4",
    # [TTTv1] determine_device_name: 4 Blackhole devices -> "P150x4" (four p150 cards, e.g. a
    # Blackhole TT-QuietBox), opened as a 1x4 MeshShape.
    mesh_shape=(1, 4),
    # [TTTv1] ccl.py link_dict "P150x4": (2, 2); [TTTv1] ccl_topology: 4 devices -> ttnn.Topology.Linear.
    eth_links=EthernetLinks(
        links_per_axis=(0, 2),
        link_bandwidth_bytes_per_s=_BH_LINK_BYTES_PER_S,
        topology="linear",
        ccl_topology_per_axis=("none", "linear"),
    ),
)

DEVICE_SPECS: Mapping[str, DeviceSpec] = types.MappingProxyType(
    {spec.name: spec for spec in (_N150, _N300, _T3K, _TG, _P100, _P150, _P300, _P150X4)}
)


def list_devices() -> list[str]:
    """Catalog names, Wormhole first: ["N150", "N300", "T3K", "TG", "P100", "P150", "P300", "P150x4"]."""
    return list(DEVICE_SPECS)


def device_spec(name: str) -> DeviceSpec:
    """The catalog entry called ``name`` (case-insensitive, e.g. "n300" or "P150X4"); a DeviceSpec passes through.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: no device of that name; the message lists the valid names.
    """
    if isinstance(name, DeviceSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"device name must be a str, got {type(name).__name__}: {name!r}")
    for spec in DEVICE_SPECS.values():
        if spec.name.lower() == name.strip().lower():
            return spec
    raise ValueError(f"unknown device {name!r}; valid device names: {', '.join(DEVICE_SPECS)}")


def device_spec_of(device) -> DeviceSpec:
    """The catalog entry of an open mesh device: emulated or real (matched by arch, mesh shape, DRAM grid).

    Raises:
        ValueError: no catalog entry has that arch and mesh shape.
    """
    spec = getattr(device, "spec", None)
    if isinstance(spec, DeviceSpec):
        return spec
    arch = str(getattr(device.arch(), "name", device.arch())).lower()
    shape = tuple(device.shape)
    dram = device.dram_grid_size()
    for candidate in DEVICE_SPECS.values():
        if candidate.arch.startswith(arch.split("_")[0]) and candidate.mesh_shape == shape:
            if candidate.dram_grid == (dram.x, dram.y):
                return candidate
    raise ValueError(
        f"no catalog device with arch {arch!r}, mesh shape {shape} and DRAM grid ({dram.x}, {dram.y})"
    )
