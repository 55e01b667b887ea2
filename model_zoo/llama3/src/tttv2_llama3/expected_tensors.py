"""Which tensors a Llama-family HF checkpoint must hold, with shapes computed from its config.

Names and layouts are those of ``transformers`` ``LlamaForCausalLM.state_dict()``: linear weights
are ``(out_features, in_features)``.
"""

from __future__ import annotations

import re

from tttv2_llama3.hf_config import LlamaCheckpointConfig

# Buffers some older exports saved; they carry no weights and are ignored when present.
IGNORED_TENSOR_PATTERNS = (re.compile(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq"),)


def expected_tensor_shapes(config: LlamaCheckpointConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the checkpoint must contain, name -> shape.

    ``lm_head.weight`` is left out when the embeddings are tied (see ``optional_tensor_shapes``).
    """
    dim, inter = config.hidden_size, config.intermediate_size
    q_out = config.num_attention_heads * config.head_dim
    kv_out = config.num_key_value_heads * config.head_dim
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (config.vocab_size, dim)}
    for i in range(config.num_hidden_layers):
        layer = f"model.layers.{i}"
        projections = {
            "self_attn.q_proj": (q_out, dim),
            "self_attn.k_proj": (kv_out, dim),
            "self_attn.v_proj": (kv_out, dim),
            "self_attn.o_proj": (dim, q_out),
        }
        mlp = {"mlp.gate_proj": (inter, dim), "mlp.up_proj": (inter, dim), "mlp.down_proj": (dim, inter)}
        for name, shape in projections.items():
            shapes[f"{layer}.{name}.weight"] = shape
            if config.attention_bias:
                shapes[f"{layer}.{name}.bias"] = (shape[0],)
        for name, shape in mlp.items():
            shapes[f"{layer}.{name}.weight"] = shape
            if config.mlp_bias:
                shapes[f"{layer}.{name}.bias"] = (shape[0],)
        shapes[f"{layer}.input_layernorm.weight"] = (dim,)
        shapes[f"{layer}.post_attention_layernorm.weight"] = (dim,)
    shapes["model.norm.weight"] = (dim,)
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, dim)
    return shapes


def optional_tensor_shapes(config: LlamaCheckpointConfig) -> dict[str, tuple[int, ...]]:
    """Tensors that may be present but are not required: a duplicate ``lm_head.weight`` when tied."""
    if config.tie_word_embeddings:
        return {"lm_head.weight": (config.vocab_size, config.hidden_size)}
    return {}


def is_ignored_tensor(name: str) -> bool:
    """True for buffers that some exports save but that hold no weights (e.g. ``rotary_emb.inv_freq``)."""
    return any(pattern.fullmatch(name) for pattern in IGNORED_TENSOR_PATTERNS)
