"""Where each module's tensors live in an HF checkpoint (the key prefixes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LAYER_PATH = re.compile(r"^layers\.(\d+)\.(\w+)$")
_LAYER_MODULES = ("attention", "ffn", "attention_norm", "ffn_norm", "post_attention_norm", "post_ffn_norm")


@dataclass(frozen=True)
class CheckpointLayout:
    """Checkpoint key prefixes of each module of a ``CausalLM``; the default is HF Llama/Qwen/Mistral.

    A block reads its tensors with the prefix stripped (``q_proj.weight``), so mapping a family is
    naming these prefixes. Gemma 3 (sandwich norms) for instance::

        CheckpointLayout(ffn_norm="pre_feedforward_layernorm", post_attention_norm="post_attention_layernorm",
                         post_ffn_norm="post_feedforward_layernorm")

    Attributes:
        embedding / final_norm / lm_head: full prefixes of the model-level modules.
        layer: prefix of decoder layer ``index`` (a ``str.format`` template).
        attention / ffn / attention_norm / ffn_norm / post_attention_norm / post_ffn_norm: prefixes
            inside a layer.
        ignored_suffixes: checkpoint keys no block reads (old Llama checkpoints carry
            ``rotary_emb.inv_freq`` buffers).
        key_renames: ``(module, checkpoint name, block name)``: a dot-separated component of a
            block-local key the checkpoint spells differently, inside one layer module. Mixtral's
            experts, for instance: ``("ffn", "w1", "gate_proj")`` reads ``experts.0.w1.weight`` as the
            MoE block's ``experts.0.gate_proj.weight``.
        hf_module_names: ``(module, HF module name)``: a module whose HF transformers module is not
            named after its checkpoint prefix. transformers 5 loads Mixtral's ``block_sparse_moe.*``
            tensors into the module ``mlp``: ``("ffn", "mlp")``. Read by ``hf_module_path`` (the
            per-module HF references of ``tttv2_testing.hf.register_hf_references``).
    """

    embedding: str = "model.embed_tokens"
    layer: str = "model.layers.{index}"
    final_norm: str = "model.norm"
    lm_head: str = "lm_head"
    attention: str = "self_attn"
    ffn: str = "mlp"
    attention_norm: str = "input_layernorm"
    ffn_norm: str = "post_attention_layernorm"
    post_attention_norm: str = "post_attention_norm"
    post_ffn_norm: str = "post_ffn_norm"
    ignored_suffixes: tuple[str, ...] = ("rotary_emb.inv_freq",)
    key_renames: tuple[tuple[str, str, str], ...] = ()
    hf_module_names: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        for entry in self.hf_module_names:
            if len(entry) != 2 or entry[0] not in _LAYER_MODULES:
                raise ValueError(
                    f"CheckpointLayout.hf_module_names: each entry is (module, HF module name) with module one "
                    f"of {_LAYER_MODULES}, got {entry!r}"
                )

    def prefix(self, module_path: str) -> str:
        """Checkpoint prefix of a module path: ``"layers.3.attention"`` -> ``"model.layers.3.self_attn"``."""
        match = _LAYER_PATH.match(module_path)
        if match and match.group(2) in _LAYER_MODULES:
            index, name = int(match.group(1)), match.group(2)
            return f"{self.layer.format(index=index)}.{getattr(self, name)}"
        if module_path in ("embedding", "final_norm", "lm_head"):
            return getattr(self, module_path)
        raise ValueError(f"CheckpointLayout.prefix: unknown module path {module_path!r}")

    def hf_module_path(self, module_path: str) -> str:
        """Path of the HF transformers module of a module path: its checkpoint prefix unless
        ``hf_module_names`` names it (Mixtral: ``"layers.3.ffn"`` -> ``"model.layers.3.mlp"``)."""
        match = _LAYER_PATH.match(module_path)
        names = dict(self.hf_module_names)
        if match and match.group(2) in names:
            return f"{self.layer.format(index=int(match.group(1)))}.{names[match.group(2)]}"
        return self.prefix(module_path)

    def module_name(self, module_path: str) -> str:
        """``"layers.3.ffn"`` -> ``"ffn"``; model-level paths are their own name."""
        match = _LAYER_PATH.match(module_path)
        return match.group(2) if match else module_path

    def block_key(self, module_name: str, checkpoint_key: str) -> str:
        """A block-local checkpoint key spelled as the block reads it (``key_renames`` applied)."""
        renames = {old: new for module, old, new in self.key_renames if module == module_name}
        if not renames:
            return checkpoint_key
        return ".".join(renames.get(part, part) for part in checkpoint_key.split("."))

    def checkpoint_key(self, module_name: str, block_key: str) -> str:
        """The inverse of ``block_key``: how the checkpoint spells a block's key."""
        renames = {new: old for module, old, new in self.key_renames if module == module_name}
        if not renames:
            return block_key
        return ".".join(renames.get(part, part) for part in block_key.split("."))
