"""``ttnn.SDPAProgramConfig``: grid and chunk sizes of the flash-attention kernels.

The real class lives at the top level of ``ttnn`` (``ttnn.SDPAProgramConfig``), not in
``ttnn.transformer``. The ops in ``_ops_sdpa`` validate it against the shapes and the device grid.
"""

from __future__ import annotations

from ._memory import CoreCoord, CoreRangeSet
from ._types import MathFidelity


class SDPAProgramConfig:
    """Program config of ``scaled_dot_product_attention`` and its decode/chunked variants.

    Args (keyword-only, as in TTNN):
        compute_with_storage_grid_size: cores the op may use, a ``CoreCoord`` or an ``(x, y)`` tuple.
        q_chunk_size / k_chunk_size: rows of Q / K processed per inner step; multiples of 32.
            ``k_chunk_size=0`` lets paged decode choose its own.
        exp_approx_mode, max_cores_per_head_batch, max_k_splits, matmul_math_fidelity,
        segmented_accumulation, sub_core_grids: kept for API parity; only validated, not modelled.
    """

    def __init__(
        self,
        *,
        compute_with_storage_grid_size,
        sub_core_grids: CoreRangeSet | None = None,
        q_chunk_size: int,
        k_chunk_size: int,
        exp_approx_mode: bool | None = None,
        max_cores_per_head_batch: int = 16,
        max_k_splits: int = 1,
        matmul_math_fidelity: MathFidelity | None = None,
        segmented_accumulation: bool = False,
    ):
        grid = compute_with_storage_grid_size
        if isinstance(grid, tuple) and len(grid) == 2:
            grid = CoreCoord(int(grid[0]), int(grid[1]))
        if not isinstance(grid, CoreCoord) or grid.x < 1 or grid.y < 1:
            raise TypeError(
                f"SDPAProgramConfig: compute_with_storage_grid_size must be a ttnn.CoreCoord or (x, y) with positive "
                f"sizes, got {compute_with_storage_grid_size!r}"
            )
        for name, value in (("q_chunk_size", q_chunk_size), ("k_chunk_size", k_chunk_size)):
            if not isinstance(value, int) or value < 0:
                raise TypeError(f"SDPAProgramConfig: {name} must be a non-negative int, got {value!r}")
        self.compute_with_storage_grid_size = grid
        self.sub_core_grids = sub_core_grids
        self.q_chunk_size = q_chunk_size
        self.k_chunk_size = k_chunk_size
        self.exp_approx_mode = exp_approx_mode
        self.max_cores_per_head_batch = max_cores_per_head_batch
        self.max_k_splits = max_k_splits
        self.matmul_math_fidelity = matmul_math_fidelity
        self.segmented_accumulation = segmented_accumulation

    def __eq__(self, other) -> bool:
        return isinstance(other, SDPAProgramConfig) and vars(self) == vars(other)

    def __repr__(self) -> str:
        grid = self.compute_with_storage_grid_size
        return (
            f"SDPAProgramConfig(compute_with_storage_grid_size={grid.x}-{grid.y}, q_chunk_size={self.q_chunk_size}, "
            f"k_chunk_size={self.k_chunk_size})"
        )


def check_sdpa_program_config(
    op_name: str, program_config, device, *, allow_zero_k_chunk: bool = False
) -> None:
    """Raise naming ``op_name`` when ``program_config`` cannot run on ``device`` (chunk sizes, grid)."""
    if program_config is None:
        return
    if not isinstance(program_config, SDPAProgramConfig):
        raise TypeError(
            f"{op_name}: program_config must be a ttnn.SDPAProgramConfig, got {type(program_config).__name__}"
        )
    # Emulator precondition: the ops' rules check "% 32 == 0" (which 0 passes); a zero chunk would
    # divide by zero in the program factory, except decode's k_chunk_size=0 ("choose in the kernel").
    for name in ("q_chunk_size", "k_chunk_size"):
        value = getattr(program_config, name)
        if value == 0 and (name == "k_chunk_size" and allow_zero_k_chunk):
            continue
        if value <= 0:
            raise ValueError(f"{op_name}: program_config.{name}={value} must be positive")
    grid = program_config.compute_with_storage_grid_size
    device_grid = device.compute_with_storage_grid_size()
    if grid.x > device_grid.x or grid.y > device_grid.y:
        raise ValueError(
            f"{op_name}: program_config.compute_with_storage_grid_size {grid.x}x{grid.y} exceeds the "
            f"{device_grid.x}x{device_grid.y} compute grid of {device.spec.name}"
        )


__all__ = ["SDPAProgramConfig"]
