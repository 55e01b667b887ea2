"""Model specifications of the patterns: math only, composed from block specs.

Unlike block specs these are mutable: a model owner patches a spec tree in place
(``model_spec.layers[3].attention = AttentionSpec(...)``) and then calls ``validate()``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tttv2_blocks.weights import WeightError

from tttv2_patterns.checkpoint import Checkpoint, CheckpointView
from tttv2_patterns.checkpoint_layout import CheckpointLayout
from tttv2_patterns.weight_shapes import expected_weight_shapes, model_dim


class ModelDimError(ValueError):
    """A block spec whose residual width disagrees with its neighbours', or that names none."""


# Per-tile decode: a decode batch is one 32-row tile of users (blocks' activation convention).
MAX_DECODE_BATCH = 32


def _validate_child(spec, path: str) -> None:
    """Run a block spec's ``validate()``, prefixing its error with the spec-tree path."""
    try:
        spec.validate()
    except (ValueError, TypeError) as error:
        raise type(error)(f"{path}: {error}") from error


@dataclass
class DecoderLayerSpec:
    """One decoder layer: pre-norm residual blocks, optionally with sandwich norms (Gemma 3).

    ::

        h   = x + post_attention_norm(attention(attention_norm(x)))
        out = h + post_ffn_norm(ffn(ffn_norm(h)))

    (a missing ``post_*`` norm is the identity: the Llama layer).

    Attributes:
        attention: ``AttentionSpec`` (sliding-window or global, any rope).
        ffn: ``FeedForwardSpec``, or a family's own FFN spec (MoE...) whose block is registered with
            ``tttv2_patterns.register_block``.
        attention_norm: norm before attention (HF ``input_layernorm``).
        ffn_norm: norm before the FFN (HF Llama ``post_attention_layernorm``; Gemma 3
            ``pre_feedforward_layernorm``).
        post_attention_norm / post_ffn_norm: optional sandwich norms applied to a block's output
            before the residual add (Gemma 3 ``post_attention_layernorm`` / ``post_feedforward_layernorm``).
    """

    attention: Any
    ffn: Any
    attention_norm: Any
    ffn_norm: Any
    post_attention_norm: Any | None = None
    post_ffn_norm: Any | None = None

    # Execution order; also the order of modules in a DecoderLayer and of its ImplConfig fields.
    SUBMODULES = ("attention_norm", "attention", "post_attention_norm", "ffn_norm", "ffn", "post_ffn_norm")

    def submodules(self) -> dict[str, Any]:
        """The present (non-None) sub-specs by attribute name, in execution order."""
        return {name: getattr(self, name) for name in self.SUBMODULES if getattr(self, name) is not None}

    def validate(self, path: str = "DecoderLayerSpec") -> None:
        """Validate every sub-spec and that they agree on the model dim; errors name the path."""
        for name in ("attention", "ffn", "attention_norm", "ffn_norm"):
            if getattr(self, name) is None:
                raise ValueError(f"{path}.{name}: required, got None")
        dims = {}
        for name, spec in self.submodules().items():
            _validate_child(spec, f"{path}.{name}")
            dim = model_dim(spec)
            if dim is None:
                raise ModelDimError(
                    f"{path}.{name}: {type(spec).__name__} declares no model width; a block spec must have an "
                    "int hidden_dim or dim (the residual width it reads and writes)"
                )
            dims[name] = dim
        if len(set(dims.values())) > 1:
            raise ModelDimError(f"{path}: sub-specs disagree on the model dim: {dims}")


@dataclass
class CausalLMSpec:
    """A decoder-only language model: embedding, decoder layers, final norm, LM head.

    Attributes:
        embedding: ``EmbeddingSpec``.
        layers: one ``DecoderLayerSpec`` per layer; layers may differ (sliding vs global attention,
            or a family's own FFN block, e.g. MoE, made buildable with ``register_block``).
        final_norm: norm after the last layer (HF ``model.norm``).
        lm_head: ``LMHeadSpec``.
        tie_word_embeddings: the LM head reuses the embedding matrix (no ``lm_head.weight`` in
            the checkpoint).
        max_batch_size: users served at once (decode batch; at most 32 = one tile of users).
        max_seq_len: longest sequence (prompt + generated) per user; sizes the paged KV cache.
        checkpoint: optional attached weights (see ``attach_checkpoint``); ``validate()`` then
            checks every tensor's shape against the spec.
        checkpoint_layout: checkpoint key prefixes of each module (default: HF Llama naming).
    """

    embedding: Any
    layers: list[DecoderLayerSpec]
    final_norm: Any
    lm_head: Any
    tie_word_embeddings: bool = False
    max_batch_size: int = 1
    max_seq_len: int = 2048
    checkpoint: Checkpoint | None = field(default=None, repr=False, compare=False)
    checkpoint_layout: CheckpointLayout = field(default_factory=CheckpointLayout)

    # --- structure -------------------------------------------------------------------------------------
    def module_specs(self) -> dict[str, Any]:
        """Every block spec by module path (``"layers.0.attention"``), in execution order."""
        specs = {"embedding": self.embedding}
        for index, layer in enumerate(self.layers):
            for name, spec in layer.submodules().items():
                specs[f"layers.{index}.{name}"] = spec
        specs["final_norm"] = self.final_norm
        specs["lm_head"] = self.lm_head
        return specs

    # --- checkpoint --------------------------------------------------------------------------------------
    def attach_checkpoint(self, source: str | os.PathLike | Mapping | Checkpoint) -> CausalLMSpec:
        """Attach weights: a safetensors file/directory (read lazily) or an in-memory state dict."""
        self.checkpoint = Checkpoint.coerce(source)
        return self

    def state_dict_for(self, module_path: str, checkpoint: Checkpoint | None = None) -> CheckpointView:
        """The block-local view of the checkpoint for one module (``q_proj.weight`` ...)."""
        checkpoint = checkpoint if checkpoint is not None else self.checkpoint
        if checkpoint is None:
            raise ValueError(
                "CausalLMSpec: no checkpoint attached; call attach_checkpoint(path_or_state_dict)"
            )
        layout = self.checkpoint_layout
        if module_path == "lm_head" and self.tie_word_embeddings:
            # Tied: the LM head reads the embedding matrix (HF drops lm_head.weight when saving).
            return CheckpointView(checkpoint, {"weight": f"{layout.embedding}.weight"}, layout.lm_head)
        name = layout.module_name(module_path)
        return checkpoint.view(
            layout.prefix(module_path),
            ignored_suffixes=layout.ignored_suffixes,
            rename=lambda key: layout.block_key(name, key),
        )

    # --- validation ----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Validate the spec tree, then (if a checkpoint is attached) every tensor's shape.

        Raises:
            ValueError: naming the spec path, or the checkpoint tensor with expected vs actual shape.
        """
        if not isinstance(self.layers, list | tuple) or not self.layers:
            raise ValueError(
                f"CausalLMSpec.layers: need a non-empty list of DecoderLayerSpec, got {self.layers!r}"
            )
        for name in ("embedding", "final_norm", "lm_head"):
            if getattr(self, name) is None:
                raise ValueError(f"CausalLMSpec.{name}: required, got None")
            _validate_child(getattr(self, name), name)
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, DecoderLayerSpec):
                raise TypeError(f"layers[{index}]: expected DecoderLayerSpec, got {type(layer).__name__}")
            layer.validate(f"layers[{index}]")
        dims = {path: model_dim(spec) for path, spec in self.module_specs().items()}
        dims = {path: dim for path, dim in dims.items() if dim is not None}
        if len(set(dims.values())) > 1:
            raise ModelDimError(f"CausalLMSpec: modules disagree on the model dim: {dims}")
        if not isinstance(self.max_batch_size, int) or not 1 <= self.max_batch_size <= MAX_DECODE_BATCH:
            raise ValueError(
                f"CausalLMSpec.max_batch_size must be an int in [1, {MAX_DECODE_BATCH}] (one tile of decode users), "
                f"got {self.max_batch_size!r}"
            )
        if not isinstance(self.max_seq_len, int) or self.max_seq_len < 1:
            raise ValueError(f"CausalLMSpec.max_seq_len must be a positive int, got {self.max_seq_len!r}")
        if self.checkpoint is not None:
            self.validate_checkpoint()

    def validate_checkpoint(self) -> None:
        """Check every module's tensors exist with the shapes its spec implies (reads headers only)."""
        for path, spec in self.module_specs().items():
            view = self.state_dict_for(path)
            expected = expected_weight_shapes(spec)
            if expected is None:
                continue
            for key, shape in expected.items():
                if key not in view:
                    raise WeightError(
                        f"{path}: checkpoint tensor {view.prefix}.{key} is missing (expected shape {list(shape)})"
                    )
                actual = view.shape(key)
                if tuple(actual) != tuple(shape):
                    raise WeightError(
                        f"{path}: checkpoint tensor {view.full_key(key)} has shape {list(actual)}, "
                        f"expected {list(shape)} from the spec"
                    )
            unexpected = sorted(set(view) - set(expected))
            if unexpected:
                raise WeightError(
                    f"{path}: checkpoint has tensors the spec does not use: "
                    f"{[view.full_key(k) for k in unexpected]}"
                )

    def replace(self, **changes) -> CausalLMSpec:
        """A shallow copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
