"""Matmul program configs, with the real ``ttnn`` class names, field names and defaults.

The constructors only check field types, as the real bindings do; whether a config fits the
shapes, the grid and L1 is checked when ``ttnn.matmul`` / ``ttnn.linear`` runs (see
``_matmul_validation.py``), again as on the device.

Glossary (all sizes in 32x32 tiles):
    in0_block_w: K tiles per inner-loop block (must divide K).
    per_core_M / per_core_N: output tiles (rows / cols) each core computes.
    out_subblock_h / out_subblock_w: output tiles held in the destination registers at once
        (h * w <= 8 with bfloat16 accumulation, <= 4 with fp32_dest_acc_en).
    out_block_h / out_block_w: optional sub-blocking of the per-core output (default per_core_M/N).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ._activations import UnaryWithParam, resolve_activation
from ._memory import CoreCoord, CoreRangeSet

__all__ = [
    "MatmulMultiCoreReuseMultiCast1DProgramConfig",
    "MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig",
    "MatmulMultiCoreReuseMultiCastProgramConfig",
    "MatmulMultiCoreReuseProgramConfig",
]

_INT_FIELDS = (
    "in0_block_w",
    "out_subblock_h",
    "out_subblock_w",
    "out_block_h",
    "out_block_w",
    "per_core_M",
    "per_core_N",
)


def _grid(name: str, value) -> CoreCoord:
    if isinstance(value, CoreCoord):
        return value
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return CoreCoord(int(value[0]), int(value[1]))
    raise TypeError(
        f"{name}: compute_with_storage_grid_size must be a ttnn.CoreCoord or an (x, y) tuple, got {value!r}"
    )


def _check_fields(config) -> None:
    name = type(config).__name__
    for f in fields(config):
        value = getattr(config, f.name)
        if (
            f.name in _INT_FIELDS
            and value is not None
            and (not isinstance(value, int) or isinstance(value, bool) or value < 0)
        ):
            raise TypeError(f"{name}: {f.name} must be a non-negative int, got {value!r}")
    if hasattr(config, "compute_with_storage_grid_size"):
        config.compute_with_storage_grid_size = _grid(name, config.compute_with_storage_grid_size)
    if getattr(config, "fused_activation", None) is not None:
        config.fused_activation = resolve_activation(
            name, "fused_activation", config.fused_activation, allow_string=False
        )


@dataclass(kw_only=True)
class MatmulMultiCoreReuseProgramConfig:
    """Batched matmul without multicast: each core computes whole (per_core_M x per_core_N) blocks."""

    compute_with_storage_grid_size: CoreCoord
    in0_block_w: int
    out_subblock_h: int
    out_subblock_w: int
    per_core_M: int
    per_core_N: int
    allowed_worker_cores: CoreRangeSet | None = None

    def __post_init__(self):
        _check_fields(self)


@dataclass(kw_only=True)
class MatmulMultiCoreReuseMultiCastProgramConfig:
    """2D multicast matmul (prefill): in0 multicast along grid rows, in1 along columns.

    Output block (i, j) runs on core (x=j, y=i) (swapped with ``transpose_mcast``), so
    ceil(Mt / per_core_M) <= grid.y and ceil(Nt / per_core_N) <= grid.x.
    """

    compute_with_storage_grid_size: CoreCoord
    in0_block_w: int
    out_subblock_h: int
    out_subblock_w: int
    out_block_h: int | None = None
    out_block_w: int | None = None
    per_core_M: int
    per_core_N: int
    transpose_mcast: bool
    fused_activation: UnaryWithParam | None = None
    fuse_batch: bool = True
    allowed_worker_cores: CoreRangeSet | None = None

    def __post_init__(self):
        _check_fields(self)
        self.out_block_h = self.per_core_M if self.out_block_h is None else self.out_block_h
        self.out_block_w = self.per_core_N if self.out_block_w is None else self.out_block_w


@dataclass(kw_only=True)
class MatmulMultiCoreReuseMultiCast1DProgramConfig:
    """1D multicast matmul (decode / skinny): with ``mcast_in0`` every core gets all of M and a slice of N.

    With ``mcast_in0=True`` the whole of M must be one per_core_M block and
    ceil(Nt / per_core_N) cores (<= grid cores) each compute per_core_N output columns; with
    ``mcast_in0=False`` the split is over M (height-sharded style) instead.
    """

    compute_with_storage_grid_size: CoreCoord
    in0_block_w: int
    out_subblock_h: int
    out_subblock_w: int
    out_block_h: int | None = None
    out_block_w: int | None = None
    per_core_M: int
    per_core_N: int
    fuse_batch: bool
    fused_activation: UnaryWithParam | None = None
    mcast_in0: bool
    gather_in0: bool = False
    hop_cores: CoreRangeSet = field(default_factory=lambda: CoreRangeSet([]))
    num_global_cb_receivers: int = 1
    untilize_out: bool = False
    allowed_worker_cores: CoreRangeSet | None = None
    stream_in1: bool = False

    def __post_init__(self):
        _check_fields(self)
        self.out_block_h = self.per_core_M if self.out_block_h is None else self.out_block_h
        self.out_block_w = self.per_core_N if self.out_block_w is None else self.out_block_w


@dataclass(kw_only=True)
class MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig:
    """Decode matmul reading width-sharded weights straight from each DRAM bank.

    Needs in0 width-sharded in L1 (shard width = in0_block_w * k_blocks tiles), in1 width-sharded
    over the DRAM banks, a width-sharded L1 output, and M of one tile row (per_core_M == 1).
    """

    in0_block_w: int
    per_core_M: int
    per_core_N: int
    fused_activation: UnaryWithParam | None = None
    num_workers_per_dram_bank: int = 1

    def __post_init__(self):
        _check_fields(self)
