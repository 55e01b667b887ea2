"""RMSNorm and LayerNorm blocks (replicated, or distributed over a width-fractured mesh).

Two ways to run a norm on a mesh:

* replicated (default): every device holds the full hidden ``(1, 1, rows, dim)`` and the full
  weight, and runs ``ttnn.rms_norm`` / ``ttnn.layer_norm`` on its own. This is what the residual
  stream between blocks looks like.
* distributed (``impl.distributed = True``): every device holds ``dim / n`` columns of the hidden
  (width-fractured over the mesh, or over one mesh axis with ``impl.cluster_axis``) and the
  matching slice of the weight::

      device i:  x[..., i*dim/n:(i+1)*dim/n] --pre_all_gather--> per-row sum(x^2) [and sum(x)]
                 all_gather(stats, dim=3) --> statistics of every slice on every device
                 post_all_gather(x_i, stats) --> normalized slice i (still fractured)

Weights are stored as TTTv1 stores them: ROW_MAJOR, reshaped to ``[1, 1, dim/32, 32]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks.ccl import collective_kwargs
from tttv2_blocks.config import PRECISION, check_strategy_and_mode, check_weight_dtype, compute_kernel_config
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import StrictFields
from tttv2_blocks.weights import check_no_unexpected, take

TILE = 32
# rms_norm / layer_norm take gamma/beta in BFLOAT16 or FLOAT32 only (ttnn docs, "weight (gamma) and bias (beta)").
NORM_WEIGHT_DTYPES = (ttnn.bfloat16, ttnn.float32)


# --- specs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RMSNormSpec:
    """``y = x / sqrt(mean(x^2) + eps) * (weight + weight_offset)`` over the last dim.

    Attributes:
        dim: normalized (hidden) size.
        eps: added to the mean square.
        weight_offset: added to the checkpoint weight; Gemma stores ``w`` and computes ``(1 + w)``,
            which is ``weight_offset=1.0``.
    """

    dim: int
    eps: float = 1e-6
    weight_offset: float = 0.0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"RMSNormSpec.dim must be a positive int, got {self.dim!r}")
        if not self.eps > 0:
            raise ValueError(f"RMSNormSpec.eps must be > 0, got {self.eps!r}")
        if not math.isfinite(self.weight_offset):
            raise ValueError(f"RMSNormSpec.weight_offset must be finite, got {self.weight_offset!r}")


@dataclass(frozen=True)
class LayerNormSpec:
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` over the last dim (biased variance).

    Attributes:
        dim: normalized (hidden) size.
        eps: added to the variance.
        bias: whether the checkpoint has a ``bias`` (``torch.nn.LayerNorm(bias=...)``).
    """

    dim: int
    eps: float = 1e-5
    bias: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"LayerNormSpec.dim must be a positive int, got {self.dim!r}")
        if not self.eps > 0:
            raise ValueError(f"LayerNormSpec.eps must be > 0, got {self.eps!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"LayerNormSpec.bias must be a bool, got {self.bias!r}")


# --- implementation config -------------------------------------------------------------------------


@dataclass
class NormImplConfig(StrictFields):
    """TTNN choices of one norm.

    Attributes:
        weight_dtype: gamma/beta dtype on device (BFLOAT16 or FLOAT32; the op rejects block floats).
        compute_kernel_config: math fidelity and accumulation of the norm kernel.
        prefill_program_config: ``None`` (interleaved, the op's default) or a ``LayerNormDefaultProgramConfig``.
        prefill_memory_config: output memory config in prefill; ``None`` keeps the input's (DRAM).
        decode_memory_config: ``None`` runs decode interleaved; an L1 WIDTH_SHARDED config shards the
            ``(1, 1, batch, dim)`` input over cores (as TTTv1 does) and the output stays in it.
        decode_program_config: with a sharded decode memory config, the matching
            ``LayerNormShardedMultiCoreProgramConfig``.
        distributed: the input is width-fractured over the mesh (see module docstring).
        cluster_axis: with ``distributed``, the mesh axis the width is fractured over
            (0 = rows, 1 = columns); ``None`` = over every device of the mesh.
        stats_dtype: dtype of the distributed statistics tensor.
    """

    weight_dtype: object
    compute_kernel_config: object
    prefill_program_config: object | None = None
    prefill_memory_config: object | None = None
    decode_memory_config: object | None = None
    decode_program_config: object | None = None
    distributed: bool = False
    cluster_axis: int | None = None
    stats_dtype: object = ttnn.bfloat16


def _largest_divisor_at_most(value: int, limit: int) -> int:
    return max(d for d in range(1, min(value, limit) + 1) if value % d == 0)


def sharded_decode_configs(width: int, device, fp32_dest_acc_en: bool, *, max_cores: int = 32):
    """An L1 WIDTH_SHARDED memory config and the matching sharded program config for ``(1, 1, <=32, width)``.

    The width's tiles are split over the largest number of cores (<= ``max_cores``) that divides
    them and fits a rectangle of the device grid.
    """
    grid = device.compute_with_storage_grid_size()
    width_tiles = -(-width // TILE)
    best = (1, 1)
    for cores in range(1, min(width_tiles, max_cores, grid.x * grid.y) + 1):
        if width_tiles % cores:
            continue
        x = _largest_divisor_at_most(cores, grid.x)
        if cores // x <= grid.y:
            best = (x, cores // x)
    cores_x, cores_y = best
    block_w = width_tiles // (cores_x * cores_y)
    memory_config = ttnn.create_sharded_memory_config(
        shape=(TILE, block_w * TILE),
        core_grid=ttnn.CoreGrid(x=cores_x, y=cores_y),
        strategy=ttnn.ShardStrategy.WIDTH,
        use_height_and_width_as_shard_shape=True,
    )
    # Sub-block width is bounded by the destination registers: 4 tiles with fp32 accumulation, else 8.
    program_config = ttnn.LayerNormShardedMultiCoreProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(cores_x, cores_y),
        subblock_w=_largest_divisor_at_most(block_w, 4 if fp32_dest_acc_en else 8),
        block_h=1,
        block_w=block_w,
        inplace=False,
    )
    return memory_config, program_config


def _norm_impl_config(dim: int, device, mode: str, strategy: str, where: str) -> NormImplConfig:
    precision = PRECISION[check_strategy_and_mode(strategy, mode, where)]["norm"]
    impl = NormImplConfig(
        weight_dtype=precision.weight_dtype,
        compute_kernel_config=compute_kernel_config(
            precision.math_fidelity, fp32_dest_acc_en=precision.fp32_dest_acc_en
        ),
    )
    if mode in ("decode", "both"):
        impl.decode_memory_config, impl.decode_program_config = sharded_decode_configs(
            dim, device, precision.fp32_dest_acc_en
        )
    return impl


@get_default_impl_config.register
def _(spec: RMSNormSpec, device, mode: str = "both", strategy: str = "default") -> NormImplConfig:
    return _norm_impl_config(spec.dim, device, mode, strategy, "get_default_impl_config(RMSNormSpec)")


@get_default_impl_config.register
def _(spec: LayerNormSpec, device, mode: str = "both", strategy: str = "default") -> NormImplConfig:
    return _norm_impl_config(spec.dim, device, mode, strategy, "get_default_impl_config(LayerNormSpec)")


# --- modules ---------------------------------------------------------------------------------------


class _Norm(Module):
    """Shared machinery of RMSNorm and LayerNorm; subclasses set the op names and the reference."""

    _op = None
    _pre_op = None
    _post_op = None

    def __init__(self, spec, impl_config: NormImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        self._validate_impl()
        self.weight = None
        self.bias = None
        self._torch_weights: dict[str, torch.Tensor] = {}

    # --- validation --------------------------------------------------------------------------------
    def _fracture(self) -> int:
        """How many slices the width is split into on each device (1 = replicated)."""
        impl = self.impl_config
        if not impl.distributed:
            return 1
        shape = tuple(self.device.shape)
        return self.device.get_num_devices() if impl.cluster_axis is None else shape[impl.cluster_axis]

    def _validate_impl(self) -> None:
        impl, name = self.impl_config, type(self).__name__
        check_weight_dtype(f"{name}.weight_dtype", impl.weight_dtype, NORM_WEIGHT_DTYPES)
        if impl.cluster_axis not in (None, 0, 1):
            raise ValueError(f"{name}.cluster_axis must be None, 0 or 1, got {impl.cluster_axis!r}")
        if impl.cluster_axis is not None and len(tuple(self.device.shape)) != 2:
            raise ValueError(
                f"{name}.cluster_axis={impl.cluster_axis} needs a 2D mesh, device is {tuple(self.device.shape)}"
            )
        parts = self._fracture()
        if self.spec.dim % (TILE * parts):
            raise ValueError(
                f"{name}.distributed: dim {self.spec.dim} must split into {parts} slices of whole 32-wide tiles "
                f"(a multiple of {TILE * parts})"
            )
        if impl.distributed and (
            impl.decode_memory_config is not None or impl.decode_program_config is not None
        ):
            raise ValueError(
                f"{name}.decode_memory_config: the distributed norm runs interleaved (as TTTv1); set "
                "decode_memory_config and decode_program_config to None"
            )
        if impl.prefill_program_config is not None and not isinstance(
            impl.prefill_program_config, ttnn.LayerNormDefaultProgramConfig
        ):
            raise ValueError(
                f"{name}.prefill_program_config must be None or ttnn.LayerNormDefaultProgramConfig (prefill inputs are "
                f"interleaved), got {type(impl.prefill_program_config).__name__}"
            )
        self._validate_decode_sharding()

    def _validate_decode_sharding(self) -> None:
        impl, name = self.impl_config, type(self).__name__
        memory_config, program_config = impl.decode_memory_config, impl.decode_program_config
        if memory_config is None:
            if program_config is not None:
                raise ValueError(
                    f"{name}.decode_program_config is set but decode_memory_config is None (interleaved)"
                )
            return
        if (
            not memory_config.is_sharded()
            or memory_config.memory_layout != ttnn.TensorMemoryLayout.WIDTH_SHARDED
        ):
            raise ValueError(
                f"{name}.decode_memory_config must be L1 WIDTH_SHARDED, got {memory_config.memory_layout.name}"
            )
        if program_config is None:
            raise ValueError(
                f"{name}.decode_program_config: a sharded decode_memory_config needs a LayerNormShardedMultiCoreProgramConfig"
            )
        shard_h, shard_w = memory_config.shard_spec.shape
        cores = memory_config.shard_spec.grid.num_cores()
        width = -(-self.spec.dim // TILE) * TILE
        if shard_h != TILE:
            raise ValueError(
                f"{name}.decode_memory_config: shard height must be 32 (one tile of <= 32 users), got {shard_h}"
            )
        if shard_w * cores < width:
            raise ValueError(
                f"{name}.decode_memory_config: {cores} shards of width {shard_w} do not cover dim {self.spec.dim}"
            )
        pc = program_config
        if pc.block_w * TILE != shard_w or pc.block_h != 1:
            raise ValueError(
                f"{name}.decode_program_config: block_h={pc.block_h}, block_w={pc.block_w} must be 1 and the shard width "
                f"in tiles ({shard_w // TILE})"
            )
        if pc.block_w % pc.subblock_w:
            raise ValueError(
                f"{name}.decode_program_config: subblock_w={pc.subblock_w} must divide block_w={pc.block_w}"
            )
        grid, device_grid = pc.compute_with_storage_grid_size, self.device.compute_with_storage_grid_size()
        if grid.x > device_grid.x or grid.y > device_grid.y:
            raise ValueError(
                f"{name}.decode_program_config: compute_with_storage_grid_size ({grid.x},{grid.y}) exceeds the device grid "
                f"({device_grid.x},{device_grid.y})"
            )
        # Input and output shards both live in L1: 2 x one bf16 tile row per core.
        l1_bytes = 2 * shard_w * TILE * 2
        if l1_bytes > self.device.spec.l1_usable_bytes_per_core:
            raise ValueError(
                f"{name}.decode_memory_config: shards need {l1_bytes} bytes of L1 per core, more than the "
                f"{self.device.spec.l1_usable_bytes_per_core} available"
            )

    # --- weights -----------------------------------------------------------------------------------
    def _weight_mapper(self):
        """Replicate the weight, or split its ``dim/32`` rows over the devices the width is fractured over."""
        impl = self.impl_config
        if not impl.distributed:
            return ttnn.ReplicateTensorToMesh(self.device)
        if impl.cluster_axis is None:
            return ttnn.ShardTensorToMesh(self.device, dim=2)
        dims = (2, None) if impl.cluster_axis == 0 else (None, 2)
        return ttnn.ShardTensor2dMesh(self.device, mesh_shape=tuple(self.device.shape), dims=dims)

    def _to_device(self, vector: torch.Tensor):
        padded = torch.nn.functional.pad(vector.to(torch.float32), (0, -vector.shape[-1] % TILE))
        return ttnn.from_torch(
            padded.reshape(1, 1, -1, TILE),
            dtype=self.impl_config.weight_dtype,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
            mesh_mapper=self._weight_mapper(),
        )

    def _load(self, state_dict, keys: tuple[str, ...], offset: float = 0.0) -> None:
        where = f"{self.module_path}.load_weights"
        check_no_unexpected(state_dict, keys, where)
        for key in keys:
            tensor = take(state_dict, key, (self.spec.dim,), where).detach()
            if not tensor.is_meta and not torch.isfinite(tensor).all():  # meta: shapes-only build
                raise ValueError(f"{where}: weight {key!r} contains NaN or Inf")
            self._torch_weights[key] = tensor.to(torch.float32)
            setattr(
                self, key, self._to_device(tensor.to(torch.float32) + (offset if key == "weight" else 0.0))
            )

    def _require_loaded(self) -> None:
        if self.weight is None:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before forward")

    # --- forward -----------------------------------------------------------------------------------
    def _check_input(self, x, where: str) -> None:
        expected = self.spec.dim // self._fracture()
        if not isinstance(x, ttnn.Tensor) or len(x.shape) != 4 or x.shape[-1] != expected:
            shape = list(x.shape) if isinstance(x, ttnn.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.module_path}.{where}: input must be a (1, 1, rows, {expected}) ttnn.Tensor, got {shape}"
            )

    def _bias_kwargs(self) -> dict:
        return {"bias": self.bias} if self.bias is not None else {}

    def forward_prefill(self, x):
        """Normalize one user's ``(1, 1, seq_len, dim)`` hidden states (``dim / n`` per device if distributed)."""
        self._require_loaded()
        self._check_input(x, "forward_prefill")
        impl = self.impl_config
        with op_scope(self.module_path):
            if impl.distributed:
                return self._distributed(x, impl.prefill_memory_config)
            return self._op(
                x,
                epsilon=self.spec.eps,
                weight=self.weight,
                program_config=impl.prefill_program_config,
                memory_config=impl.prefill_memory_config,
                compute_kernel_config=impl.compute_kernel_config,
                **self._bias_kwargs(),
            )

    def forward_decode(self, x):
        """Normalize ``(1, 1, batch, dim)`` decode hidden states (batch <= 32 users).

        With a sharded ``decode_memory_config`` the input is resharded into it (if it is not
        already) and the output stays sharded there.
        """
        self._require_loaded()
        self._check_input(x, "forward_decode")
        if x.shape[2] > TILE:
            raise ValueError(f"{self.module_path}.forward_decode: at most 32 users, got {x.shape[2]} rows")
        impl = self.impl_config
        with op_scope(self.module_path):
            if impl.distributed:
                return self._distributed(x, None)
            if impl.decode_memory_config is not None and x.memory_config() != impl.decode_memory_config:
                x = ttnn.to_memory_config(x, impl.decode_memory_config)
            return self._op(
                x,
                epsilon=self.spec.eps,
                weight=self.weight,
                program_config=impl.decode_program_config,
                memory_config=impl.decode_memory_config,
                compute_kernel_config=impl.compute_kernel_config,
                **self._bias_kwargs(),
            )

    def _distributed(self, x, memory_config):
        impl = self.impl_config
        stats = self._pre_op(x, compute_kernel_config=impl.compute_kernel_config, dtype=impl.stats_dtype)
        stats = ttnn.all_gather(
            stats,
            3,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
            **collective_kwargs(self.device, impl.cluster_axis),
        )
        out = self._post_op(
            x,
            stats,
            epsilon=self.spec.eps,
            weight=self.weight,
            memory_config=memory_config,
            compute_kernel_config=impl.compute_kernel_config,
            **self._bias_kwargs(),
        )
        ttnn.deallocate(stats)
        return out


class RMSNorm(_Norm):
    """RMSNorm (Llama) and Gemma's ``(1 + w)`` RMSNorm (``RMSNormSpec(weight_offset=1.0)``).

    Example:
        >>> norm = RMSNorm(spec, get_default_impl_config(spec, device, "prefill"), device)
        >>> norm.load_weights({"weight": torch_weight})          # HF layout: (dim,)
        >>> y = norm.forward_prefill(x)                            # (1, 1, seq, dim) TILE bfloat16
    """

    _op = staticmethod(ttnn.rms_norm)
    _pre_op = staticmethod(ttnn.rms_norm_pre_all_gather)
    _post_op = staticmethod(ttnn.rms_norm_post_all_gather)

    def load_weights(self, state_dict) -> None:
        """Load ``{"weight": (dim,)}``; ``spec.weight_offset`` is added before the weight goes to device."""
        self._load(state_dict, ("weight",), offset=self.spec.weight_offset)

    def torch_reference(self):
        """Float32 torch RMSNorm from the loaded weight: ``x * rsqrt(mean(x^2) + eps) * (w + offset)``."""
        if "weight" not in self._torch_weights:
            raise RuntimeError(f"{self.module_path}: call load_weights before torch_reference")
        weight = self._torch_weights["weight"] + self.spec.weight_offset
        eps = self.spec.eps

        def reference(x: torch.Tensor) -> torch.Tensor:
            x = x.to(torch.float32)
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

        return reference


class LayerNorm(_Norm):
    """LayerNorm with optional bias (``torch.nn.LayerNorm`` semantics, biased variance)."""

    _op = staticmethod(ttnn.layer_norm)
    _pre_op = staticmethod(ttnn.layer_norm_pre_all_gather)
    _post_op = staticmethod(ttnn.layer_norm_post_all_gather)

    def load_weights(self, state_dict) -> None:
        """Load ``{"weight": (dim,), "bias": (dim,)}`` (no ``bias`` when ``spec.bias`` is False)."""
        self._load(state_dict, ("weight", "bias") if self.spec.bias else ("weight",))

    def torch_reference(self):
        """Float32 ``torch.nn.functional.layer_norm`` with the loaded weight and bias."""
        if "weight" not in self._torch_weights:
            raise RuntimeError(f"{self.module_path}: call load_weights before torch_reference")
        weight, bias, eps = self._torch_weights["weight"], self._torch_weights.get("bias"), self.spec.eps

        def reference(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.layer_norm(x.to(torch.float32), (x.shape[-1],), weight, bias, eps)

        return reference
