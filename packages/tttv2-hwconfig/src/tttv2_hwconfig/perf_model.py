"""Roofline model over the device catalog: PREDICTED device time of emulated ops.

Nothing here is measured. Every number this module returns is a prediction from public peak
figures (see ``catalog.py`` for their sources) and is labelled as such wherever it is printed.

Per op, on one chip::

    compute_s = flops / (peak FLOP/s per core for the op's engine and fidelity * cores_used)
    memory_s  = bytes_moved / dram_bandwidth_bytes_per_s
    ccl_s     = ccl_bytes / (links along the axis * link_bandwidth_bytes_per_s)
    latency_s = max(compute_s, memory_s) + ccl_s + dispatch_overhead_s

Assumptions, stated once:

- Compute and DRAM traffic overlap perfectly (the roofline); collectives do not overlap with them.
- All of ``bytes_moved`` is charged at DRAM bandwidth, an upper bound for ops whose operands sit in L1.
- Matmul-like ops (``MATRIX_ENGINE_OPS``) run at the matrix-engine rate, 4096 FLOP/cycle/core divided by
  the fidelity phase count; every other op runs at the element-wise rate, 128 FLOP/cycle/core
  (tech_reports/matrix_engine). SFPU transcendentals are slower than that, so those ops are optimistic.
- Ops without a math fidelity run at LoFi rate (one phase).
- The per-op dispatch overhead is ~4000 cycles (tt-metal issue #12074, traced decode on Wormhole).

An op record is any object with the attributes of ``tttv2_hwconfig.emulator._trace.OpRecord``:
``name``, ``flops``, ``bytes_moved``, ``math_fidelity``, ``compute_dtype``, ``cores_used``,
``ccl_bytes``, ``num_devices`` (and optionally ``scope`` and ``attributes["cluster_axis"]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .catalog import (
    MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI,
    VECTOR_FLOPS_PER_CYCLE_PER_CORE,
    DeviceSpec,
    device_spec,
    fidelity_phases,
)

# Substrings of op names that run on the matrix engine at the 4096 FLOP/cycle/core (LoFi) rate.
MATRIX_ENGINE_OPS = ("linear", "matmul", "scaled_dot_product_attention", "conv")
PREDICTION_LABEL = "PREDICTED (roofline model, not measured)"


@dataclass(frozen=True)
class OpPrediction:
    """Predicted device time of one op on one chip, split into its roofline terms (seconds)."""

    name: str
    scope: str
    compute_s: float
    memory_s: float
    ccl_s: float
    overhead_s: float

    @property
    def latency_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.ccl_s + self.overhead_s

    @property
    def bound(self) -> str:
        """What dominates: "compute", "memory", "ccl" or "overhead" (dispatch)."""
        terms = {
            "compute": self.compute_s,
            "memory": self.memory_s,
            "ccl": self.ccl_s,
            "overhead": self.overhead_s,
        }
        return max(terms, key=terms.get)


@dataclass(frozen=True)
class Prediction:
    """Predicted device time of a sequence of ops run one after another on ``device_name``."""

    device_name: str
    ops: tuple[OpPrediction, ...]

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

    def format_table(self, max_rows: int | None = None) -> str:
        """A fixed-width text table, one row per op, headed by the PREDICTED label."""
        header = f"{'#':>4}  {'op':<44} {'bound':<8} {'compute us':>10} {'memory us':>10} {'ccl us':>8} {'total us':>9}"
        lines = [f"{PREDICTION_LABEL} on {self.device_name}", header, "-" * len(header)]
        shown = self.ops if max_rows is None else self.ops[:max_rows]
        for index, op in enumerate(shown):
            label = f"{op.scope}:{op.name}" if op.scope else op.name
            lines.append(
                f"{index:>4}  {label[:44]:<44} {op.bound:<8} {op.compute_s * 1e6:>10.2f} "
                f"{op.memory_s * 1e6:>10.2f} {op.ccl_s * 1e6:>8.2f} {op.latency_s * 1e6:>9.2f}"
            )
        if len(shown) < len(self.ops):
            lines.append(f"      ... {len(self.ops) - len(shown)} more ops")
        lines.append(f"total predicted device time: {self.total_latency_ms:.4f} ms over {len(self.ops)} ops")
        return "\n".join(lines)


def is_matrix_engine_op(name: str) -> bool:
    """True for matmul-like ops (``MATRIX_ENGINE_OPS`` substrings of the op name)."""
    return any(key in name for key in MATRIX_ENGINE_OPS)


def predict_op(record, spec: DeviceSpec | str, *, dispatch_overhead_s: float | None = None) -> OpPrediction:
    """PREDICT one op's device time on ``spec``, split into roofline terms.

    Args:
        record: an op record (see the module docstring); flops and bytes are per chip.
        spec: a ``DeviceSpec`` or a catalog name.
        dispatch_overhead_s: fixed per-op cost; default ``spec.dispatch_overhead_s``.

    Raises:
        ValueError: a negative count, ``cores_used`` outside the compute grid, more devices than the
            product has, or collective bytes on a product without chip-to-chip links.
    """
    spec = device_spec(spec)
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
    compute_s = flops / (_flops_per_s_per_core(name, record, spec) * cores)
    memory_s = bytes_moved / spec.dram_bandwidth_bytes_per_s
    ccl_s = _ccl_seconds(name, ccl_bytes, record, spec)
    overhead_s = spec.dispatch_overhead_s if dispatch_overhead_s is None else float(dispatch_overhead_s)
    return OpPrediction(
        name=name,
        scope=str(getattr(record, "scope", "") or ""),
        compute_s=compute_s,
        memory_s=memory_s,
        ccl_s=ccl_s,
        overhead_s=overhead_s,
    )


def predict_op_latency_s(
    record, spec: DeviceSpec | str, *, dispatch_overhead_s: float | None = None
) -> float:
    """PREDICTED device seconds of one op on ``spec``: max(compute, memory) + ccl + dispatch overhead."""
    return predict_op(record, spec, dispatch_overhead_s=dispatch_overhead_s).latency_s


def predict_trace(
    records: Iterable, spec: DeviceSpec | str, *, dispatch_overhead_s: float | None = None
) -> Prediction:
    """PREDICT the device time of ops run back to back (e.g. ``device.trace``) on ``spec``."""
    spec = device_spec(spec)
    ops = tuple(predict_op(r, spec, dispatch_overhead_s=dispatch_overhead_s) for r in records)
    return Prediction(device_name=spec.name, ops=ops)


def tokens_per_s_per_user(decode_step_latency_s: float) -> float:
    """Tokens per second each user sees when one decode step (all users in the batch) takes this long."""
    if not decode_step_latency_s > 0:
        raise ValueError(f"decode_step_latency_s must be > 0 seconds, got {decode_step_latency_s!r}")
    return 1.0 / decode_step_latency_s


def _flops_per_s_per_core(name: str, record, spec: DeviceSpec) -> float:
    fidelity = getattr(record, "math_fidelity", None)
    phases = 1 if fidelity is None else fidelity_phases(fidelity)
    if is_matrix_engine_op(name):
        return spec.clock_hz * MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI / phases
    return spec.clock_hz * VECTOR_FLOPS_PER_CYCLE_PER_CORE / phases


def _ccl_seconds(name: str, ccl_bytes: int, record, spec: DeviceSpec) -> float:
    if ccl_bytes == 0:
        return 0.0
    attributes = getattr(record, "attributes", None) or {}
    axis = attributes.get("cluster_axis")
    links = spec.eth_links.links_for_axis(axis)
    if links == 0 or spec.eth_links.link_bandwidth_bytes_per_s <= 0:
        where = "" if axis is None else f" along cluster_axis {axis}"
        raise ValueError(
            f"{name}: {ccl_bytes} collective bytes but {spec.name} has no chip-to-chip links{where} "
            f"(mesh {spec.mesh_shape}, links per axis {spec.eth_links.links_per_axis})"
        )
    return ccl_bytes / (links * spec.eth_links.link_bandwidth_bytes_per_s)
