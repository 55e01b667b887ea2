"""Finding the installed model family of an HF ``config.json`` (for shapes-only predictions).

A family maps the config to a ``CausalLMSpec`` and derives its default ImplConfig. Families live in
``model_zoo`` and depend on patterns, so patterns finds them at run time: the Llama family
(``tttv2_llama3``) by its ``architectures``. (The family kit's registry replaces this lookup.)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.specs import CausalLMSpec

# HF architecture -> module of the installed family that maps it.
KNOWN_FAMILIES = {"LlamaForCausalLM": "tttv2_llama3"}
PROGRAMS = ("tttv2", "tttv1-precision")


@dataclass(frozen=True)
class FamilyBuilder:
    """Spec and default ImplConfig of one architecture, from its installed family."""

    architecture: str
    module: Any

    def configs(self) -> dict[str, Path]:
        """The HF ``config.json`` files the family ships (``<package>/configs/<model>/config.json``) by model."""
        root = Path(self.module.__file__).parent / "configs"
        return {path.parent.name: path for path in sorted(root.glob("*/config.json"))}

    def spec(self, config: dict, *, max_batch_size: int, max_seq_len: int) -> CausalLMSpec:
        hf_config = self.module.hf_config.LlamaCheckpointConfig.from_dict(config)
        return self.module.hf_mapping.llama_causal_lm_spec(
            hf_config, max_batch_size=max_batch_size, max_seq_len=max_seq_len
        )

    def impl_config(self, spec: CausalLMSpec, device, strategy: str, program: str = "tttv2"):
        """The family's defaults (``program="tttv2"``), or the blocks' strategy defaults, which follow
        TTTv1's published precisions, with only the family's fit-to-L1 fixes (``"tttv1-precision"``)."""
        factory = self.module.model_factory
        if program == "tttv2":
            return factory.ModelFactory.default_impl_config(spec, device, strategy)
        if program != "tttv1-precision":
            raise ValueError(f"program must be one of {PROGRAMS}, got {program!r}")
        impl = CausalLM.ImplConfig(spec, device, strategy=strategy)
        if strategy in ("default", "performance"):
            _tttv1_performance_mlp(impl)
        factory.fit_lm_head_chunks(impl, spec, device)
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


def installed_families() -> list[FamilyBuilder]:
    """Every family of ``KNOWN_FAMILIES`` that imports."""
    found = []
    for architecture in KNOWN_FAMILIES:
        try:
            found.append(family_for({"architectures": [architecture]}))
        except ValueError:
            continue
    return found


def family_for(config: dict) -> FamilyBuilder:
    """The installed family of ``config`` (by its ``architectures``).

    Raises:
        ValueError: no architecture in the config has an installed family; the message lists them.
    """
    architectures = config.get("architectures") or []
    for architecture in architectures:
        name = KNOWN_FAMILIES.get(architecture)
        if name is None:
            continue
        try:
            module = importlib.import_module(name)
            for part in ("hf_config", "hf_mapping", "model_factory"):
                importlib.import_module(f"{name}.{part}")
        except ImportError as error:
            raise ValueError(
                f"config architecture {architecture} needs the {name} family, which is not installed ({error})"
            ) from error
        return FamilyBuilder(architecture, module)
    raise ValueError(
        f"no installed TTTv2 family maps architectures {architectures}; known: {sorted(KNOWN_FAMILIES)}"
    )
