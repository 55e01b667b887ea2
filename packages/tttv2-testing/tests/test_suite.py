"""TestSuite end to end on tiny real models: verdicts, setup errors, references, perf, lifecycle."""

import pytest
import torch
from _tiny import DIM, TinyMLP, TinyModel, to_device
from transformers.models.llama.modeling_llama import LlamaRMSNorm
from tttv2_blocks.module import Module
from tttv2_hwconfig import op_scope, ttnn
from tttv2_hwconfig.perf_model import predict_trace
from tttv2_testing import SuiteSetupError, TestSuite

# Every TinyMLP/TinyLayer case below runs bfloat16 weights and activations against a float32
# torch reference; such a block sits at PCC ~0.9999, so 0.99 passes a correct module with a wide
# margin while a sign error (PCC ~ -1) or a wrong reference (PCC ~ 0) fails clearly.
PCC = 0.99


def sample_run(model, seq_len=32, decode_steps=2):
    def run():
        model.prefill_forward(torch.randn(seq_len, DIM))
        for _ in range(decode_steps):
            model.decode_forward(torch.randn(4, DIM))

    return run


def test_a_wrong_sign_fails_exactly_the_case_of_the_broken_module(device):
    model = TinyModel(device, wrong_sign_layer=1)
    run = sample_run(model)
    suite = TestSuite(model, verbose=False)
    suite.add_case(model.layers[0].mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC)
    suite.add_case(model.layers[1].mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC)
    suite.add_case(model.layers[1].norm.forward_decode).with_inputs(trace_fn=run).expect_pcc(PCC)
    with pytest.raises(AssertionError) as failure:
        suite.run()
    message = str(failure.value)
    assert "1 of 3 check(s) failed" in message
    assert "layers.1.mlp::forward_prefill: pcc -0.99" in message and ">= 0.99" in message
    verdicts = {r.case_id: r.passed for r in suite.report.results}
    assert verdicts == {
        "layers.0.mlp::forward_prefill": True,
        "layers.1.mlp::forward_prefill": False,
        "layers.1.norm::forward_decode": True,
    }


class NoReference(Module):
    def forward_prefill(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        return x


def test_missing_reference_and_inputs_are_all_reported_before_anything_runs(device):
    model = TinyModel(device)
    stray = NoReference(None, None, device)
    traced = []

    def run():
        traced.append(1)
        model.prefill_forward(torch.randn(32, DIM))

    suite = TestSuite(model, verbose=False)
    suite.add_case(stray.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC)  # no reference
    suite.add_case(model.layers[0].mlp.forward_prefill).expect_pcc(PCC)  # no inputs
    suite.add_case(model.layers[1].mlp.forward_prefill).with_inputs({"y": 1}).expect_pcc(PCC)  # bad names
    suite.add_case(model.norm.forward_prefill).with_inputs(trace_fn=run)  # no expectations
    with pytest.raises(SuiteSetupError) as failure:
        suite.run()
    problems = failure.value.problems
    assert len(problems) == 5, problems
    assert "NoReference::forward_prefill: no reference" in problems[0]
    assert problems[1].startswith("layers.0.mlp::forward_prefill: no inputs")
    assert "unknown parameter(s) ['y']; the method takes ['x']" in problems[2]
    assert "missing required parameter(s) ['x']" in problems[3]
    assert problems[4].startswith("norm::forward_prefill: no expectations")
    assert "nothing was run" in str(failure.value)
    assert traced == [] and getattr(stray, "calls", 0) == 0
    assert all(layer.mlp.calls == 0 for layer in model.layers)


def test_a_method_the_trace_never_calls_is_a_setup_error(device):
    model = TinyModel(device)
    suite = TestSuite(model, verbose=False)
    run = sample_run(model, decode_steps=0)
    suite.add_case(model.layers[0].mlp.forward_decode).with_inputs(trace_fn=run).expect_pcc(PCC)
    with pytest.raises(
        SuiteSetupError, match=r"layers.0.mlp::forward_decode: trace_fn .* never called this method"
    ):
        suite.run()


def test_trace_fn_runs_once_for_all_cases_and_max_calls_picks_captured_calls(device):
    model = TinyModel(device)
    runs = []
    inner = sample_run(model, decode_steps=3)

    def run():
        runs.append(1)
        inner()

    suite = TestSuite(model, verbose=False)
    for layer in model.layers:
        suite.add_case(layer.forward_decode).with_inputs(trace_fn=run, max_calls=3).expect_pcc(PCC)
        suite.add_case(layer.mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC)
    report = suite.run()
    assert runs == [1]
    ids = [r.case_id for r in report.results]
    assert ids[:3] == [f"layers.0::forward_decode[call {i}]" for i in range(3)]
    assert "layers.0.mlp::forward_prefill" in ids and report.passed


def test_explicit_inputs_with_explicit_reference(device):
    mlp = TinyMLP(device)
    x = torch.randn(1, 1, 32, DIM)
    up, down = mlp.up.clone(), mlp.down.clone()

    def golden(x):  # independent float32 math of the same MLP
        return torch.nn.functional.silu(x @ up.T) @ down.T

    def wrong(x):
        return torch.nn.functional.silu(x @ up.T) @ (-down.T)

    with TestSuite(verbose=False) as suite:
        (
            suite.add_test(mlp.forward_prefill)
            .with_inputs({"x": to_device(x, device)})
            # bfloat16 weights and activations: |error| stays well below 0.1 for unit-scale outputs
            .expect_correctness(ref=golden, atol=0.1, rtol=0.05)
        )
        suite.add_test(mlp.forward_prefill).with_inputs({"x": to_device(x, device)}).expect_pcc(
            PCC, ref=wrong
        )
        with pytest.raises(
            AssertionError, match=r"TinyMLP::forward_prefill#2: pcc -0.99\d+ does not meet >= 0.99"
        ):
            suite.run()
    assert [r.passed for r in suite.report.results] == [True, False]
    assert suite.report.results[0].metric == "allclose"


def test_registered_hf_reference_is_used_positionally(device):
    # An HF module as the registered reference: LlamaRMSNorm.forward(hidden_states) while the block's
    # method takes x, so the suite passes the input positionally.
    model = TinyModel(device)
    norm = model.layers[0].norm
    hf_norm = LlamaRMSNorm(DIM, eps=norm.spec.eps)
    with torch.no_grad():
        hf_norm.weight.copy_(norm._torch_weights["weight"])
    norm.register_reference(hf_norm)
    suite = TestSuite(model, verbose=False)
    suite.add_case(norm.forward_prefill).with_inputs(trace_fn=sample_run(model)).expect_pcc(0.999)
    # RMSNorm in bfloat16 against float32 HF: PCC ~0.99999, 0.999 leaves margin yet catches a wrong weight.
    assert suite.run().results[0].figure > 0.999
    with torch.no_grad():
        hf_norm.weight.mul_(torch.linspace(-1, 1, DIM))  # now the reference disagrees
    suite.add_case(norm.forward_prefill).with_inputs(trace_fn=sample_run(model)).expect_pcc(0.999)
    with pytest.raises(AssertionError, match="layers.0.norm::forward_prefill#2: pcc"):
        suite.run()


class ScaledByPosition(Module):
    """``x * scale``; its reference wants ``(hidden_states, factor)`` instead: adapted by the hook."""

    def forward_prefill(self, x, scale):
        with op_scope(self.module_path):
            return ttnn.multiply(x, scale)

    def reference_inputs(self, method_name, torch_args):
        assert method_name == "forward_prefill"
        return (), {"hidden_states": torch_args["x"], "factor": torch_args["scale"]}


def test_reference_inputs_hook_adapts_the_reference_call(device):
    module = ScaledByPosition(None, None, device)
    module.reference = {"forward_prefill": lambda hidden_states, factor: hidden_states * factor}
    x = to_device(torch.randn(1, 1, 32, DIM), device)
    suite = TestSuite(verbose=False)
    suite.add_case(module.forward_prefill).with_inputs({"x": x, "scale": 3.0}).expect_pcc(0.999)
    assert suite.run().passed
    module.reference = {"forward_prefill": lambda hidden_states, factor: hidden_states * -factor}
    suite.add_case(module.forward_prefill).with_inputs({"x": x, "scale": 3.0}).expect_pcc(0.999)
    with pytest.raises(AssertionError):
        suite.run()


class DeallocatesInput(TinyMLP):
    def forward_prefill(self, x):
        out = super().forward_prefill(x)
        ttnn.deallocate(x)  # TTTv1 modules free their inputs; the capture must not be freed with them
        return out


def test_cases_rerun_on_fresh_copies_when_the_method_frees_its_input(device):
    mlp = DeallocatesInput(device)
    x = torch.randn(1, 1, 32, DIM)
    suite = TestSuite(verbose=False)
    run = lambda: mlp.forward_prefill(to_device(x, device))  # noqa: E731
    suite.add_case(mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC).expect_perf(latency_ms=10.0)
    suite.add_case(mlp.forward_prefill).with_inputs(trace_fn=run).expect_pcc(PCC)
    assert suite.run().passed


def test_perf_is_the_predicted_latency_of_the_calls_ops(device):
    mlp = TinyMLP(device)
    mlp.module_path = "mlp"
    x = torch.randn(1, 1, 32, DIM)
    # Independent figure: run the method once by hand and predict its recorded ops.
    device.trace.clear()
    mlp.forward_prefill(to_device(x, device))
    predicted_ms = predict_trace(device.trace.select(scope_prefix="mlp"), device.spec).total_latency_ms

    suite = TestSuite(verbose=False)
    run = lambda: mlp.forward_prefill(to_device(x, device))  # noqa: E731
    suite.add_case(mlp.forward_prefill).with_inputs(trace_fn=run).expect_perf(latency_ms=2 * predicted_ms)
    (result,) = suite.run().results
    assert result.metric == "latency_ms (PREDICTED)" and "not measured" in result.detail
    assert result.figure == pytest.approx(predicted_ms, rel=1e-9)

    suite.add_case(mlp.forward_prefill).with_inputs(trace_fn=run).expect_perf(
        latency_ms=predicted_ms / 2, percentile=0.9
    )
    with pytest.raises(
        AssertionError, match=r"mlp::forward_prefill#2: latency_ms \(PREDICTED\) .* does not meet <= "
    ):
        suite.run()


def test_with_block_runs_pending_cases_on_exit_and_nothing_after_an_exception(device):
    model = TinyModel(device, wrong_sign_layer=0)
    with pytest.raises(AssertionError, match="layers.0.mlp::forward_prefill"):
        with TestSuite(model, verbose=False) as suite:
            suite.add_case(model.layers[0].mlp.forward_prefill).with_inputs(
                trace_fn=sample_run(model)
            ).expect_pcc(PCC)
    calls_before = model.layers[0].mlp.calls
    with pytest.raises(KeyError):
        with TestSuite(model, verbose=False) as suite:
            suite.add_case(model.layers[0].mlp.forward_prefill).with_inputs(
                trace_fn=sample_run(model)
            ).expect_pcc(PCC)
            raise KeyError("user code failed")
    assert model.layers[0].mlp.calls == calls_before
    assert suite.pending_cases  # still there, not run


def test_seed_is_set_on_enter():
    with TestSuite(seed=7, verbose=False):
        first = torch.randn(3)
    with TestSuite(seed=7, verbose=False):
        second = torch.randn(3)
    assert torch.equal(first, second)


def test_builder_rejects_bad_arguments_immediately(device):
    suite = TestSuite(verbose=False)
    builder = suite.add_case(TinyMLP(device).forward_prefill)
    with pytest.raises(
        ValueError, match=r"TinyMLP::forward_prefill.expect_pcc: pcc must be in \(0, 1\], got 1.5"
    ):
        builder.expect_pcc(1.5)
    with pytest.raises(ValueError, match="latency_ms must be a number > 0"):
        builder.expect_perf(latency_ms=0)
    with pytest.raises(ValueError, match="pass exactly one of an inputs dict or trace_fn="):
        builder.with_inputs()
    with pytest.raises(TypeError, match="ref must be callable"):
        builder.expect_correctness(ref="model.layers.0", atol=0.1, rtol=0.1)
    with pytest.raises(TypeError, match="expected a bound method"):
        suite.add_case(TinyMLP.forward_prefill)
