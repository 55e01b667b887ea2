"""PREDICTED decode speed and time to first token of any installed family from its HF config alone.

    from tttv2_patterns.predict import predict_model
    result = predict_model("path/to/config.json", device="T3K", batch=1, prompt_len=128)
    result.tokens_per_s_per_user, result.ttft_s, result.decode_kinds

The model is built shapes-only (``tttv2_hwconfig.shapes_only``: no weights read, no numerics), one
prefill of ``prompt_len`` tokens and one decode step of ``batch`` users run through the emulator's
validation, memory accounting and op trace, and the perf model (``tttv2_hwconfig.perf_model``)
predicts each recorded op. Every figure is a PREDICTION, never a measurement.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tttv2_blocks.ccl import is_2d_mesh
from tttv2_hwconfig import PerfConstants, device_spec, open_device, shapes_only
from tttv2_hwconfig.catalog import MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI, fidelity_phases
from tttv2_hwconfig.perf_model import (
    BOUNDS,
    PREDICTION_LABEL,
    KindRow,
    Prediction,
    host_sampling_s,
    is_matrix_engine_op,
    predict_trace,
)

from tttv2_patterns.decode_trace import DECODE_ROWS
from tttv2_patterns.model_families import family_for
from tttv2_patterns.shapes_only import shapes_only_model
from tttv2_patterns.tttv1_mesh_ops import replaced, tttv1_2d_mesh_records

# TTTv2's decode step is traced by default (CausalLM(enable_trace=True)); predictions say which.
TRACED_DECODE_AVAILABLE = True
# Programs whose decode step samples on the host when more than one user decodes: TTTv1's demo
# (tt-metal models/tt_transformers/demo/simple_text_demo.py: ``argmax_on_device = False if
# (batch_size > 1 or temperature != 0)``) reads every step's logits back; TTTv2 samples on device.
HOST_SAMPLING_PROGRAMS = ("tttv1-precision",)
# Programs whose decode layer on a 2D mesh (TG) runs TTTv1's collectives (``tttv1_mesh_ops``).
TTTV1_2D_MESH_PROGRAMS = ("tttv1-precision",)
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


@dataclass(frozen=True)
class PhysicalLimit:
    """The wall for one decode step on one chip: bytes that must move, and the compute bound.

    Attributes:
        bytes_per_step: weight bytes read by the step's matmuls plus the KV cache the attention reads
            (per chip, as stored: dtype and tile padding included).
        dram_bound_s: ``bytes_per_step`` / peak DRAM bandwidth.
        compute_bound_s: the step's FLOPs at the full grid's peak rate (each op at its own fidelity).
    """

    bytes_per_step: int
    dram_bound_s: float
    compute_bound_s: float

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / max(self.dram_bound_s, self.compute_bound_s)


@dataclass(frozen=True)
class ModelPrediction:
    """What ``predict_model`` returns; all times PREDICTED, in seconds."""

    model: str
    device: str
    batch: int
    prompt_len: int
    strategy: str
    program: str
    traced: bool
    decode_step_s: float
    decode_step_traced_s: float
    ttft_s: float
    decode_ops: int
    prefill_ops: int
    limit: PhysicalLimit
    decode_kinds: list[KindRow] = field(repr=False)
    decode_by_bound: dict[str, float] = field(repr=False)
    per_layer: dict[int, dict[str, float]] = field(repr=False)
    decode: Prediction = field(repr=False, compare=False)
    prefill: Prediction = field(repr=False, compare=False)
    host_sampling_s: float = 0.0  # per decode step, for a program that samples on the host (in decode_step_s)

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / self.decode_step_s

    @property
    def tokens_per_s_per_user_traced(self) -> float:
        return 1.0 / self.decode_step_traced_s

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("decode", "prefill")}
        data["label"] = PREDICTION_LABEL
        data["tokens_per_s_per_user"] = self.tokens_per_s_per_user
        data["tokens_per_s_per_user_traced"] = self.tokens_per_s_per_user_traced
        data["limit"]["tokens_per_s_per_user"] = self.limit.tokens_per_s_per_user
        return data


def read_hf_config(path: str | os.PathLike) -> dict:
    """``config.json`` of an HF folder (or the file itself)."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no HF config.json there")
    return json.loads(file.read_text(encoding="utf-8"))


def predict_model(
    config,
    device: str = "N150",
    *,
    batch: int = 1,
    prompt_len: int = 128,
    strategy: str = "performance",
    program: str = "tttv2",
    traced: bool | None = None,
    constants=None,
    decode_position: int | None = None,
) -> ModelPrediction:
    """PREDICT decode tokens/s/user and time to first token of the model of an HF config on ``device``.

    Args:
        config: an HF folder, a ``config.json`` path, or the parsed dict.
        device: catalog name ("N150", "T3K", ...).
        batch: users decoded together (1..32).
        prompt_len: prompt tokens of the prefill (time to first token).
        strategy: "performance" or "accuracy" (the ImplConfig defaults).
        program: "tttv2" (the family's defaults) or "tttv1-precision" (see ``FamilyBuilder.impl_config``).
        traced: predict the decode step replayed from a trace; default: whether TTTv2 traces decode.
        constants: ``tttv2_hwconfig.PerfConstants`` (default: the fitted ones).
        decode_position: KV-cache position of the predicted decode step, i.e. the positions its
            attention reads (default ``prompt_len``: the first generated token). A published speed
            averaged over N generated tokens is the step at about ``prompt_len + N / 2``.
    """
    raw = config if isinstance(config, dict) else read_hf_config(config)
    spec_name = device_spec(device).name
    traced = TRACED_DECODE_AVAILABLE if traced is None else bool(traced)
    position = prompt_len if decode_position is None else int(decode_position)
    if position < prompt_len:
        raise ValueError(f"decode_position must be >= prompt_len ({prompt_len}), got {position}")
    family = family_for(raw)
    spec = family.spec(raw, max_batch_size=batch, max_seq_len=position + 32)
    mesh = open_device(spec_name)
    with shapes_only():
        model = shapes_only_model(spec, family.impl_config(spec, mesh, strategy, program), mesh)
        # One eager step records the step's device ops once; ``traced`` below models how they dispatch.
        model.enable_trace = False
        trace = model.device.trace
        trace.clear()
        model.prefill_forward([[1] * prompt_len])
        prefill_records = trace.since(0)  # since the clear(): refuses a window the bound cut
        trace.clear()
        # Every user of the decode batch has the same prompt: one prefill's program is recorded (TTFT is
        # per user), the others count as filled without running it again; so do the tokens generated
        # before ``position`` (a shapes-only cache holds no values).
        model.kv_cache.filled.after_prefill(list(range(batch)), [position] * batch)
        model.decode_forward(token_ids=[1] * batch, cache_position=position, user_ids=list(range(batch)))
        decode_records = trace.since(0)
        trace.clear()
    if program in TTTV1_2D_MESH_PROGRAMS and is_2d_mesh(mesh):  # TTTv1's collectives replace TTTv2's
        decode_records = [r for r in decode_records if not replaced(r)] + tttv1_2d_mesh_records(spec, mesh)
    constants = constants or PerfConstants.fitted()
    prefill = predict_trace(prefill_records, spec_name, traced=False, constants=constants)
    decode = predict_trace(decode_records, spec_name, traced=traced, constants=constants)
    decode_traced = (
        decode if traced else predict_trace(decode_records, spec_name, traced=True, constants=constants)
    )
    step_fixed = constants.step_fixed_s  # inputs, trace launch, token readback: once per step
    host_s = 0.0
    if program in HOST_SAMPLING_PROGRAMS and batch > 1:  # every row of the 32-row logits tensor is read
        host_s = host_sampling_s(spec_name, DECODE_ROWS, spec.embedding.vocab_size, constants=constants)
    return ModelPrediction(
        model=str(raw.get("_name_or_path") or raw.get("name") or (raw.get("architectures") or ["?"])[0]),
        device=spec_name,
        batch=batch,
        prompt_len=prompt_len,
        strategy=strategy,
        program=program,
        traced=traced,
        decode_step_s=decode.total_latency_s + step_fixed + host_s,
        decode_step_traced_s=decode_traced.total_latency_s + step_fixed + host_s,
        ttft_s=prefill.total_latency_s + step_fixed,
        decode_ops=len(decode.ops),
        prefill_ops=len(prefill.ops),
        limit=physical_limit(decode_records, spec_name),
        decode_kinds=decode.by_kind(),
        decode_by_bound=decode.latency_s_by_bound(),
        per_layer=per_layer(decode),
        decode=decode,
        prefill=prefill,
        host_sampling_s=host_s,
    )


def physical_limit(records, device: str) -> PhysicalLimit:
    """The bytes a decode step must move (matmul weights + attention's KV reads) and its compute bound."""
    spec = device_spec(device)
    moved, compute_s = 0, 0.0
    full_rate = spec.compute_cores * spec.clock_hz * MATRIX_FLOPS_PER_CYCLE_PER_CORE_LOFI
    for record in records:
        name = record.name
        memory, nbytes = tuple(record.input_memory), tuple(record.input_nbytes)
        if is_matrix_engine_op(name) and record.flops:
            fidelity = record.math_fidelity
            compute_s += record.flops / (full_rate / (1 if fidelity is None else fidelity_phases(fidelity)))
        if "scaled_dot_product_attention" in name:
            moved += record.bytes_moved  # the emulator records the KV positions actually read
        elif is_matrix_engine_op(name) and len(memory) > 1 and memory[1].startswith("DRAM"):
            moved += nbytes[1]  # the weight operand
    return PhysicalLimit(moved, moved / spec.dram_bandwidth_bytes_per_s, compute_s)


def per_layer(prediction: Prediction) -> dict[int, dict[str, float]]:
    """Seconds per decoder layer by bound; ops outside the layers are under key -1."""
    layers: dict[int, dict[str, float]] = {}
    for op in prediction.ops:
        match = _LAYER.search(op.scope + ".")
        index = int(match.group(1)) if match else -1
        layers.setdefault(index, dict.fromkeys(BOUNDS, 0.0))[op.bound] += op.latency_s
    return dict(sorted(layers.items()))
