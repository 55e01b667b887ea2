"""Finding the installed model family of an HF ``config.json`` (for shapes-only predictions).

Families register with the family kit (``tttv2_patterns.family``, entry-point group
``tttv2.families``) and are looked up by the config's ``architectures``. A family module importable
but not installed as a distribution (a source checkout on ``PYTHONPATH``) is found through
``SOURCE_FAMILIES``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.decode_residual import tttv1_data_flow
from tttv2_patterns.family import ModelFactory
from tttv2_patterns.family.errors import UnknownFamilyError
from tttv2_patterns.family.impl_defaults import fit_lm_head_chunks
from tttv2_patterns.family.registry import families
from tttv2_patterns.specs import CausalLMSpec

# Family modules tried when the entry-point registry has no family for an architecture.
SOURCE_FAMILIES = ("tttv2_llama3.family",)
PROGRAMS = ("tttv2", "tttv1-precision")


@dataclass(frozen=True)
class FamilyBuilder:
    """Spec and default ImplConfig of one architecture, from its installed family (a ``ModelFactory``)."""

    architecture: str
    factory: type

    def configs(self) -> dict[str, Path]:
        """The HF ``config.json`` files the family ships (``<package>/configs/<model>/config.json``) by model."""
        package = importlib.import_module(self.factory.__module__.split(".")[0])
        root = Path(package.__file__).parent / "configs"
        return {path.parent.name: path for path in sorted(root.glob("*/config.json"))}

    def spec(self, config: dict, *, max_batch_size: int, max_seq_len: int) -> CausalLMSpec:
        return self.factory.spec_from_hf_config(
            config, max_batch_size=max_batch_size, max_seq_len=max_seq_len, check_modules=False
        )

    def impl_config(self, spec: CausalLMSpec, device, strategy: str, program: str = "tttv2"):
        """The family's defaults (``program="tttv2"``), or the blocks' strategy defaults, which follow
        TTTv1's published precisions, with only the kit's fit-to-L1 fix (``"tttv1-precision"``)."""
        if program == "tttv2":
            return self.factory.default_impl_config(spec, device, strategy)
        if program != "tttv1-precision":
            raise ValueError(f"program must be one of {PROGRAMS}, got {program!r}")
        # TTTv1 models/tt_transformers/tt/model_config.py ModelOptimizations.accuracy: 70B+ models keep
        # bfp4 FF1/FF3 (LoFi), bfp8 elsewhere; Llama 3 / Mistral 7B / Phi-3-mini run bfp8 attention and
        # KV cache with HIFI2_FP16 MLPs; only other models get the bf16 HiFi4 attention of the blocks'
        # accuracy strategy.
        if strategy == "accuracy" and _tttv1_large(spec):
            impl = CausalLM.ImplConfig(spec, device, strategy="performance")
        elif strategy == "accuracy" and self.architecture in TTTV1_BFP8_ACCURACY:
            impl = CausalLM.ImplConfig(spec, device, strategy="performance")
            _tttv1_bfp8_mlp(impl)
        else:
            impl = CausalLM.ImplConfig(spec, device, strategy=strategy)
        if strategy in ("default", "performance"):
            _tttv1_performance_mlp(impl)
        tttv1_data_flow(impl, spec, device)
        _tttv1_2d_mesh_all_reduce(impl, device)
        fit_lm_head_chunks(impl, spec, device)
        return impl


def _tttv1_performance_mlp(impl) -> None:
    """PERF.md's performance table: "bfp4 MLP" (gate, up and down; LoFi as its first precision_cfg row).

    The 8B's single bfp8 layer (layer 32) is not copied: one layer in 32.
    """
    from tttv2_blocks.config import compute_kernel_config  # noqa: PLC0415
    from tttv2_hwconfig import ttnn  # noqa: PLC0415

    for layer in impl.layers:
        layer.ffn.down_proj.dtype = ttnn.bfloat4_b
        layer.ffn.down_proj.compute_kernel_config = compute_kernel_config(
            ttnn.MathFidelity.LoFi, fp32_dest_acc_en=False
        )


def _tttv1_2d_mesh_all_reduce(impl, device) -> None:
    """On a 2D mesh (TG), every block all-reduces as TTTv1's ``ccl.py`` ``tt_all_reduce`` does there by
    default: ``all_gather_async`` of the full partial sums, then ``fast_reduce_nc`` (``"all_gather_reduce"``).

    N300 / T3K keep ``"all_reduce"``: TTTv1 reduce-scatters there (``reduce_scatter_minimal_async``),
    one collective as ``all_reduce`` is. Not copied: TTTv1's hidden-8192 (70B) exceptions on TG, where the
    attention output and FF2 take ``use_composite=True`` (reduce-scatter + all-gather) and FF1/FF3
    reduce-scatter; see ``docs/perf_model.md`` (tttv2-hwconfig) for what else differs on TG.
    """
    from tttv2_blocks.ccl import is_2d_mesh  # noqa: PLC0415

    if not is_2d_mesh(device):
        return
    for layer in impl.layers:
        layer.attention.collective = "all_gather_reduce"
        layer.ffn.collective = "all_gather_reduce"
        # TTTv1 runs no DRAM-sharded decode matmul on TG: attention.py forward_decode ("TODO: Fix this
        # once self.TG supports dram-sharded matmuls": wo by ttnn.matmul on a 4x8 core grid) and mlp.py
        # ("TODO: Fix this when TG supports DRAM sharded matmuls": FF1_3_TG_PROGCFG / FF2_TG_PROGCFG are
        # 1D matmul configs over interleaved weights, or the default config below hidden 4096).
        layer.attention.decode_dram_sharded = False
        layer.ffn.decode_dram_sharded = False
        shared = getattr(layer.ffn, "shared_expert", None)
        if shared is not None:
            shared.collective = "all_gather_reduce"


# TTTv1 names its 70B+ models (Llama-3.1-70B, Llama-3.2-90B, DeepSeek-R1-Distill-Llama-70B,
# Qwen2.5-72B); all of them, and no smaller one, have hidden size 8192.
TTTV1_LARGE_HIDDEN = 8192


# Architectures of the models TTTv1 runs with bfp8 attention in accuracy mode (by name there: Llama-3*,
# Mistral-7B*, Phi-3-mini*, phi-4); a Llama 2 would be mapped like a Llama 3.
TTTV1_BFP8_ACCURACY = ("LlamaForCausalLM", "MistralForCausalLM", "Phi3ForCausalLM")


def _tttv1_bfp8_mlp(impl) -> None:
    """TTTv1's accuracy MLP for those: FF1/FF3 and FF2 bfp8 at HIFI2_FP16 (HiFi2, no fp32 accumulation)."""
    from tttv2_blocks.config import compute_kernel_config  # noqa: PLC0415
    from tttv2_hwconfig import ttnn  # noqa: PLC0415

    for layer in impl.layers:
        for name in ("gate_proj", "up_proj", "down_proj"):
            linear = getattr(layer.ffn, name)
            linear.dtype = ttnn.bfloat8_b
            linear.compute_kernel_config = compute_kernel_config(
                ttnn.MathFidelity.HiFi2, fp32_dest_acc_en=False
            )


def _tttv1_large(spec: CausalLMSpec) -> bool:
    return spec.embedding.dim >= TTTV1_LARGE_HIDDEN


def _all_factories() -> list[type]:
    try:
        found = list(families().values())
    except UnknownFamilyError:
        found = []
    for name in SOURCE_FAMILIES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ModelFactory) and value is not ModelFactory:
                if value not in found:
                    found.append(value)
    return found


def installed_families() -> list[FamilyBuilder]:
    """One builder per installed family (its first architecture)."""
    return [FamilyBuilder(f.architectures[0], f) for f in _all_factories() if f.architectures]


def family_for(config: dict) -> FamilyBuilder:
    """The installed family of ``config`` (by its ``architectures``).

    Raises:
        ValueError: no installed family handles the config's architectures; the message lists them.
    """
    architectures = list(config.get("architectures") or [])
    factories = _all_factories()
    for factory in factories:
        if architectures and all(a in factory.architectures for a in architectures):
            return FamilyBuilder(architectures[0], factory)
    handled = {f.__name__: list(f.architectures) for f in factories}
    raise ValueError(f"no installed TTTv2 family handles architectures {architectures}; installed: {handled}")
