"""Roofline perf-model tests.

Expected times are computed here from the published peak figures (typed in with their sources),
not from the model, so a wrong formula or a wrong catalog figure fails.
"""

from types import SimpleNamespace

import pytest
from tttv2_hwconfig.emulator._trace import OpRecord
from tttv2_hwconfig.perf_model import (
    PREDICTION_LABEL,
    PerfConstants,
    Prediction,
    host_sampling_s,
    is_ccl_op,
    predict_op,
    predict_op_latency_s,
    predict_trace,
    tokens_per_s_per_user,
)

N150_DRAM_BYTES_PER_S = 288e9  # docs.tenstorrent.com n150 "Memory Bandwidth 288 GB/sec"
N150_CORES, N150_CLOCK_HZ = 64, 1e9  # 8x8 compute grid, "AI Clock 1 GHz"
FLOPS_PER_CYCLE_LOFI = 2 * 8 * 16 * 16  # tech_reports/matrix_engine: 8x16 @ 16x16 per cycle
WH_LINK_BYTES_PER_S = 100e9 / 8  # Hot Chips 2024: Wormhole 100 Gbps Ethernet links
# tech_reports/Saturating_DRAM_bandwidth: DRAM-sharded decode matmuls 239-260 of 288 GB/s (midpoint).
WH_SHARDED_BYTES_PER_S = 249.5e9
# tt-metal PR #42593: interleaved-weight decode matmuls take 1.47x / 1.37x as long as DRAM-sharded.
WH_INTERLEAVED_BYTES_PER_S = WH_SHARDED_BYTES_PER_S / ((1.47 + 1.37) / 2)
WH_HOP_S = 711e-9  # tech_reports/CCLs/CCL_bandwidth: Wormhole 1D fabric per-hop latency
WH_LINE_EFF, WH_RING_EFF = 0.89, 0.745  # same report: lines 84-94 %, rings 66-83 % of line rate
CONSTANTS = PerfConstants(op_fixed_s=5e-6, ccl_fixed_s=2e-6, host_untraced_op_s=30e-6)


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


def test_memory_bound_op_time_is_bytes_over_achievable_bandwidth_plus_op_time():
    # A decode-shaped matmul: 1 row against a 4096x4096 bf16 weight read from interleaved DRAM.
    weight_bytes = 4096 * 4096 * 2
    record = op(flops=matmul_flops(32, 4096, 4096), bytes_moved=weight_bytes)
    prediction = predict_op(record, "N150", constants=CONSTANTS)
    assert prediction.bound == "DRAM"
    expected = weight_bytes / (N150_DRAM_BYTES_PER_S * WH_INTERLEAVED_BYTES_PER_S / 288e9) + 5e-6
    assert predict_op_latency_s(record, "N150", constants=CONSTANTS) == pytest.approx(expected, rel=1e-12)


def test_dram_sharded_weights_read_at_the_sharded_rate_and_activations_in_l1_at_the_l1_rate():
    weight, act = 4096 * 4096 * 1088 // 1024, 32 * 4096 * 2
    record = op(
        flops=matmul_flops(32, 4096, 4096), bytes_moved=weight + 2 * act, cores=32
    )  # fmt: skip
    record.input_memory = ("L1_WIDTH_SHARDED", "DRAM_WIDTH_SHARDED")
    record.input_nbytes = (act, weight)
    record.output_memory, record.output_nbytes = ("L1_WIDTH_SHARDED",), (act,)
    prediction = predict_op(record, "N150", constants=CONSTANTS)
    assert prediction.memory_s == pytest.approx(weight / WH_SHARDED_BYTES_PER_S)
    # ASSUMED 64 bytes/cycle/core for L1 operands, on the 32 cores the program uses.
    assert prediction.l1_s == pytest.approx(2 * act / (32 * 64 * N150_CLOCK_HZ))
    assert prediction.latency_s == pytest.approx(weight / WH_SHARDED_BYTES_PER_S + 5e-6)


def test_compute_bound_op_time_is_flops_over_peak_of_the_cores_used():
    flops = matmul_flops(4096, 4096, 4096)
    record = op(flops=flops, bytes_moved=3 * 4096 * 4096, fidelity="HiFi4", cores=48)
    prediction = predict_op(record, "N150", constants=CONSTANTS)
    assert prediction.bound == "compute"
    peak = 48 * N150_CLOCK_HZ * FLOPS_PER_CYCLE_LOFI / 4  # HiFi4 = 4 phases, 48 cores of the program config
    assert prediction.latency_s == pytest.approx(flops / peak + 5e-6, rel=1e-12)


def test_untraced_op_waits_for_the_host():
    record = op(bytes_moved=288)
    untraced = predict_op(record, "N150", constants=CONSTANTS, traced=False)
    assert untraced.bound == "host" and untraced.latency_s == pytest.approx(30e-6)
    assert predict_op(record, "N150", constants=CONSTANTS).latency_s < 6e-6


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


def test_ccl_time_is_fixed_plus_hops_plus_bytes_over_links():
    ccl_bytes = 1 << 20
    n300 = predict_op(
        op(name="ttnn.all_gather", ccl=ccl_bytes, devices=2, fidelity=None, group_size=2, topology="Linear"),
        "N300", constants=CONSTANTS,
    )  # fmt: skip
    assert n300.bound == "CCL"
    assert n300.ccl_s == pytest.approx(2e-6 + 1 * WH_HOP_S + ccl_bytes / (WH_LINK_BYTES_PER_S * WH_LINE_EFF))
    ring = predict_op(
        op(name="ttnn.all_reduce", ccl=ccl_bytes, devices=8, group_size=8, topology="Ring"),
        "T3K",
        constants=CONSTANTS,
    )
    # all_reduce on a ring of 8: 2 passes of 8 // 2 hops.
    assert ring.ccl_s == pytest.approx(2e-6 + 8 * WH_HOP_S + ccl_bytes / (WH_LINK_BYTES_PER_S * WH_RING_EFF))
    tg0 = predict_op(
        op(name="ttnn.all_gather", ccl=ccl_bytes, devices=32, cluster_axis=0, group_size=8), "TG"
    )
    tg1 = predict_op(
        op(name="ttnn.all_gather", ccl=ccl_bytes, devices=32, cluster_axis=1, group_size=4), "TG"
    )
    fixed = PerfConstants.fitted().ccl_fixed_s
    assert tg0.ccl_s == pytest.approx(
        fixed + 7 * WH_HOP_S + ccl_bytes / (4 * WH_LINK_BYTES_PER_S * WH_LINE_EFF)
    )
    assert tg1.ccl_s == pytest.approx(
        fixed + 3 * WH_HOP_S + ccl_bytes / (3 * WH_LINK_BYTES_PER_S * WH_LINE_EFF)
    )


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
    record = op(bytes_moved=288)  # 288 bytes of interleaved DRAM traffic
    expected = 288 / WH_INTERLEAVED_BYTES_PER_S
    assert predict_op_latency_s(record, "N150", dispatch_overhead_s=0.0) == pytest.approx(expected)


def test_fitted_constants_are_loaded_and_non_negative():
    fitted = PerfConstants.fitted()
    assert all(getattr(fitted, name) >= 0 for name in PerfConstants.FIELDS)
    assert fitted.op_fixed_s > 0  # a fit that needed no per-op time would mean the cited terms overshoot


def test_matrix_engine_ops_take_their_own_fixed_time():
    constants = PerfConstants(
        op_fixed_s=4e-6, ccl_fixed_s=0.0, host_untraced_op_s=0.0, matmul_op_fixed_s=24e-6
    )
    for name, fixed in (("ttnn.linear", 24e-6), ("ttnn.transformer.scaled_dot_product_attention_decode", 24e-6),
                        ("ttnn.add", 4e-6), ("ttnn.rms_norm", 4e-6)):  # fmt: skip
        assert predict_op(op(name=name), "N150", constants=constants).overhead_s == fixed, name
    # Without a matmul figure every op takes op_fixed_s (the constants of earlier fits).
    assert predict_op(op(name="ttnn.linear"), "N150", constants=CONSTANTS).overhead_s == 5e-6


def test_host_sampling_is_the_logits_read_at_the_measured_read_rate_plus_host_time_per_logit():
    # tt-metal benchmark_rw_buffer CI goldens, "Read/2048/67108864/0/0" median (64 MiB DRAM, 2 KiB pages).
    wormhole_read = 1.2457837846017511e10  # benchmark_rw_buffer_golden.json (2025-11-13)
    blackhole_read = 14658990171.84644  # benchmark_rw_buffer_blackhole_golden.json (2026-05-15)
    pcie_gen4_x16 = 16e9 * 16 * 128 / 130 / 8  # docs.tenstorrent.com Wormhole: "PCI Express 4.0 x16"
    logits = 32 * 128256
    none = PerfConstants(0.0, 0.0, 0.0)
    assert host_sampling_s("N150", 32, 128256, constants=none) == pytest.approx(logits * 2 / wormhole_read)
    assert host_sampling_s("P150", 32, 128256, constants=none) == pytest.approx(logits * 2 / blackhole_read)
    # The measured read reaches well under the link's peak (a peak would predict 2.5x less time).
    assert host_sampling_s("N150", 32, 128256, constants=none) > 2 * logits * 2 / pcie_gen4_x16
    measured = PerfConstants(0.0, 0.0, 0.0, host_sampling_s_per_logit=5e-9)
    assert host_sampling_s("N150", 32, 128256, constants=measured) == pytest.approx(
        logits * 2 / wormhole_read + logits * 5e-9
    )
    with pytest.raises(ValueError, match="batch_rows and vocab must be >= 1"):
        host_sampling_s("N150", 0, 128256)


def test_tokens_per_s_per_user():
    assert tokens_per_s_per_user(0.020) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="decode_step_latency_s"):
        tokens_per_s_per_user(0.0)


def test_the_local_halves_of_a_distributed_norm_are_not_collectives():
    # rms/layer_norm_pre_all_gather compute per-chip statistics and *_post_all_gather normalizes with the
    # gathered ones; the all-gather between them is its own op (TTTv1 ccl.py tt_distributed_rmsnorm).
    for name in ("ttnn.rms_norm_pre_all_gather", "ttnn.layer_norm_post_all_gather"):
        assert not is_ccl_op(name), name
        prediction = predict_op(op(name=name, bytes_moved=4096), "TG", constants=CONSTANTS)
        assert prediction.ccl_s == 0.0 and prediction.bound != "CCL", name
    for name in (
        "ttnn.all_gather",
        "ttnn.experimental.all_gather_async",
        "ttnn.reduce_scatter",
        "ttnn.all_reduce",
    ):
        assert is_ccl_op(name), name
    assert not is_ccl_op("ttnn.experimental.fast_reduce_nc")  # the local sum after TTTv1's 2D all-gather


def _decode_matmul(weight_dtype, weight_bytes, name="ttnn.linear"):
    activation = 32 * 4096 * 2  # [32, 4096] bfloat16 activation, L1 width-sharded
    record = op(name=name, flops=matmul_flops(32, 4096, 4096), bytes_moved=activation + weight_bytes)
    record.input_memory, record.input_nbytes = (
        ("L1_WIDTH_SHARDED", "DRAM_WIDTH_SHARDED"),
        (activation, weight_bytes),
    )
    record.input_dtypes = ("bfloat16", weight_dtype)
    record.output_memory, record.output_nbytes, record.output_dtypes = (), (), ()
    return record, activation


def test_bfp4_weights_of_matmuls_stream_slowdown_times_slower_on_wormhole_only():
    # Tiles of 32x32: bfloat4_b 576 bytes, bfloat8_b 1088 (16 shared-exponent bytes + 1 or 0.5 byte per value).
    bfp4, bfp8 = 4096 * 4096 // 1024 * 576, 4096 * 4096 // 1024 * 1088
    slow = PerfConstants(op_fixed_s=0.0, ccl_fixed_s=0.0, host_untraced_op_s=0.0, bfp4_stream_slowdown=1.3)
    record, _ = _decode_matmul("bfloat4_b", bfp4)
    prediction = predict_op(record, "N150", constants=slow)
    assert prediction.memory_s == pytest.approx(bfp4 * 1.3 / WH_SHARDED_BYTES_PER_S)
    assert prediction.bfp4_memory_s == pytest.approx(prediction.memory_s)
    # A bfloat8_b weight reads at the DRAM-sharded rate whatever the slowdown.
    record8, _ = _decode_matmul("bfloat8_b", bfp8)
    assert predict_op(record8, "N150", constants=slow).memory_s == pytest.approx(
        bfp8 / WH_SHARDED_BYTES_PER_S
    )
    assert predict_op(record8, "N150", constants=slow).bfp4_memory_s == 0.0
    # Blackhole's DRAM-sharded efficiency was measured on a bfp4-MLP model: no second factor there.
    plain = PerfConstants(op_fixed_s=0.0, ccl_fixed_s=0.0, host_untraced_op_s=0.0)
    assert (
        predict_op(record, "P150", constants=slow).memory_s
        == predict_op(record, "P150", constants=plain).memory_s
    )
    # Only matrix-engine ops: a data-movement op reading bfp4 from DRAM is not slowed.
    moved, _ = _decode_matmul("bfloat4_b", bfp4, name="ttnn.to_memory_config")
    assert (
        predict_op(moved, "N150", constants=slow).memory_s
        == predict_op(moved, "N150", constants=plain).memory_s
    )


def test_fitted_bfp4_slowdown_is_a_slowdown():
    assert PerfConstants.fitted().bfp4_stream_slowdown >= 1.0
