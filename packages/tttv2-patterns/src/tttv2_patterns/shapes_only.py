"""Shapes-only models: a ``CausalLM`` built from a spec alone, its weights ``meta`` tensors.

    with shapes_only():
        model = shapes_only_model(spec, device="T3K")
        model.prefill_forward([list(range(128))])          # validated, accounted, traced; no values

Every block converts and places its weights as usual (so their dtypes, layouts, shardings and DRAM
use are the real ones) from ``meta`` tensors of the checkpoint shapes, so nothing is read and no
weight memory is used. Run the model inside ``tttv2_hwconfig.shapes_only()`` (emulator only).
"""

from __future__ import annotations

import torch
from tttv2_hwconfig import is_shapes_only, ttnn_is_emulated

from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.checkpoint import Checkpoint
from tttv2_patterns.specs import CausalLMSpec
from tttv2_patterns.weight_shapes import expected_weight_shapes


def meta_checkpoint(spec: CausalLMSpec, dtype: torch.dtype = torch.bfloat16) -> Checkpoint:
    """A ``Checkpoint`` of ``meta`` tensors with every HF key and shape ``spec`` expects (no storage).

    Raises:
        ValueError: a block spec whose checkpoint tensors are unknown (no ``weight_shapes()``).
    """
    state_dict = {}
    layout = spec.checkpoint_layout
    for path, block_spec in spec.module_specs().items():
        if path == "lm_head" and spec.tie_word_embeddings:
            continue
        shapes = expected_weight_shapes(block_spec)
        if shapes is None:
            raise ValueError(
                f"{path}: {type(block_spec).__name__} does not say its checkpoint tensors "
                "(define weight_shapes()), so a shapes-only model cannot be built"
            )
        prefix, name = layout.prefix(path), layout.module_name(path)
        for key, shape in shapes.items():
            state_dict[f"{prefix}.{layout.checkpoint_key(name, key)}"] = torch.empty(
                shape, dtype=dtype, device="meta"
            )
    return Checkpoint.from_state_dict(state_dict)


def shapes_only_model(spec: CausalLMSpec, impl_config=None, device="N150") -> CausalLM:
    """Build ``CausalLM(spec, impl_config, device)`` with ``meta`` weights; call inside ``shapes_only()``.

    Raises:
        RuntimeError: outside ``shapes_only()`` or on real hardware (there, weights would be materialized).
    """
    if not ttnn_is_emulated or not is_shapes_only():
        raise RuntimeError(
            "shapes_only_model: call it inside tttv2_hwconfig.shapes_only() on the host emulator "
            f"(emulated={ttnn_is_emulated}, shapes_only={is_shapes_only()})"
        )
    model = CausalLM(spec.replace(checkpoint=None), impl_config, device, progress=False)
    model.load_weights(meta_checkpoint(spec))
    return model
