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

    def prefix(self, module_path: str) -> str:
        """Checkpoint prefix of a module path: ``"layers.3.attention"`` -> ``"model.layers.3.self_attn"``."""
        match = _LAYER_PATH.match(module_path)
        if match and match.group(2) in _LAYER_MODULES:
            index, name = int(match.group(1)), match.group(2)
            return f"{self.layer.format(index=index)}.{getattr(self, name)}"
        if module_path in ("embedding", "final_norm", "lm_head"):
            return getattr(self, module_path)
        raise ValueError(f"CheckpointLayout.prefix: unknown module path {module_path!r}")
