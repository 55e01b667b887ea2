"""Input capture: which calls are recorded, their shapes, and immunity to later in-place updates."""

import pytest
import torch
from _tiny import DIM, TinyMLP, TinyModel, to_device
from tttv2_blocks.module import Module
from tttv2_hwconfig import ttnn
from tttv2_testing import InputCapture, to_torch_tree


def test_capture_keeps_the_first_calls_with_their_shapes(device):
    model = TinyModel(device)
    decode = model.layers[0].mlp.forward_decode
    prefill = model.layers[1].mlp.forward_prefill
    with InputCapture([decode, prefill], max_calls=2) as capture:
        model.prefill_forward(torch.randn(32, DIM))
        for batch in (1, 2, 3):
            model.decode_forward(torch.randn(batch, DIM))
    assert capture.call_count(decode) == 3
    assert [tuple(c.arguments["x"].shape) for c in capture.calls(decode)] == [(1, 1, 1, DIM), (1, 1, 2, DIM)]
    assert [c.call_index for c in capture.calls(decode)] == [0, 1]
    assert capture.call_count(prefill) == 1
    assert tuple(capture.calls(prefill)[0].arguments["x"].shape) == (1, 1, 32, DIM)


def test_capture_unwraps_and_touches_only_the_given_instance(device):
    watched, other = TinyMLP(device), TinyMLP(device)
    x = to_device(torch.randn(1, 1, 32, DIM), device)
    with InputCapture([watched.forward_prefill]) as capture:
        assert "forward_prefill" in vars(watched) and "forward_prefill" not in vars(other)
        watched.forward_prefill(x)
        other.forward_prefill(x)
    assert "forward_prefill" not in vars(watched)  # the class method is visible again
    assert capture.call_count(watched.forward_prefill) == 1


def test_captured_values_equal_what_the_method_received(device):
    mlp = TinyMLP(device)
    x = torch.randn(1, 1, 32, DIM)
    with InputCapture([mlp.forward_prefill]) as capture:
        mlp.forward_prefill(to_device(x, device))
    captured = to_torch_tree(capture.calls(mlp.forward_prefill)[0].arguments)["x"]
    # The device holds x rounded to bfloat16: that is exactly what must come back.
    assert torch.equal(captured, x.to(torch.bfloat16).to(torch.float32))


class CacheWriter(Module):
    """Writes the decode token into a cache PASSED AS AN ARGUMENT (ttnn.update_cache writes in place)."""

    def forward_decode(self, x, cache, update_idx):
        return ttnn.update_cache(cache, x, update_idx)


def test_capture_is_immune_to_later_in_place_cache_writes(device):
    writer = CacheWriter(None, None, device)
    cache = ttnn.from_torch(
        torch.zeros(1, 1, 32, DIM), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )
    tokens = [torch.randn(1, 1, 1, DIM) for _ in range(3)]
    with InputCapture([writer.forward_decode], max_calls=3) as capture:
        for position, token in enumerate(tokens):
            writer.forward_decode(to_device(token, device), cache, update_idx=position)
    calls = capture.calls(writer.forward_decode)
    assert [c.arguments["update_idx"] for c in calls] == [0, 1, 2]
    for index, call in enumerate(calls):
        seen = to_torch_tree(call.arguments["cache"])[0, 0]
        # Before call i the cache held exactly tokens 0..i-1 (bfloat16) and zeros after them.
        expected = torch.zeros(32, DIM)
        for position in range(index):
            expected[position] = tokens[position][0, 0, 0].to(torch.bfloat16).to(torch.float32)
        assert torch.equal(seen, expected), f"call {index} capture was altered by a later write"


def test_positional_and_keyword_calls_bind_to_parameter_names(device):
    writer = CacheWriter(None, None, device)
    cache = ttnn.from_torch(
        torch.zeros(1, 1, 32, DIM), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )
    x = to_device(torch.randn(1, 1, 1, DIM), device)
    with InputCapture([writer.forward_decode], max_calls=2) as capture:
        writer.forward_decode(x, cache, 0)
        writer.forward_decode(x, update_idx=1, cache=cache)
    assert [list(c.arguments) for c in capture.calls(writer.forward_decode)] == [
        ["x", "cache", "update_idx"]
    ] * 2


def test_capture_rejects_functions_and_bad_limits(device):
    with pytest.raises(TypeError, match="expected a bound method of a module instance"):
        InputCapture([TinyMLP.forward_prefill])
    with pytest.raises(ValueError, match="max_calls must be >= 1, got 0"):
        InputCapture([TinyMLP(device).forward_prefill], max_calls=0)
