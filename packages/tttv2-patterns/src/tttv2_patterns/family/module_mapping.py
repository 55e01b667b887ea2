"""Refuse HF modules no TTTv2 block implements, before any weight is read.

The family names the HF classes it maps (``hf_modules``: class name -> the TTTv2 spec it becomes);
the HF model is built on the ``meta`` device (structure only, no memory) and every module is checked.
Children of a mapped block (its projections, activation) are part of that block.
"""

from __future__ import annotations

from collections.abc import Mapping

from tttv2_patterns.family.errors import UnmappedModuleError
from tttv2_patterns.family.hf_config import HFConfig

# Modules every HF decoder has that hold others (or, like rotary embeddings, fold into a block's spec).
GENERIC_CONTAINERS = {"ModuleList": "CausalLMSpec.layers", "Embedding": "EmbeddingSpec"}
ROTARY_SUFFIX = "RotaryEmbedding"  # folded into every AttentionSpec.rope


def meta_hf_model(config: HFConfig):
    """The HF ``*ForCausalLM`` of ``config`` on the ``meta`` device (needs transformers)."""
    import torch  # noqa: PLC0415
    from transformers import AutoConfig, AutoModelForCausalLM  # noqa: PLC0415

    values = {k: v for k, v in config.raw.items() if k not in ("architectures", "dtype", "torch_dtype")}
    model_type = values.pop("model_type", None)
    try:
        hf_config = AutoConfig.for_model(model_type, **values)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(hf_config)
    except Exception as error:  # transformers' config validators raise their own classes (StrictDataclass*)
        # A field error names its field (transformers' name: rope_scaling is read as rope_parameters).
        key = getattr(error, "field", None) or "model_type"
        cause = " ".join(str(error).split())
        raise config.error(key, f"transformers refuses this config: {cause}") from error


def check_module_mapping(
    hf_model, hf_modules: Mapping[str, str], lm_head_path: str = "lm_head"
) -> dict[str, str]:
    """Every module of ``hf_model`` must map to a TTTv2 block or pattern.

    Returns:
        HF module path -> the TTTv2 spec it maps to.

    Raises:
        UnmappedModuleError: listing every module without a mapping, with its path and class.
    """
    mapped: dict[str, str] = {}
    problems: list[str] = []
    block_prefixes: list[str] = []
    for path, module in hf_model.named_modules():
        name = type(module).__name__
        if any(path.startswith(prefix) for prefix in block_prefixes):
            continue  # a projection/activation inside a mapped block
        if path == lm_head_path and name == "Linear":
            mapped[path] = "LMHeadSpec"
            continue
        target = hf_modules.get(name) or GENERIC_CONTAINERS.get(name)
        if target is None and name.endswith(ROTARY_SUFFIX):
            target = "AttentionSpec.rope"
        if target is None and path == "":
            target = "CausalLMSpec"
        if target is None:
            problems.append(f"{path} ({name})")
            continue
        mapped[path or "<root>"] = target
        if target.endswith("Spec") and target not in ("CausalLMSpec", "DecoderLayerSpec"):
            block_prefixes.append(f"{path}.")
    if problems:
        known = sorted({*hf_modules, *GENERIC_CONTAINERS, f"*{ROTARY_SUFFIX}", "Linear (lm_head)"})
        raise UnmappedModuleError(
            f"{type(hf_model).__name__}: {len(problems)} HF module(s) have no TTTv2 mapping: "
            + "; ".join(problems)
            + f". Mapped HF module types: {known}"
        )
    return mapped
