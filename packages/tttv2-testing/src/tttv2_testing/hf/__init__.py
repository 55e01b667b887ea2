"""HF transformers as the reference of TTTv2 models (needs ``tttv2-testing[hf]``: transformers).

    from tttv2_testing.hf import HFReference, register_hf_references

    reference = HFReference(checkpoint_dir)                  # float32, eager attention, CPU
    register_hf_references(model, reference.model)           # every module's HF golden, for TestSuite

Nothing here imports tttv2-blocks or tttv2-patterns: the TTTv2 model is duck-typed (``layers``,
``spec.checkpoint_layout``, ``register_reference``), as everywhere in tttv2-testing.
"""

from tttv2_testing.hf.reference import HFReference, truncate_at_eos
from tttv2_testing.hf.references import (
    AttentionReferenceInputs,
    ReferenceKVStore,
    causal_mask,
    default_rotary_for_layer,
    default_sliding_window_for_layer,
    embedding_reference_inputs,
    hf_module_path,
    hidden_states_reference_inputs,
    register_hf_references,
)

__all__ = [
    "AttentionReferenceInputs",
    "HFReference",
    "ReferenceKVStore",
    "causal_mask",
    "default_rotary_for_layer",
    "default_sliding_window_for_layer",
    "embedding_reference_inputs",
    "hf_module_path",
    "hidden_states_reference_inputs",
    "register_hf_references",
    "truncate_at_eos",
]
