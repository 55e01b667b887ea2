"""The testing toolkit checks a CausalLM's decoder layers against their torch references.

The TestSuite captures the layer's real inputs from a prefill + decode run and replays them through
``DecoderLayerReference`` (stateful: its attention keeps each user's K/V). A corrupted layer must fail.
"""

import pytest
from tttv2_hwconfig import ttnn
from tttv2_patterns import CausalLM

tttv2_testing = pytest.importorskip("tttv2_testing")

PROMPTS = [[1, 5, 7, 9, 200, 13, 3, 8], [3, 4, 100]]
# 0.99: the block-level bar for composed bf16/bfp8 numerics; a wrong residual, cache slot or sign
# drops a layer's PCC far below it.
PCC = 0.99


def _run(model):
    out = model.prefill_forward(PROMPTS)
    for _ in range(3):
        out = model.decode_forward(out)
    return out


def _suite_over_layer(model):
    layer = model.layers[1]
    suite = tttv2_testing.TestSuite(model, seed=1234)
    suite.add_case(layer.forward_prefill).with_inputs(trace_fn=lambda: _run(model)).expect_pcc(PCC)
    suite.add_case(layer.forward_decode).with_inputs(trace_fn=lambda: _run(model)).expect_pcc(PCC)
    return suite


def test_suite_passes_on_decoder_layers(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    model = CausalLM(spec, CausalLM.ImplConfig(spec, device, strategy="accuracy"), device, progress=False)
    _suite_over_layer(model).run()


def test_suite_fails_on_a_corrupted_layer(llama_spec_with_checkpoint, device):
    spec = llama_spec_with_checkpoint
    model = CausalLM(spec, CausalLM.ImplConfig(spec, device, strategy="accuracy"), device, progress=False)
    down = model.layers[1].ffn.down_proj
    # Negate the down projection on device only: the torch reference keeps the checkpoint weights.
    down.weight = ttnn.neg(down.weight, memory_config=down.weight.memory_config())
    with pytest.raises(AssertionError, match=r"layers\.1::forward_prefill: pcc .* does not meet >= 0\.99"):
        _suite_over_layer(model).run()
