"""Rotary position embedding (RoPE): frequencies (default, linear, llama3, yarn), partial rotary,
and the device tables ``ttnn.experimental.rotary_embedding_llama`` consumes.

Layout decision. HF models rotate *halves* of each head (dim ``i`` pairs with ``i + d/2``:
``rotate_half``); Meta's checkpoints rotate *adjacent pairs* (``2i`` with ``2i + 1``). TTNN's
``rotary_embedding_llama`` multiplies every 32-wide tile of a head by one 32x32 transformation
matrix, so it can only pair dims inside a tile: the adjacent-pair (Meta) layout. TTTv2 therefore
permutes the q/k projection rows of each head from HF order to Meta order when loading weights
(``hf_to_meta_permutation``; TTTv1 did the same). Attention scores ``q . k`` are invariant under a
permutation applied to both q and k, so outputs are unchanged; only the K cache holds keys in Meta
order (``Attention.read_kv_cache`` undoes it). V and the output projection are untouched::

    HF head (d=8):   [x0 x1 x2 x3 | x4 x5 x6 x7]   pairs (x0,x4) (x1,x5) ...
    device head:     [x0 x4 x1 x5 x2 x6 x3 x7]     pairs (x0,x4) (x1,x5) ... adjacent

Partial rotary (``partial_rotary_factor < 1``, e.g. Phi, GPT-NeoX): only the first
``rotary_dim`` dims rotate; the rest pass through (cos = 1, sin = 0 in the device tables). Heads
whose size is not a multiple of 32 are zero-padded to one (``padded_head_dim``), the padding also
passes through.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch
from tttv2_hwconfig import is_shapes_only, op_scope, ttnn

from tttv2_blocks.config import check_strategy_and_mode
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import StrictFields

TILE = 32
SCALING_KINDS = ("linear", "llama3", "yarn")


def padded_head_dim(head_dim: int) -> int:
    """The head size on device: the next multiple of 32 (TTNN's attention ops need whole tiles)."""
    return -(-head_dim // TILE) * TILE


@dataclass(frozen=True)
class RopeScaling:
    """Context-extension scaling of the rotary frequencies (HF ``rope_parameters`` / ``rope_scaling``).

    Attributes:
        kind: "linear" (positions / factor), "llama3" (Llama 3.1 wavelength-banded) or "yarn".
        factor: the context-extension factor.
        low_freq_factor, high_freq_factor: llama3 band edges.
        original_max_position_embeddings: pre-training context (llama3, yarn).
        beta_fast, beta_slow: yarn ramp bounds (in rotations).
        mscale, mscale_all_dim: yarn attention-factor parameters (DeepSeek style), optional.
        attention_factor: yarn cos/sin scale; ``None`` derives it from ``factor`` (and mscales).
        truncate: yarn rounds the correction range to whole dims.
    """

    kind: str
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int | None = None
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if self.kind not in SCALING_KINDS:
            raise ValueError(f"RopeScaling.kind must be one of {SCALING_KINDS}, got {self.kind!r}")
        if not isinstance(self.factor, int | float) or not self.factor > 0:
            raise ValueError(f"RopeScaling.factor must be a positive number, got {self.factor!r}")
        if self.kind in ("llama3", "yarn"):
            if (
                not isinstance(self.original_max_position_embeddings, int)
                or self.original_max_position_embeddings < 1
            ):
                raise ValueError(
                    f"RopeScaling.original_max_position_embeddings must be a positive int for kind={self.kind!r}, "
                    f"got {self.original_max_position_embeddings!r}"
                )
        if self.kind == "llama3" and self.low_freq_factor == self.high_freq_factor:
            raise ValueError("RopeScaling: llama3 needs low_freq_factor != high_freq_factor")

    @classmethod
    def from_hf(cls, parameters: dict) -> RopeScaling | None:
        """From an HF ``rope_parameters`` / ``rope_scaling`` dict; ``None`` for the default rope."""
        if not parameters:
            return None
        kind = parameters.get("rope_type", parameters.get("type", "default"))
        if kind == "default":
            return None
        if kind not in SCALING_KINDS:
            raise ValueError(
                f"RopeScaling.from_hf: rope_type {kind!r} is not supported; supported: {SCALING_KINDS}"
            )
        known = {f for f in cls.__dataclass_fields__ if f != "kind"}
        values = {k: v for k, v in parameters.items() if k in known and v is not None}
        return cls(kind=kind, **values)


@dataclass(frozen=True)
class RopeSpec:
    """The math of rotary position embedding for one head size.

    Attributes:
        head_dim: the attention head size d.
        theta: the frequency base (HF ``rope_theta``).
        scaling: optional ``RopeScaling``.
        partial_rotary_factor: fraction of each head that rotates (``rotary_dim = int(d * factor)``).
        max_position_embeddings: the model's context length; sizes the cos/sin tables by default.
    """

    head_dim: int
    theta: float = 10000.0
    scaling: RopeScaling | None = None
    partial_rotary_factor: float = 1.0
    max_position_embeddings: int = 4096

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.head_dim, int) or self.head_dim < 2:
            raise ValueError(f"RopeSpec.head_dim must be an int >= 2, got {self.head_dim!r}")
        if padded_head_dim(self.head_dim) > 256:
            raise ValueError(
                f"RopeSpec.head_dim {self.head_dim} is too large: rotary_embedding_llama supports up to 256"
            )
        if not isinstance(self.theta, int | float) or not self.theta > 1:
            raise ValueError(f"RopeSpec.theta must be > 1, got {self.theta!r}")
        if not 0 < self.partial_rotary_factor <= 1:
            raise ValueError(
                f"RopeSpec.partial_rotary_factor must be in (0, 1], got {self.partial_rotary_factor!r}"
            )
        if self.rotary_dim < 2 or self.rotary_dim % 2:
            raise ValueError(
                f"RopeSpec: rotary_dim = int(head_dim * partial_rotary_factor) = {self.rotary_dim} must be even and >= 2"
            )
        if not isinstance(self.max_position_embeddings, int) or self.max_position_embeddings < 1:
            raise ValueError(
                f"RopeSpec.max_position_embeddings must be a positive int, got {self.max_position_embeddings!r}"
            )
        if self.scaling is not None and not isinstance(self.scaling, RopeScaling):
            raise ValueError(
                f"RopeSpec.scaling must be a RopeScaling or None, got {type(self.scaling).__name__}"
            )

    @property
    def rotary_dim(self) -> int:
        return int(self.head_dim * self.partial_rotary_factor)

    # --- frequencies (independent re-derivation of HF modeling_rope_utils) -------------------------------
    def inv_freq(self) -> torch.Tensor:
        """Inverse frequencies ``(rotary_dim / 2,)`` float32, after scaling."""
        dim = self.rotary_dim
        exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float32) / dim
        base = 1.0 / (self.theta**exponents)
        scaling = self.scaling
        if scaling is None:
            return base
        if scaling.kind == "linear":
            return base / scaling.factor
        if scaling.kind == "llama3":
            return _llama3_inv_freq(base, scaling)
        return _yarn_inv_freq(dim, self.theta, scaling, self.max_position_embeddings)

    def attention_scaling(self) -> float:
        """Scale applied to cos and sin (1 except yarn)."""
        scaling = self.scaling
        if scaling is None or scaling.kind != "yarn":
            return 1.0
        if scaling.attention_factor is not None:
            return float(scaling.attention_factor)
        if scaling.mscale and scaling.mscale_all_dim:
            return float(
                _yarn_mscale(scaling.factor, scaling.mscale)
                / _yarn_mscale(scaling.factor, scaling.mscale_all_dim)
            )
        return _yarn_mscale(scaling.factor)

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """Rotation angles ``(len(positions), rotary_dim / 2)`` in float64."""
        return positions.to(torch.float64).unsqueeze(-1) * self.inv_freq().to(torch.float64)

    def device_cos_sin(
        self, positions: torch.Tensor, head_dim_padded: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin rows ``(len(positions), head_dim_padded)`` in the device (Meta, pair-repeated) layout.

        Rotary dims hold ``cos/sin(angle) * attention_scaling`` repeated per pair; pass-through and
        padding dims hold cos = 1, sin = 0.
        """
        width = head_dim_padded or padded_head_dim(self.head_dim)
        angles = self.angles(positions)
        scale = self.attention_scaling()
        cos = torch.ones(len(positions), width, dtype=torch.float64)
        sin = torch.zeros(len(positions), width, dtype=torch.float64)
        cos[:, : self.rotary_dim] = (angles.cos() * scale).repeat_interleave(2, dim=-1)
        sin[:, : self.rotary_dim] = (angles.sin() * scale).repeat_interleave(2, dim=-1)
        return cos.to(torch.float32), sin.to(torch.float32)

    @classmethod
    def from_hf_config(cls, config, head_dim: int | None = None, layer_type: str | None = None) -> RopeSpec:
        """From an HF text config (transformers >= 5 ``rope_parameters``, or older ``rope_theta`` +
        ``rope_scaling``).

        Transformers 5 gives models whose layer types rotate differently (Gemma 3: local layers
        theta 1e4, global layers 1e6 with their own scaling) one parameter dict per layer type,
        ``{"sliding_attention": {...}, "full_attention": {...}}``; pass ``layer_type`` (an entry of
        ``config.layer_types``) to read one of them. A flat dict serves every layer type.

        Raises:
            RopeConfigError: per-layer-type parameters without ``layer_type`` (or for a layer type
                they do not list, or without ``rope_theta``), or a ``rope_parameters`` value that
                is neither form.
            ValueError: an unsupported ``rope_type`` (from ``RopeScaling.from_hf``).
        """
        parameters = _hf_rope_parameters(config, layer_type)
        theta = parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0))
        partial = parameters.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", 1.0))
        head_dim = (
            head_dim or getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        return cls(
            head_dim=head_dim,
            theta=float(theta),
            scaling=RopeScaling.from_hf(parameters),
            partial_rotary_factor=float(partial),
            max_position_embeddings=int(config.max_position_embeddings),
        )


class RopeConfigError(ValueError):
    """An HF rope configuration ``RopeSpec.from_hf_config`` cannot map; the message says what and why."""


def _hf_rope_parameters(config, layer_type: str | None) -> dict:
    """The flat rope parameter dict that applies to ``layer_type`` (see ``RopeSpec.from_hf_config``)."""
    where = f"{type(config).__name__}.rope_parameters"
    parameters = getattr(config, "rope_parameters", None) or {}
    if not isinstance(parameters, dict):
        raise RopeConfigError(f"{where}: expected a dict, got {type(parameters).__name__}")
    nested = {key: isinstance(value, dict) for key, value in parameters.items()}
    if not any(nested.values()):  # one flat dict for every layer (or the legacy spelling)
        legacy = getattr(config, "rope_scaling", None)
        return dict(parameters) if parameters else dict(legacy or {})
    if not all(nested.values()):
        raise RopeConfigError(
            f"{where}: mixes per-layer-type dicts {sorted(k for k, v in nested.items() if v)} with flat "
            f"keys {sorted(k for k, v in nested.items() if not v)}; expected one form"
        )
    if layer_type is None:
        raise RopeConfigError(
            f"{where}: one rope per layer type {sorted(parameters)}; pass layer_type= (an entry of "
            "config.layer_types) to RopeSpec.from_hf_config"
        )
    if layer_type not in parameters:
        raise RopeConfigError(
            f"{where}: no rope parameters for layer_type {layer_type!r}; it has {sorted(parameters)}"
        )
    chosen = dict(parameters[layer_type])
    if "rope_theta" not in chosen:
        raise RopeConfigError(f"{where}[{layer_type!r}]: missing rope_theta (got keys {sorted(chosen)})")
    return chosen


def _llama3_inv_freq(inv_freq: torch.Tensor, scaling: RopeScaling) -> torch.Tensor:
    """Llama 3.1: keep high frequencies, divide low ones by ``factor``, interpolate the band between."""
    context = scaling.original_max_position_embeddings
    low_wavelen = context / scaling.low_freq_factor
    high_wavelen = context / scaling.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
    smooth = (context / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, smoothed, scaled)


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn_inv_freq(
    dim: int, theta: float, scaling: RopeScaling, max_position_embeddings: int
) -> torch.Tensor:
    """YaRN: blend interpolated (/factor) and extrapolated frequencies with a linear ramp over dims."""
    factor = scaling.factor
    context = scaling.original_max_position_embeddings or max_position_embeddings

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(context / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(scaling.beta_fast), correction_dim(scaling.beta_slow)
    if scaling.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolation_weight = 1 - ramp
    pos_freqs = theta ** (torch.arange(0, dim, 2).to(torch.float32) / dim)
    return (1.0 / (factor * pos_freqs)) * (1 - extrapolation_weight) + (
        1.0 / pos_freqs
    ) * extrapolation_weight


# --- layout helpers ------------------------------------------------------------------------------------


def hf_to_meta_permutation(head_dim: int, rotary_dim: int | None = None) -> torch.Tensor:
    """Index list ``perm`` with ``meta_head = hf_head[perm]``: rotate-half pairs become adjacent pairs.

    Only the first ``rotary_dim`` dims move (``2i <- i``, ``2i + 1 <- i + rotary_dim / 2``); the
    pass-through dims keep their place.
    """
    rotary_dim = head_dim if rotary_dim is None else rotary_dim
    half = rotary_dim // 2
    perm = torch.arange(head_dim)
    perm[0:rotary_dim:2] = torch.arange(half)
    perm[1:rotary_dim:2] = torch.arange(half) + half
    return perm


def transformation_matrix() -> torch.Tensor:
    """The 32x32 tile ``T`` with ``[x0, x1] @ T = [-x1, x0]`` on every adjacent pair: ``(1, 1, 32, 32)``."""
    mat = torch.zeros(1, 1, TILE, TILE)
    mat[..., torch.arange(0, TILE, 2), torch.arange(1, TILE, 2)] = 1.0
    mat[..., torch.arange(1, TILE, 2), torch.arange(0, TILE, 2)] = -1.0
    return mat


def apply_rope_hf(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rotary_dim: int) -> torch.Tensor:
    """Reference rotate-half RoPE on HF-ordered heads: ``x (..., seq, d)``, ``cos/sin (seq, rotary_dim/2)``."""
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    half = rotary_dim // 2
    cos2 = torch.cat([cos, cos], dim=-1).to(x.dtype)
    sin2 = torch.cat([sin, sin], dim=-1).to(x.dtype)
    rotated = torch.cat([-rot[..., half:], rot[..., :half]], dim=-1)
    return torch.cat([rot * cos2 + rotated * sin2, rest], dim=-1)


# --- impl config and device helper ------------------------------------------------------------------------


@dataclass
class RopeImplConfig(StrictFields):
    """TTNN choices of the rotary embedding.

    Attributes:
        compute_kernel_config: of ``rotary_embedding_llama`` (``None``: the op's default, HiFi4).
        max_seq_len: positions the cos/sin tables cover (``None``: ``spec.max_position_embeddings``).
    """

    compute_kernel_config: object | None = None
    max_seq_len: int | None = None


@get_default_impl_config.register
def _(spec: RopeSpec, device, mode: str = "both", strategy: str = "default") -> RopeImplConfig:
    """The op's own default kernel config; tables sized to the model's context."""
    check_strategy_and_mode(strategy, mode, "get_default_impl_config(RopeSpec)")
    return RopeImplConfig()


class Rope(Module):
    """RoPE on a (mesh) device: cos/sin tables, transformation matrices and the rotation itself.

    Tables are ``(1, 1, max_seq_len, head_dim_padded)`` bfloat16 replicated on every device. Prefill
    slices rows ``[start, start + seq)``; decode looks up one row per user on device
    (``ttnn.embedding`` of a UINT32 rotation-index tensor, ``rot_idxs``) and height-shards it one
    user per core, as ``rotary_embedding_llama(is_decode_mode=True)`` requires. The embedding op
    takes only UINT32 or BFLOAT16 indices, so the int32 ``cur_pos`` tensor the cache and SDPA ops
    read cannot be the index: the rotation index is a second tensor of the same positions (as
    TTTv1's ``RotarySetup.get_rot_idxs``).

    Inputs are in the device (Meta) head layout, see the module docstring.
    """

    def __init__(self, spec: RopeSpec, impl_config: RopeImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        name = type(self).__name__
        if not isinstance(impl_config, RopeImplConfig):
            raise TypeError(f"{name}: impl_config must be a RopeImplConfig, got {type(impl_config).__name__}")
        self.max_seq_len = impl_config.max_seq_len or spec.max_position_embeddings
        if not isinstance(self.max_seq_len, int) or self.max_seq_len < 1:
            raise ValueError(f"{name}.max_seq_len must be a positive int, got {self.max_seq_len!r}")
        kernel = impl_config.compute_kernel_config
        if kernel is not None:
            if not isinstance(kernel, ttnn.WormholeComputeKernelConfig):
                raise ValueError(
                    f"{name}.compute_kernel_config must be a ttnn.WormholeComputeKernelConfig, got {type(kernel).__name__}"
                )
            if kernel.fp32_dest_acc_en and padded_head_dim(spec.head_dim) > 128:
                raise ValueError(
                    f"{name}.compute_kernel_config: head_dim > 128 needs fp32_dest_acc_en=False (rotary_embedding_llama)"
                )
        self.head_dim_padded = padded_head_dim(spec.head_dim)
        replicate = ttnn.ReplicateTensorToMesh(device)
        cos, sin = spec.device_cos_sin(torch.arange(self.max_seq_len), self.head_dim_padded)

        def table(values):
            return ttnn.from_torch(
                values.reshape(1, 1, self.max_seq_len, self.head_dim_padded),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=device,
                memory_config=ttnn.DRAM_MEMORY_CONFIG,
                mesh_mapper=replicate,
            )

        self.cos_table, self.sin_table = table(cos), table(sin)
        self.trans_mat_prefill = ttnn.from_torch(
            transformation_matrix(),
            dtype=ttnn.bfloat16,
            layout=ttnn.TILE_LAYOUT,
            device=device,
            mesh_mapper=replicate,
        )
        self._trans_mat_decode: dict[int, object] = {}

    _shared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def shared(cls, spec: RopeSpec, impl_config: RopeImplConfig, device) -> Rope:
        """One ``Rope`` per (device, spec, table length, kernel config): layers with the same rope share
        its cos/sin tables instead of each holding a copy in DRAM. Shapes-only tables (``meta``, no
        values) are never handed to a numeric model on the same device, nor the other way round."""
        per_device = cls._shared.setdefault(device, {})
        key = (spec, impl_config.max_seq_len, repr(impl_config.compute_kernel_config), is_shapes_only())
        if key not in per_device:
            per_device[key] = cls(spec, impl_config, device)
        return per_device[key]

    # --- tables ------------------------------------------------------------------------------------------
    def _check_range(self, start: int, stop: int, where: str) -> None:
        if start < 0 or stop > self.max_seq_len:
            raise ValueError(
                f"{self.module_path}.{where}: positions {start}..{stop - 1} are outside the rope tables "
                f"[0, {self.max_seq_len}); raise RopeImplConfig.max_seq_len"
            )

    def prefill_rot_mats(self, start_pos: int, seq_len: int):
        """``(cos, sin)`` for positions ``start_pos .. start_pos + seq_len - 1``: ``(1, 1, seq_len, d_pad)``."""
        self._check_range(start_pos, start_pos + seq_len, "prefill_rot_mats")
        d = self.head_dim_padded
        begin, end = [0, 0, start_pos, 0], [1, 1, start_pos + seq_len, d]
        return ttnn.slice(self.cos_table, begin, end), ttnn.slice(self.sin_table, begin, end)

    def position_tensor(self, positions) -> object:
        """Per-user positions as the int32 device tensor ``(batch,)`` the decode ops read."""
        if isinstance(positions, ttnn.Tensor):
            return positions
        positions = torch.as_tensor(positions)
        if positions.dim() != 1 or positions.numel() < 1:
            raise ValueError(
                f"{self.module_path}: positions must be a 1D (batch,) tensor, got shape {list(positions.shape)}"
            )
        low, high = int(positions.min()), int(positions.max())
        self._check_range(low, high + 1, "position_tensor")
        return ttnn.from_torch(
            positions.to(torch.int32),
            dtype=ttnn.int32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def _user_sharded(self, rows: int, width: int, batch: int):
        grid = ttnn.num_cores_to_corerangeset(
            batch, self.device.compute_with_storage_grid_size(), row_wise=True
        )
        return ttnn.create_sharded_memory_config(
            (rows, width),
            grid,
            ttnn.ShardStrategy.HEIGHT,
            ttnn.ShardOrientation.ROW_MAJOR,
            use_height_and_width_as_shard_shape=True,
        )

    def rot_idxs(self, positions) -> object:
        """The UINT32 rotation-index device tensor ``(1, batch)`` that ``decode_rot_mats`` looks up.

        Args:
            positions: ``(batch,)`` torch ints / list (host values, checked against the tables), or a
                UINT32 device tensor already made by this method (returned as is).
        """
        if isinstance(positions, ttnn.Tensor):
            if positions.dtype != ttnn.uint32:
                raise ValueError(
                    f"{self.module_path}.rot_idxs: a device position tensor must be UINT32 (ttnn.embedding "
                    f"takes only UINT32/BFLOAT16 indices), got {positions.dtype}; pass the host positions "
                    "(or Rope.rot_idxs(positions)) instead of the int32 cur_pos tensor"
                )
            return positions
        positions = torch.as_tensor(positions)
        if positions.dim() != 1 or positions.numel() < 1:
            raise ValueError(
                f"{self.module_path}: positions must be a 1D (batch,) tensor, got shape {list(positions.shape)}"
            )
        low, high = int(positions.min()), int(positions.max())
        self._check_range(low, high + 1, "rot_idxs")
        return ttnn.from_torch(
            positions.reshape(1, -1).to(torch.int32),
            dtype=ttnn.uint32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=self.device,
            memory_config=ttnn.DRAM_MEMORY_CONFIG,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def decode_rot_mats(self, positions):
        """``(cos, sin)`` for one position per user: ``(1, batch, 1, d_pad)`` height-sharded one user per core.

        Args:
            positions: ``(batch,)`` host ints, or the UINT32 ``(1, batch)`` tensor of ``rot_idxs``
                (looked up on device with ``ttnn.embedding``). The int32 ``cur_pos`` tensor is refused.
        """
        index = self.rot_idxs(positions)
        if len(index.shape) != 2 or index.shape[0] != 1:
            raise ValueError(
                f"{self.module_path}.decode_rot_mats: the rotation index must be (1, batch), got {list(index.shape)}"
            )
        batch = index.shape[1]
        config = self._user_sharded(TILE, self.head_dim_padded, batch)

        def lookup(table):
            rows = ttnn.embedding(index, table, layout=ttnn.TILE_LAYOUT)  # (1, batch, d_pad)
            rows = ttnn.reshape(rows, (1, batch, 1, self.head_dim_padded))
            return ttnn.interleaved_to_sharded(rows, config)

        return lookup(self.cos_table), lookup(self.sin_table)

    def trans_mat_decode(self, batch: int):
        """The transformation matrix repeated per user, height-sharded ``(32, 32)`` per core."""
        if batch not in self._trans_mat_decode:
            self._trans_mat_decode[batch] = ttnn.from_torch(
                transformation_matrix().repeat(1, 1, batch, 1),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=self.device,
                memory_config=self._user_sharded(TILE, TILE, batch),
                mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
            )
        return self._trans_mat_decode[batch]

    # --- rotation ------------------------------------------------------------------------------------------
    def rotate_prefill(self, x, start_pos: int = 0, rot_mats=None):
        """``forward_prefill`` without an op scope (for blocks that call it inside their own)."""
        cos, sin = rot_mats if rot_mats is not None else self.prefill_rot_mats(start_pos, x.shape[-2])
        return ttnn.experimental.rotary_embedding_llama(
            x,
            cos,
            sin,
            self.trans_mat_prefill,
            is_decode_mode=False,
            compute_kernel_config=self.impl_config.compute_kernel_config,
        )

    def rotate_decode(self, x, positions=None, rot_mats=None):
        """``forward_decode`` without an op scope (for blocks that call it inside their own)."""
        if rot_mats is None:
            if positions is None:
                raise ValueError(f"{self.module_path}.forward_decode: pass positions or rot_mats")
            rot_mats = self.decode_rot_mats(positions)
        cos, sin = rot_mats
        return ttnn.experimental.rotary_embedding_llama(
            x,
            cos,
            sin,
            self.trans_mat_decode(x.shape[1]),
            is_decode_mode=True,
            compute_kernel_config=self.impl_config.compute_kernel_config,
        )

    def forward_prefill(self, x, start_pos: int = 0, rot_mats=None):
        """Rotate ``x (1, heads, seq, d_pad)`` (interleaved, bfloat16) at positions ``start_pos..``."""
        with op_scope(self.module_path):
            return self.rotate_prefill(x, start_pos, rot_mats)

    def forward_decode(self, x, positions=None, rot_mats=None):
        """Rotate ``x (1, batch, heads, d_pad)`` height-sharded one user per core, one position per user."""
        with op_scope(self.module_path):
            return self.rotate_decode(x, positions, rot_mats)

    def torch_reference(self):
        """``(x_hf (..., seq, head_dim), positions (seq,)) -> rotated`` with HF rotate-half on HF order."""
        spec = self.spec

        def reference(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            angles = spec.angles(positions)
            scale = spec.attention_scaling()
            return apply_rope_hf(
                x.to(torch.float64), angles.cos() * scale, angles.sin() * scale, spec.rotary_dim
            ).to(torch.float32)

        return reference
