"""LM head: ``logits = x @ W.T`` with the vocabulary split across devices and into column chunks.

Layout (as TTTv1's ``lm_head.py``)::

    W.T  (H, vocab) --pad--> (H, padded_vocab)         padded_vocab = n_devices * per_device
         device d owns columns [d * per_device, (d + 1) * per_device)   (per_device: whole tiles)
         and splits them into chunks of <= max_columns_per_matmul columns, one matmul each
    x (replicated) -> chunk matmuls -> concat (per_device wide) -> all_gather -> slice to vocab

A vocabulary that is not a multiple of 32 (or of 32 * n_devices) is padded with zero columns and
the padding is sliced off the gathered logits. Chunks keep each matmul's output and circular
buffers inside L1 (TTTv1: "too many columns per device lead to L1 OOM"). On TG (8x4) the gather runs
in two steps, along ``cluster_axis=1`` then ``cluster_axis=0``, which yields row-major device order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks import program_configs
from tttv2_blocks.ccl import collective_kwargs
from tttv2_blocks.config import PRECISION, LinearImplConfig, check_strategy_and_mode
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.linear_op import LinearOp
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import StrictFields
from tttv2_blocks.weights import check_no_unexpected, take

TILE = 32
MAX_DECODE_BATCH = 32
# Default chunk: every core of the grid computing at most this many output tiles per matmul.
MAX_TILES_PER_CORE = 16
# Bytes of one 32x32 weight tile on device (block floats carry one exponent byte per 16 values).
WEIGHT_TILE_BYTES = {ttnn.bfloat16: 2048, ttnn.bfloat8_b: 1088, ttnn.bfloat4_b: 576, ttnn.float32: 4096}


@dataclass(frozen=True)
class LMHeadSpec:
    """``logits = hidden @ weight.T`` over the vocabulary.

    Attributes:
        hidden_dim: model width H.
        vocab_size: number of logits (any size; padded to tiles internally).
    """

    hidden_dim: int
    vocab_size: int

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("hidden_dim", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LMHeadSpec.{name} must be a positive int, got {value!r}")


@dataclass
class LMHeadImplConfig(StrictFields):
    """TTNN choices of the LM head.

    Attributes:
        lm_head: the projection (shared by every chunk; a program config set here must fit them all).
        max_columns_per_matmul: columns per chunk on one device (a multiple of 32); ``None`` derives
            the widest chunk (at most grid cores x 32 x ``MAX_TILES_PER_CORE``) whose decode matmul
            fits L1.
        decode_dram_sharded: weights DRAM-sharded, decode with DRAM-sharded matmuls (TTTv1).
        output_memory_config: memory config of the gathered logits; ``None`` = DRAM interleaved.
    """

    lm_head: LinearImplConfig
    max_columns_per_matmul: int | None = None
    decode_dram_sharded: bool = True
    output_memory_config: object | None = None


@get_default_impl_config.register
def _(spec: LMHeadSpec, device, mode: str = "both", strategy: str = "default") -> LMHeadImplConfig:
    """TTTv1's LM head: bfloat8_b weights, HiFi2; bfloat8_b logits for performance, bfloat16 for accuracy."""
    strategy = check_strategy_and_mode(strategy, mode, "get_default_impl_config(LMHeadSpec)")
    linear = LinearImplConfig.from_precision(PRECISION[strategy]["lm_head"])
    linear.activation_dtype = ttnn.bfloat8_b if strategy == "performance" else ttnn.bfloat16
    return LMHeadImplConfig(lm_head=linear, decode_dram_sharded=mode in ("decode", "both"))


def split_columns(total: int, chunk: int) -> list[int]:
    """Chunk sizes covering ``total`` columns, each <= ``chunk`` (the last one takes the rest)."""
    sizes = [chunk] * (total // chunk)
    if total % chunk:
        sizes.append(total % chunk)
    return sizes


class LMHead(Module):
    """The LM head on a (mesh) device; see the module docstring for the vocabulary layout.

    Weights (HF layout): ``weight (vocab_size, hidden_dim)`` (``lm_head.weight``, or the tied
    embedding matrix).
    """

    def __init__(self, spec: LMHeadSpec, impl_config: LMHeadImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        name = type(self).__name__
        if not isinstance(impl_config, LMHeadImplConfig):
            raise TypeError(
                f"{name}: impl_config must be a LMHeadImplConfig, got {type(impl_config).__name__}"
            )
        self.num_devices = device.get_num_devices()
        self.per_device = program_configs.tiles(-(-spec.vocab_size // self.num_devices)) * TILE
        self.padded_vocab = self.per_device * self.num_devices
        grid = device.compute_with_storage_grid_size()
        chunk = impl_config.max_columns_per_matmul or self._default_chunk(grid)
        if not isinstance(chunk, int) or chunk < TILE or chunk % TILE:
            raise ValueError(
                f"{name}.max_columns_per_matmul must be a positive multiple of 32, got {chunk!r}"
            )
        self.chunk_sizes = split_columns(self.per_device, chunk)
        self.chunks = [
            LinearOp(
                f"{name}.lm_head[chunk {i}]",
                impl_config.lm_head,
                device,
                spec.hidden_dim,
                size,
                impl_config.decode_dram_sharded,
            )
            for i, size in enumerate(self.chunk_sizes)
        ]
        self._torch_weight: torch.Tensor | None = None

    def _default_chunk(self, grid) -> int:
        """Widest chunk (fewest matmuls) whose every piece keeps the decode weight buffers in L1.

        Interleaved decode: grid cores x 32 x ``MAX_TILES_PER_CORE`` columns. DRAM-sharded decode
        derives its cores from the common divisors of K and N in tiles, so a wide chunk can leave few
        cores each holding ``2 * per_core_N * in0_block_w`` weight tiles (a 49152-word vocabulary on
        N150: ~11 MB per core); narrow the chunk until those buffers fit ``CB_BUDGET_BYTES``.
        """
        widest = min(grid.x * grid.y * TILE * MAX_TILES_PER_CORE, self.per_device)
        if not self.impl_config.decode_dram_sharded:
            return widest
        tile_bytes = WEIGHT_TILE_BYTES.get(self.impl_config.lm_head.dtype, WEIGHT_TILE_BYTES[ttnn.float32])

        def fits(columns: int) -> bool:
            config = program_configs.dram_sharded_config(TILE, self.spec.hidden_dim, columns, grid)
            return 2 * config.per_core_N * config.in0_block_w * tile_bytes <= program_configs.CB_BUDGET_BYTES

        for chunk in range(widest, 0, -TILE):
            if all(fits(n) for n in set(split_columns(self.per_device, chunk))):
                return chunk
        raise ValueError(
            f"{type(self).__name__}: no chunk width keeps the DRAM-sharded decode weights of hidden_dim "
            f"{self.spec.hidden_dim} within {program_configs.CB_BUDGET_BYTES} bytes of L1; set "
            "impl_config.decode_dram_sharded = False"
        )

    # --- weights -------------------------------------------------------------------------------------
    def load_weights(self, state_dict) -> None:
        """Load ``weight (vocab_size, hidden_dim)``; errors name the tensor and the shapes."""
        where = f"{self.module_path}.load_weights"
        check_no_unexpected(state_dict, ("weight",), where)
        weight = (
            take(state_dict, "weight", (self.spec.vocab_size, self.spec.hidden_dim), where)
            .detach()
            .to(torch.float32)
        )
        if not weight.is_meta and not torch.isfinite(weight).all():  # meta: shapes-only build
            raise ValueError(f"{where}: weight 'weight' contains NaN or Inf")
        self._torch_weight = weight
        columns = torch.nn.functional.pad(weight.T, (0, self.padded_vocab - self.spec.vocab_size))
        per_device = columns.reshape(self.spec.hidden_dim, self.num_devices, self.per_device)
        mapper = ttnn.ShardTensorToMesh(self.device, dim=1)
        start = 0
        for op, size in zip(self.chunks, self.chunk_sizes):
            # Chunk i of every device, side by side, so ShardTensorToMesh hands device d its own piece.
            piece = per_device[:, :, start : start + size].reshape(self.spec.hidden_dim, -1).contiguous()
            op.load(piece, mapper)
            start += size

    def torch_reference(self):
        """Plain float32 torch from the loaded weight: ``(..., H) -> (..., vocab_size)``."""
        if self._torch_weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before torch_reference()")
        weight = self._torch_weight
        return lambda x: torch.nn.functional.linear(x.to(torch.float32), weight)

    # --- forward -------------------------------------------------------------------------------------
    def _check(self, x, where: str, max_rows: int | None) -> None:
        if self.chunks[0].weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before {where}")
        h = self.spec.hidden_dim
        if not isinstance(x, ttnn.Tensor) or len(x.shape) != 4 or x.shape[:2] != (1, 1) or x.shape[-1] != h:
            shape = list(x.shape) if isinstance(x, ttnn.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.module_path}.{where}: input must be a (1, 1, rows, {h}) ttnn.Tensor, got {shape}"
            )
        if max_rows is not None and x.shape[-2] > max_rows:
            raise ValueError(
                f"{self.module_path}.{where}: decode takes at most {max_rows} users, got {x.shape[-2]} rows"
            )

    def _gather(self, pieces, rows: int):
        local = (
            pieces[0]
            if len(pieces) == 1
            else ttnn.concat(pieces, dim=-1, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        )
        if self.num_devices > 1:
            mesh_rows, mesh_cols = tuple(self.device.shape)
            dram = ttnn.DRAM_MEMORY_CONFIG
            if mesh_rows > 1 and mesh_cols > 1:
                local = ttnn.all_gather(local, 3, memory_config=dram, **collective_kwargs(self.device, 1))
                local = ttnn.all_gather(local, 3, memory_config=dram, **collective_kwargs(self.device, 0))
            else:
                local = ttnn.all_gather(local, 3, memory_config=dram, **collective_kwargs(self.device))
        memory_config = self.impl_config.output_memory_config or ttnn.DRAM_MEMORY_CONFIG
        if self.padded_vocab != self.spec.vocab_size:
            return ttnn.slice(
                local, [0, 0, 0, 0], [1, 1, rows, self.spec.vocab_size], memory_config=memory_config
            )
        return (
            local if local.memory_config() == memory_config else ttnn.to_memory_config(local, memory_config)
        )

    def forward_decode(self, x):
        """``(1, 1, batch, H)`` -> logits ``(1, 1, batch, vocab_size)`` replicated, batch <= 32 users."""
        self._check(x, "forward_decode", MAX_DECODE_BATCH)
        with op_scope(self.module_path):
            pieces, prepared = [], x
            for op in self.chunks:
                prepared = op.prepare_decode_input(prepared)  # a no-op while chunks share the input sharding
                out = op.decode(prepared)
                pieces.append(ttnn.to_memory_config(out, ttnn.DRAM_MEMORY_CONFIG))
            return self._gather(pieces, x.shape[-2])

    def forward_prefill(self, x):
        """``(1, 1, rows, H)`` -> logits ``(1, 1, rows, vocab_size)`` replicated (slice the last token first)."""
        self._check(x, "forward_prefill", None)
        with op_scope(self.module_path):
            pieces = [op.prefill(x) for op in self.chunks]
            return self._gather(pieces, x.shape[-2])
