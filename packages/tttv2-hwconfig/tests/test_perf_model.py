"""Roofline perf-model tests.

Expected times are computed here from the published peak figures (typed in with their sources),
not from the model, so a wrong formula or a wrong catalog figure fails.
"""

from types import SimpleNamespace

import pytest
from tttv2_hwconfig.emulator._trace import OpRecord
from tttv2_hwconfig.perf_model import (
    PREDICTION_LABEL,
    Prediction,
    predict_op,
    predict_op_latency_s,
    predict_trace,
    tokens_per_s_per_user,
)

N150_DRAM_BYTES_PER_S = 288e9  # docs.tenstorrent.com n150 "Memory Bandwidth 288 GB/sec"
N150_CORES, N150_CLOCK_HZ = 64, 1e9  # 8x8 compute grid, "AI Clock 1 GHz"
FLOPS_PER_CYCLE_LOFI = 2 * 8 * 16 * 16  # tech_reports/matrix_engine: 8x16 @ 16x16 per cycle
WH_LINK_BYTES_PER_S = 100e9 / 8  # Hot Chips 2024: Wormhole 100 Gbps Ethernet links
N150_DISPATCH_S = 4000 / N150_CLOCK_HZ  # tt-metal issue #12074: ~4000 cycles per op


def op(name="ttnn.linear", flops=0, bytes_moved=0, fidelity="HiFi2", cores=None, ccl=0, devices=1, **attrs):
    return SimpleNamespace(
        name=name,
        flops=flops,
        bytes_moved=bytes_moved,
        math_fidelity=fidelity,
        compute_dtype="bfloat16",
        cores_used=cores,
        ccl_bytes=ccl,
        num_devices=devices,
        scope="",
        attributes=attrs,
    )


def matmul_flops(m, k, n):
    return 2 * m * k * n


def test_memory_bound_op_time_is_bytes_over_bandwidth_plus_overhead():
    # A decode-shaped matmul: 1 row against a 4096x4096 bf16 weight read from DRAM.
    weight_bytes = 4096 * 4096 * 2
    record = op(flops=matmul_flops(32, 4096, 4096), bytes_moved=weight_bytes)
    prediction = predict_op(record, "N150")
    assert prediction.bound == "memory"
    expected = weight_bytes / N150_DRAM_BYTES_PER_S + N150_DISPATCH_S
    assert predict_op_latency_s(record, "N150") == pytest.approx(expected, rel=1e-12)


def test_compute_bound_op_time_is_flops_over_peak_plus_overhead():
    flops = matmul_flops(4096, 4096, 4096)
    record = op(flops=flops, bytes_moved=3 * 4096 * 4096, fidelity="HiFi4")
    prediction = predict_op(record, "N150")
    assert prediction.bound == "compute"
    peak = N150_CORES * N150_CLOCK_HZ * FLOPS_PER_CYCLE_LOFI / 4  # HiFi4 = 4 phases
    assert prediction.latency_s == pytest.approx(flops / peak + N150_DISPATCH_S, rel=1e-12)


def test_hifi4_is_slower_than_lofi_for_the_same_op():
    flops = matmul_flops(2048, 2048, 2048)
    times = {
        f: predict_op(op(flops=flops, fidelity=f), "N150").compute_s
        for f in ("LoFi", "HiFi2", "HiFi3", "HiFi4")
    }
    assert times["LoFi"] < times["HiFi2"] < times["HiFi3"] < times["HiFi4"]
    assert times["HiFi4"] == pytest.approx(4 * times["LoFi"])
    assert predict_op_latency_s(op(flops=flops, fidelity="HiFi4"), "N150") > predict_op_latency_s(
        op(flops=flops, fidelity="LoFi"), "N150"
    )


def test_bigger_op_is_slower():
    small = op(flops=matmul_flops(512, 512, 512), bytes_moved=3 * 512 * 512 * 2)
    big = op(flops=matmul_flops(1024, 1024, 1024), bytes_moved=3 * 1024 * 1024 * 2)
    for name in ("N150", "P150"):
        assert predict_op_latency_s(big, name) > predict_op_latency_s(small, name)


def test_fewer_cores_is_proportionally_slower():
    flops = matmul_flops(1024, 1024, 1024)
    full = predict_op(op(flops=flops), "N150").compute_s
    half = predict_op(op(flops=flops, cores=32), "N150").compute_s
    assert half == pytest.approx(2 * full)


def test_eltwise_ops_use_the_vector_rate():
    # 128 FLOP/cycle/core for element-wise ops on the matrix engine (tech_reports/matrix_engine).
    flops = 1 << 24
    add = predict_op(op(name="ttnn.add", flops=flops, fidelity=None), "N150")
    assert add.compute_s == pytest.approx(flops / (N150_CORES * N150_CLOCK_HZ * 128))


def test_ccl_time_uses_link_bandwidth_and_axis():
    ccl_bytes = 1 << 20
    n300 = predict_op(op(name="ttnn.all_gather", ccl=ccl_bytes, devices=2, fidelity=None), "N300")
    assert n300.ccl_s == pytest.approx(ccl_bytes / WH_LINK_BYTES_PER_S)  # 1 link (tt_transformers ccl.py)
    tg_axis0 = predict_op(op(name="ttnn.all_gather", ccl=ccl_bytes, devices=32, cluster_axis=0), "TG")
    tg_axis1 = predict_op(op(name="ttnn.all_gather", ccl=ccl_bytes, devices=32, cluster_axis=1), "TG")
    assert tg_axis0.ccl_s == pytest.approx(ccl_bytes / (4 * WH_LINK_BYTES_PER_S))
    assert tg_axis1.ccl_s == pytest.approx(ccl_bytes / (3 * WH_LINK_BYTES_PER_S))


def test_bad_records_are_rejected_with_the_op_name():
    with pytest.raises(ValueError, match="ttnn.all_gather.*no chip-to-chip links"):
        predict_op(op(name="ttnn.all_gather", ccl=1024), "N150")
    with pytest.raises(ValueError, match="ttnn.linear.*cores_used"):
        predict_op(op(flops=1, cores=65), "N150")
    with pytest.raises(ValueError, match="ttnn.linear.*8 devices"):
        predict_op(op(flops=1, devices=8), "N300")
    with pytest.raises(ValueError, match="flops"):
        predict_op(op(flops=-1), "N150")
    with pytest.raises(ValueError, match="math_fidelity"):
        predict_op(op(flops=1, fidelity="MedFi"), "N150")
    with pytest.raises(ValueError, match="valid device names"):
        predict_op(op(flops=1), "N151")


def test_predict_trace_sums_ops_and_labels_the_table():
    records = [
        OpRecord(name="ttnn.rms_norm", input_shapes=((1, 1, 32, 4096),), input_dtypes=("bfloat16",),
                 output_shapes=((1, 1, 32, 4096),), output_dtypes=("bfloat16",), flops=32 * 4096 * 4,
                 bytes_moved=2 * 32 * 4096 * 2, scope="layers.0.attention_norm"),
        OpRecord(name="ttnn.linear", input_shapes=((1, 1, 32, 4096), (4096, 6144)), input_dtypes=("bfloat16", "bfloat8_b"),
                 output_shapes=((1, 1, 32, 6144),), output_dtypes=("bfloat16",), flops=matmul_flops(32, 4096, 6144),
                 bytes_moved=4096 * 6144 * 1088 // 1024, math_fidelity="HiFi2", compute_dtype="bfloat8_b",
                 cores_used=64, scope="layers.0.attention.wqkv"),
    ]  # fmt: skip
    prediction = predict_trace(records, "N150")
    assert isinstance(prediction, Prediction)
    assert len(prediction.ops) == 2
    singles = [predict_op_latency_s(r, "N150") for r in records]
    assert prediction.total_latency_s == pytest.approx(sum(singles))
    assert prediction.total_latency_ms == pytest.approx(1e3 * sum(singles))
    assert list(prediction.latency_s_by_name()) == ["ttnn.linear", "ttnn.rms_norm"]
    table = prediction.format_table()
    assert table.startswith(PREDICTION_LABEL) and "PREDICTED" in table
    assert "layers.0.attention.wqkv:ttnn.linear" in table
    assert f"{prediction.total_latency_ms:.4f} ms" in table
    assert "1 more ops" in prediction.format_table(max_rows=1)


def test_dispatch_overhead_can_be_overridden():
    record = op(bytes_moved=288)  # 1 ns of DRAM traffic
    assert predict_op_latency_s(record, "N150", dispatch_overhead_s=0.0) == pytest.approx(1e-9)


def test_tokens_per_s_per_user():
    assert tokens_per_s_per_user(0.020) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="decode_step_latency_s"):
        tokens_per_s_per_user(0.0)
