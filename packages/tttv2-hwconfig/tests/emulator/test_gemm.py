"""Which host GEMM the emulated matrix engine uses (``emulator/_gemm.py``)."""

import pytest
import torch
from tttv2_hwconfig.emulator import _gemm


@pytest.mark.parametrize("value, expected", [("0", False), ("1", True)])
def test_environment_forces_the_choice(monkeypatch, value, expected):
    monkeypatch.setenv(_gemm.ENV_VAR, value)
    assert _gemm._enabled() is expected


def test_a_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv(_gemm.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="TTTV2_EMULATOR_BF16_GEMM='yes': expected 0"):
        _gemm._enabled()


def test_the_accumulation_check_rejects_a_gemm_that_rounds_partial_sums():
    """The import-time check is what keeps a bfloat16 GEMM with bfloat16 accumulation out."""

    def bfloat16_partial_sums(a, b):  # sums of 16-term chunks rounded to bfloat16 as they go
        out = torch.zeros(a.shape[0], b.shape[1])
        for k in range(0, a.shape[1], 16):
            out = (out + a[:, k : k + 16].float() @ b[k : k + 16].float()).bfloat16().float()
        return out.bfloat16()

    def float32_then_rounded(a, b):
        return (a.float() @ b.float()).bfloat16()

    assert _gemm._gemm_is_float32_accumulation(float32_then_rounded)
    assert not _gemm._gemm_is_float32_accumulation(bfloat16_partial_sums)


def test_packed_weights_only_with_the_bfloat16_gemm(monkeypatch):
    monkeypatch.setattr(_gemm, "BFLOAT16_GEMM", False)
    assert _gemm._packed_enabled() is False


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_the_packed_weight_gemm_is_the_exact_product_rounded_once():
    """The reordered-weight GEMM a cached weight runs on passes the same check as the plain one."""
    if not _gemm._cpu_has_bfloat16_dot():
        pytest.skip("no bfloat16 dot-product instructions: oneDNN's bfloat16 path is not the one used")
    assert _gemm._gemm_is_float32_accumulation(lambda a, b: _gemm.packed_linear(a, _gemm.pack_weight(b.t())))


def test_small_uncached_products_stay_on_the_float32_gemm():
    """oneDNN's per-call cost makes tiny bfloat16 products slower than float32 ones (flash decode's)."""
    assert not _gemm.worth_bfloat16(3 * 64 * 41)
    assert _gemm.worth_bfloat16(_gemm.BFLOAT16_MIN_MACS)
