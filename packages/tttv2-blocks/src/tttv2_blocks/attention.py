"""Attention block: MHA / GQA / MQA with RoPE, QK-norm, QKV bias, sliding window and a paged KV cache.

Data flow on each device (``nq``/``nkv`` = this device's query / KV heads, ``d`` = padded head dim)::

    x (1, 1, S, H) replicated
      qkv_proj (fused, column-parallel)      -> (1, 1, S, (nq + 2 nkv) d)
      nlp_create_qkv_heads                   -> q (1, nq, S, d), k/v (1, nkv, S, d)
      [rms_norm q, k per head]               (QK-norm: Qwen3, Gemma 3)
      rotary_embedding_llama q, k            (Meta pair layout, see rope.py)
      paged_fill_cache k, v                  -> this layer's paged KV cache
      scaled_dot_product_attention (causal, sliding window)   [chunked: over the cache]
      nlp_concat_heads                       -> (1, 1, S, nq d)
      o_proj (row-parallel) + all_reduce     -> (1, 1, S, H) replicated (+ o bias)

Decode is the same with one token per user ``(1, 1, B, H)``, B <= 32: ``nlp_create_qkv_heads_decode``
(one user per core), ``paged_update_cache`` at each user's own position and
``paged_scaled_dot_product_attention_decode``.

Tensor parallelism: heads are split over the devices (``head_layout.HeadLayout``: dummy heads pad
counts that do not divide); N300/T3K use every device, TG splits heads over its 4 columns and
replicates over its 8 rows (all-reduce along ``cluster_axis=1``).

Head sizes that are not a multiple of 32 (e.g. 80) are zero-padded to one on device; the softmax
scale stays ``1/sqrt(head_dim)`` of the real size and QK-norm is corrected for the padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks.ccl import AllReduce, is_2d_mesh
from tttv2_blocks.config import (
    PRECISION,
    LinearImplConfig,
    check_strategy_and_mode,
    check_weight_dtype,
    compute_kernel_config,
)
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.head_layout import HeadLayout, head_tensor_parallel
from tttv2_blocks.kv_cache import KVCacheImplConfig, KVCacheSpec, PagedKVCache, check_kv_cache_impl
from tttv2_blocks.linear_op import LinearOp
from tttv2_blocks.module import Module
from tttv2_blocks.rope import Rope, RopeImplConfig, RopeSpec, hf_to_meta_permutation, padded_head_dim
from tttv2_blocks.strict_fields import StrictFields
from tttv2_blocks.weights import check_no_unexpected, take

TILE = 32
MAX_DECODE_BATCH = 32
MAX_DECODE_HEADS = 32  # nlp_create_qkv_heads_decode: at most 32 query heads per device
NORM_WEIGHT_DTYPES = (ttnn.bfloat16, ttnn.float32)


# --- spec --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionSpec:
    """The math of a self-attention block.

    Attributes:
        hidden_dim: model width H.
        num_heads: query heads.
        num_kv_heads: key/value heads (``None`` = num_heads, MHA; 1 = MQA; else GQA).
        head_dim: per-head size (``None`` = hidden_dim // num_heads).
        qkv_bias: q/k/v projections have biases (Qwen2).
        o_bias: the output projection has a bias.
        qk_norm: per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3).
        qk_norm_eps: its epsilon.
        qk_norm_weight_offset: added to the q/k norm weights (Gemma 3 stores ``w`` and uses ``1 + w``).
        sliding_window: attend only to the last this-many positions (Mistral, Gemma 3 local layers).
        rope: rotary embedding (``None``: no positional embedding in this layer).
        scale: softmax scale (``None`` = 1/sqrt(head_dim); Gemma 3 uses query_pre_attn_scalar**-0.5).
    """

    hidden_dim: int
    num_heads: int
    num_kv_heads: int | None = None
    head_dim: int | None = None
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False
    qk_norm_eps: float = 1e-6
    qk_norm_weight_offset: float = 0.0
    sliding_window: int | None = None
    rope: RopeSpec | None = None
    scale: float | None = None

    def __post_init__(self):
        if self.num_kv_heads is None:
            object.__setattr__(self, "num_kv_heads", self.num_heads)
        if (
            self.head_dim is None
            and isinstance(self.hidden_dim, int)
            and isinstance(self.num_heads, int)
            and self.num_heads > 0
        ):
            object.__setattr__(self, "head_dim", self.hidden_dim // self.num_heads)
        self.validate()

    def validate(self) -> None:
        for name in ("hidden_dim", "num_heads", "num_kv_heads", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"AttentionSpec.{name} must be a positive int, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"AttentionSpec.num_kv_heads: num_heads {self.num_heads} must be a multiple of num_kv_heads {self.num_kv_heads}"
            )
        if padded_head_dim(self.head_dim) > 256:
            raise ValueError(
                f"AttentionSpec.head_dim {self.head_dim} is too large: TTNN attention supports up to 256"
            )
        for name in ("qkv_bias", "o_bias", "qk_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"AttentionSpec.{name} must be a bool, got {getattr(self, name)!r}")
        if not self.qk_norm_eps > 0:
            raise ValueError(f"AttentionSpec.qk_norm_eps must be positive, got {self.qk_norm_eps!r}")
        if self.sliding_window is not None and (
            not isinstance(self.sliding_window, int) or self.sliding_window < 1
        ):
            raise ValueError(
                f"AttentionSpec.sliding_window must be a positive int or None, got {self.sliding_window!r}"
            )
        if self.rope is not None:
            if not isinstance(self.rope, RopeSpec):
                raise ValueError(
                    f"AttentionSpec.rope must be a RopeSpec or None, got {type(self.rope).__name__}"
                )
            if self.rope.head_dim != self.head_dim:
                raise ValueError(
                    f"AttentionSpec.rope.head_dim {self.rope.head_dim} must equal head_dim {self.head_dim}"
                )
        if self.scale is not None and not self.scale > 0:
            raise ValueError(f"AttentionSpec.scale must be positive or None, got {self.scale!r}")

    @property
    def softmax_scale(self) -> float:
        return self.scale if self.scale is not None else self.head_dim**-0.5

    @property
    def group_size(self) -> int:
        return self.num_heads // self.num_kv_heads


# --- impl config -------------------------------------------------------------------------------------------


@dataclass
class SDPAImplConfig(StrictFields):
    """TTNN choices of the attention core (flash attention).

    Attributes:
        prefill_compute_kernel_config / decode_compute_kernel_config: math fidelity and accumulation.
        prefill_program_config: ``ttnn.SDPAProgramConfig``; ``None`` derives TTTv1's (chunks of 64
            positions, 256 from 2048 on) on the full grid.
        decode_program_config: ``None`` derives TTTv1's (256-position K chunks, up to an 8x8 grid).
        prefill_chunk_size: longer prefills (and any prefill continuing after ``start_pos > 0``)
            run in chunks of this many positions through the paged cache
            (``chunked_scaled_dot_product_attention``); a multiple of the cache block size.
    """

    prefill_compute_kernel_config: object
    decode_compute_kernel_config: object
    prefill_program_config: object | None = None
    decode_program_config: object | None = None
    prefill_chunk_size: int = 4096


@dataclass
class QKNormImplConfig(StrictFields):
    """TTNN choices of the per-head q/k RMSNorm (weights stored ROW_MAJOR ``(1, 1, d/32, 32)``)."""

    weight_dtype: object = field(default_factory=lambda: ttnn.bfloat16)
    compute_kernel_config: object | None = None


@dataclass
class AttentionImplConfig(StrictFields):
    """TTNN choices of an attention block, one field per sub-op.

    Attributes:
        qkv_proj: the fused q/k/v projection (column-parallel).
        o_proj: the output projection (row-parallel).
        sdpa: flash attention (``SDPAImplConfig``).
        kv_cache: KV-cache dtype and paging (``KVCacheImplConfig``).
        rope: rotary embedding tables/kernels (``RopeImplConfig``).
        qk_norm: q/k RMSNorm (``QKNormImplConfig``), ``None`` when the spec has no QK-norm.
        decode_dram_sharded: decode projections read DRAM-sharded weights (TTTv1's decode matmuls).
        output_decode_memory_config / output_prefill_memory_config: of the block output
            (``None``: L1 interleaved / DRAM interleaved).
        collective: how the row-parallel partial sums are all-reduced: ``"all_reduce"`` (one
            ``ttnn.all_reduce`` per mesh axis) or ``"all_gather_reduce"`` (TTTv1's 2D-mesh
            ``all_gather_async`` + ``fast_reduce_nc``); see ``tttv2_blocks.ccl``.
    """

    qkv_proj: LinearImplConfig
    o_proj: LinearImplConfig
    sdpa: SDPAImplConfig
    kv_cache: KVCacheImplConfig = field(default_factory=KVCacheImplConfig)
    rope: RopeImplConfig = field(default_factory=RopeImplConfig)
    qk_norm: QKNormImplConfig | None = None
    decode_dram_sharded: bool = True
    output_decode_memory_config: object | None = None
    output_prefill_memory_config: object | None = None
    collective: str = "all_reduce"


@get_default_impl_config.register
def _(spec: AttentionSpec, device, mode: str = "both", strategy: str = "default") -> AttentionImplConfig:
    """TTTv1's attention precision (``PRECISION[strategy]["attention_*"]``); configs derived at call time."""
    strategy = check_strategy_and_mode(strategy, mode, "get_default_impl_config(AttentionSpec)")
    precision = PRECISION[strategy]

    def kernel(key):
        p = precision[key]
        return compute_kernel_config(p.math_fidelity, fp32_dest_acc_en=p.fp32_dest_acc_en)

    return AttentionImplConfig(
        qkv_proj=LinearImplConfig.from_precision(precision["attention_qkv"]),
        o_proj=LinearImplConfig.from_precision(precision["attention_out"]),
        sdpa=SDPAImplConfig(
            prefill_compute_kernel_config=kernel("attention_sdpa_prefill"),
            decode_compute_kernel_config=kernel("attention_sdpa"),
        ),
        kv_cache=KVCacheImplConfig(dtype=precision["attention_sdpa"].weight_dtype),
        rope=RopeImplConfig(),
        qk_norm=QKNormImplConfig(compute_kernel_config=kernel("norm")) if spec.qk_norm else None,
        decode_dram_sharded=mode in ("decode", "both"),
    )


# --- block -------------------------------------------------------------------------------------------------


class Attention(Module):
    """Self-attention on a (mesh) device with a paged KV cache. See the module docstring.

    Weights (HF layout, block-local keys): ``q_proj.weight (nq*d, H)``, ``k_proj.weight`` and
    ``v_proj.weight (nkv*d, H)``, ``o_proj.weight (H, nq*d)``; ``{q,k,v}_proj.bias`` with qkv_bias,
    ``o_proj.bias`` with o_bias, ``q_norm.weight``/``k_norm.weight (d,)`` with qk_norm.

    Example:
        >>> attention = Attention(spec, get_default_impl_config(spec, device), device)
        >>> attention.load_weights(state_dict)
        >>> attention.allocate_kv_cache(KVCacheSpec(max_batch=4, max_seq_len=256))
        >>> y = attention.forward_prefill(x, user_id=0)                       # (1, 1, seq, H)
        >>> y = attention.forward_decode(x1, current_pos=torch.tensor([seq]))  # (1, 1, 1, H)
    """

    # Testing tools (tttv2_testing): the reference keeps per-user K/V like the device cache, so it must
    # see every forward call in order; torch_reference() mirrors forward_prefill / forward_decode.
    reference_is_stateful = True

    def __init__(self, spec: AttentionSpec, impl_config: AttentionImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        name = type(self).__name__
        if not isinstance(impl_config, AttentionImplConfig):
            raise TypeError(
                f"{name}: impl_config must be an AttentionImplConfig, got {type(impl_config).__name__}"
            )
        self.is_2d_mesh = is_2d_mesh(device)
        self.tp = head_tensor_parallel(device)
        self.all_reduce = AllReduce(device, impl_config.collective, where=f"{name}.collective")
        self.layout = HeadLayout(spec.num_heads, spec.num_kv_heads, self.tp)
        self.head_dim_padded = padded_head_dim(spec.head_dim)
        self.q_heads_local = self.layout.q_heads_per_device
        self.kv_heads_local = self.layout.kv_heads_per_device
        self._validate_impl(name)
        d, h = self.head_dim_padded, spec.hidden_dim
        sharded = impl_config.decode_dram_sharded
        qkv_width = (self.q_heads_local + 2 * self.kv_heads_local) * d
        self.qkv_proj = LinearOp(f"{name}.qkv_proj", impl_config.qkv_proj, device, h, qkv_width, sharded)
        self.o_proj = LinearOp(
            f"{name}.o_proj", impl_config.o_proj, device, self.q_heads_local * d, h, sharded
        )
        self.rope = None
        if spec.rope is not None:
            self.rope = Rope.shared(spec.rope, impl_config.rope, device)  # tables shared by every layer
        self.o_bias = None
        self.q_norm_weight = None
        self.k_norm_weight = None
        self.kv_cache: PagedKVCache | None = None
        self._torch_weights: dict[str, torch.Tensor] = {}

    # --- validation -----------------------------------------------------------------------------------------
    def _validate_impl(self, name: str) -> None:
        impl, spec = self.impl_config, self.spec
        if self.q_heads_local > MAX_DECODE_HEADS:
            raise ValueError(
                f"{name}: {self.q_heads_local} query heads per device exceed the {MAX_DECODE_HEADS} that decode "
                f"(nlp_create_qkv_heads_decode) supports; use a mesh with more devices"
            )
        check_kv_cache_impl(impl.kv_cache, f"{name}.kv_cache")
        sdpa = impl.sdpa
        if not isinstance(sdpa, SDPAImplConfig):
            raise TypeError(f"{name}.sdpa: expected an SDPAImplConfig, got {type(sdpa).__name__}")
        for field_name in ("prefill_compute_kernel_config", "decode_compute_kernel_config"):
            if not isinstance(getattr(sdpa, field_name), ttnn.WormholeComputeKernelConfig):
                raise ValueError(f"{name}.sdpa.{field_name} must be a ttnn.WormholeComputeKernelConfig")
        grid = self.device.compute_with_storage_grid_size()
        for field_name in ("prefill_program_config", "decode_program_config"):
            config = getattr(sdpa, field_name)
            if config is None:
                continue
            if not isinstance(config, ttnn.SDPAProgramConfig):
                raise ValueError(
                    f"{name}.sdpa.{field_name} must be a ttnn.SDPAProgramConfig or None, got {type(config).__name__}"
                )
            size = config.compute_with_storage_grid_size
            if size.x > grid.x or size.y > grid.y:
                raise ValueError(
                    f"{name}.sdpa.{field_name}: grid {size.x}x{size.y} exceeds the {grid.x}x{grid.y} compute grid of {self.device.spec.name}"
                )
            for chunk in ("q_chunk_size", "k_chunk_size"):
                value = getattr(config, chunk)
                if value <= 0 or value % TILE:
                    raise ValueError(
                        f"{name}.sdpa.{field_name}.{chunk}={value} must be a positive multiple of {TILE}"
                    )
        chunk = sdpa.prefill_chunk_size
        block = impl.kv_cache.block_size
        if not isinstance(chunk, int) or chunk < block or chunk % block:
            raise ValueError(
                f"{name}.sdpa.prefill_chunk_size {chunk!r} must be a positive multiple of kv_cache.block_size {block}"
            )
        if sdpa.prefill_program_config is not None:
            for size_name in ("q_chunk_size", "k_chunk_size"):
                if chunk % getattr(sdpa.prefill_program_config, size_name):
                    raise ValueError(
                        f"{name}.sdpa.prefill_chunk_size {chunk} must be a multiple of prefill_program_config.{size_name}"
                    )
        if spec.qk_norm != (impl.qk_norm is not None):
            need = "a QKNormImplConfig" if spec.qk_norm else "None"
            raise ValueError(f"{name}.qk_norm: spec.qk_norm={spec.qk_norm} needs {need}")
        if impl.qk_norm is not None:
            check_weight_dtype(f"{name}.qk_norm.weight_dtype", impl.qk_norm.weight_dtype, NORM_WEIGHT_DTYPES)
        check_weight_dtype(f"{name}.qkv_proj.dtype", impl.qkv_proj.dtype)
        check_weight_dtype(f"{name}.o_proj.dtype", impl.o_proj.dtype)

    # --- weights ----------------------------------------------------------------------------------------------
    def _head_permutation(self) -> torch.Tensor:
        spec = self.spec
        return (
            hf_to_meta_permutation(spec.head_dim, spec.rope.rotary_dim)
            if spec.rope is not None
            else torch.arange(spec.head_dim)
        )

    def _device_heads(self, tensor: torch.Tensor, heads: list[int | None], permute: bool) -> torch.Tensor:
        """Rows of ``tensor (n*d, ...)`` for ``heads`` (zeros for dummies), permuted to the device layout and
        padded to ``d_pad`` rows each."""
        d, d_pad = self.spec.head_dim, self.head_dim_padded
        perm = self._head_permutation() if permute else None
        rows = []
        for head in heads:
            if head is None:
                rows.append(tensor.new_zeros((d_pad, *tensor.shape[1:])))
                continue
            block = tensor[head * d : (head + 1) * d]
            if perm is not None:
                block = block[perm]
            rows.append(
                torch.cat([block, block.new_zeros((d_pad - d, *tensor.shape[1:]))]) if d_pad > d else block
            )
        return torch.cat(rows)

    def _column_mapper(self, dim: int):
        """Split ``dim`` over the tensor-parallel devices (TG: over columns, replicated over rows)."""
        if self.is_2d_mesh:
            dims = [None, None]
            dims[1] = dim
            return ttnn.ShardTensor2dMesh(self.device, mesh_shape=tuple(self.device.shape), dims=tuple(dims))
        return ttnn.ShardTensorToMesh(self.device, dim=dim)

    def expected_weight_shapes(self) -> dict[str, tuple[int, ...]]:
        spec = self.spec
        q, kv, h = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim, spec.hidden_dim
        shapes = {
            "q_proj.weight": (q, h),
            "k_proj.weight": (kv, h),
            "v_proj.weight": (kv, h),
            "o_proj.weight": (h, q),
        }
        if spec.qkv_bias:
            shapes.update({"q_proj.bias": (q,), "k_proj.bias": (kv,), "v_proj.bias": (kv,)})
        if spec.o_bias:
            shapes["o_proj.bias"] = (h,)
        if spec.qk_norm:
            shapes.update({"q_norm.weight": (spec.head_dim,), "k_norm.weight": (spec.head_dim,)})
        return shapes

    def load_weights(self, state_dict) -> None:
        """Load HF-layout weights (see class docstring); errors name the tensor and the shapes."""
        where = f"{self.module_path}.load_weights"
        shapes = self.expected_weight_shapes()
        check_no_unexpected(state_dict, shapes, where)
        w = {
            key: take(state_dict, key, shape, where).detach().to(torch.float32)
            for key, shape in shapes.items()
        }
        for key, tensor in w.items():
            if not tensor.is_meta and not torch.isfinite(tensor).all():  # meta: shapes-only build
                raise ValueError(f"{where}: weight {key!r} contains NaN or Inf")
        self._torch_weights = w
        spec, layout = self.spec, self.layout
        qkv_rows, qkv_bias, o_rows = [], [], []
        for dev in range(self.tp):
            q_heads, kv_heads = layout.q_heads(dev), layout.kv_heads(dev)
            qkv_rows.append(
                torch.cat(
                    [
                        self._device_heads(w["q_proj.weight"], q_heads, permute=True),
                        self._device_heads(w["k_proj.weight"], kv_heads, permute=True),
                        self._device_heads(w["v_proj.weight"], kv_heads, permute=False),
                    ]
                )
            )
            if spec.qkv_bias:
                qkv_bias.append(
                    torch.cat(
                        [
                            self._device_heads(w["q_proj.bias"], q_heads, permute=True),
                            self._device_heads(w["k_proj.bias"], kv_heads, permute=True),
                            self._device_heads(w["v_proj.bias"], kv_heads, permute=False),
                        ]
                    )
                )
            # o_proj columns of each local query head (V is not permuted, so neither are these).
            o_rows.append(self._device_heads(w["o_proj.weight"].T.contiguous(), q_heads, permute=False))
        self.qkv_proj.load(
            torch.cat(qkv_rows).T.contiguous(),
            self._column_mapper(1),
            torch.cat(qkv_bias) if spec.qkv_bias else None,
            self._column_mapper(1),
        )
        self.o_proj.load(torch.cat(o_rows), self._column_mapper(0))
        replicate = ttnn.ReplicateTensorToMesh(self.device)
        if spec.o_bias:
            self.o_bias = ttnn.from_torch(
                w["o_proj.bias"].reshape(1, 1, 1, -1),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=self.device,
                mesh_mapper=replicate,
            )
        if spec.qk_norm:
            self.q_norm_weight = self._norm_weight(w["q_norm.weight"])
            self.k_norm_weight = self._norm_weight(w["k_norm.weight"])

    def _norm_weight(self, weight: torch.Tensor):
        """The per-head norm weight in the device layout: (w + offset) permuted, padded, and scaled by
        sqrt(d / d_pad) so that the RMS over the zero-padded head equals the RMS over the real one."""
        d, d_pad = self.spec.head_dim, self.head_dim_padded
        values = (weight + self.spec.qk_norm_weight_offset)[self._head_permutation()] * math.sqrt(d / d_pad)
        values = torch.cat([values, values.new_zeros(d_pad - d)])
        return ttnn.from_torch(
            values.reshape(1, 1, d_pad // TILE, TILE),
            dtype=self.impl_config.qk_norm.weight_dtype,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    # --- KV cache --------------------------------------------------------------------------------------------
    def allocate_kv_cache(
        self, spec: KVCacheSpec | None = None, *, max_batch: int | None = None, max_seq_len: int | None = None
    ) -> PagedKVCache:
        """Allocate this layer's paged KV cache (``impl_config.kv_cache`` dtype/paging) and use it by default."""
        if spec is None:
            if max_batch is None or max_seq_len is None:
                raise ValueError(
                    f"{self.module_path}.allocate_kv_cache: pass a KVCacheSpec or max_batch= and max_seq_len="
                )
            spec = KVCacheSpec(max_batch=max_batch, max_seq_len=max_seq_len)
        self.kv_cache = PagedKVCache(
            spec, self.impl_config.kv_cache, self.device, self.kv_heads_local, self.head_dim_padded
        )
        return self.kv_cache

    def _cache(self, kv_cache) -> PagedKVCache:
        cache = kv_cache or self.kv_cache
        if cache is None:
            raise RuntimeError(
                f"{self.module_path}: no KV cache; call allocate_kv_cache(...) first or pass kv_cache="
            )
        return cache

    def read_kv_cache(
        self, user_id: int, length: int, page_table=None, kv_cache=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached K and V of one user, in HF layout: two ``(num_kv_heads, length, head_dim)`` float32 tensors.

        Undoes the device layout (padding, Meta pair order of K, dummy heads, tensor parallelism).
        """
        cache = self._cache(kv_cache)
        if page_table is None:
            table = cache.page_table_rows([user_id])[0]
        else:
            if isinstance(page_table, ttnn.Tensor):
                page_table = ttnn.to_torch(ttnn.get_device_tensors(page_table)[0])
            table = self._page_table_rows(cache, [user_id], page_table, "read_kv_cache")[user_id]
        positions = torch.arange(length)
        if length > table.shape[-1] * cache.block_size:
            raise ValueError(
                f"{self.module_path}.read_kv_cache: length {length} exceeds the page table's {table.shape[-1] * cache.block_size}"
            )
        blocks = table.reshape(-1)[positions // cache.block_size].to(torch.int64)
        inverse = torch.argsort(self._head_permutation())
        d = self.spec.head_dim
        out = []
        for tensor, is_key in ((cache.keys, True), (cache.values, False)):
            shards = [ttnn.to_torch(t).float() for t in ttnn.get_device_tensors(tensor)]
            heads: dict[int, torch.Tensor] = {}
            for index, shard in enumerate(shards):
                for slot, head in enumerate(self.layout.kv_heads(index % self.tp)):
                    if head is not None and head not in heads:
                        rows = shard[blocks, slot, positions % cache.block_size, :d]
                        heads[head] = rows[:, inverse] if is_key else rows
            out.append(torch.stack([heads[h] for h in range(self.spec.num_kv_heads)]))
        return out[0], out[1]

    def _page_table_rows(self, cache: PagedKVCache, user_ids, page_table, where: str):
        """The page-table rows of ``user_ids``: a torch tensor, or the given device tensor unchanged."""
        if page_table is None:
            return cache.page_table_rows(user_ids)
        if isinstance(page_table, ttnn.Tensor):
            return page_table
        table = torch.as_tensor(page_table)
        if table.dim() != 2:
            raise ValueError(
                f"{self.module_path}.{where}: page_table must be (users, blocks_per_user), got shape {list(table.shape)}"
            )
        if int(table.min()) < 0 or int(table.max()) >= cache.num_blocks:
            raise ValueError(
                f"{self.module_path}.{where}: page_table holds blocks outside [0, {cache.num_blocks})"
            )
        return table

    def _page_table_tensor(self, table):
        if isinstance(table, ttnn.Tensor):
            return table
        return ttnn.from_torch(
            table.to(torch.int32),
            dtype=ttnn.int32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    # --- shared pieces ---------------------------------------------------------------------------------------
    def _check_input(self, x, where: str, max_rows: int | None) -> None:
        if self.qkv_proj.weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before {where}")
        h = self.spec.hidden_dim
        if (
            not isinstance(x, ttnn.Tensor)
            or len(x.shape) != 4
            or tuple(x.shape[:2]) != (1, 1)
            or x.shape[-1] != h
        ):
            shape = list(x.shape) if isinstance(x, ttnn.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.module_path}.{where}: input must be a (1, 1, rows, {h}) ttnn.Tensor, got {shape}"
            )
        if max_rows is not None and x.shape[-2] > max_rows:
            raise ValueError(
                f"{self.module_path}.{where}: decode takes at most {max_rows} users, got {x.shape[-2]}"
            )

    def _qk_norm(self, q, k):
        if not self.spec.qk_norm:
            return q, k
        eps = self.spec.qk_norm_eps * self.spec.head_dim / self.head_dim_padded  # see _norm_weight
        kernel = self.impl_config.qk_norm.compute_kernel_config

        def norm(t, weight):
            config = t.memory_config()
            if t.is_sharded():  # rms_norm does not take height-sharded inputs
                t = ttnn.to_memory_config(t, ttnn.L1_MEMORY_CONFIG)
            out = ttnn.rms_norm(t, epsilon=eps, weight=weight, compute_kernel_config=kernel)
            return ttnn.to_memory_config(out, config) if out.memory_config() != config else out

        return norm(q, self.q_norm_weight), norm(k, self.k_norm_weight)

    def _all_reduce(self, out):
        if self.tp == 1:
            return out
        return self.all_reduce(out, 1 if self.is_2d_mesh else None)

    def _finish(self, out, memory_config):
        out = self._all_reduce(out)
        if self.o_bias is not None:
            out = ttnn.add(out, self.o_bias, memory_config=memory_config)
        if out.memory_config() != memory_config:
            out = ttnn.to_memory_config(out, memory_config)
        return out

    def _sdpa_prefill_config(self, seq_len: int, start: int = 0):
        """The configured prefill config, else TTTv1's (64-position chunks, 256 from 2048 on), shrunk so
        that the chunk size divides ``start`` (chunked SDPA needs chunk-aligned start positions)."""
        configured = self.impl_config.sdpa.prefill_program_config
        if configured is not None:
            return configured
        chunk = 256 if seq_len >= 2048 else 64
        while chunk > TILE and start % chunk:
            chunk //= 2
        grid = self.device.compute_with_storage_grid_size()
        return ttnn.SDPAProgramConfig(
            compute_with_storage_grid_size=grid, q_chunk_size=chunk, k_chunk_size=chunk, exp_approx_mode=False
        )

    def _sdpa_decode_config(self):
        configured = self.impl_config.sdpa.decode_program_config
        if configured is not None:
            return configured
        grid = self.device.compute_with_storage_grid_size()
        size = ttnn.CoreCoord(
            min(8, grid.x), min(8, grid.y)
        )  # TTTv1 SDPA_DECODE_PROGCFG: 8x8, 256-position chunks
        return ttnn.SDPAProgramConfig(
            compute_with_storage_grid_size=size, q_chunk_size=256, k_chunk_size=256, exp_approx_mode=False
        )

    # --- prefill ---------------------------------------------------------------------------------------------
    def forward_prefill(
        self, x, user_id: int = 0, page_table=None, *, start_pos: int = 0, rot_mats=None, kv_cache=None
    ):
        """One user's prefill: ``x (1, 1, seq, H)`` at positions ``start_pos..`` -> ``(1, 1, seq, H)``; fills the cache.

        Args:
            x: hidden states, TILE bfloat16, replicated on every device.
            user_id: the page-table row (cache slot) of this user.
            page_table: ``(users, blocks_per_user)`` torch ints or int32 device tensor; ``None`` = the
                cache's default table.
            start_pos: positions before it are already in the cache (prefix); a multiple of the
                block size. Forces the chunked path.
            rot_mats: optional ``(cos, sin)`` for these positions (``Rope.prefill_rot_mats``).
            kv_cache: optional ``PagedKVCache`` (default: the allocated one).
        """
        self._check_input(x, "forward_prefill", None)
        cache = self._cache(kv_cache)
        seq = x.shape[-2]
        where = f"{self.module_path}.forward_prefill"
        if not 0 <= user_id:
            raise ValueError(f"{where}: user_id must be >= 0, got {user_id}")
        if start_pos % cache.block_size:
            raise ValueError(
                f"{where}: start_pos {start_pos} must be a multiple of the cache block size {cache.block_size}"
            )
        row, capacity = self._prefill_row(cache, user_id, page_table, where)
        if start_pos + seq > capacity:
            raise ValueError(
                f"{where}: positions {start_pos}..{start_pos + seq - 1} exceed the cache capacity of {capacity} per user"
            )
        with op_scope(self.module_path):
            chunk = self.impl_config.sdpa.prefill_chunk_size
            if start_pos == 0 and seq <= chunk:
                out = self._prefill_whole(x, cache, row, rot_mats)
            else:
                pieces = []
                for begin in range(0, seq, chunk):
                    length = min(chunk, seq - begin)
                    part = (
                        ttnn.slice(x, [0, 0, begin, 0], [1, 1, begin + length, x.shape[-1]])
                        if length != seq
                        else x
                    )
                    pieces.append(self._prefill_chunk(part, cache, row, start_pos + begin))
                out = pieces[0] if len(pieces) == 1 else ttnn.concat(pieces, dim=2)
            return self._finish(out, self.impl_config.output_prefill_memory_config or ttnn.DRAM_MEMORY_CONFIG)

    def _prefill_row(self, cache: PagedKVCache, user_id: int, page_table, where: str):
        """(user's page-table row as a (1, blocks) int32 device tensor, positions it addresses)."""
        if isinstance(page_table, ttnn.Tensor):
            rows, blocks = page_table.shape
            if not user_id < rows:
                raise ValueError(f"{where}: user_id {user_id} is outside the page table's {rows} rows")
            row = ttnn.slice(page_table, [user_id, 0], [user_id + 1, blocks]) if rows > 1 else page_table
            return row, blocks * cache.block_size
        if page_table is None:
            table = cache.page_table_rows([user_id])
        else:
            table = self._page_table_rows(cache, [user_id], page_table, "forward_prefill")
            if not user_id < table.shape[0]:
                raise ValueError(
                    f"{where}: user_id {user_id} is outside the page table's {table.shape[0]} rows"
                )
            table = table[user_id : user_id + 1]
        return self._page_table_tensor(table), table.shape[1] * cache.block_size

    def _prefill_heads(self, x, start: int, rot_mats):
        """q, k, v heads of ``x`` after QK-norm and RoPE at positions ``start..``."""
        qkv = self.qkv_proj.prefill(x)
        q, k, v = ttnn.experimental.nlp_create_qkv_heads(
            qkv,
            num_heads=self.q_heads_local,
            num_kv_heads=self.kv_heads_local,
            transpose_k_heads=False,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
        )
        ttnn.deallocate(qkv)
        q, k = self._qk_norm(q, k)
        if self.rope is not None:
            with op_scope("rope"):  # nested: "<module_path>.rope"
                rot_mats = rot_mats or self.rope.prefill_rot_mats(start, x.shape[-2])
                q = self.rope.rotate_prefill(self._bfloat16(q), rot_mats=rot_mats)
                k = self.rope.rotate_prefill(self._bfloat16(k), rot_mats=rot_mats)
        return q, k, v

    @staticmethod
    def _bfloat16(t):
        return t if t.dtype == ttnn.bfloat16 else ttnn.typecast(t, ttnn.bfloat16)

    def _fill(self, cache: PagedKVCache, row, k, v):
        """Cast k/v to the cache dtype and copy them into the user's pages (``row``: (1, blocks) table)."""
        dtype = cache.dtype
        k = k if k.dtype == dtype else ttnn.typecast(k, dtype)
        v = v if v.dtype == dtype else ttnn.typecast(v, dtype)
        ttnn.experimental.paged_fill_cache(cache.keys, k, row, batch_idx=0)
        ttnn.experimental.paged_fill_cache(cache.values, v, row, batch_idx=0)
        return k, v

    def _merge(self, attn, seq_len: int):
        merged = ttnn.experimental.nlp_concat_heads(attn, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        ttnn.deallocate(attn)
        return self.o_proj.prefill(merged)

    def _prefill_whole(self, x, cache: PagedKVCache, row, rot_mats):
        q, k, v = self._prefill_heads(x, 0, rot_mats)
        k, v = self._fill(cache, row, k, v)
        sdpa = self.impl_config.sdpa
        attn = ttnn.transformer.scaled_dot_product_attention(
            q,
            k,
            v,
            is_causal=True,
            scale=self.spec.softmax_scale,
            sliding_window_size=self.spec.sliding_window,
            program_config=self._sdpa_prefill_config(x.shape[-2]),
            compute_kernel_config=sdpa.prefill_compute_kernel_config,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
        )
        return self._merge(attn, x.shape[-2])

    def _prefill_chunk(self, x, cache: PagedKVCache, row, start: int):
        """One chunk at absolute positions ``start..``: fill its pages, attend over the cached prefix + itself."""
        q, k, v = self._prefill_heads(x, start, None)
        first_block = start // cache.block_size
        blocks = row.shape[1]
        chunk_row = ttnn.slice(row, [0, first_block], [1, blocks]) if first_block else row
        self._fill(cache, chunk_row, k, v)
        sdpa = self.impl_config.sdpa
        attn = ttnn.transformer.chunked_scaled_dot_product_attention(
            q,
            cache.keys,
            cache.values,
            row,
            start,
            scale=self.spec.softmax_scale,
            sliding_window_size=self.spec.sliding_window,
            program_config=self._sdpa_prefill_config(x.shape[-2], start),
            compute_kernel_config=sdpa.prefill_compute_kernel_config,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
        )
        return self._merge(attn, x.shape[-2])

    # --- decode ----------------------------------------------------------------------------------------------
    def _positions(self, current_pos, batch: int, cache: PagedKVCache, where: str):
        """(device int32 tensor, python list or None) of the per-user positions."""
        if isinstance(current_pos, ttnn.Tensor):
            if tuple(current_pos.shape) != (batch,):
                raise ValueError(
                    f"{where}: current_pos must have shape ({batch},), got {list(current_pos.shape)}"
                )
            return current_pos
        positions = torch.as_tensor(current_pos).reshape(-1)
        if positions.numel() != batch:
            raise ValueError(f"{where}: current_pos has {positions.numel()} positions for {batch} users")
        if int(positions.min()) < 0 or int(positions.max()) >= cache.capacity:
            raise ValueError(
                f"{where}: current_pos {positions.tolist()} must be in [0, {cache.capacity}) (cache capacity per user)"
            )
        return ttnn.from_torch(
            positions.to(torch.int32),
            dtype=ttnn.int32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def _decode_rot_mats(self, current_pos, where: str):
        """cos/sin of this step from host positions (a UINT32 rotation index; see ``Rope.rot_idxs``)."""
        if isinstance(current_pos, ttnn.Tensor):
            # The int32 cur_pos tensor cannot index ttnn.embedding (UINT32/BFLOAT16 only), and reading it
            # back to the host would be a device read inside forward: the caller must supply rot_mats.
            raise ValueError(
                f"{where}: with a device current_pos tensor pass rot_mats="
                "rope.decode_rot_mats(rope.rot_idxs(host_positions)) (ttnn.embedding needs UINT32 indices)"
            )
        return self.rope.decode_rot_mats(torch.as_tensor(current_pos).reshape(-1))

    def forward_decode(self, x, current_pos, rot_mats=None, page_table=None, *, kv_cache=None):
        """One decode step: ``x (1, 1, B, H)``, user ``b`` at position ``current_pos[b]`` -> ``(1, 1, B, H)``.

        Args:
            x: one token per user, B <= 32, replicated on every device.
            current_pos: ``(B,)`` torch ints or int32 device tensor; each user's own position.
            rot_mats: optional ``(cos, sin)`` from ``Rope.decode_rot_mats`` (shared across layers);
                required with a device ``current_pos`` (the rotation index is a separate UINT32 tensor).
            page_table: ``(B, blocks_per_user)`` rows of the decode batch; ``None`` = users 0..B-1
                of the cache's default table.
            kv_cache: optional ``PagedKVCache`` (default: the allocated one).
        """
        self._check_input(x, "forward_decode", MAX_DECODE_BATCH)
        cache = self._cache(kv_cache)
        batch = x.shape[-2]
        where = f"{self.module_path}.forward_decode"
        table = self._page_table_rows(cache, range(batch), page_table, "forward_decode")
        if table.shape[0] != batch:
            raise ValueError(f"{where}: page_table has {table.shape[0]} rows for {batch} users")
        page_table_tt = self._page_table_tensor(table)
        positions = self._positions(current_pos, batch, cache, where)
        with op_scope(self.module_path):
            qkv = self.qkv_proj.decode(x)
            if qkv.is_sharded():
                qkv = ttnn.sharded_to_interleaved(qkv, ttnn.L1_MEMORY_CONFIG)
            q, k, v = ttnn.experimental.nlp_create_qkv_heads_decode(
                self._bfloat16(qkv),
                num_heads=self.q_heads_local,
                num_kv_heads=self.kv_heads_local,
                memory_config=ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG,
            )
            ttnn.deallocate(qkv)
            q, k = self._qk_norm(q, k)
            if self.rope is not None:
                with op_scope("rope"):  # nested: "<module_path>.rope"
                    rot_mats = rot_mats or self._decode_rot_mats(current_pos, where)
                    q = self.rope.rotate_decode(q, rot_mats=rot_mats)
                    k = self.rope.rotate_decode(k, rot_mats=rot_mats)
            ttnn.experimental.paged_update_cache(
                cache.keys, k, update_idxs_tensor=positions, page_table=page_table_tt
            )
            ttnn.experimental.paged_update_cache(
                cache.values, v, update_idxs_tensor=positions, page_table=page_table_tt
            )
            sdpa = self.impl_config.sdpa
            attn = ttnn.transformer.paged_scaled_dot_product_attention_decode(
                q,
                cache.keys,
                cache.values,
                page_table_tt,
                cur_pos_tensor=positions,
                scale=self.spec.softmax_scale,
                sliding_window_size=self.spec.sliding_window,
                program_config=self._sdpa_decode_config(),
                compute_kernel_config=sdpa.decode_compute_kernel_config,
                memory_config=ttnn.DRAM_MEMORY_CONFIG,
            )
            grid = ttnn.num_cores_to_corerangeset(
                batch, self.device.compute_with_storage_grid_size(), row_wise=True
            )
            per_user = ttnn.create_sharded_memory_config(
                (TILE, self.head_dim_padded),
                grid,
                ttnn.ShardStrategy.HEIGHT,
                use_height_and_width_as_shard_shape=True,
            )
            attn = ttnn.to_memory_config(attn, per_user)
            # A user grid of several core ranges runs on sub-core grids, which the op requires be named
            # (nlp_concat_heads_decode validate: "Subcoregrids must be provided if on_subcoregrids is true").
            full = self.device.compute_with_storage_grid_size()
            sub_core_grids = (
                ttnn.CoreRangeSet(
                    [ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(full.x - 1, full.y - 1))]
                )
                if len(grid.ranges()) > 1
                else None
            )
            merged = ttnn.experimental.nlp_concat_heads_decode(
                attn, num_heads=self.q_heads_local, sub_core_grids=sub_core_grids
            )
            ttnn.deallocate(attn)
            out = self.o_proj.decode(merged)
            target = self.impl_config.output_decode_memory_config or ttnn.L1_MEMORY_CONFIG
            # A sharded target (the layer's width-sharded residual) is resharded into directly; the
            # all-reduce and the bias add take the interleaved output.
            if out.is_sharded() and (self.tp > 1 or self.o_bias is not None or not target.is_sharded()):
                out = ttnn.to_memory_config(out, ttnn.L1_MEMORY_CONFIG)
            return self._finish(out, target)

    # --- reference -------------------------------------------------------------------------------------------
    def torch_reference(self) -> AttentionReference:
        """Float32 torch attention from the loaded (unquantized) weights; see ``AttentionReference``."""
        if not self._torch_weights:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before torch_reference()")
        return AttentionReference(self.spec, self._torch_weights)


class AttentionReference:
    """Plain float32 torch attention in HF layout (rotate-half RoPE), independent of TTNN.

    ``reference(x, positions=None)``: stateless causal attention over a whole sequence,
    ``x (batch, seq, H)`` (or ``(seq, H)``), ``positions (seq,)`` default ``arange(seq)``.

    ``prefill(x (seq, H), user_id, start_pos=0)`` / ``decode(x (B, H), positions, user_ids=None)``
    keep a per-user float32 K/V cache (``keys[user]``, ``values[user]``: ``(nkv, length, d)``) for
    step-by-step comparisons with the device.

    ``forward_prefill`` / ``forward_decode`` mirror ``Attention``'s methods (same parameters, torch
    inputs, ``(1, 1, rows, H)`` in and out) on top of ``prefill`` / ``decode``, so testing tools can
    replay a run of the block call by call (``Attention.reference_is_stateful``).
    """

    def __init__(self, spec: AttentionSpec, weights: dict[str, torch.Tensor]):
        self.spec = spec
        self.w = weights
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    def _project(self, x: torch.Tensor, positions: torch.Tensor):
        spec, w = self.spec, self.w
        d = spec.head_dim
        q = torch.nn.functional.linear(x, w["q_proj.weight"], w.get("q_proj.bias")).unflatten(
            -1, (spec.num_heads, d)
        )
        k = torch.nn.functional.linear(x, w["k_proj.weight"], w.get("k_proj.bias")).unflatten(
            -1, (spec.num_kv_heads, d)
        )
        v = torch.nn.functional.linear(x, w["v_proj.weight"], w.get("v_proj.bias")).unflatten(
            -1, (spec.num_kv_heads, d)
        )
        q, k, v = q.transpose(-2, -3), k.transpose(-2, -3), v.transpose(-2, -3)  # (..., heads, seq, d)
        if spec.qk_norm:
            q = _rms_norm(q, w["q_norm.weight"] + spec.qk_norm_weight_offset, spec.qk_norm_eps)
            k = _rms_norm(k, w["k_norm.weight"] + spec.qk_norm_weight_offset, spec.qk_norm_eps)
        if spec.rope is not None:
            from tttv2_blocks.rope import apply_rope_hf  # noqa: PLC0415

            angles = spec.rope.angles(positions).to(torch.float32)
            scale = spec.rope.attention_scaling()
            cos, sin = angles.cos() * scale, angles.sin() * scale
            q = apply_rope_hf(q, cos, sin, spec.rope.rotary_dim)
            k = apply_rope_hf(k, cos, sin, spec.rope.rotary_dim)
        return q, k, v

    def _attend(self, q, k, v, q_positions, k_positions):
        spec = self.spec
        k = k.repeat_interleave(spec.group_size, dim=-3)
        v = v.repeat_interleave(spec.group_size, dim=-3)
        scores = torch.matmul(q, k.transpose(-1, -2)) * spec.softmax_scale
        visible = k_positions.unsqueeze(0) <= q_positions.unsqueeze(1)
        if spec.sliding_window:
            visible &= k_positions.unsqueeze(0) > q_positions.unsqueeze(1) - spec.sliding_window
        scores = scores.masked_fill(~visible, float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)  # (..., heads, seq, d)
        out = out.transpose(-2, -3).flatten(-2)
        return torch.nn.functional.linear(out, self.w["o_proj.weight"], self.w.get("o_proj.bias"))

    def __call__(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        x = x.to(torch.float32)
        seq = x.shape[-2]
        positions = torch.arange(seq) if positions is None else torch.as_tensor(positions).reshape(-1)
        q, k, v = self._project(x, positions)
        return self._attend(q, k, v, positions, positions)

    def prefill(self, x: torch.Tensor, user_id: int = 0, start_pos: int = 0) -> torch.Tensor:
        """``x (seq, H)`` at positions ``start_pos..``; appends to (or, at 0, resets) the user's cache."""
        x = x.to(torch.float32).reshape(-1, self.spec.hidden_dim)
        positions = torch.arange(start_pos, start_pos + x.shape[0])
        q, k, v = self._project(x, positions)
        if start_pos:
            k = torch.cat([self.keys[user_id][:, :start_pos], k], dim=1)
            v = torch.cat([self.values[user_id][:, :start_pos], v], dim=1)
        self.keys[user_id], self.values[user_id] = k, v
        return self._attend(q, k, v, positions, torch.arange(k.shape[1]))

    def decode(self, x: torch.Tensor, positions, user_ids=None) -> torch.Tensor:
        """One token per user: ``x (B, H)``, user ``user_ids[b]`` (default b) at ``positions[b]``.

        Position -1 marks an idle row (a padded decode batch): as on the device, where
        ``paged_update_cache`` and SDPA decode skip it, its cache is untouched and it attends nothing
        (the output projection of zeros).
        """
        x = x.to(torch.float32).reshape(-1, self.spec.hidden_dim)
        positions = torch.as_tensor(positions).reshape(-1)
        user_ids = list(range(x.shape[0])) if user_ids is None else list(user_ids)
        outs = []
        for row, (user, pos) in enumerate(zip(user_ids, positions.tolist())):
            if pos == -1:
                weight = self.w["o_proj.weight"]
                outs.append(
                    torch.nn.functional.linear(
                        weight.new_zeros(1, weight.shape[1]), weight, self.w.get("o_proj.bias")
                    )
                )
                continue
            q, k, v = self._project(x[row : row + 1], torch.tensor([pos]))
            old_k = self.keys.get(user, k[:, :0])
            old_v = self.values.get(user, v[:, :0])
            if old_k.shape[1] < pos:
                raise ValueError(
                    f"AttentionReference.decode: user {user} has {old_k.shape[1]} cached positions, decoding position {pos}"
                )
            self.keys[user] = torch.cat([old_k[:, :pos], k], dim=1)
            self.values[user] = torch.cat([old_v[:, :pos], v], dim=1)
            outs.append(
                self._attend(
                    q, self.keys[user], self.values[user], torch.tensor([pos]), torch.arange(pos + 1)
                )
            )
        return torch.cat(outs)

    # --- the block's forward signatures, in torch ----------------------------------------------------------
    def forward_prefill(
        self, x, user_id: int = 0, page_table=None, *, start_pos: int = 0, rot_mats=None, kv_cache=None
    ) -> torch.Tensor:
        """``Attention.forward_prefill`` in torch: ``x (1, 1, seq, H)`` -> ``(1, 1, seq, H)``.

        The user's cache is keyed by ``user_id`` (its page-table row, as on the device), so a decode
        with the same page table finds it. ``page_table`` only places K/V on the device and
        ``rot_mats`` only precomputes the rotation: neither changes the math, both are ignored, as
        is ``kv_cache`` (this reference holds one cache).
        """
        rows = self._rows(x, "forward_prefill")
        out = self.prefill(rows, int(user_id), int(start_pos))
        return out.reshape(1, 1, -1, self.spec.hidden_dim)

    def forward_decode(
        self, x, current_pos, rot_mats=None, page_table=None, *, kv_cache=None
    ) -> torch.Tensor:
        """``Attention.forward_decode`` in torch: ``x (1, 1, B, H)``, user ``b`` at ``current_pos[b]`` -> ``(1, 1, B, H)``.

        Batch row ``b`` is user ``b`` (page-table row ``b``, as on the device); ``rot_mats``,
        ``page_table`` and ``kv_cache`` are ignored (see ``forward_prefill``).
        """
        rows = self._rows(x, "forward_decode")
        positions = torch.as_tensor(current_pos).reshape(-1).to(torch.int64)
        if positions.numel() != rows.shape[0]:
            raise ValueError(
                f"AttentionReference.forward_decode: current_pos has {positions.numel()} positions for {rows.shape[0]} users"
            )
        return self.decode(rows, positions).reshape(1, 1, -1, self.spec.hidden_dim)

    def _rows(self, x: torch.Tensor, where: str) -> torch.Tensor:
        """``(1, 1, rows, H)`` -> ``(rows, H)`` float32."""
        h = self.spec.hidden_dim
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 4
            or tuple(x.shape[:2]) != (1, 1)
            or x.shape[-1] != h
        ):
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"AttentionReference.{where}: x must be a (1, 1, rows, {h}) torch tensor, got {shape}"
            )
        return x.to(torch.float32).reshape(-1, h)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight
