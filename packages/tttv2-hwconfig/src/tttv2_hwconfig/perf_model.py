"""Perf model over the device catalog: PREDICTED device time of emulated ops.

Nothing here is measured. Every number this module returns is a prediction from public figures
(``catalog.py`` cites each one) and a few FITTED constants (``data/perf_fit.json``, fitted by
``tttv2_patterns.perf_calibration`` against TTTv1's published decode speeds), and it is labelled as
such wherever it is printed. ``docs/perf_model.md`` derives every term.

Per op, on one chip (the busiest chip of a mesh: ops are recorded per chip)::

    compute_s  = flops / (cores_used * clock * FLOP/cycle/core(engine) / phases(math_fidelity))
    dram_s     = DRAM bytes / (peak DRAM bandwidth * efficiency(access pattern))
                 (a matrix-engine op's bfloat4_b DRAM operands on Wormhole: times bfp4_stream_slowdown)
    l1_s       = L1 bytes / (cores_used * L1 bytes/cycle/core * clock)
    ccl_s      = ccl_fixed + hops * hop_latency + ccl_bytes / (links * link bandwidth * efficiency(topology))
                 (links: the num_links the emulator recorded for the op, else the axis's catalog links)
    dispatch_s = op_fixed, or matmul_op_fixed for matrix-engine ops (device-side cost of one op)
    traced:    latency = max(compute_s, dram_s, l1_s) + ccl_s + dispatch_s
    untraced:  latency = max(host_untraced_op, traced latency)   (the host enqueues ops one by one)

- The access-pattern efficiency is [DRAM-BW]'s DRAM-sharded decode matmul figure when the op reads a
  DRAM-sharded tensor, and that divided by [PR-42593]'s interleaved slowdown otherwise.
- Collectives (all_gather / reduce_scatter / all_reduce) are charged on the links only; ``ccl_bytes``
  is what the busiest link direction carries (the emulator's figure), hops are ``n - 1`` on a line and
  ``n // 2`` on a ring (twice for all_reduce).
- Compute, DRAM and L1 traffic of one op overlap (the roofline); collectives and dispatch do not.

An op record is any object with the attributes of ``tttv2_hwconfig.emulator._trace.OpRecord``:
``name``, ``flops``, ``bytes_moved``, ``math_fidelity``, ``cores_used``, ``ccl_bytes``,
``num_devices``; optionally ``input_memory`` / ``output_memory`` / ``input_nbytes`` /
``output_nbytes`` (without them all bytes count as interleaved DRAM), ``scope`` and ``attributes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from .catalog import (
    CCL_HOP_LATENCY_S,
    CCL_LINK_EFFICIENCY,
    DRAM_SHARDED_EFFICIENCY,
    HOST_READ_BYTES_PER_S,
    INTERLEAVED_DRAM_SLOWDOWN,
    L1_BYTES_PER_CYCLE_PER_CORE,
    MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI,
    VECTOR_FLOPS_PER_CYCLE_PER_CORE,
    DeviceSpec,
    device_spec,
    fidelity_phases,
)

# Substrings of op names that run on the matrix engine at the 4096 FLOP/cycle/core (LoFi) rate.
MATRIX_ENGINE_OPS = ("linear", "matmul", "scaled_dot_product_attention", "conv")
# Architectures whose matrix-engine ops read bfloat4_b DRAM operands bfp4_stream_slowdown times slower:
# the factor is fitted on Wormhole rows; Blackhole's DRAM-sharded efficiency ([PR-54242], 55 %) was
# measured end to end on a bfp4-MLP Llama, so it already holds its bfp4 reads.
BFP4_SLOWDOWN_ARCHS = ("wormhole_b0",)
BFP4_DTYPE = "bfloat4_b"  # OpRecord dtype names are lower case
CCL_OPS = ("all_gather", "reduce_scatter", "all_reduce")
PREDICTION_LABEL = "PREDICTED (perf model, not measured)"
BOUNDS = ("compute", "DRAM", "L1", "CCL", "dispatch", "host")
FIT_FILE = "perf_fit.json"


@dataclass(frozen=True)
class PerfConstants:
    """The perf model's free constants (seconds); ``PerfConstants.fitted()`` is the calibrated set.

    Attributes:
        op_fixed_s: FITTED device time of every op beyond its roofline terms, traced (dispatch and
            kernel launch; [ISSUE-12074] measured ~4000 cycles of it).
        ccl_fixed_s: per-invocation cost of a collective (entry/exit barriers, fabric connection;
            [CCL-BW] names it and says it is not a constant). CITED, not fitted: tt-metal issue
            #11398 measured 20-27 us of AllGather dispatch latency in traced Llama decode
            (``perf_fit.json`` holds the midpoint).
        host_untraced_op_s: host time to enqueue one op without trace. Not calibrated: no published
            figure of an untraced TTTv1 decode exists; perf_fit.json says where the value comes from.
        step_fixed_s: FITTED time of a decode step outside its ops (writing the step's inputs,
            launching the trace, reading back the tokens); added once per step by the callers that
            predict a whole step (``tttv2_patterns.predict``), not by ``predict_trace``.
        matmul_op_fixed_s: FITTED fixed time of a matrix-engine op (linear / matmul / SDPA) in
            place of ``op_fixed_s``: multi-core matmuls set up more circular buffers and multicasts
            than an element-wise op. ``None``: ``op_fixed_s`` for every op.
        host_sampling_s_per_logit: MEASURED host CPU seconds per logit to turn read-back logits
            into torch and take their argmax as TTTv1's demo does (``benchmarks/bench_host_sampling.py``
            with the real ttnn wheel); used by ``host_sampling_s`` for programs that sample on the host.
        bfp4_stream_slowdown: FITTED factor on the DRAM time of a matrix-engine op's bfloat4_b DRAM
            operands on Wormhole (``BFP4_SLOWDOWN_ARCHS``): the decode matmuls consume bfp4 weights
            slower than the DRAM-sharded rate that bfp8 weights reach (``docs/perf_model.md``).
            1.0: no slowdown (the constants of earlier fits).
    """

    op_fixed_s: float
    ccl_fixed_s: float
    host_untraced_op_s: float
    step_fixed_s: float = 0.0
    matmul_op_fixed_s: float | None = None
    host_sampling_s_per_logit: float = 0.0
    bfp4_stream_slowdown: float = 1.0

    FIELDS = (
        "op_fixed_s",
        "ccl_fixed_s",
        "host_untraced_op_s",
        "step_fixed_s",
        "matmul_op_fixed_s",
        "host_sampling_s_per_logit",
        "bfp4_stream_slowdown",
    )

    @classmethod
    def fitted(cls) -> PerfConstants:
        """The constants in ``tttv2_hwconfig/data/perf_fit.json`` (written by the calibration)."""
        data = json.loads(resources.files("tttv2_hwconfig").joinpath("data", FIT_FILE).read_text())
        return cls(**{name: float(data[name]) for name in cls.FIELDS if data.get(name) is not None})

    def fixed_s(self, name: str) -> float:
        """The fixed device time of one op called ``name`` (``matmul_op_fixed_s`` for matrix-engine ops)."""
        if self.matmul_op_fixed_s is not None and is_matrix_engine_op(name):
            return self.matmul_op_fixed_s
        return self.op_fixed_s


@dataclass(frozen=True)
class OpPrediction:
    """Predicted time of one op on one chip, split into its terms (seconds)."""

    name: str
    scope: str
    compute_s: float
    memory_s: float  # DRAM
    ccl_s: float
    overhead_s: float  # dispatch
    l1_s: float = 0.0
    host_s: float = 0.0
    traced: bool = True
    bfp4_memory_s: float = 0.0  # of memory_s, the time of bfloat4_b DRAM operands (slowdown included)

    @property
    def device_s(self) -> float:
        return max(self.compute_s, self.memory_s, self.l1_s) + self.ccl_s + self.overhead_s

    @property
    def latency_s(self) -> float:
        return self.device_s if self.traced else max(self.host_s, self.device_s)

    @property
    def bound(self) -> str:
        """What dominates: one of ``BOUNDS`` (compute / DRAM / L1 / CCL / dispatch / host)."""
        terms = {
            "compute": self.compute_s,
            "DRAM": self.memory_s,
            "L1": self.l1_s,
            "CCL": self.ccl_s,
            "dispatch": self.overhead_s,
        }
        if not self.traced and self.host_s > self.device_s:
            return "host"
        return max(terms, key=terms.get)


@dataclass(frozen=True)
class KindRow:
    """All ops of one name: total PREDICTED seconds, share of the step and the dominant bound."""

    name: str
    count: int
    latency_s: float
    share: float
    bound: str


@dataclass(frozen=True)
class Prediction:
    """Predicted time of a sequence of ops run one after another on ``device_name``."""

    device_name: str
    ops: tuple[OpPrediction, ...]
    traced: bool = True

    @property
    def total_latency_s(self) -> float:
        return sum(op.latency_s for op in self.ops)

    @property
    def total_latency_ms(self) -> float:
        return self.total_latency_s * 1e3

    def latency_s_by_name(self) -> dict[str, float]:
        """Total predicted seconds per op name, largest first."""
        totals: dict[str, float] = {}
        for op in self.ops:
            totals[op.name] = totals.get(op.name, 0.0) + op.latency_s
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def latency_s_by_bound(self) -> dict[str, float]:
        """Total predicted seconds per bound (every op counted under its dominant term)."""
        totals = dict.fromkeys(BOUNDS, 0.0)
        for op in self.ops:
            totals[op.bound] += op.latency_s
        return totals

    def by_kind(self) -> list[KindRow]:
        """One row per op name, largest first; the bound is the one holding most of its time."""
        total = self.total_latency_s or 1.0
        groups: dict[str, list[OpPrediction]] = {}
        for op in self.ops:
            groups.setdefault(op.name, []).append(op)
        rows = []
        for name, ops in groups.items():
            per_bound = dict.fromkeys(BOUNDS, 0.0)
            for op in ops:
                per_bound[op.bound] += op.latency_s
            seconds = sum(op.latency_s for op in ops)
            rows.append(KindRow(name, len(ops), seconds, seconds / total, max(per_bound, key=per_bound.get)))
        return sorted(rows, key=lambda row: -row.latency_s)

    def format_table(self, max_rows: int | None = None) -> str:
        """A fixed-width text table, one row per op, headed by the PREDICTED label."""
        header = (
            f"{'#':>4}  {'op':<44} {'bound':<8} {'compute us':>10} {'DRAM us':>9} {'L1 us':>7} "
            f"{'ccl us':>8} {'total us':>9}"
        )
        mode = "traced" if self.traced else "untraced"
        lines = [f"{PREDICTION_LABEL} on {self.device_name} ({mode})", header, "-" * len(header)]
        shown = self.ops if max_rows is None else self.ops[:max_rows]
        for index, op in enumerate(shown):
            label = f"{op.scope}:{op.name}" if op.scope else op.name
            lines.append(
                f"{index:>4}  {label[:44]:<44} {op.bound:<8} {op.compute_s * 1e6:>10.2f} "
                f"{op.memory_s * 1e6:>9.2f} {op.l1_s * 1e6:>7.2f} {op.ccl_s * 1e6:>8.2f} {op.latency_s * 1e6:>9.2f}"
            )
        if len(shown) < len(self.ops):
            lines.append(f"      ... {len(self.ops) - len(shown)} more ops")
        lines.append(f"total predicted device time: {self.total_latency_ms:.4f} ms over {len(self.ops)} ops")
        return "\n".join(lines)


def is_matrix_engine_op(name: str) -> bool:
    """True for matmul-like ops (``MATRIX_ENGINE_OPS`` substrings of the op name)."""
    return any(key in name for key in MATRIX_ENGINE_OPS)


def is_ccl_op(name: str) -> bool:
    """True for collectives: ops whose own name (after the last dot) starts with a collective's
    (``all_gather``, ``all_gather_async``, ``reduce_scatter_minimal_async``...). Not a distributed
    norm's local halves (``rms_norm_pre_all_gather``: per-chip statistics, no chip-to-chip traffic)."""
    return name.rsplit(".", 1)[-1].startswith(CCL_OPS)


def dram_efficiency(spec: DeviceSpec, sharded: bool) -> float:
    """Achievable share of peak DRAM bandwidth: DRAM-sharded reads, or interleaved ([DRAM-BW], [PR-42593])."""
    efficiency = DRAM_SHARDED_EFFICIENCY[spec.arch]
    return efficiency if sharded else efficiency / INTERLEAVED_DRAM_SLOWDOWN


def predict_op(
    record,
    spec: DeviceSpec | str,
    *,
    traced: bool = True,
    constants: PerfConstants | None = None,
    dispatch_overhead_s: float | None = None,
) -> OpPrediction:
    """PREDICT one op's time on ``spec``, split into its terms.

    Args:
        record: an op record (see the module docstring); flops and bytes are per chip.
        spec: a ``DeviceSpec`` or a catalog name.
        traced: the op runs inside a replayed trace (no host enqueue time).
        constants: the free constants; default ``PerfConstants.fitted()``.
        dispatch_overhead_s: overrides ``constants.op_fixed_s``.

    Raises:
        ValueError: a negative count, ``cores_used`` outside the compute grid, more devices than the
            product has, or collective bytes on a product without chip-to-chip links.
    """
    spec = device_spec(spec)
    constants = constants or _FITTED()
    name = str(record.name)
    flops, bytes_moved, ccl_bytes = int(record.flops), int(record.bytes_moved), int(record.ccl_bytes)
    for field_name, value in (("flops", flops), ("bytes_moved", bytes_moved), ("ccl_bytes", ccl_bytes)):
        if value < 0:
            raise ValueError(f"{name}: {field_name} must be >= 0, got {value}")
    if int(record.num_devices) > spec.num_chips:
        raise ValueError(
            f"{name}: recorded on {record.num_devices} devices but {spec.name} has {spec.num_chips} chips"
        )
    cores = spec.compute_cores if record.cores_used is None else int(record.cores_used)
    if not 1 <= cores <= spec.compute_cores:
        raise ValueError(
            f"{name}: cores_used must be in 1..{spec.compute_cores} (the {spec.compute_grid[0]}x"
            f"{spec.compute_grid[1]} compute grid of {spec.name}), got {cores}"
        )
    overhead_s = constants.fixed_s(name) if dispatch_overhead_s is None else float(dispatch_overhead_s)
    scope = str(getattr(record, "scope", "") or "")
    if is_ccl_op(name):
        ccl_s = _ccl_seconds(name, ccl_bytes, record, spec, constants)
        return OpPrediction(
            name, scope, 0.0, 0.0, ccl_s, overhead_s, 0.0, constants.host_untraced_op_s, traced
        )
    dram_bytes, bfp4_bytes, l1_bytes, sharded = _split_bytes(record, bytes_moved)
    compute_s = flops / (_flops_per_s_per_core(name, record, spec) * cores)
    dram_rate = spec.dram_bandwidth_bytes_per_s * dram_efficiency(spec, sharded)
    slow = is_matrix_engine_op(name) and spec.arch in BFP4_SLOWDOWN_ARCHS
    bfp4_s = bfp4_bytes * (constants.bfp4_stream_slowdown if slow else 1.0) / dram_rate
    memory_s = (dram_bytes - bfp4_bytes) / dram_rate + bfp4_s
    l1_s = l1_bytes / (cores * L1_BYTES_PER_CYCLE_PER_CORE * spec.clock_hz)
    return OpPrediction(
        name, scope, compute_s, memory_s, 0.0, overhead_s, l1_s, constants.host_untraced_op_s, traced, bfp4_s
    )


def predict_op_latency_s(record, spec: DeviceSpec | str, **options) -> float:
    """PREDICTED seconds of one op on ``spec`` (see ``predict_op`` for the options)."""
    return predict_op(record, spec, **options).latency_s


def predict_trace(records: Iterable, spec: DeviceSpec | str, **options) -> Prediction:
    """PREDICT the time of ops run back to back (e.g. ``device.trace``) on ``spec``."""
    spec = device_spec(spec)
    ops = tuple(predict_op(r, spec, **options) for r in records)
    return Prediction(device_name=spec.name, ops=ops, traced=options.get("traced", True))


def host_sampling_s(
    spec: DeviceSpec | str, batch_rows: int, vocab: int, *, constants: PerfConstants | None = None
) -> float:
    """PREDICTED host time of one decode step that samples on the host instead of the device.

    The step reads ``batch_rows x vocab`` bfloat16 logits back at what a blocking read of a DRAM
    buffer achieves (``HOST_READ_BYTES_PER_S``, tt-metal's measured CI golden) and the host CPU takes the argmax
    (``constants.host_sampling_s_per_logit``, MEASURED with the real wheel on a CI host, not on a
    device's host). TTTv2 samples on the device; TTTv1's demo does this whenever batch > 1.
    """
    spec = device_spec(spec)
    constants = constants or _FITTED()
    if batch_rows < 1 or vocab < 1:
        raise ValueError(f"host_sampling_s: batch_rows and vocab must be >= 1, got {batch_rows} and {vocab}")
    logits = batch_rows * vocab
    return logits * 2 / HOST_READ_BYTES_PER_S[spec.arch] + logits * constants.host_sampling_s_per_logit


def tokens_per_s_per_user(decode_step_latency_s: float) -> float:
    """Tokens per second each user sees when one decode step (all users in the batch) takes this long."""
    if not decode_step_latency_s > 0:
        raise ValueError(f"decode_step_latency_s must be > 0 seconds, got {decode_step_latency_s!r}")
    return 1.0 / decode_step_latency_s


def _split_bytes(record, bytes_moved: int) -> tuple[float, float, float, bool]:
    """(DRAM bytes, of them bfloat4_b, L1 bytes, reads a DRAM-sharded tensor) of an op, scaled to its
    ``bytes_moved``."""
    memory = tuple(getattr(record, "input_memory", ())) + tuple(getattr(record, "output_memory", ()))
    nbytes = tuple(getattr(record, "input_nbytes", ())) + tuple(getattr(record, "output_nbytes", ()))
    dtypes = tuple(getattr(record, "input_dtypes", ())) + tuple(getattr(record, "output_dtypes", ()))
    if not memory or len(memory) != len(nbytes) or sum(nbytes) == 0:
        return float(bytes_moved), 0.0, 0.0, False
    if len(dtypes) != len(memory):
        dtypes = ("",) * len(memory)
    dram = sum(n for kind, n in zip(memory, nbytes) if kind.startswith("DRAM"))
    bfp4 = sum(n for kind, n, d in zip(memory, nbytes, dtypes) if kind.startswith("DRAM") and d == BFP4_DTYPE)
    l1 = sum(n for kind, n in zip(memory, nbytes) if kind.startswith("L1"))
    scale = bytes_moved / sum(nbytes)  # ops that touch part of a tensor (a KV-cache row) record less
    sharded = any(kind.startswith("DRAM") and kind.endswith("SHARDED") for kind in memory)
    return dram * scale, bfp4 * scale, l1 * scale, sharded


def _flops_per_s_per_core(name: str, record, spec: DeviceSpec) -> float:
    fidelity = getattr(record, "math_fidelity", None)
    phases = 1 if fidelity is None else fidelity_phases(fidelity)
    if is_matrix_engine_op(name):
        return spec.clock_hz * MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI / phases
    return spec.clock_hz * VECTOR_FLOPS_PER_CYCLE_PER_CORE / phases


def ccl_hops(name: str, group_size: int, topology: str) -> int:
    """Hops the first byte crosses: ``n - 1`` on a line, ``n // 2`` on a ring; all_reduce goes twice."""
    if group_size <= 1:
        return 0
    hops = group_size // 2 if topology.lower() == "ring" else group_size - 1
    return 2 * hops if "all_reduce" in name else hops


def _ccl_seconds(name: str, ccl_bytes: int, record, spec: DeviceSpec, constants: PerfConstants) -> float:
    attributes = getattr(record, "attributes", None) or {}
    group = int(attributes.get("group_size", record.num_devices))
    if ccl_bytes == 0 and group <= 1:
        return 0.0
    axis = attributes.get("cluster_axis")
    # The links the collective ran on, as the emulator recorded them (num_links=); the axis's links otherwise.
    links = int(attributes.get("num_links") or spec.eth_links.links_for_axis(axis))
    if links == 0 or spec.eth_links.link_bandwidth_bytes_per_s <= 0:
        where = "" if axis is None else f" along cluster_axis {axis}"
        raise ValueError(
            f"{name}: {ccl_bytes} collective bytes but {spec.name} has no chip-to-chip links{where} "
            f"(mesh {spec.mesh_shape}, links per axis {spec.eth_links.links_per_axis})"
        )
    topology = str(attributes.get("topology", "Linear")).lower()
    topology = "ring" if topology == "ring" else "linear"
    efficiency = CCL_LINK_EFFICIENCY[spec.arch][topology]
    hops = ccl_hops(name, group, topology)
    bandwidth_s = ccl_bytes / (links * spec.eth_links.link_bandwidth_bytes_per_s * efficiency)
    return constants.ccl_fixed_s + hops * CCL_HOP_LATENCY_S[spec.arch] + bandwidth_s


_FITTED_CACHE: list[PerfConstants] = []


def _FITTED() -> PerfConstants:  # noqa: N802 - reads like a constant at the call sites
    if not _FITTED_CACHE:
        _FITTED_CACHE.append(PerfConstants.fitted())
    return _FITTED_CACHE[0]
