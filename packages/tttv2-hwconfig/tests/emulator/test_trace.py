"""Trace capture and replay (``_ops_trace``): the device's semantics, and replay == eager bit for bit.

The reference for every replay is the same ops run eagerly (no trace) on the same inputs: a replay
re-runs the captured program, so its outputs must be torch.equal to an eager run, not just close.
"""

import pytest
import torch
from tttv2_hwconfig import HostReadError, HostWriteError, ttnn
from tttv2_hwconfig.emulator._rules import RuleViolation


def host(t, dtype=ttnn.bfloat16):
    return ttnn.from_torch(t, dtype=dtype, layout=ttnn.TILE_LAYOUT)


def dev(t, device, dtype=ttnn.bfloat16):
    return ttnn.from_torch(t, dtype=dtype, layout=ttnn.TILE_LAYOUT, device=device)


def composed(t, device):
    return ttnn.to_torch(t, mesh_composer=ttnn.ConcatMeshToTensor(device, dim=0))


def program(x, w, b):
    """A small decode-like program: linear, residual add, eltwise mul, softmax."""
    y = ttnn.linear(x, w, bias=b)
    z = ttnn.add(y, x)
    return ttnn.softmax(z * y, dim=-1)


def make_inputs(device):
    w = dev(torch.randn(64, 64) / 8, device)
    b = dev(torch.randn(1, 64), device)
    x = dev(torch.randn(1, 1, 32, 64), device)
    return x, w, b


def capture(device, fn, *args):
    fn(*args)  # compile run: the device cannot compile inside a capture
    trace_id = ttnn.begin_trace_capture(device, cq_id=0)
    try:
        out = fn(*args)
    finally:
        ttnn.end_trace_capture(device, trace_id, cq_id=0)
    return trace_id, out


def test_replay_equals_eager_bit_for_bit_on_new_inputs(device):
    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    for _ in range(3):
        new_x = torch.randn(1, 1, 32, 64)
        ttnn.copy_host_to_device_tensor(host(new_x), x)
        ttnn.execute_trace(device, trace_id, cq_id=0, blocking=True)
        eager = program(dev(new_x, device), w, b)
        assert torch.equal(composed(out, device), composed(eager, device))
    ttnn.release_trace(device, trace_id)


def test_replay_overwrites_the_captured_output_in_place(device):
    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    before = composed(out, device)
    ttnn.copy_host_to_device_tensor(host(torch.randn(1, 1, 32, 64)), x)
    same_object = out
    ttnn.execute_trace(device, trace_id)
    assert same_object is out and not torch.equal(composed(out, device), before)


def test_inputs_not_copied_in_leave_replay_unchanged(device):
    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    ttnn.execute_trace(device, trace_id)
    first = composed(out, device)
    ttnn.execute_trace(device, trace_id)
    assert torch.equal(composed(out, device), first)


def test_in_place_cache_update_is_replayed_at_the_new_position(device):
    """A KV-cache write inside the trace lands where the persistent position tensor says at replay."""
    cache = dev(torch.zeros(2, 1, 64, 32), device)
    grid = ttnn.num_cores_to_corerangeset(2, device.compute_with_storage_grid_size(), row_wise=True)
    sharded = ttnn.create_sharded_memory_config(
        (32, 32), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )
    tokens = ttnn.from_torch(
        torch.zeros(1, 2, 1, 32),
        dtype=ttnn.bfloat16,
        layout=ttnn.TILE_LAYOUT,
        device=device,
        memory_config=sharded,
    )

    def int_host(values):
        return ttnn.from_torch(torch.tensor(values, dtype=torch.int32), dtype=ttnn.int32)

    positions = ttnn.to_device(int_host([0, 0]), device)

    def step():
        ttnn.experimental.paged_update_cache(cache, tokens, update_idxs_tensor=positions)

    trace_id, _ = capture(device, step)
    new_tokens = torch.randn(1, 2, 1, 32)
    ttnn.copy_host_to_device_tensor(
        ttnn.from_torch(new_tokens, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT), tokens
    )
    ttnn.copy_host_to_device_tensor(int_host([5, -1]), positions)  # -1: an idle slot, skipped
    ttnn.execute_trace(device, trace_id)
    values = ttnn.to_torch(ttnn.get_device_tensors(cache)[0]).float()
    expected = torch.zeros(2, 1, 64, 32)
    expected[0, :, 5] = new_tokens[0, 0].to(torch.bfloat16).float()
    assert torch.equal(values, expected)


def test_replay_charges_no_allocation_and_appends_the_captured_records(device):
    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    captured = [r.name for r in device.trace.records[-4:]]
    live = len(device.allocator._live)
    n = len(device.trace)
    ttnn.execute_trace(device, trace_id)
    assert len(device.allocator._live) == live
    names = [r.name for r in device.trace.records[n:]]
    assert names == ["ttnn.execute_trace", *captured]


@pytest.mark.parametrize(
    ("what", "error", "op"),
    [
        (
            lambda t, d: ttnn.to_torch(t, mesh_composer=ttnn.ConcatMeshToTensor(d, dim=0)),
            HostReadError,
            "ttnn.to_torch",
        ),
        (lambda t, d: ttnn.from_device(t), HostReadError, "ttnn.from_device"),
        (lambda t, d: t.cpu(), HostReadError, "ttnn.from_device"),
        (lambda t, d: t.to_list(), HostReadError, "ttnn.Tensor.to_list"),
        (lambda t, d: dev(torch.ones(1, 1, 32, 64), d), HostWriteError, "ttnn.from_torch"),
        (lambda t, d: ttnn.to_device(host(torch.ones(1, 1, 32, 64)), d), HostWriteError, "ttnn.to_device"),
        (
            lambda t, d: ttnn.zeros((1, 1, 32, 32), ttnn.bfloat16, ttnn.TILE_LAYOUT, d),
            HostWriteError,
            "ttnn.zeros",
        ),
        (
            lambda t, d: ttnn.copy_host_to_device_tensor(host(torch.ones(1, 1, 32, 64)), t),
            HostWriteError,
            "ttnn.copy_host_to_device_tensor",
        ),
    ],
)
def test_host_transfers_inside_a_capture_fail_naming_the_op(device, what, error, op):
    x = dev(torch.randn(1, 1, 32, 64), device)
    trace_id = ttnn.begin_trace_capture(device, cq_id=0)
    try:
        with pytest.raises(error, match=rf"^{op}: .*trace capture"):
            what(x, device)
    finally:
        ttnn.end_trace_capture(device, trace_id, cq_id=0)
    what(x, device)  # allowed again once the capture ended


def rule_of(excinfo) -> str:
    return excinfo.value.rule.id


def test_op_not_compiled_before_the_capture_is_refused(device):
    x = dev(torch.randn(1, 1, 32, 64), device)
    trace_id = ttnn.begin_trace_capture(device)
    try:
        with pytest.raises(RuleViolation, match="ttnn.exp") as excinfo:
            ttnn.exp(x)
    finally:
        ttnn.end_trace_capture(device, trace_id)
    assert rule_of(excinfo) == "trace.program_cached"


def test_nested_capture_is_refused(device):
    trace_id = ttnn.begin_trace_capture(device)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.begin_trace_capture(device)
    ttnn.end_trace_capture(device, trace_id)
    assert rule_of(excinfo) == "trace.capture_not_nested"


@pytest.mark.parametrize("wrong", ["trace_id", "cq_id", "no_capture"])
def test_end_must_match_the_capture_in_progress(device, wrong):
    if wrong == "no_capture":
        with pytest.raises(RuleViolation) as excinfo:
            ttnn.end_trace_capture(device, ttnn.MeshTraceId(12345))
        assert rule_of(excinfo) == "trace.end_matches_begin"
        return
    trace_id = ttnn.begin_trace_capture(device, cq_id=0)
    bad = (ttnn.MeshTraceId(int(trace_id) + 1000), 0) if wrong == "trace_id" else (trace_id, 1)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.end_trace_capture(device, bad[0], cq_id=bad[1])
    ttnn.end_trace_capture(device, trace_id, cq_id=0)
    assert rule_of(excinfo) == "trace.end_matches_begin"


def test_execute_needs_an_existing_trace_and_no_capture_in_progress(device):
    x, w, b = make_inputs(device)
    trace_id, _ = capture(device, program, x, w, b)
    other = ttnn.begin_trace_capture(device)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.execute_trace(device, trace_id)
    ttnn.end_trace_capture(device, other)
    assert rule_of(excinfo) == "trace.no_replay_during_capture"
    ttnn.release_trace(device, trace_id)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.execute_trace(device, trace_id)
    assert rule_of(excinfo) == "trace.trace_exists"
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.release_trace(device, trace_id)
    assert rule_of(excinfo) == "trace.release_exists"


def test_copy_host_to_device_tensor_checks_sides_and_spec(device):
    x = dev(torch.randn(1, 1, 32, 64), device)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.copy_host_to_device_tensor(x, x)
    assert rule_of(excinfo) == "copy_host_to_device_tensor.host_tensor_on_host"
    for bad in (host(torch.randn(1, 1, 32, 32)), host(torch.randn(1, 1, 32, 64), ttnn.float32)):
        with pytest.raises(RuleViolation) as excinfo:
            ttnn.copy_host_to_device_tensor(bad, x)
        assert rule_of(excinfo) == "copy_host_to_device_tensor.same_spec"


def test_copy_host_to_device_tensor_writes_in_place_and_rounds(device):
    x = dev(torch.zeros(1, 1, 32, 64), device)
    buffer = x.shards[0]
    values = torch.randn(1, 1, 32, 64)
    ttnn.copy_host_to_device_tensor(ttnn.from_torch(values, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT), x)
    assert x.shards[0] is buffer  # the same device buffer, as a trace input must be
    assert torch.equal(composed(x, device)[:1], values.to(torch.bfloat16))


def test_copy_device_to_host_tensor(device):
    values = torch.randn(1, 1, 32, 64)
    x = dev(values, device)
    out = host(torch.zeros(1, 1, 32, 64))
    ttnn.copy_device_to_host_tensor(x, out)
    assert torch.equal(
        ttnn.to_torch(ttnn.get_device_tensors(out)[0]) if out.num_shards > 1 else ttnn.to_torch(out),
        values.to(torch.bfloat16),
    )
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.copy_device_to_host_tensor(x, host(torch.zeros(1, 1, 32, 32)))
    assert rule_of(excinfo) == "copy_device_to_host_tensor.same_spec"


TESTED_RULES = {
    "trace.capture_not_nested",
    "trace.end_matches_begin",
    "trace.trace_exists",
    "trace.no_replay_during_capture",
    "trace.release_exists",
    "trace.program_cached",
    "copy_host_to_device_tensor.host_tensor_on_host",
    "copy_host_to_device_tensor.same_spec",
    "copy_device_to_host_tensor.same_spec",
}


def test_every_trace_rule_has_a_violating_case_here():
    from tttv2_hwconfig.emulator import _ops_trace
    from tttv2_hwconfig.emulator._rules import Rule

    declared = {v.id for v in vars(_ops_trace).values() if isinstance(v, Rule)}
    assert declared == TESTED_RULES


def test_intermediates_dropped_in_a_capture_free_their_buffers(device):
    """As on the device, a buffer the program drops inside a capture is free again (the trace keeps
    a shadow for replay, not the allocation); replay still reproduces the eager result."""
    x, w, b = make_inputs(device)
    l1 = ttnn.L1_MEMORY_CONFIG

    def step(x):
        y = ttnn.add(x, x, memory_config=l1)  # dropped when step returns
        return ttnn.mul(y, x, memory_config=l1)

    del_out = step(x)  # compile run
    del del_out
    before = list(device.allocator.l1_used)
    eager = step(x)
    eager_l1 = [u - v for u, v in zip(device.allocator.l1_used, before)]
    del eager
    trace_id, out = capture(device, step, x)
    captured_l1 = [u - v for u, v in zip(device.allocator.l1_used, before)]
    assert captured_l1 == eager_l1  # only the output is held, as after an eager step
    new_x = torch.randn(1, 1, 32, 64)
    ttnn.copy_host_to_device_tensor(host(new_x), x)
    ttnn.execute_trace(device, trace_id, cq_id=0, blocking=True)
    assert torch.equal(composed(out, device), composed(step(dev(new_x, device)), device))
    ttnn.release_trace(device, trace_id)


def _steps(device, trace_id):
    return device._traces[trace_id].steps


def test_replay_runs_captured_torch_programs_bit_equal_to_eager(device):
    from tttv2_hwconfig.emulator import _compiled

    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    assert all(isinstance(s.program, _compiled.Program) for s in _steps(device, trace_id))
    for _ in range(2):
        new_x = torch.randn(1, 1, 32, 64) * 4
        ttnn.copy_host_to_device_tensor(host(new_x), x)
        ttnn.execute_trace(device, trace_id)
        eager = program(dev(new_x, device), w, b)
        assert torch.equal(composed(out, device), composed(eager, device))


def test_generated_replay_code_equals_walking_the_call_list(device):
    """Each program's generated straight-line function gives the interpreter's bits, including ops
    with nested arguments (a list of shapes), several results and in-place calls (bfloat8_b output)."""
    from tttv2_hwconfig.emulator import _compiled

    def ops(x, w, b):
        y = ttnn.linear(x, w, bias=b)
        q, k, v = ttnn.experimental.nlp_create_qkv_heads_decode(
            ttnn.concat([y, y, y], dim=-1), num_heads=1, num_kv_heads=1
        )
        squared = ttnn.mul(y, y, dtype=ttnn.bfloat8_b)
        return ttnn.add(q, v), ttnn.rms_norm(squared, epsilon=1e-5), squared

    x, w, b = make_inputs(device)
    trace_id, outs = capture(device, ops, x, w, b)
    steps = [s for s in _steps(device, trace_id) if isinstance(s.program, _compiled.Program)]
    assert len(steps) >= 5
    for step in steps:
        results = []
        for replay in (step.program.interpret, step.program.run):
            new_x = torch.randn(1, 1, 32, 64, generator=torch.Generator().manual_seed(3))
            ttnn.copy_host_to_device_tensor(host(new_x), x)
            for t in step.out_tensors:  # a replay that forgot to write its outputs would show NaNs
                t._shards = [torch.full_like(shard, float("nan")) for shard in t.shards]
            assert replay(step.arg_tensors, step.out_tensors)
            results.append([t.shards[0].clone().view(torch.int32) for t in step.out_tensors])
        assert all(torch.equal(a, b) for a, b in zip(*results)), step.function.__qualname__
    ttnn.release_trace(device, trace_id)


def test_an_op_reading_device_values_through_python_is_re_run_at_replay(device):
    """embedding checks its indices on the host (int(ids.max())): no torch program, the op re-runs."""
    from tttv2_hwconfig.emulator import _compiled

    table = dev(torch.randn(64, 32), device)
    ids = ttnn.from_torch(torch.tensor([[1, 5, 7, 9]]), dtype=ttnn.uint32, device=device)

    def lookup(i, t):
        return ttnn.add(ttnn.embedding(i, t, layout=ttnn.TILE_LAYOUT), 1.0)

    trace_id, out = capture(device, lookup, ids, table)
    embedding_step, add_step = _steps(device, trace_id)
    assert "returned a Python value" in embedding_step.program
    assert isinstance(add_step.program, _compiled.Program)
    new_ids = torch.tensor([[3, 2, 60, 0]])
    ttnn.copy_host_to_device_tensor(ttnn.from_torch(new_ids, dtype=ttnn.uint32), ids)
    ttnn.execute_trace(device, trace_id)
    eager = lookup(ttnn.from_torch(new_ids, dtype=ttnn.uint32, device=device), table)
    assert torch.equal(composed(out, device), composed(eager, device))
    ttnn.copy_host_to_device_tensor(ttnn.from_torch(torch.tensor([[3, 2, 64, 0]]), dtype=ttnn.uint32), ids)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ttnn.execute_trace(device, trace_id)  # the host-side bounds check still runs at replay


def test_a_weight_written_in_place_after_the_capture_is_used_at_replay(device):
    """The fidelity slices of a weight are cached; a replay after the weight changed must not reuse them."""
    x, w, b = make_inputs(device)
    trace_id, out = capture(device, program, x, w, b)
    new_w = torch.randn(64, 64) / 8
    ttnn.copy_host_to_device_tensor(host(new_w), w)
    ttnn.execute_trace(device, trace_id)
    eager = program(x, dev(new_w, device), b)
    assert torch.equal(composed(out, device), composed(eager, device))


def test_paged_decode_replays_as_op_kernels_bit_equal_to_eager(device):
    """paged_update_cache and paged flash decode read positions and page tables (device values): they
    replay as their own kernels (no argument checks), at the positions and table of each replay."""
    from tttv2_hwconfig.emulator import _compiled

    users, heads, kv_heads, block, blocks, dim = 4, 4, 2, 32, 8, 32
    cache_k = dev(torch.randn(blocks, kv_heads, block, dim), device, dtype=ttnn.bfloat8_b)
    cache_v = dev(torch.randn(blocks, kv_heads, block, dim), device, dtype=ttnn.bfloat8_b)
    grid = ttnn.num_cores_to_corerangeset(users, device.compute_with_storage_grid_size(), row_wise=True)
    sharded = ttnn.create_sharded_memory_config(
        (32, dim), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
    )

    def int_host(values):
        return ttnn.from_torch(torch.tensor(values, dtype=torch.int32), dtype=ttnn.int32)

    def int_dev(values):
        return ttnn.to_device(int_host(values), device)

    new_k = ttnn.from_torch(
        torch.randn(1, users, kv_heads, dim), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device,
        memory_config=sharded,
    )  # fmt: skip
    q = dev(torch.randn(1, users, heads, dim), device)
    positions = int_dev([3, 40, -1, 7])
    table = int_dev([[0, 1], [2, 3], [4, 5], [6, 7]])

    def step(q, positions, table):
        ttnn.experimental.paged_update_cache(cache_k, new_k, update_idxs_tensor=positions, page_table=table)
        return ttnn.transformer.paged_scaled_dot_product_attention_decode(
            q, cache_k, cache_v, table, cur_pos_tensor=positions
        )

    trace_id, out = capture(device, step, q, positions, table)
    kernels = [
        s.function.__name__ for s in _steps(device, trace_id) if isinstance(s.program, _compiled.Kernel)
    ]
    assert kernels == ["paged_update_cache", "paged_scaled_dot_product_attention_decode"]
    for new_positions, new_table in (([10, -1, 63, 0], [[1, 0], [3, 2], [5, 4], [7, 6]]), ([-1] * 4, None)):
        new_q = torch.randn(1, users, heads, dim)
        ttnn.copy_host_to_device_tensor(host(new_q), q)
        ttnn.copy_host_to_device_tensor(int_host(new_positions), positions)
        if new_table is not None:
            ttnn.copy_host_to_device_tensor(int_host(new_table), table)
        before = ttnn.to_torch(ttnn.get_device_tensors(cache_k)[0]).clone()
        ttnn.execute_trace(device, trace_id)
        replayed_cache = ttnn.to_torch(ttnn.get_device_tensors(cache_k)[0]).clone()
        replayed = composed(out, device).clone()
        # The same step eagerly, from the cache as it was before the replay.
        ttnn.copy_host_to_device_tensor(host(before.float(), ttnn.bfloat8_b), cache_k)
        eager_table = int_dev(new_table or [[1, 0], [3, 2], [5, 4], [7, 6]])
        eager = step(dev(new_q, device), int_dev(new_positions), eager_table)
        assert torch.equal(replayed.view(torch.int16), composed(eager, device).view(torch.int16))
        assert torch.equal(replayed_cache, ttnn.to_torch(ttnn.get_device_tensors(cache_k)[0]))
        assert not torch.equal(replayed_cache, before) or new_positions == [-1] * 4
    ttnn.copy_host_to_device_tensor(int_host([64, 0, 0, 0]), positions)
    with pytest.raises(ValueError, match="outside the cache capacity"):
        ttnn.execute_trace(device, trace_id)  # the runtime precondition still runs in the kernel


def test_capture_drops_calls_that_return_their_input_but_keeps_in_place_ones():
    from tttv2_hwconfig.emulator import _compiled

    x, i = torch.randn(4), torch.arange(4, dtype=torch.int32)
    cases = [
        (torch.Tensor.to, (x, torch.float32), {}, True),
        (torch.Tensor.contiguous, (x,), {}, True),
        (torch.Tensor.add_, (x, 1.0), {}, False),
        (torch.Tensor.__iand__, (i, 3), {}, False),
        (torch.add, (x, 1.0), {"out": x}, False),
        (torch.Tensor.to, (x, torch.bfloat16), {}, False),
    ]
    for func, args, kwargs, dropped in cases:
        result = func(*args, **kwargs)
        assert _compiled._returns_its_input(func, args, kwargs, result) is dropped, func


def test_a_leaf_call_is_recorded_whole_and_replayed(device):
    """A bfloat8_b output of one row rounds on numpy, which a recorder cannot see: the rounding is one
    recorded call, and the replay still equals eager bit for bit on new inputs."""
    from tttv2_hwconfig.emulator import _compiled, _numerics

    def step(x, w):
        return ttnn.mul(ttnn.linear(x, w), x, dtype=ttnn.bfloat8_b)

    w = dev(torch.randn(64, 64) / 8, device)
    x = dev(torch.randn(1, 1, 1, 64), device)
    trace_id, out = capture(device, step, x, w)
    (mul,) = [s for s in _steps(device, trace_id) if s.function.__qualname__ == "mul"]
    assert isinstance(mul.program, _compiled.Program)
    assert [c[0] for c in mul.program.calls].count(_numerics._ROUND_SMALL_BLOCK_FLOAT) == 1
    for seed in range(3):
        new_x = torch.randn(1, 1, 1, 64, generator=torch.Generator().manual_seed(seed))
        ttnn.copy_host_to_device_tensor(host(new_x), x)
        ttnn.execute_trace(device, trace_id)
        eager = step(dev(new_x, device), w)
        assert torch.equal(composed(out, device).view(torch.int16), composed(eager, device).view(torch.int16))
    ttnn.release_trace(device, trace_id)
