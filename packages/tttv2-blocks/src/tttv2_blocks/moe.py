"""Mixture-of-experts block: a gate-linear router, top-k routed gated-FFN experts, optional shared expert.

Dense-masked expert parallelism (TTTv1's Mixtral on T3K)::

    x (replicated)
      router: logits = x @ W_gate (float32 in the accuracy strategy)         (rows, E)
      p = softmax(logits)                      over ALL experts
      mask = 1 for the top-k experts of each row, else 0
      w = p * mask  [/ sum(w)  when renormalised]
      device d holds experts d*E/n .. (d+1)*E/n - 1 and computes them on every row:
        out_d = sum_j w[:, e_j] * expert_{e_j}(x)
      all_reduce(out_d)                        -> replicated (rows, H)
      + shared expert (tensor-parallel FeedForward), optionally times sigmoid(x @ W_shared_gate)

Sparse path (``MoEImplConfig.path = "sparse"``, ``tttv2_blocks.moe_sparse``): the same router and
expert placement, but each device runs its experts with ``ttnn.sparse_matmul`` on only the
(token block, expert) pairs the top-k routed to. The default picks it from 3 experts per device
(see ``default_path``).

Mixtral's "softmax over the top-k logits" equals "softmax over all, keep top-k, renormalise", so
the two softmax orders are one ``renormalize=True`` spec; Qwen2/3-MoE's ``norm_topk_prob=False``
is ``renormalize=False``.

The mask is built from ops the 0.81.1 wheel has without a comparison op: ``ttnn.topk`` gives the
k-th and (k+1)-th largest logits per row, ``t`` their midpoint and ``s = 4 / (v_k - v_k+1)``; then
``clamp(s * (logits - t), 0, 1) = relu(d) - relu(d - 1)`` is exactly 1 for the top-k (``d >= 2``)
and 0 for the rest (``d <= -2``). A row whose k-th and (k+1)-th logits are equal (an exact router
tie) has no top-k set; HF breaks it by index, this block gives NaN weights for that row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tttv2_hwconfig import op_scope, ttnn

from tttv2_blocks.ccl import AllReduce
from tttv2_blocks.config import LinearImplConfig, Precision, check_strategy_and_mode
from tttv2_blocks.defaults import get_default_impl_config
from tttv2_blocks.ffn import (
    MAX_DECODE_BATCH,
    FeedForward,
    FeedForwardImplConfig,
    FeedForwardSpec,
    torch_activation,
    unary_activation,
)
from tttv2_blocks.linear_op import LinearOp
from tttv2_blocks.module import Module
from tttv2_blocks.moe_sparse import SparseExperts
from tttv2_blocks.weights import check_no_unexpected, take

TILE = 32
PATHS = ("dense", "sparse")


@dataclass(frozen=True)
class MoESpec:
    """The math of an MoE block.

    Attributes:
        hidden_dim: model width H.
        num_experts: routed experts E.
        top_k: experts per token (1 <= top_k < E).
        expert_intermediate_dim: inner width of each routed expert (a gated FFN).
        activation: expert activation, one of ``tttv2_blocks.ffn.ACTIVATIONS``.
        renormalize: renormalise the top-k weights to sum to 1 (Mixtral; Qwen ``norm_topk_prob``).
        shared_intermediate_dim: inner width of the shared expert, 0 for none (Qwen2-MoE: 5632).
        shared_gate: the shared expert's output is scaled by ``sigmoid(x @ W)`` (Qwen2-MoE).
    """

    hidden_dim: int
    num_experts: int
    top_k: int
    expert_intermediate_dim: int
    activation: str = "silu"
    renormalize: bool = True
    shared_intermediate_dim: int = 0
    shared_gate: bool = False

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("hidden_dim", "num_experts", "top_k", "expert_intermediate_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MoESpec.{name} must be a positive int, got {value!r}")
        if not self.top_k < self.num_experts:
            raise ValueError(
                f"MoESpec.top_k must be < num_experts ({self.num_experts}), got {self.top_k}; "
                "top_k == num_experts is a dense FFN sum"
            )
        if not isinstance(self.shared_intermediate_dim, int) or self.shared_intermediate_dim < 0:
            raise ValueError(
                f"MoESpec.shared_intermediate_dim must be an int >= 0, got {self.shared_intermediate_dim!r}"
            )
        if self.shared_gate and not self.shared_intermediate_dim:
            raise ValueError("MoESpec.shared_gate=True needs a shared expert (shared_intermediate_dim > 0)")
        FeedForwardSpec(self.hidden_dim, self.expert_intermediate_dim, self.activation)

    @property
    def expert_spec(self) -> FeedForwardSpec:
        return FeedForwardSpec(self.hidden_dim, self.expert_intermediate_dim, self.activation)

    @property
    def shared_spec(self) -> FeedForwardSpec | None:
        if not self.shared_intermediate_dim:
            return None
        return FeedForwardSpec(self.hidden_dim, self.shared_intermediate_dim, self.activation)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Block-local checkpoint key -> shape (HF per-expert layout; what ``MoE.load_weights`` takes)."""
        spec = self
        h, i, e = spec.hidden_dim, spec.expert_intermediate_dim, spec.num_experts
        expected = {"gate.weight": (e, h)}
        for x in range(e):
            expected[f"experts.{x}.gate_proj.weight"] = (i, h)
            expected[f"experts.{x}.up_proj.weight"] = (i, h)
            expected[f"experts.{x}.down_proj.weight"] = (h, i)
        if spec.shared_intermediate_dim:
            s = spec.shared_intermediate_dim
            expected.update(
                {
                    "shared_expert.gate_proj.weight": (s, h),
                    "shared_expert.up_proj.weight": (s, h),
                    "shared_expert.down_proj.weight": (h, s),
                }
            )
        if spec.shared_gate:
            expected["shared_expert_gate.weight"] = (1, h)
        return expected


@dataclass
class MoEImplConfig:
    """TTNN choices of an MoE block.

    Attributes:
        router: the gate linear (H -> E); its ``activation_dtype`` is the logits' dtype.
        gate_proj, up_proj, down_proj: every routed expert's projections (DRAM interleaved weights).
        product_dtype: dtype of ``act(gate) * up`` in the experts.
        shared_expert: the shared expert's FeedForward config (``None`` without one).
        path: ``"dense"`` (every local expert on every token, masked by its routing weight) or
            ``"sparse"`` (``ttnn.sparse_matmul`` over the routed (token block, expert) pairs only). On
            the sparse path the projections' program configs, when set, go to ``ttnn.sparse_matmul``
            and must be ``MatmulMultiCoreReuseMultiCast1DProgramConfig`` with ``mcast_in0=True``.
        collective: how the experts' per-device partial sums (dense and sparse paths) are all-reduced: ``"all_reduce"`` (one
            ``ttnn.all_reduce`` per mesh axis) or ``"all_gather_reduce"`` (TTTv1's 2D-mesh
            ``all_gather_async`` + ``fast_reduce_nc``); see ``tttv2_blocks.ccl``.
    """

    router: LinearImplConfig
    gate_proj: LinearImplConfig
    up_proj: LinearImplConfig
    down_proj: LinearImplConfig
    product_dtype: object = ttnn.bfloat8_b
    shared_expert: FeedForwardImplConfig | None = None
    path: str = "dense"
    collective: str = "all_reduce"


# Experts per device from which the default is the sparse path (see default_path).
SPARSE_MIN_LOCAL_EXPERTS = 3


def default_path(spec: MoESpec, device) -> str:
    """``"sparse"`` when a device holds at least ``SPARSE_MIN_LOCAL_EXPERTS`` (3) experts, else ``"dense"``.

    The dense path runs every local expert on every token, ~8 ops per local expert and device; the
    sparse path runs the (32-token block, expert) pairs the top-k routed to in 3 batched
    ``ttnn.sparse_matmul`` plus ~14 routing ops, whatever the expert count. TTTv1's Mixtral on T3K
    (1 expert per chip) is dense; tt-metal's gpt-oss (4 experts per chip on a Galaxy) and
    DeepSeek-V3 (8 per chip) demos run ``ttnn.sparse_matmul``. PREDICTED (perf model, 32-user
    decode, docs/moe.md): 2 experts per chip (Mixtral on P150x4) are a wash in decode and the
    sparse prefill twice as slow (each 32-token block re-reads its experts' weights); 4 per chip
    (Qwen3-MoE's 128 on TG) favour the sparse path by ~15 %, 16 per chip (T3K) by ~1.8x.
    """
    local = spec.num_experts // device.get_num_devices()
    return "sparse" if local >= SPARSE_MIN_LOCAL_EXPERTS else "dense"


@get_default_impl_config.register
def _(spec: MoESpec, device, mode: str = "both", strategy: str = "default") -> MoEImplConfig:
    """Performance: TTTv1's Mixtral (bfloat8_b router, bfloat4_b gate/up, bfloat8_b down).

    Accuracy: bfloat16 weights at HiFi4 with fp32 accumulation and float32 router logits, so
    the top-k order matches a float32 reference except at genuine near-ties. The expert path is
    ``default_path(spec, device)``.
    """
    strategy = check_strategy_and_mode(strategy, mode, "get_default_impl_config(MoESpec)")
    if strategy == "performance":
        router = Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, True)
        gate_up = Precision(ttnn.bfloat4_b, ttnn.MathFidelity.LoFi, False)
        down = Precision(ttnn.bfloat8_b, ttnn.MathFidelity.HiFi2, False)
    else:
        router = gate_up = down = Precision(ttnn.bfloat16, ttnn.MathFidelity.HiFi4, True)
    router_config = LinearImplConfig.from_precision(router)
    if strategy != "performance":
        router_config.activation_dtype = ttnn.float32
    shared = spec.shared_spec
    return MoEImplConfig(
        router=router_config,
        gate_proj=LinearImplConfig.from_precision(gate_up),
        up_proj=LinearImplConfig.from_precision(gate_up),
        down_proj=LinearImplConfig.from_precision(down),
        product_dtype=ttnn.bfloat8_b if strategy == "performance" else ttnn.bfloat16,
        shared_expert=None
        if shared is None
        else get_default_impl_config(shared, device, mode="prefill", strategy=strategy),
        path=default_path(spec, device),
    )


class MoE(Module):
    """An MoE block on a (mesh) device; see the module docstring for the routing and the parallel scheme.

    Weights (block-local keys, HF per-expert layout): ``gate.weight (E, H)``,
    ``experts.<e>.gate_proj.weight / up_proj.weight (I, H)``, ``experts.<e>.down_proj.weight (H, I)``,
    and with a shared expert ``shared_expert.{gate,up,down}_proj.weight`` (+ ``shared_expert_gate.weight (1, H)``).
    """

    def __init__(self, spec: MoESpec, impl_config: MoEImplConfig, device):
        spec.validate()
        super().__init__(spec, impl_config, device)
        name = type(self).__name__
        if not isinstance(impl_config, MoEImplConfig):
            raise TypeError(f"{name}: impl_config must be a MoEImplConfig, got {type(impl_config).__name__}")
        self.num_devices = device.get_num_devices()
        self.all_reduce = AllReduce(device, impl_config.collective, where=f"{name}.collective")
        if spec.num_experts % self.num_devices:
            raise ValueError(
                f"{name}: num_experts {spec.num_experts} must split evenly over the {self.num_devices} devices of {device}"
            )
        if (spec.shared_spec is None) != (impl_config.shared_expert is None):
            raise ValueError(
                f"{name}.shared_expert: must be set exactly when spec.shared_intermediate_dim > 0"
            )
        if impl_config.path not in PATHS:
            raise ValueError(f"{name}.path must be one of {PATHS}, got {impl_config.path!r}")
        self.local_experts = spec.num_experts // self.num_devices
        h, i = spec.hidden_dim, spec.expert_intermediate_dim
        self.sparse = SparseExperts(spec, impl_config, device, name) if impl_config.path == "sparse" else None
        self.experts = (
            []
            if self.sparse is not None
            else [
                {
                    proj: LinearOp(
                        f"{name}.experts[slot {j}].{proj}", getattr(impl_config, proj), device, k, n, False
                    )
                    for proj, (k, n) in (("gate_proj", (h, i)), ("up_proj", (h, i)), ("down_proj", (i, h)))
                }
                for j in range(self.local_experts)
            ]
        )
        self.shared = (
            FeedForward(spec.shared_spec, impl_config.shared_expert, device) if spec.shared_spec else None
        )
        self.router_weight = self.selectors = self.shared_gate_weight = None
        self._torch_weights: dict[str, torch.Tensor] = {}

    # --- weights -------------------------------------------------------------------------------------
    def _replicated(self, tensor: torch.Tensor, dtype):
        return ttnn.from_torch(
            tensor,
            dtype=dtype,
            layout=ttnn.TILE_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def load_weights(self, state_dict) -> None:
        """Load HF per-expert weights (see class docstring), or transformers 5's in-memory fused experts
        (``experts.gate_up_proj (E, 2I, H)``, ``experts.down_proj (E, H, I)``); errors name the tensor
        and the shapes."""
        spec, where = self.spec, f"{self.module_path}.load_weights"
        state_dict = unfuse_experts(spec, state_dict, where)
        expected = spec.weight_shapes()
        check_no_unexpected(state_dict, expected, where)
        w = {
            key: take(state_dict, key, shape, where).detach().to(torch.float32)
            for key, shape in expected.items()
        }
        for key, tensor in w.items():
            if not tensor.is_meta and not torch.isfinite(tensor).all():  # meta: shapes-only build
                raise ValueError(f"{where}: weight {key!r} contains NaN or Inf")
        self._torch_weights = w
        n, local, e = self.num_devices, self.local_experts, spec.num_experts
        self.router_weight = ttnn.from_torch(
            w["gate.weight"].T.contiguous(),
            dtype=self.impl_config.router.dtype,
            layout=ttnn.TILE_LAYOUT,
            device=self.device,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )
        if self.sparse is not None:
            self.sparse.load(w)
        stack = ttnn.ShardTensorToMesh(self.device, dim=0)  # device d gets block d of the stack
        for j, ops in enumerate(self.experts):
            owned = [d * local + j for d in range(n)]  # the expert slot j holds on each device
            for proj, op in ops.items():
                op.load(torch.cat([w[f"experts.{x}.{proj}.weight"].T for x in owned], dim=0), stack)
        # selectors[j] on device d: one-hot (1, 1, 1, E) of expert d*local + j, picks its routing weight.
        self.selectors = []
        for j in range(len(self.experts)):
            onehot = torch.zeros(n, 1, 1, e)
            for d in range(n):
                onehot[d, 0, 0, d * local + j] = 1.0
            self.selectors.append(
                ttnn.from_torch(
                    onehot,
                    dtype=ttnn.float32,
                    layout=ttnn.TILE_LAYOUT,
                    device=self.device,
                    mesh_mapper=stack,
                )
            )
        if self.shared is not None:
            prefix = "shared_expert."
            self.shared.load_weights({k[len(prefix) :]: v for k, v in w.items() if k.startswith(prefix)})
        if spec.shared_gate:
            gate = torch.zeros(spec.hidden_dim, TILE)  # one real column, tile-padded for the matmul
            gate[:, 0] = w["shared_expert_gate.weight"][0]
            self.shared_gate_weight = self._replicated(gate, ttnn.bfloat16)

    def torch_reference(self):
        """Float32 torch of the same math from the loaded weights: ``(..., H) -> (..., H)``."""
        if not self._torch_weights:
            raise RuntimeError(f"{self.module_path}: call load_weights(state_dict) before torch_reference()")
        return moe_reference(self.spec, self._torch_weights)

    # --- forward -------------------------------------------------------------------------------------
    def _check(self, x, where: str, max_rows: int | None) -> None:
        if self.router_weight is None:
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

    def _routing_weights(self, x, memory_config):
        """``(1, 1, rows, E)`` top-k routing weights (zero for unselected experts) and the 0/1 top-k mask
        (see module docstring)."""
        spec, router = self.spec, self.impl_config.router
        logits = ttnn.linear(
            x,
            self.router_weight,
            memory_config=memory_config,
            compute_kernel_config=router.compute_kernel_config,
            dtype=router.activation_dtype,
        )
        k, rows = spec.top_k, x.shape[-2]
        values, _ = ttnn.topk(logits, k + 1, dim=-1, memory_config=memory_config)
        v_k = ttnn.slice(values, [0, 0, 0, k - 1], [1, 1, rows, k])
        v_next = ttnn.slice(values, [0, 0, 0, k], [1, 1, rows, k + 1])
        midpoint = ttnn.mul(ttnn.add(v_k, v_next), 0.5)
        gap = ttnn.typecast(ttnn.sub(v_k, v_next), ttnn.bfloat16)
        scale = ttnn.mul(ttnn.reciprocal(gap), 4.0)
        d = ttnn.mul(ttnn.sub(logits, midpoint), ttnn.typecast(scale, logits.dtype))
        mask = ttnn.sub(ttnn.relu(d), ttnn.relu(ttnn.sub(d, 1.0)))
        weights = ttnn.mul(ttnn.softmax(logits, dim=-1), mask)
        if spec.renormalize:
            total = ttnn.typecast(ttnn.sum(weights, dim=-1, keepdim=True), ttnn.bfloat16)
            weights = ttnn.mul(weights, ttnn.typecast(ttnn.reciprocal(total), weights.dtype))
        return weights, mask

    def _dense_experts(self, x, weights, mode: str, memory_config):
        """Every local expert on every row, scaled by its routing weight; this device's partial sum."""
        act = unary_activation(self.spec.activation)
        run = {"prefill": lambda op, t: op.prefill(t), "decode": lambda op, t: op.decode(t)}[mode]
        out = None
        for selector, ops in zip(self.selectors, self.experts):
            inner = ttnn.mul(
                run(ops["gate_proj"], x),
                run(ops["up_proj"], x),
                input_tensor_a_activations=[act],
                dtype=self.impl_config.product_dtype,
                memory_config=memory_config,
            )
            expert = run(ops["down_proj"], inner)
            w = ttnn.sum(ttnn.mul(weights, selector), dim=-1, keepdim=True)
            scaled = ttnn.mul(expert, ttnn.typecast(w, expert.dtype), memory_config=memory_config)
            out = scaled if out is None else ttnn.add(out, scaled, memory_config=memory_config)
        return out

    def _forward(self, x, mode: str, memory_config):
        weights, mask = self._routing_weights(x, memory_config)
        if self.sparse is not None:
            out = self.sparse.forward(x, weights, mask, mode, memory_config)
        else:
            out = self._dense_experts(x, weights, mode, memory_config)
        if self.num_devices > 1:
            out = self.all_reduce(out)
        if self.shared is not None:
            shared = getattr(self.shared, f"forward_{mode}")(x)
            if self.shared_gate_weight is not None:
                g = ttnn.linear(x, self.shared_gate_weight, memory_config=memory_config)
                g = ttnn.sigmoid(ttnn.slice(g, [0, 0, 0, 0], [1, 1, x.shape[-2], 1]))
                shared = ttnn.mul(shared, g, memory_config=memory_config)
            if shared.memory_config() != memory_config:
                shared = ttnn.to_memory_config(shared, memory_config)
            out = ttnn.add(out, shared, memory_config=memory_config)
        if out.memory_config() != memory_config:
            out = ttnn.to_memory_config(out, memory_config)
        return out

    def forward_decode(self, x):
        """``(1, 1, batch, H)`` -> ``(1, 1, batch, H)`` replicated, batch <= 32 users."""
        self._check(x, "forward_decode", MAX_DECODE_BATCH)
        with op_scope(self.module_path):
            if x.is_sharded():
                x = ttnn.to_memory_config(x, ttnn.L1_MEMORY_CONFIG)
            return self._forward(x, "decode", ttnn.L1_MEMORY_CONFIG)

    def forward_prefill(self, x):
        """One user's ``(1, 1, seq_len, H)`` -> ``(1, 1, seq_len, H)`` replicated."""
        self._check(x, "forward_prefill", None)
        with op_scope(self.module_path):
            return self._forward(x, "prefill", ttnn.DRAM_MEMORY_CONFIG)


FUSED_GATE_UP, FUSED_DOWN = "experts.gate_up_proj", "experts.down_proj"


def unfuse_experts(spec: MoESpec, state_dict, where: str):
    """Per-expert keys from transformers 5's fused in-memory experts; other state dicts as they are.

    ``gate_up_proj[e]`` holds expert ``e``'s gate rows then its up rows (HF ``MixtralExperts`` /
    ``Qwen3MoeExperts``: ``gate, up = linear(x, gate_up_proj[e]).chunk(2, dim=-1)``).
    """
    if FUSED_GATE_UP not in state_dict and FUSED_DOWN not in state_dict:
        return state_dict
    e, h, i = spec.num_experts, spec.hidden_dim, spec.expert_intermediate_dim
    gate_up = take(state_dict, FUSED_GATE_UP, (e, 2 * i, h), where)
    down = take(state_dict, FUSED_DOWN, (e, h, i), where)
    out = {key: state_dict[key] for key in state_dict if key not in (FUSED_GATE_UP, FUSED_DOWN)}
    for x in range(e):
        out[f"experts.{x}.gate_proj.weight"] = gate_up[x, :i]
        out[f"experts.{x}.up_proj.weight"] = gate_up[x, i:]
        out[f"experts.{x}.down_proj.weight"] = down[x]
    return out


def moe_reference(spec: MoESpec, w: dict[str, torch.Tensor]):
    """Float32 torch MoE from block-local weights (the layout ``MoE.load_weights`` takes)."""
    act = torch_activation(spec.activation)

    def ffn(x, prefix):
        gate = x @ w[f"{prefix}gate_proj.weight"].T
        up = x @ w[f"{prefix}up_proj.weight"].T
        return (act(gate) * up) @ w[f"{prefix}down_proj.weight"].T

    def reference(x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32)
        probs = torch.softmax(x @ w["gate.weight"].T, dim=-1)
        top, idx = torch.topk(probs, spec.top_k, dim=-1)
        if spec.renormalize:
            top = top / top.sum(dim=-1, keepdim=True)
        weights = torch.zeros_like(probs).scatter(-1, idx, top)
        out = sum(weights[..., e : e + 1] * ffn(x, f"experts.{e}.") for e in range(spec.num_experts))
        if spec.shared_intermediate_dim:
            shared = ffn(x, "shared_expert.")
            if spec.shared_gate:
                shared = torch.sigmoid(x @ w["shared_expert_gate.weight"].T) * shared
            out = out + shared
        return out

    return reference
