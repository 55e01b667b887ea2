"""ImplConfig trees of the patterns, mirroring their Spec trees attribute for attribute.

    impl = CausalLM.ImplConfig(model_spec, device="N150")      # defaults of every block
    impl.layers[0].attention.qkv_proj.dtype = ttnn.bfloat16    # per-layer override
    impl.strategy = "accuracy"                                 # re-derive defaults, keep overrides

Strategy and overrides: setting ``strategy`` re-derives every block's defaults for the new
strategy and then re-applies your overrides. An override is any leaf that holds a different
object than the default derived for the previous strategy (``overrides()`` lists them), so
setting the strategy first or last gives the same tree. Overrides are validated when the model
is built (errors name the path: ``layers[0].attention.qkv_proj.dtype: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tttv2_blocks import get_default_impl_config
from tttv2_blocks.config import STRATEGIES, check_strategy_and_mode
from tttv2_blocks.strict_fields import StrictFields, set_child_path, unknown_field_error

from tttv2_patterns import config_tree
from tttv2_patterns.decode_residual import per_norm_matmul_input_configs
from tttv2_patterns.devices import device_name, open_for_properties
from tttv2_patterns.specs import CausalLMSpec, DecoderLayerSpec


@dataclass
class DecoderLayerImplConfig(StrictFields):
    """TTNN choices of one decoder layer: one block ImplConfig per sub-module of its spec."""

    attention: Any
    ffn: Any
    attention_norm: Any
    ffn_norm: Any
    post_attention_norm: Any | None = None
    post_ffn_norm: Any | None = None

    @classmethod
    def from_spec(cls, spec: DecoderLayerSpec, device, mode: str = "both", strategy: str = "default"):
        """Every sub-module's ``get_default_impl_config`` for ``spec`` on ``device``."""
        device = open_for_properties(device)
        configs = {
            name: get_default_impl_config(sub_spec, device, mode=mode, strategy=strategy)
            for name, sub_spec in spec.submodules().items()
        }
        residual = residual_decode_memory_config(configs)  # the norms' own grid, or None (interleaved)
        per_norm = per_norm_matmul_input_configs(spec, configs, device) if residual is not None else None
        if per_norm is not None:
            # Each pre-norm writes what its decode matmul reads. One config for both: the residual
            # lives there too (no reshard at all); two: each norm reshards the residual into its own.
            for name, (memory_config, program_config) in zip(("attention_norm", "ffn_norm"), per_norm):
                configs[name].decode_memory_config, configs[name].decode_program_config = (
                    memory_config,
                    program_config,
                )
            if per_norm[0] == per_norm[1]:
                residual = per_norm[0][0]
        if residual is not None:
            # Keep the decode residual stream width-sharded as the norms read it (TTTv1's
            # DECODE_RESIDUAL_MEMCFG): attention and FFN write their outputs straight into it, the
            # residual adds run sharded, and the norms need no reshard of their input.
            for name in ("attention", "ffn"):
                if hasattr(configs[name], "output_decode_memory_config"):
                    configs[name].output_decode_memory_config = residual
        return cls(**configs)


def residual_decode_memory_config(configs) -> object | None:
    """The width-sharded decode residual config of a layer's default ImplConfigs, or None (interleaved).

    It is the attention and FFN ``output_decode_memory_config`` when both are one sharded config, else the
    pre-norms' sharded ``decode_memory_config`` when both pre-norms read the same one
    (distributed norms on a mesh run interleaved, as TTTv1's: then None).
    """
    getter = configs.get if isinstance(configs, dict) else lambda name: getattr(configs, name, None)
    # Once set (``from_spec``), the block outputs name it: the norms may each read their matmul's grid.
    outputs = [getattr(getter(name), "output_decode_memory_config", None) for name in ("attention", "ffn")]
    if outputs[0] is not None and outputs[0].is_sharded() and outputs[0] == outputs[1]:
        return outputs[0]
    norms = [getter(name) for name in ("attention_norm", "ffn_norm")]
    memory_configs = [getattr(norm, "decode_memory_config", None) for norm in norms]
    first = memory_configs[0]
    if first is None or not first.is_sharded() or any(m != first for m in memory_configs):
        return None
    return first


class CausalLMImplConfig:
    """The ImplConfig tree of a ``CausalLM``: ``embedding``, ``layers[i]``, ``final_norm``, ``lm_head``.

    Args:
        model_spec: the ``CausalLMSpec`` to derive defaults for.
        device: catalog name (properties come from an emulated device of that entry) or an opened device.
        strategy: "default" (== "performance"), "performance" or "accuracy".

    Attributes:
        embedding / layers / final_norm / lm_head: block ImplConfigs (``layers[i]`` is a
            ``DecoderLayerImplConfig``), in the same shape as the spec tree. The paged KV cache's
            block size and dtype are ``layers[i].attention.kv_cache`` (one block size for all layers).
        device_name: the catalog name the defaults were derived for.
    """

    TREE_FIELDS = ("embedding", "layers", "final_norm", "lm_head")
    _SETTABLE = (*TREE_FIELDS, "strategy", "device_name")

    def __setattr__(self, name: str, value) -> None:
        if not name.startswith("_"):
            if name not in self._SETTABLE:
                raise unknown_field_error(self, name, list(self._SETTABLE))
            if name == "layers" and isinstance(value, list):
                for index, layer in enumerate(value):
                    set_child_path(layer, f"layers[{index}]")
            elif name in self.TREE_FIELDS:
                set_child_path(value, name)
        object.__setattr__(self, name, value)

    def __init__(
        self, model_spec: CausalLMSpec, device="N150", *, strategy: str = "default", mode: str = "both"
    ):
        if not isinstance(model_spec, CausalLMSpec):
            raise TypeError(
                f"CausalLM.ImplConfig: model_spec must be a CausalLMSpec, got {type(model_spec).__name__}"
            )
        check_strategy_and_mode(strategy, mode, "CausalLM.ImplConfig")
        self._spec = model_spec
        self._device = open_for_properties(device)
        self._mode = mode
        self.device_name = device_name(self._device)
        self._derive(strategy)

    # --- strategy -------------------------------------------------------------------------------------
    @property
    def strategy(self) -> str:
        return self._strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        if value not in STRATEGIES:
            raise ValueError(
                f"CausalLM.ImplConfig.strategy: unknown strategy {value!r}; expected one of {STRATEGIES}"
            )
        kept = self.overrides()
        self._derive(value)
        for path, leaf in kept.items():
            config_tree.set_path(self, path, leaf)

    def _derive(self, strategy: str) -> None:
        spec, device, mode = self._spec, self._device, self._mode
        self.embedding = get_default_impl_config(spec.embedding, device, mode=mode, strategy=strategy)
        self.layers = [
            DecoderLayerImplConfig.from_spec(layer, device, mode, strategy) for layer in spec.layers
        ]
        self.final_norm = get_default_impl_config(spec.final_norm, device, mode=mode, strategy=strategy)
        self.lm_head = get_default_impl_config(spec.lm_head, device, mode=mode, strategy=strategy)
        self._strategy = strategy
        self._defaults = config_tree.leaves(self)

    # --- overrides ------------------------------------------------------------------------------------
    def overrides(self) -> dict[str, object]:
        """Leaves changed since the defaults were derived (path -> current value)."""
        current = config_tree.leaves(self)
        return {
            path: value
            for path, value in current.items()
            if path not in self._defaults or self._defaults[path] is not value
        }

    def module_config(self, module_path: str):
        """The block ImplConfig of a module path (``"layers.0.attention"``)."""
        return config_tree.get_path(self, config_tree.module_path_to_config_path(module_path))

    def __repr__(self) -> str:
        changed = ", ".join(sorted(self.overrides())) or "none"
        return (
            f"CausalLMImplConfig(device={self.device_name}, strategy={self._strategy!r}, "
            f"{len(self.layers)} layers, overrides: {changed})"
        )


@get_default_impl_config.register
def _(
    spec: DecoderLayerSpec, device, mode: str = "both", strategy: str = "default"
) -> DecoderLayerImplConfig:
    return DecoderLayerImplConfig.from_spec(spec, device, mode, strategy)


@get_default_impl_config.register
def _(spec: CausalLMSpec, device, mode: str = "both", strategy: str = "default") -> CausalLMImplConfig:
    return CausalLMImplConfig(spec, device, strategy=strategy, mode=mode)
