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
        impl = CausalLM.ImplConfig(spec, device, strategy=strategy)
        if strategy in ("default", "performance"):
            _tttv1_performance_mlp(impl)
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
