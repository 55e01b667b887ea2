"""DecoderLayer: pre-norm attention and FFN with residual adds (optionally sandwich norms)."""

from __future__ import annotations

from collections.abc import Mapping

from tttv2_blocks import Module
from tttv2_hwconfig import close_device, op_scope, ttnn

from tttv2_patterns.building import build_block
from tttv2_patterns.checkpoint import Checkpoint
from tttv2_patterns.checkpoint_layout import CheckpointLayout
from tttv2_patterns.config_tree import module_path_to_config_path
from tttv2_patterns.devices import open_for_model
from tttv2_patterns.impl_config import DecoderLayerImplConfig
from tttv2_patterns.specs import DecoderLayerSpec


class DecoderLayer(Module):
    """One decoder layer built from blocks (``DecoderLayerSpec`` explains the math).

    Sub-modules are attributes named as in the spec: ``attention``, ``ffn``, ``attention_norm``,
    ``ffn_norm`` and, for sandwich-norm layers, ``post_attention_norm`` / ``post_ffn_norm``; each has
    ``module_path`` ``"<layer path>.<name>"`` (``"layers.3.attention"``).

    Args:
        spec: the layer's ``DecoderLayerSpec``.
        impl_config: a ``DecoderLayerImplConfig`` (default: ``DecoderLayer.ImplConfig(spec, device)``).
        device: catalog name or opened mesh device.
        module_path: where the layer sits in a model (``"layers.3"``); names ops and errors.
        kv_cache: passed to the attention block (see ``CausalLM``).

    Example:
        >>> layer = DecoderLayer(layer_spec, device="N150", module_path="layers.0")
        >>> layer.load_weights(hf_layer_state_dict)       # keys "self_attn.q_proj.weight", ...
        >>> y = layer.forward_prefill(x, user_id=0, page_table=page_table)   # (1, 1, seq, dim)
    """

    ImplConfig = staticmethod(DecoderLayerImplConfig.from_spec)

    def __init__(
        self,
        spec: DecoderLayerSpec,
        impl_config: DecoderLayerImplConfig | None = None,
        device="N150",
        *,
        module_path: str = "DecoderLayer",
    ):
        if not isinstance(spec, DecoderLayerSpec):
            raise TypeError(f"{module_path}: spec must be a DecoderLayerSpec, got {type(spec).__name__}")
        spec.validate(module_path)
        device, self._owns_device = open_for_model(device)
        if impl_config is None:
            impl_config = DecoderLayerImplConfig.from_spec(spec, device)
        super().__init__(spec, impl_config, device)
        self._path = module_path
        self._blocks: dict[str, Module] = {}
        for name, sub_spec in spec.submodules().items():
            block = build_block(sub_spec, getattr(impl_config, name, None), device, f"{module_path}.{name}")
            self._blocks[name] = block
        for name in DecoderLayerSpec.SUBMODULES:
            if name not in self._blocks and getattr(impl_config, name, None) is not None:
                raise ValueError(
                    f"{module_path_to_config_path(module_path)}.{name}: the spec has no {name} but the ImplConfig sets one"
                )
            setattr(self, name, self._blocks.get(name))

    def close(self) -> None:
        """Release the device if the layer opened it (a catalog name was passed)."""
        if self._owns_device:
            close_device(self.device)
            self._owns_device = False

    # --- module tree ------------------------------------------------------------------------------
    @property
    def module_path(self) -> str:
        return self._path if hasattr(self, "_path") else type(self).__name__

    @module_path.setter
    def module_path(self, value: str) -> None:
        self._path = value
        for name, block in getattr(self, "_blocks", {}).items():
            block.module_path = f"{value}.{name}"

    def replace_block(self, name: str, block: Module, impl_config: DecoderLayerImplConfig) -> None:
        """Swap in a rebuilt sub-module (``CausalLM.apply_impl_config``)."""
        self._blocks[name] = block
        setattr(self, name, block)
        self.impl_config = impl_config

    def blocks(self) -> dict[str, Module]:
        """Sub-module blocks by attribute name, in execution order."""
        return dict(self._blocks)

    # --- weights ----------------------------------------------------------------------------------
    def load_weights(self, state_dict: Mapping, layout: CheckpointLayout | None = None) -> None:
        """Load HF-layout layer weights (keys relative to the layer: ``self_attn.q_proj.weight``).

        ``layout`` names the sub-module prefixes (default: HF Llama naming).
        """
        layout = layout or CheckpointLayout()
        checkpoint = Checkpoint.coerce(state_dict)
        for name, block in self._blocks.items():
            block.load_weights(
                checkpoint.view(
                    getattr(layout, name),
                    ignored_suffixes=layout.ignored_suffixes,
                    rename=lambda key, name=name: layout.block_key(name, key),
                )
            )

    # --- forward ----------------------------------------------------------------------------------
    def _residual_add(self, residual, update):
        """``residual + update`` in the residual's memory config (the block output may be sharded)."""
        with op_scope(self.module_path):
            memory_config = residual.memory_config()
            if update.memory_config() != memory_config:
                update = ttnn.to_memory_config(update, memory_config)
            out = ttnn.add(residual, update, memory_config=memory_config)
            ttnn.deallocate(update)
            return out

    def forward_prefill(self, x, user_id: int, page_table=None):
        """One user's prefill: ``x`` ``(1, 1, seq_len, dim)`` -> ``(1, 1, seq_len, dim)``; fills its KV cache."""
        attention_out = self.attention.forward_prefill(
            self.attention_norm.forward_prefill(x), user_id, page_table=page_table
        )
        if self.post_attention_norm is not None:
            attention_out = self.post_attention_norm.forward_prefill(attention_out)
        h = self._residual_add(x, attention_out)
        ffn_out = self.ffn.forward_prefill(self.ffn_norm.forward_prefill(h))
        if self.post_ffn_norm is not None:
            ffn_out = self.post_ffn_norm.forward_prefill(ffn_out)
        return self._residual_add(h, ffn_out)

    def forward_decode(self, x, current_pos, page_table=None, *, rot_mats=None):
        """One decode step: ``x`` ``(1, 1, batch, dim)``, ``current_pos`` per user -> ``(1, 1, batch, dim)``.

        ``rot_mats``: optional ``(cos, sin)`` for these positions, shared by layers with the same rope.
        """
        attention_out = self.attention.forward_decode(
            self.attention_norm.forward_decode(x), current_pos, rot_mats=rot_mats, page_table=page_table
        )
        if self.post_attention_norm is not None:
            attention_out = self.post_attention_norm.forward_decode(attention_out)
        h = self._residual_add(x, attention_out)
        ffn_out = self.ffn.forward_decode(self.ffn_norm.forward_decode(h))
        if self.post_ffn_norm is not None:
            ffn_out = self.post_ffn_norm.forward_decode(ffn_out)
        return self._residual_add(h, ffn_out)

    # The attention reference keeps a per-user KV cache: the testing toolkit feeds it every traced call.
    reference_is_stateful = True

    def torch_reference(self) -> DecoderLayerReference:
        """Float32 torch layer from the blocks' references (see ``DecoderLayerReference``)."""
        return DecoderLayerReference({name: block.torch_reference() for name, block in self._blocks.items()})


class DecoderLayerReference:
    """The layer's math in float32 torch, composed from the blocks' references.

    ``reference(x, positions)`` is the stateless form for ``x (batch, seq, dim)``;
    ``forward_prefill`` / ``forward_decode`` mirror ``DecoderLayer``'s forwards on torch inputs
    ``(1, 1, rows, dim)`` and keep the attention reference's per-user cache, so the testing toolkit
    can replay a traced prefill + decode run against it.
    """

    def __init__(self, refs: Mapping):
        self._refs = dict(refs)

    def _layer(self, x, attend):
        refs, identity = self._refs, (lambda t: t)
        h = x + refs.get("post_attention_norm", identity)(attend(refs["attention_norm"](x)))
        return h + refs.get("post_ffn_norm", identity)(refs["ffn"](refs["ffn_norm"](h)))

    def __call__(self, x, *args, **kwargs):
        return self._layer(x, lambda t: self._refs["attention"](t, *args, **kwargs))

    def forward_prefill(self, x, user_id: int = 0, page_table=None):
        return self._layer(x, lambda t: self._refs["attention"].forward_prefill(t, user_id, page_table))

    def forward_decode(self, x, current_pos, page_table=None, *, rot_mats=None):
        return self._layer(
            x, lambda t: self._refs["attention"].forward_decode(t, current_pos, page_table=page_table)
        )
