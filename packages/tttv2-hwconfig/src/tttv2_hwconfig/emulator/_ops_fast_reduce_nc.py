"""``ttnn.experimental.fast_reduce_nc``: sum over outer (non-tile) dims, keeping them as size 1.

TTTv1's ``tt_all_reduce`` on a 2D mesh (tt-metal ``models/tt_transformers/tt/ccl.py``) sums the copies
that ``all_gather_async`` stacked along dim 0 with ``fast_reduce_nc(gathered, dims=[0])``.

Semantics (tt-metal, newest version in the code index; every quoted message is in the 0.81.1 wheel's
``_ttnncpp.so``):
- ``ttnn/cpp/ttnn/operations/experimental/reduction/fast_reduce_nc/fast_reduce_nc.cpp: fast_reduce_nc``
  sorts ``dims`` and runs one device op per dim, the largest first; the compute kernel config defaults to
  HiFi4 (``init_device_compute_kernel_config``, no fp32 accumulation).
- ``.../device/fast_reduce_nc_device_operation.cpp: compute_output_specs``: the padded input shape with
  ``shape[dim] = 1`` (keepdim), TILE layout, the input's dtype, ``memory_config``.
- ``.../device/kernels/reduce_nc.cpp``: ``add_tiles(..., acc_to_dest=true)`` accumulates the slices in
  order into one DEST register, packed once: float32 accumulation with ``fp32_dest_acc_en`` (or a
  FLOAT32 input), else each partial sum in bfloat16 (the emulator's round-to-nearest-even, as
  ``ttnn.all_reduce``'s reductions); the result is rounded to the output dtype.

Perf record: the bytes read and written (input + output), one add per input element at the vector
rate, over the cores the program factory splits the output tiles across
(``split_work_to_cores``: one output tile per core at most, up to the whole grid).
"""

from __future__ import annotations

import torch

from . import _numerics
from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig
from ._op import fail, new_tensor, record, require_tensor
from ._ops_matmul import init_device_compute_kernel_config
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import DataType, Layout, MathFidelity

__all__: list[str] = []

_OP = "ttnn.experimental.fast_reduce_nc"
_DIR = "ttnn/cpp/ttnn/operations/experimental/reduction/fast_reduce_nc/"
_WRAPPER = _DIR + "fast_reduce_nc.cpp: fast_reduce_nc"
_VALIDATE = _DIR + "device/fast_reduce_nc_device_operation.cpp: validate_on_program_cache_miss"
_CHECK_TENSOR = _VALIDATE + " -> ttnn/cpp/ttnn/operations/moreh/moreh_helper_functions.cpp: check_tensor"
_DTYPES = (DataType.BFLOAT16, DataType.BFLOAT8_B, DataType.FLOAT32)
MAX_NUM_DIMENSIONS = 8  # tt_metal MAX_NUM_DIMENSIONS (tt-metal tensor shape limit)

R_DEVICE = rule(
    "fast_reduce_nc.on_device",
    _OP,
    "input storage is DEVICE",
    _WRAPPER,
    message="Input tensor storage type must be DEVICE but got {}",
)
R_DIMS = rule(
    "fast_reduce_nc.dims_not_empty",
    _OP,
    "dims is not empty",
    _WRAPPER,
    message="fast_reduce_nc dims should not be empty",
)
R_LAYOUT = rule(
    "fast_reduce_nc.tile_layout",
    _OP,
    "input is in TILE layout",
    _CHECK_TENSOR,
    message="{} {} only supports {} layout.",
)
R_DTYPE = rule(
    "fast_reduce_nc.dtype",
    _OP,
    "input dtype BFLOAT16, BFLOAT8_B or FLOAT32",
    _CHECK_TENSOR,
    message="{} {} only supports specific data types. {} ",
)
R_DIM_RANGE = rule(
    "fast_reduce_nc.dim_range",
    _OP,
    f"0 <= dim <= {MAX_NUM_DIMENSIONS - 2} (MAX_NUM_DIMENSIONS - 2)",
    _VALIDATE,
    message="dim must be between 0 and {}.",
)
R_DIM_RANK = rule(
    "fast_reduce_nc.dim_rank",
    _OP,
    "dim < input rank",
    _VALIDATE,
    message="dim must be smaller than input tensor rank {}.",
)
R_RANK = rule(
    "fast_reduce_nc.max_rank",
    _OP,
    f"input rank <= {MAX_NUM_DIMENSIONS} (MAX_NUM_DIMENSIONS)",
    _VALIDATE,
    message="FastReduceNC input rank {} exceeds maximum {}",
)
not_mirrored(
    "fast_reduce_nc.buffer_on_device",
    _OP,
    'input on device / allocated ("{} {} need to be on device!", check_tensor)',
    "shadowed: the wrapper's storage check (fast_reduce_nc.on_device) runs first",
)
not_mirrored(
    "fast_reduce_nc.output",
    _OP,
    "a preallocated output: dtype BFLOAT16/BFLOAT8_B/FLOAT32, same rank as the input",
    "output= is not modelled (NotImplementedError)",
)
not_mirrored(
    "fast_reduce_nc.shard_grids",
    _OP,
    "sharded input / output / sub_core_grids inside the device grid (validate_reduce_op_tensor)",
    "sharded inputs and outputs and sub_core_grids are not modelled (NotImplementedError); TTTv1 moves the "
    "gathered tensor to L1 interleaved first",
)
# In the 0.81.1 wheel's _ttnncpp.so, not in any stored version of the source: the message's bound is
# taken as rank - 3 (the dims above the two tile dims, which is what "NC" and the kernel's tile-by-tile
# adds reduce); the stored validate, one version apart, lets dims up to MAX_NUM_DIMENSIONS - 2 through.
R_OUTER = rule(
    "fast_reduce_nc.outer_dim",
    _OP,
    "dim is an outer dim: dim <= rank - 3 (not one of the two tile dims)",
    "the 0.81.1 wheel's _ttnncpp.so (FastReduceNC's validate; the source of that build is not in the code index)",
    message="FastReduceNC reduces only outer dims: dim must be between 0 and {}, but has {}",
)


def _sum_slices(shard: torch.Tensor, dim: int, fp32: bool) -> torch.Tensor:
    """Accumulate the slices of ``shard`` along ``dim`` in order, as the DEST register does."""
    slices = torch.unbind(shard, dim=dim)
    total = slices[0].to(torch.float32)
    for piece in slices[1:]:
        total = total + piece.to(torch.float32)
        if not fp32:
            total = _numerics.round_to_bfloat16(total)
    return total.unsqueeze(dim)


def _reduce_one(op_input: Tensor, dim: int, memory_config: MemoryConfig, fp32: bool) -> Tensor:
    rank = len(op_input.shape)
    check(0 <= dim <= MAX_NUM_DIMENSIONS - 2, R_DIM_RANGE, f"dim={dim}")
    check(dim < rank, R_DIM_RANK, f"dim={dim} for a rank-{rank} input")
    check(rank <= MAX_NUM_DIMENSIONS, R_RANK, f"input rank {rank}")
    check(dim <= rank - 3, R_OUTER, f"dim={dim} of a rank-{rank} input (its last two dims are the tile dims)")
    device = op_input.device()
    accumulate_fp32 = fp32 or op_input.dtype == DataType.FLOAT32
    cache: dict[int, torch.Tensor] = {}
    shards = []
    for shard in op_input.shards:
        if id(shard) not in cache:
            cache[id(shard)] = _sum_slices(shard, dim, accumulate_fp32)
        shards.append(cache[id(shard)])
    out = new_tensor(_OP, shards, op_input.dtype, Layout.TILE, device, memory_config)
    padded = list(op_input.padded_shape)
    output_tiles = 1
    for size in padded[:-2]:
        output_tiles *= size
    output_tiles = output_tiles // padded[dim] * (padded[-2] // 32) * (padded[-1] // 32)
    grid = device.compute_with_storage_grid_size()
    elements = 1
    for size in padded:
        elements *= size
    record(
        _OP,
        device,
        [op_input],
        [out],
        flops=elements,
        math_fidelity=MathFidelity.HiFi4,
        cores_used=max(1, min(output_tiles, grid.x * grid.y)),
        dim=dim,
    )
    return out


def fast_reduce_nc(
    input,  # noqa: A002 - the ttnn name
    *,
    dims: list[int] | None = None,
    output=None,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
    sub_core_grids=None,
) -> Tensor:
    """Sum ``input`` over each of ``dims`` (outer dims), keeping them with size 1.

    ``(A, B, H, W)`` with ``dims=[0]`` -> ``(1, B, H, W)``; output in TILE layout, the input's dtype,
    ``memory_config`` (default DRAM interleaved, the binding's default).
    """
    require_tensor(_OP, "input", input)
    check(input.device() is not None, R_DEVICE, "input is on host (StorageType HOST)")
    dims = [] if dims is None else list(dims)
    check(len(dims) > 0, R_DIMS, "dims=[]")
    if any(not isinstance(d, int) for d in dims):
        fail(_OP, f"dims must be a list of ints, got {dims!r}", TypeError)
    if output is not None:
        fail(_OP, "output= is not modelled by the emulator", NotImplementedError)
    if sub_core_grids is not None:
        fail(_OP, "sub_core_grids= is not modelled by the emulator", NotImplementedError)
    config = DRAM_MEMORY_CONFIG if memory_config is None else memory_config
    if not isinstance(config, MemoryConfig):
        fail(_OP, f"memory_config must be a ttnn.MemoryConfig, got {type(config).__name__}", TypeError)
    if config.is_sharded() or input.is_sharded():
        fail(_OP, "sharded input / memory_config are not modelled by the emulator", NotImplementedError)
    device = input.device()
    device.check_open(_OP)
    kernel = init_device_compute_kernel_config(
        device.arch(), compute_kernel_config, math_fidelity=MathFidelity.HiFi4
    )
    check(input.layout == Layout.TILE, R_LAYOUT, f"input is in {input.layout.name} layout")
    check(input.dtype in _DTYPES, R_DTYPE, f"input dtype is {input.dtype.name}")
    current = input
    for dim in sorted(
        dims, reverse=True
    ):  # the wrapper: largest dim first, then the rest down to the smallest
        current = _reduce_one(current, dim, config, kernel.fp32_dest_acc_en)
    return current
