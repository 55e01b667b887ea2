"""The decode benchmark says which host GEMM the emulator used: its speed ratios depend on it."""

from tttv2_hwconfig.emulator import _gemm
from tttv2_patterns.family.benchmarks.decode import _gemm_in_use


def test_the_benchmark_names_the_gemm_the_emulator_runs(monkeypatch):
    monkeypatch.setattr(_gemm, "BFLOAT16_GEMM", True)
    assert _gemm_in_use().startswith("bfloat16")
    monkeypatch.setattr(_gemm, "BFLOAT16_GEMM", False)
    assert _gemm_in_use().startswith("float32") and _gemm.ENV_VAR in _gemm_in_use()
