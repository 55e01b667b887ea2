"""Token embedding (optionally scaled, as Gemma's ``sqrt(dim)``) from uint32 token ids to hidden states.

    token ids (1, 1, 1, tokens) uint32 ROW_MAJOR --ttnn.embedding--> (1, 1, tokens, dim) TILE bfloat16

On a mesh the table is replicated by default (the output is then the replicated residual stream
every block expects). ``impl.shard_hidden = True`` splits the table's hidden columns over the
devices instead (1/n of the DRAM per device) and restores replication with an ``all_gather`` on
the last dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks.ccl import collective_kwargs
from tttv2_blocks.config import PRECISION, check_strategy_and_mode, check_weight_dtype
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import StrictFields
from tttv2_blocks.weights import check_no_unexpected, take

# ttnn.embedding takes BFLOAT16 tables only ("Weights tensor must have BFLOAT16 dtype",
# embedding_device_operation.cpp: validate_on_program_cache_miss); a float32 residual stream comes
# from output_dtype (the op typecasts its TILE output), not from a float32 table.
EMBEDDING_WEIGHT_DTYPES = (ttnn.bfloat16,)


@dataclass(frozen=True)
class EmbeddingSpec:
    """``y = table[token_id] * scale``.

    Attributes:
        vocab_size: rows of the table (need not be a multiple of 32).
        dim: hidden size.
        scale: output multiplier; Gemma uses ``sqrt(dim)`` (``EmbeddingSpec.gemma(vocab, dim)``).
    """

    vocab_size: int
    dim: int
    scale: float = 1.0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("vocab_size", "dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"EmbeddingSpec.{name} must be a positive int, got {value!r}")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"EmbeddingSpec.scale must be finite and non-zero, got {self.scale!r}")

    @classmethod
    def gemma(cls, vocab_size: int, dim: int) -> EmbeddingSpec:
        """Gemma's scaled embedding: ``scale = sqrt(dim)``."""
        return cls(vocab_size, dim, scale=math.sqrt(dim))


@dataclass
class EmbeddingImplConfig(StrictFields):
    """TTNN choices of the embedding.

    Attributes:
        weight_dtype: table dtype on device; BFLOAT16 only (the real op rejects any other table
            dtype). A non-unit ``spec.scale`` is folded into the table when it is loaded (one op less
            per forward).
        output_dtype: dtype of the hidden states produced.
        prefill_memory_config / decode_memory_config: output memory config (interleaved).
        shard_hidden: split the table's hidden dim over the mesh and all-gather the output.
        cluster_axis: with ``shard_hidden`` on a 2D mesh, the axis to split over (``None`` = all devices).
    """

    weight_dtype: object
    output_dtype: object = ttnn.bfloat16
    prefill_memory_config: object = ttnn.DRAM_MEMORY_CONFIG
    decode_memory_config: object = ttnn.L1_MEMORY_CONFIG
    shard_hidden: bool = False
    cluster_axis: int | None = None


@get_default_impl_config.register
def _(spec: EmbeddingSpec, device, mode: str = "both", strategy: str = "default") -> EmbeddingImplConfig:
    precision = PRECISION[check_strategy_and_mode(strategy, mode, "get_default_impl_config(EmbeddingSpec)")][
        "embedding"
    ]
    return EmbeddingImplConfig(weight_dtype=precision.weight_dtype)


def token_ids_to_device(token_ids: torch.Tensor, device):
    """Put integer token ids on ``device`` as the ``(1, 1, 1, tokens)`` uint32 ROW_MAJOR tensor ``Embedding`` takes.

    Args:
        token_ids: ``(tokens,)`` or ``(1, tokens)`` integer ids (one user's prompt, or one id per decode user).

    Returns:
        A ttnn tensor replicated on every device of the mesh.
    """
    if (
        not isinstance(token_ids, torch.Tensor)
        or token_ids.dtype.is_floating_point
        or token_ids.dtype == torch.bool
    ):
        raise TypeError(
            f"token_ids_to_device: token_ids must be an integer torch.Tensor, got {getattr(token_ids, 'dtype', type(token_ids))}"
        )
    if token_ids.dim() > 2 or (token_ids.dim() == 2 and token_ids.shape[0] != 1):
        raise ValueError(
            f"token_ids_to_device: token_ids must be (tokens,) or (1, tokens), got {list(token_ids.shape)}"
        )
    if token_ids.numel() == 0 or int(token_ids.min()) < 0:
        raise ValueError("token_ids_to_device: token_ids must be non-empty and non-negative")
    return ttnn.from_torch(
        token_ids.reshape(1, 1, 1, -1).to(torch.int64),
        dtype=ttnn.uint32,
        layout=ttnn.ROW_MAJOR_LAYOUT,
        device=device,
        memory_config=ttnn.DRAM_MEMORY_CONFIG,
        mesh_mapper=ttnn.ReplicateTensorToMesh(device),
    )


class Embedding(Module):
    """Token embedding lookup.

    Example:
        >>> emb = Embedding(spec, get_default_impl_config(spec, device), device)
        >>> emb.load_weights({"weight": table})                       # (vocab_size, dim)
        >>> x = emb.forward_prefill(token_ids_to_device(ids, device))   # (1, 1, tokens, dim)
    """

    def __init__(self, spec: EmbeddingSpec, impl_config: EmbeddingImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        self._validate_impl()
        self.weight = None
        self._torch_weight: torch.Tensor | None = None

    def _parts(self) -> int:
        impl = self.impl_config
        if not impl.shard_hidden:
            return 1
        return (
            self.device.get_num_devices()
            if impl.cluster_axis is None
            else tuple(self.device.shape)[impl.cluster_axis]
        )

    def _validate_impl(self) -> None:
        impl, name = self.impl_config, type(self).__name__
        check_weight_dtype(f"{name}.weight_dtype", impl.weight_dtype, EMBEDDING_WEIGHT_DTYPES)
        if impl.output_dtype not in (ttnn.bfloat16, ttnn.float32, ttnn.bfloat8_b):
            raise ValueError(
                f"{name}.output_dtype must be bfloat16, float32 or bfloat8_b, got {impl.output_dtype}"
            )
        for field_name in ("prefill_memory_config", "decode_memory_config"):
            config = getattr(impl, field_name)
            if not isinstance(config, ttnn.MemoryConfig) or config.is_sharded():
                raise ValueError(
                    f"{name}.{field_name}: must be interleaved (the block reshapes the lookup's output), got {config!r}"
                )
        if impl.cluster_axis not in (None, 0, 1):
            raise ValueError(f"{name}.cluster_axis must be None, 0 or 1, got {impl.cluster_axis!r}")
        if self.spec.dim % (32 * self._parts()):
            raise ValueError(
                f"{name}.shard_hidden: dim {self.spec.dim} must split into {self._parts()} slices of whole 32-wide tiles"
            )
        table_bytes = self.spec.vocab_size * self.spec.dim // self._parts() * 2  # bfloat16
        if table_bytes > self.device.spec.dram_bytes_per_chip:
            raise ValueError(
                f"{name}.weight_dtype: the table needs {table_bytes} bytes of DRAM per chip, more than "
                f"{self.device.spec.dram_bytes_per_chip}; set shard_hidden=True"
            )

    def _mapper(self):
        impl = self.impl_config
        if not impl.shard_hidden:
            return ttnn.ReplicateTensorToMesh(self.device)
        if impl.cluster_axis is None:
            return ttnn.ShardTensorToMesh(self.device, dim=1)
        dims = (1, None) if impl.cluster_axis == 0 else (None, 1)
        return ttnn.ShardTensor2dMesh(self.device, mesh_shape=tuple(self.device.shape), dims=dims)

    def load_weights(self, state_dict) -> None:
        """Load ``{"weight": (vocab_size, dim)}`` (HF ``embed_tokens.weight``)."""
        where = f"{self.module_path}.load_weights"
        check_no_unexpected(state_dict, ("weight",), where)
        table = (
            take(state_dict, "weight", (self.spec.vocab_size, self.spec.dim), where)
            .detach()
            .to(torch.float32)
        )
        if not table.is_meta and not torch.isfinite(table).all():  # meta: shapes-only build
            raise ValueError(f"{where}: weight 'weight' contains NaN or Inf")
        self._torch_weight = table
        self.weight = ttnn.from_torch(
            table * self.spec.scale,
            dtype=self.impl_config.weight_dtype,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
            mesh_mapper=self._mapper(),
        )

    def torch_reference(self):
        """Float32 ``torch.nn.functional.embedding(ids, weight) * scale`` from the loaded table."""
        if self._torch_weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights before torch_reference")
        table, scale = self._torch_weight, self.spec.scale

        def reference(token_ids: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.embedding(token_ids.to(torch.int64), table) * scale

        return reference

    def _check_ids(self, token_ids, where: str) -> int:
        if self.weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before {where}")
        if (
            not isinstance(token_ids, ttnn.Tensor)
            or len(token_ids.shape) != 4
            or tuple(token_ids.shape[:3]) != (1, 1, 1)
        ):
            shape = list(token_ids.shape) if isinstance(token_ids, ttnn.Tensor) else type(token_ids).__name__
            raise ValueError(
                f"{self.module_path}.{where}: token_ids must be a (1, 1, 1, tokens) ttnn.Tensor (see token_ids_to_device), got {shape}"
            )
        if token_ids.dtype != ttnn.uint32 or token_ids.layout != ttnn.ROW_MAJOR_LAYOUT:
            raise ValueError(
                f"{self.module_path}.{where}: token_ids must be uint32 ROW_MAJOR, got {token_ids.dtype.name} {token_ids.layout.name}"
            )
        return token_ids.shape[-1]

    def _lookup(self, token_ids, tokens: int, memory_config):
        x = ttnn.embedding(
            token_ids,
            self.weight,
            layout=ttnn.TILE_LAYOUT,
            dtype=self.impl_config.output_dtype,
            memory_config=memory_config,
        )
        x = ttnn.reshape(x, (1, 1, tokens, self.spec.dim // self._parts()))
        if self.impl_config.shard_hidden:
            x = ttnn.all_gather(
                x,
                3,
                memory_config=memory_config,
                **collective_kwargs(self.device, self.impl_config.cluster_axis),
            )
        return x

    def forward_prefill(self, token_ids):
        """One user's prompt ``(1, 1, 1, seq_len)`` uint32 -> hidden states ``(1, 1, seq_len, dim)``."""
        tokens = self._check_ids(token_ids, "forward_prefill")
        with op_scope(self.module_path):
            return self._lookup(token_ids, tokens, self.impl_config.prefill_memory_config)

    def forward_decode(self, token_ids):
        """One token per user ``(1, 1, 1, batch)`` uint32 (batch <= 32) -> ``(1, 1, batch, dim)``."""
        tokens = self._check_ids(token_ids, "forward_decode")
        if tokens > 32:
            raise ValueError(
                f"{self.module_path}.forward_decode: at most 32 users per decode step, got {tokens}"
            )
        with op_scope(self.module_path):
            return self._lookup(token_ids, tokens, self.impl_config.decode_memory_config)
