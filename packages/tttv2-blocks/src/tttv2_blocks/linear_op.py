"""One ``ttnn.linear`` sub-op of a block: where its weight lives, which program config runs it, and the call.

Blocks (FFN, LM head) hold one ``LinearOp`` per weight matrix. It turns a ``LinearImplConfig`` plus
the per-device matmul size ``(k, n)`` into the TTNN calls TTTv1 makes:

* decode with ``dram_sharded=True``: the weight is width-sharded over the DRAM banks, the
  activation is resharded to L1 width-sharded over ``dram_sharded_num_cores(k, n)`` cores, and a
  ``MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig`` writes an L1 width-sharded output.
* decode without it: a 1D multicast matmul from an L1-interleaved activation.
* prefill: ``matmul_config`` (1D for short sequences, 2D for long ones) from DRAM; with a
  DRAM-sharded weight always the 2D config, as TTTv1's prefill does.

Program configs left ``None`` in the impl config are derived from the actual row count at call time
(and cached per row count); configs the user sets are checked at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tttv2_hwconfig import ttnn

from tttv2_blocks import program_configs
from tttv2_blocks.config import LinearImplConfig, check_weight_dtype
from tttv2_blocks.weights import to_device_weight

TILE = 32
# ttnn.linear output dtypes (matmul_device_operation: floating point outputs).
ACTIVATION_DTYPES = (ttnn.bfloat16, ttnn.bfloat8_b, ttnn.float32)


def check_precision(path: str, impl) -> None:
    """Construction-time checks of a projection's weight dtype, output dtype and kernel config, naming ``path``."""
    check_weight_dtype(f"{path}.dtype", impl.dtype)
    if impl.activation_dtype not in ACTIVATION_DTYPES:
        raise ValueError(
            f"{path}.activation_dtype: {getattr(impl.activation_dtype, 'name', impl.activation_dtype)} is not a "
            f"matmul output dtype; expected one of {[d.name for d in ACTIVATION_DTYPES]}"
        )
    if not isinstance(impl.compute_kernel_config, ttnn.WormholeComputeKernelConfig):
        raise ValueError(
            f"{path}.compute_kernel_config must be a ttnn.WormholeComputeKernelConfig, got "
            f"{type(impl.compute_kernel_config).__name__}"
        )


@dataclass
class LinearOp:
    """A weight ``(k, n)`` per device and the matmuls that use it.

    Attributes:
        path: name used in errors, e.g. ``"FeedForward.gate_proj"``.
        impl: the sub-op's ``LinearImplConfig``.
        device: the mesh device.
        k, n: per-device matmul size (input features, output features).
        dram_sharded: decode reads the weight DRAM-sharded (see module docstring).
        fused_activation: optional ``ttnn.UnaryWithParam`` applied to the output inside the matmul.
    """

    path: str
    impl: LinearImplConfig
    device: object
    k: int
    n: int
    dram_sharded: bool = True
    fused_activation: object = None
    weight: object = None
    bias: object = None
    _prefill_configs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    # --- construction-time checks ------------------------------------------------------------------
    def validate(self) -> None:
        impl, path = self.impl, self.path
        if not isinstance(impl, LinearImplConfig):
            raise TypeError(f"{path}: expected a LinearImplConfig, got {type(impl).__name__}")
        check_precision(path, impl)
        grid = self.device.compute_with_storage_grid_size()
        fp32 = impl.compute_kernel_config.fp32_dest_acc_en
        decode_pc = impl.decode_program_config
        is_dram_pc = isinstance(decode_pc, ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig)
        if decode_pc is not None and is_dram_pc != self.dram_sharded:
            want = "a DRAM-sharded" if self.dram_sharded else "an interleaved-weight (1D/2D)"
            raise ValueError(
                f"{path}.decode_program_config: the weight is {'DRAM-sharded' if self.dram_sharded else 'interleaved'}, "
                f"so decode needs {want} program config, got {type(decode_pc).__name__}"
            )
        if is_dram_pc and decode_pc.in0_block_w * self._decode_cores() != program_configs.tiles(self.k):
            raise ValueError(
                f"{path}.decode_program_config: in0_block_w ({decode_pc.in0_block_w}) x {self._decode_cores()} input "
                f"shards must cover K = {program_configs.tiles(self.k)} tiles"
            )
        program_configs.check_matmul_config(
            f"{path}.decode_program_config", decode_pc, TILE, self.k, self.n, grid, fp32_dest_acc_en=fp32
        )
        program_configs.check_matmul_config(
            f"{path}.prefill_program_config",
            impl.prefill_program_config,
            TILE,
            self.k,
            self.n,
            grid,
            fp32_dest_acc_en=fp32,
        )
        memory_config = impl.decode_memory_config
        if (
            self.dram_sharded
            and memory_config is not None
            and (
                memory_config.memory_layout != ttnn.TensorMemoryLayout.WIDTH_SHARDED
                or memory_config.buffer_type != ttnn.BufferType.L1
            )
        ):
            raise ValueError(
                f"{path}.decode_memory_config: a DRAM-sharded matmul writes an L1 WIDTH_SHARDED output, got "
                f"{memory_config.buffer_type.name} {memory_config.memory_layout.name}"
            )

    # --- weights -------------------------------------------------------------------------------------
    def weight_memory_config(self):
        if self.dram_sharded:
            return program_configs.dram_sharded_weight_memory_config(self.k, self.n, self.device)
        return ttnn.DRAM_MEMORY_CONFIG

    def load(
        self, weight_kn: torch.Tensor, mesh_mapper, bias: torch.Tensor | None = None, bias_mapper=None
    ) -> None:
        """Put the full ``(K, N)`` weight (and optional ``(N,)`` bias) on the device through the mappers."""
        self.weight = to_device_weight(
            weight_kn,
            self.device,
            self.impl.dtype,
            mesh_mapper=mesh_mapper,
            memory_config=self.weight_memory_config(),
        )
        if bias is not None:
            # Biases stay bfloat16: they are added in the destination register, block floats buy nothing.
            self.bias = to_device_weight(
                bias.reshape(1, -1), self.device, ttnn.bfloat16, mesh_mapper=bias_mapper
            )

    # --- configs -------------------------------------------------------------------------------------
    def _decode_cores(self) -> int:
        return program_configs.dram_sharded_num_cores(
            self.k, self.n, self.device.compute_with_storage_grid_size()
        )

    def decode_input_memory_config(self):
        """L1 width-sharded config the decode input must be in (DRAM-sharded decode only)."""
        grid = self.device.compute_with_storage_grid_size()
        return program_configs.width_sharded_activation_memory_config(
            TILE, self.k, self._decode_cores(), grid
        )

    def decode_program_config(self):
        if self.impl.decode_program_config is not None:
            return self.impl.decode_program_config
        grid = self.device.compute_with_storage_grid_size()
        if self.dram_sharded:
            return program_configs.dram_sharded_config(
                TILE, self.k, self.n, grid, fused_activation=self.fused_activation
            )
        return program_configs.matmul_1d_config(
            TILE,
            self.k,
            self.n,
            grid,
            fp32_dest_acc_en=self.impl.compute_kernel_config.fp32_dest_acc_en,
            fused_activation=self.fused_activation,
        )

    def prefill_program_config(self, rows: int):
        if self.impl.prefill_program_config is not None:
            return self.impl.prefill_program_config
        if rows not in self._prefill_configs:
            grid = self.device.compute_with_storage_grid_size()
            derive = program_configs.matmul_2d_config if self.dram_sharded else program_configs.matmul_config
            self._prefill_configs[rows] = derive(
                rows,
                self.k,
                self.n,
                grid,
                fp32_dest_acc_en=self.impl.compute_kernel_config.fp32_dest_acc_en,
                fused_activation=self.fused_activation,
            )
        return self._prefill_configs[rows]

    # --- calls ---------------------------------------------------------------------------------------
    def _activation_kwarg(self, program_config) -> dict:
        """A fused activation the program config does not carry goes in ``activation=``."""
        if self.fused_activation is None or getattr(program_config, "fused_activation", None) is not None:
            return {}
        return {"activation": self.fused_activation}

    def _linear(self, x, program_config, memory_config):
        return ttnn.linear(
            x,
            self.weight,
            bias=self.bias,
            program_config=program_config,
            memory_config=memory_config,
            compute_kernel_config=self.impl.compute_kernel_config,
            dtype=self.impl.activation_dtype,
            **self._activation_kwarg(program_config),
        )

    def prepare_decode_input(self, x):
        """Reshard (or unshard) a decode activation into what this op's matmul reads."""
        if self.dram_sharded:
            target = self.decode_input_memory_config()
            return x if x.memory_config() == target else ttnn.to_memory_config(x, target)
        if x.is_sharded():
            return ttnn.to_memory_config(x, ttnn.L1_MEMORY_CONFIG)
        return x

    def decode(self, x):
        """``(1, 1, <=32, k)`` -> ``(1, 1, <=32, n)``; L1 width-sharded out when DRAM-sharded, else L1 interleaved."""
        x = self.prepare_decode_input(x)
        default = ttnn.L1_WIDTH_SHARDED_MEMORY_CONFIG if self.dram_sharded else ttnn.L1_MEMORY_CONFIG
        return self._linear(x, self.decode_program_config(), self.impl.decode_memory_config or default)

    def prefill(self, x):
        """``(1, 1, rows, k)`` -> ``(1, 1, rows, n)`` in DRAM (or ``prefill_memory_config``)."""
        if x.is_sharded():
            x = ttnn.to_memory_config(x, ttnn.DRAM_MEMORY_CONFIG)
        rows = x.shape[-2]
        return self._linear(
            x, self.prefill_program_config(rows), self.impl.prefill_memory_config or ttnn.DRAM_MEMORY_CONFIG
        )
