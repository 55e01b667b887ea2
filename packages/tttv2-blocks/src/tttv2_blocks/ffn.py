"""Feed-forward block: MLP (``down(act(up(x)))``), SwiGLU and GeGLU (``down(act(gate(x)) * up(x))``).

Tensor parallelism (Megatron style, the hidden state stays replicated between blocks)::

    x (replicated, full hidden)
      |-- gate_proj, up_proj: column-parallel, device i holds columns i*I/n .. (i+1)*I/n
      |   act(gate) * up      (local, I/n wide)
      |-- down_proj: row-parallel, device i holds rows i*I/n .. (i+1)*I/n  -> partial sums
      all_reduce              -> full output replicated on every device (+ down bias)

The intermediate dim is split over EVERY device of the mesh: N300 (1x2) and T3K (1x8) all_reduce
once over the whole mesh; TG (8x4) shards over all 32 chips (row-major mesh order) and reduces in
two steps, along ``cluster_axis=1`` (the 4 columns of each row) then ``cluster_axis=0`` (the 8
rows), so each step uses one ring/line of physical links.

The activation of a gated FFN is fused into the multiply (``ttnn.mul(gate, up,
input_tensor_a_activations=[SILU])``, as TTTv1's ``mlp.py`` does); a plain MLP fuses it into the up
projection's matmul (``fused_activation`` of its program config).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks.ccl import AllReduce, is_2d_mesh
from tttv2_blocks.config import PRECISION, LinearImplConfig, check_strategy_and_mode
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.linear_op import ACTIVATION_DTYPES, LinearOp
from tttv2_blocks.module import Module
from tttv2_blocks.strict_fields import StrictFields
from tttv2_blocks.weights import check_no_unexpected, take

# HF activation names -> our names: silu (Llama), gelu (exact erf), gelu_tanh (gelu_pytorch_tanh,
# gelu_new), relu (OPT).
ACTIVATIONS = ("silu", "gelu", "gelu_tanh", "relu")
MAX_DECODE_BATCH = 32


def unary_activation(name: str):
    """The ``ttnn.UnaryWithParam`` TTNN fuses for one of ``ACTIVATIONS``."""
    return {
        "silu": ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU),
        "gelu": ttnn.UnaryWithParam(ttnn.UnaryOpType.GELU, 0.0),  # param 0: accurate (erf) GELU
        "gelu_tanh": ttnn.UnaryWithParam(ttnn.UnaryOpType.GELU_TANH),
        "relu": ttnn.UnaryWithParam(ttnn.UnaryOpType.RELU),
    }[name]


def torch_activation(name: str):
    return {
        "silu": torch.nn.functional.silu,
        "gelu": torch.nn.functional.gelu,
        "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        "relu": torch.relu,
    }[name]


@dataclass(frozen=True)
class FeedForwardSpec:
    """The math of a feed-forward block.

    Attributes:
        hidden_dim: model width H (input and output features).
        intermediate_dim: inner width I.
        activation: "silu" | "gelu" | "gelu_tanh" | "relu".
        gated: True for GLU variants (SwiGLU, GeGLU: ``act(gate(x)) * up(x)``), False for an MLP.
        bias: whether every projection has a bias.
    """

    hidden_dim: int
    intermediate_dim: int
    activation: str = "silu"
    gated: bool = True
    bias: bool = False

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("hidden_dim", "intermediate_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FeedForwardSpec.{name} must be a positive int, got {value!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"FeedForwardSpec.activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        for name in ("gated", "bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"FeedForwardSpec.{name} must be a bool, got {getattr(self, name)!r}")

    @property
    def projections(self) -> tuple[str, ...]:
        return ("gate_proj", "up_proj", "down_proj") if self.gated else ("up_proj", "down_proj")


@dataclass
class FeedForwardImplConfig(StrictFields):
    """TTNN choices of a feed-forward block.

    Attributes:
        up_proj, down_proj: the two (column-, row-parallel) projections.
        gate_proj: the gate projection of a gated FFN (``None`` for an MLP).
        product_dtype: dtype of ``act(gate) * up`` (the down projection's input); TTTv1 uses bfloat8_b.
        decode_dram_sharded: weights width-sharded over the DRAM banks and decode run with
            DRAM-sharded matmuls (TTTv1's decode MLP); False keeps weights DRAM-interleaved.
        output_decode_memory_config: memory config of the block's decode output (after the
            all-reduce); ``None`` = L1 interleaved.
        output_prefill_memory_config: same for prefill; ``None`` = DRAM interleaved.
        collective: how the row-parallel partial sums are all-reduced: ``"all_reduce"`` (one
            ``ttnn.all_reduce`` per mesh axis) or ``"all_gather_reduce"`` (TTTv1's 2D-mesh
            ``all_gather_async`` + ``fast_reduce_nc``); see ``tttv2_blocks.ccl``.
    """

    up_proj: LinearImplConfig
    down_proj: LinearImplConfig
    gate_proj: LinearImplConfig | None = None
    product_dtype: object = ttnn.bfloat8_b
    decode_dram_sharded: bool = True
    output_decode_memory_config: object | None = None
    output_prefill_memory_config: object | None = None
    collective: str = "all_reduce"


@get_default_impl_config.register
def _(spec: FeedForwardSpec, device, mode: str = "both", strategy: str = "default") -> FeedForwardImplConfig:
    """TTTv1's MLP precision (``PRECISION[strategy]["ffn_gate_up" / "ffn_down"]``), configs derived at call time."""
    strategy = check_strategy_and_mode(strategy, mode, "get_default_impl_config(FeedForwardSpec)")
    precision = PRECISION[strategy]
    gate_up = precision["ffn_gate_up"]
    return FeedForwardImplConfig(
        gate_proj=LinearImplConfig.from_precision(gate_up) if spec.gated else None,
        up_proj=LinearImplConfig.from_precision(gate_up),
        down_proj=LinearImplConfig.from_precision(precision["ffn_down"]),
        product_dtype=ttnn.bfloat8_b if strategy == "performance" else ttnn.bfloat16,
        decode_dram_sharded=mode in ("decode", "both"),
    )


class FeedForward(Module):
    """A feed-forward block on a (mesh) device. See the module docstring for the parallel scheme.

    Weights (HF layout, block-local keys): ``gate_proj.weight (I, H)`` (gated only),
    ``up_proj.weight (I, H)``, ``down_proj.weight (H, I)``, plus ``.bias`` of each when ``spec.bias``.
    """

    def __init__(self, spec: FeedForwardSpec, impl_config: FeedForwardImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        name = type(self).__name__
        if not isinstance(impl_config, FeedForwardImplConfig):
            raise TypeError(
                f"{name}: impl_config must be a FeedForwardImplConfig, got {type(impl_config).__name__}"
            )
        if spec.gated != (impl_config.gate_proj is not None):
            need = "a gate_proj LinearImplConfig" if spec.gated else "gate_proj=None"
            raise ValueError(f"{name}.gate_proj: spec.gated={spec.gated} needs {need}")
        if impl_config.product_dtype not in ACTIVATION_DTYPES:
            raise ValueError(
                f"{name}.product_dtype must be one of {[d.name for d in ACTIVATION_DTYPES]}, got {impl_config.product_dtype!r}"
            )
        self.num_devices = device.get_num_devices()
        self.all_reduce = AllReduce(device, impl_config.collective, where=f"{name}.collective")
        if spec.intermediate_dim % self.num_devices:
            raise ValueError(
                f"{name}: intermediate_dim {spec.intermediate_dim} must split evenly over the {self.num_devices} devices of {device}"
            )
        local = spec.intermediate_dim // self.num_devices
        h = spec.hidden_dim
        sharded = impl_config.decode_dram_sharded
        activation = None if spec.gated else unary_activation(spec.activation)
        self.up_proj = LinearOp(f"{name}.up_proj", impl_config.up_proj, device, h, local, sharded, activation)
        self.gate_proj = (
            LinearOp(f"{name}.gate_proj", impl_config.gate_proj, device, h, local, sharded)
            if spec.gated
            else None
        )
        self.down_proj = LinearOp(f"{name}.down_proj", impl_config.down_proj, device, local, h, sharded)
        self.down_bias = None
        self._torch_weights: dict[str, torch.Tensor] = {}

    # --- weights -------------------------------------------------------------------------------------
    def load_weights(self, state_dict) -> None:
        """Load HF-layout weights (see class docstring); errors name the tensor and the shapes."""
        spec, where = self.spec, f"{self.module_path}.load_weights"
        h, i = spec.hidden_dim, spec.intermediate_dim
        shapes = {"gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}
        expected = {f"{p}.weight": shapes[p] for p in spec.projections}
        if spec.bias:
            expected.update({f"{p}.bias": (shapes[p][0],) for p in spec.projections})
        check_no_unexpected(state_dict, expected, where)
        tensors = {
            key: take(state_dict, key, shape, where).detach().to(torch.float32)
            for key, shape in expected.items()
        }
        for key, tensor in tensors.items():
            if not tensor.is_meta and not torch.isfinite(tensor).all():  # meta: shapes-only build
                raise ValueError(f"{where}: weight {key!r} contains NaN or Inf")
        self._torch_weights = tensors
        columns = ttnn.ShardTensorToMesh(self.device, dim=1)  # (K, N) split on N
        rows = ttnn.ShardTensorToMesh(self.device, dim=0)  # (K, N) split on K
        for proj in ("gate_proj", "up_proj"):
            op = getattr(self, proj)
            if op is not None:
                op.load(
                    tensors[f"{proj}.weight"].T.contiguous(), columns, tensors.get(f"{proj}.bias"), columns
                )
        self.down_proj.load(tensors["down_proj.weight"].T.contiguous(), rows)
        if spec.bias:
            self.down_bias = ttnn.from_torch(
                tensors["down_proj.bias"].reshape(1, 1, 1, -1),
                dtype=ttnn.bfloat16,
                layout=ttnn.TILE_LAYOUT,
                device=self.device,
                mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
            )

    def torch_reference(self):
        """Plain float32 torch of the same math from the loaded (unquantized) weights: ``(..., H) -> (..., H)``."""
        if not self._torch_weights:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before torch_reference()")
        w, act = self._torch_weights, torch_activation(self.spec.activation)

        def linear(x, name):
            return torch.nn.functional.linear(x, w[f"{name}.weight"], w.get(f"{name}.bias"))

        def reference(x: torch.Tensor) -> torch.Tensor:
            x = x.to(torch.float32)
            inner = (
                act(linear(x, "gate_proj")) * linear(x, "up_proj")
                if self.spec.gated
                else act(linear(x, "up_proj"))
            )
            return linear(inner, "down_proj")

        return reference

    # --- forward -------------------------------------------------------------------------------------
    def _check(self, x, where: str, max_rows: int | None) -> None:
        if self.up_proj.weight is None:
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

    def _product(self, gate, up, memory_config):
        return ttnn.mul(
            gate,
            up,
            input_tensor_a_activations=[unary_activation(self.spec.activation)],
            dtype=self.impl_config.product_dtype,
            memory_config=memory_config,
        )

    def _all_reduce(self, out):
        """Sum the row-parallel partial outputs over the mesh (two steps on a 2D mesh)."""
        if self.num_devices == 1:
            return out
        if is_2d_mesh(self.device):
            out = self.all_reduce(out, 1)
            return self.all_reduce(out, 0)
        return self.all_reduce(out)

    def _finish(self, out, memory_config):
        out = self._all_reduce(out)
        if self.down_bias is not None:
            out = ttnn.add(out, self.down_bias, memory_config=memory_config)
        if out.memory_config() != memory_config:
            out = ttnn.to_memory_config(out, memory_config)
        return out

    def forward_decode(self, x):
        """``(1, 1, batch, H)`` -> ``(1, 1, batch, H)`` replicated, batch <= 32 users."""
        self._check(x, "forward_decode", MAX_DECODE_BATCH)
        with op_scope(self.module_path):
            if self.gate_proj is not None:
                x_in = self.gate_proj.prepare_decode_input(x)
                gate = self.gate_proj.decode(x_in)
                up = self.up_proj.decode(x_in)
                inner = self._product(gate, up, gate.memory_config())
            else:
                inner = self.up_proj.decode(x)
            out = self.down_proj.decode(inner)
            target = self.impl_config.output_decode_memory_config or ttnn.L1_MEMORY_CONFIG
            # A sharded target (the layer's width-sharded residual) is resharded into directly; the
            # all-reduce and the bias add take the interleaved output.
            if out.is_sharded() and (
                self.num_devices > 1 or self.down_bias is not None or not target.is_sharded()
            ):
                out = ttnn.to_memory_config(out, ttnn.L1_MEMORY_CONFIG)
            return self._finish(out, target)

    def forward_prefill(self, x):
        """One user's ``(1, 1, seq_len, H)`` -> ``(1, 1, seq_len, H)`` replicated."""
        self._check(x, "forward_prefill", None)
        with op_scope(self.module_path):
            if self.gate_proj is not None:
                gate = self.gate_proj.prefill(x)
                up = self.up_proj.prefill(x)
                inner = self._product(gate, up, ttnn.DRAM_MEMORY_CONFIG)
            else:
                inner = self.up_proj.prefill(x)
            out = self.down_proj.prefill(inner)
            return self._finish(out, self.impl_config.output_prefill_memory_config or ttnn.DRAM_MEMORY_CONFIG)
