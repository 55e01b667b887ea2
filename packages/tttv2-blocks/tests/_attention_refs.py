"""HF attention references for the attention / KV-cache tests: tiny configs, random weights, no hub.

``HFAttention(family, ...)`` builds the HF module of a family (Llama, Qwen2, Qwen3, Mistral, Gemma 3),
our ``AttentionSpec`` for the same math, and runs the HF module over a whole sequence (with an
explicit causal / sliding-window mask) for the expected output.
"""

from __future__ import annotations

import torch
from tttv2_blocks import AttentionSpec, RopeScaling, RopeSpec
from tttv2_hwconfig import ttnn


def _family(name: str):
    if name == "llama":
        from transformers import LlamaConfig as Config
        from transformers.models.llama.modeling_llama import LlamaAttention as Module
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding as Rotary
    elif name == "qwen2":
        from transformers import Qwen2Config as Config
        from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention as Module
        from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding as Rotary
    elif name == "qwen3":
        from transformers import Qwen3Config as Config
        from transformers.models.qwen3.modeling_qwen3 import Qwen3Attention as Module
        from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding as Rotary
    elif name == "mistral":
        from transformers import MistralConfig as Config
        from transformers.models.mistral.modeling_mistral import MistralAttention as Module
        from transformers.models.mistral.modeling_mistral import MistralRotaryEmbedding as Rotary
    elif name == "phi":
        from transformers import PhiConfig as Config
        from transformers.models.phi.modeling_phi import PhiAttention as Module
        from transformers.models.phi.modeling_phi import PhiRotaryEmbedding as Rotary
    elif name == "gemma3":
        from transformers import Gemma3TextConfig as Config
        from transformers.models.gemma3.modeling_gemma3 import Gemma3Attention as Module
        from transformers.models.gemma3.modeling_gemma3 import Gemma3RotaryEmbedding as Rotary
    else:
        raise ValueError(name)
    return Config, Module, Rotary


class HFAttention:
    """An HF attention module with random weights and the matching ``AttentionSpec``."""

    def __init__(
        self,
        family: str = "llama",
        *,
        hidden: int = 128,
        heads: int = 4,
        kv_heads: int = 2,
        head_dim: int = 32,
        rope_parameters: dict | None = None,
        sliding_window: int | None = None,
        max_positions: int = 512,
    ):
        Config, Module, Rotary = _family(family)
        self.family = family
        rope_parameters = rope_parameters or {"rope_type": "default", "rope_theta": 10000.0}
        kwargs = dict(
            hidden_size=hidden,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            max_position_embeddings=max_positions,
            num_hidden_layers=1,
        )
        if family == "phi":  # Phi derives head_dim = hidden / heads
            del kwargs["head_dim"]
        if family == "gemma3":
            kwargs.update(
                sliding_window=sliding_window or 4096,
                layer_types=["sliding_attention" if sliding_window else "full_attention"],
            )
            kwargs["query_pre_attn_scalar"] = 24
        else:
            kwargs["rope_parameters"] = rope_parameters
        if family in ("mistral", "qwen3") and sliding_window:
            kwargs["sliding_window"] = sliding_window
            if family == "qwen3":
                kwargs.update(use_sliding_window=True, max_window_layers=0, layer_types=["sliding_attention"])
        self.config = Config(**kwargs)
        self.config._attn_implementation = "eager"
        self.module = Module(self.config, layer_idx=0).eval()
        self.rotary = Rotary(self.config)
        self.sliding_window = sliding_window
        with torch.no_grad():
            for name, parameter in self.module.named_parameters():
                if name.endswith("norm.weight"):
                    parameter.copy_(
                        1.0 + 0.3 * torch.randn_like(parameter)
                        if family != "gemma3"
                        else 0.3 * torch.randn_like(parameter)
                    )
                elif name.endswith("bias"):
                    parameter.copy_(0.5 * torch.randn_like(parameter))
        if family == "gemma3":
            rope = RopeSpec(
                head_dim=head_dim,
                theta=10000.0 if sliding_window else 1_000_000.0,
                max_position_embeddings=max_positions,
            )
        else:
            rope = RopeSpec(
                head_dim=head_dim,
                theta=float(rope_parameters["rope_theta"]),
                scaling=RopeScaling.from_hf(rope_parameters),
                partial_rotary_factor=float(rope_parameters.get("partial_rotary_factor", 1.0)),
                max_position_embeddings=max_positions,
            )
        self.spec = AttentionSpec(
            hidden_dim=hidden,
            num_heads=heads,
            num_kv_heads=kv_heads,
            head_dim=head_dim,
            qkv_bias=family in ("qwen2", "phi"),
            o_bias=family == "phi",
            qk_norm=family in ("qwen3", "gemma3"),
            qk_norm_eps=self.config.rms_norm_eps if family in ("qwen3", "gemma3") else 1e-6,
            qk_norm_weight_offset=1.0 if family == "gemma3" else 0.0,
            sliding_window=sliding_window,
            rope=rope,
            scale=self.config.query_pre_attn_scalar**-0.5 if family == "gemma3" else None,
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Block-local HF keys (Phi's ``dense`` is our ``o_proj``)."""
        return {
            k.replace("dense.", "o_proj."): v.detach().clone() for k, v in self.module.state_dict().items()
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The module's output for ``x (batch, seq, hidden)`` at positions 0..seq-1."""
        seq = x.shape[-2]
        positions = torch.arange(seq)[None]
        if self.family == "gemma3":
            cos, sin = self.rotary(
                x, positions, "sliding_attention" if self.sliding_window else "full_attention"
            )
        else:
            cos, sin = self.rotary(x, positions)
        i, j = torch.arange(seq)[:, None], torch.arange(seq)[None]
        visible = j <= i
        if self.sliding_window:
            visible &= j > i - self.sliding_window
        mask = torch.zeros(seq, seq).masked_fill(~visible, float("-inf"))[None, None]
        with torch.no_grad():
            out, _ = self.module(x, position_embeddings=(cos, sin), attention_mask=mask)
        return out


def to_device(x: torch.Tensor, device):
    """(rows, hidden) or (1, 1, rows, hidden) torch -> replicated TILE bfloat16 device tensor."""
    return ttnn.from_torch(
        x.reshape(1, 1, -1, x.shape[-1]), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device
    )


def from_device(t) -> torch.Tensor:
    """Device 0's copy of a replicated output as float32 ``(rows, hidden)``."""
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).float().reshape(-1, t.shape[-1])


def shuffled_page_table(users: int, blocks_per_user: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randperm(users * blocks_per_user, generator=generator)
        .reshape(users, blocks_per_user)
        .to(torch.int32)
    )
