"""``ttnn.sparse_matmul``: batched matmuls of which a bfloat16 sparsity tensor marks the ones to compute.

Semantics (ttnn 0.81.1 docstring, "Supported Modes"; ``compute_sparse_matmul_output_shape`` and
``create_output_tensors`` of sparse_matmul_device_operation.cpp; the mcast-1D program factory)::

    is_input_a_sparse  is_input_b_sparse  A             B             sparsity       output
    False              True (default)     [A, B, M, K]  [1, E, K, N]  [A, B, 1, E]   [A, B, 1, E, M, N]
    True               True               [1, E, M, K]  [1, E, K, N]  [1, 1, 1, E]   [1, E, M, N]
    True               False              [A, E, M, K]  [1, E, K, N]  [1, 1, A, E]   [A, E, M, N]

An output block is ``A[a] @ B[e]`` where the sparsity entry of the pair ``(a, e)`` is non-zero, and
**zero** elsewhere (the op zero-fills its output before the kernels write the active blocks). The
in0 reader (kernels/dataflow/reader_bmm_tile_layout_in0_sender_padding.cpp) reads sparsity page
``a`` (one row-major row of E entries) per A batch and tests entry ``e`` as raw 16 bits
(``uint16_t[bB] != 0``): the value of a non-zero entry scales nothing, and ``-0.0`` counts as
non-zero. With ``nnz`` the kernels loop
exactly ``nnz`` times, so ``nnz`` must equal ``count_nonzero(sparsity)`` or the device hangs; the
host cannot check this on the device, the emulator can and does (a rule, stricter on purpose).

Numerics are those of ``ttnn.matmul`` (``_ops_matmul``): the same math-fidelity truncation of
the operands, float32 sums, bfloat16 rounding without ``fp32_dest_acc_en``, and the op's own
default fidelity (LoFi, as for any matmul given a program config). Host compute runs every pair
and masks (a pure torch program, replayable in a trace); the op record charges the device FLOPs
and the bytes of the active pairs only (``nnz``, or the count of non-zero entries; every pair in
shapes-only runs, which have no values: an upper bound) on the busiest device, and lists each
device's count (``attributes["active_pairs_per_device"]``).

Not modelled: indexed/gather mode (``indices``, ``bias``), compact outputs ``[1, nnz, M, N]``,
custom tiles (``output_tile``), sharded operands, ``global_cb`` / ``sub_device_id``, and a
``fused_activation`` in the program config (refused: the factory version read compiles it out, the
0.81.1 behaviour is not known).
"""

from __future__ import annotations

import math

import torch

from . import _ops_matmul as dense
from ._memory import DRAM_MEMORY_CONFIG, MemoryConfig
from ._op import fail, new_tensor, record, require_tensor, same_device, shard_map
from ._program_configs import MatmulMultiCoreReuseMultiCast1DProgramConfig
from ._rules import check, not_mirrored, rule
from ._tensor import Tensor
from ._types import TILE_SIZE, DataType, Layout

__all__ = ["sparse_matmul"]

_OP = "ttnn.sparse_matmul"
_DEVICE_OP = "ttnn/cpp/ttnn/operations/matmul/device/sparse/sparse_matmul_device_operation.cpp"
_VALIDATE = f"{_DEVICE_OP}: SparseMatmulDeviceOperation::validate_on_program_cache_miss"
_FACTORY = (
    "ttnn/cpp/ttnn/operations/matmul/device/sparse/factory/sparse_matmul_multicore_reuse_mcast_1d_optimized.cpp: "
    "SparseMatmulMultiCoreReuseMcast1DProgramFactory::create"
)
_DOC = "ttnn.sparse_matmul docstring (ttnn 0.81.1, sparse_matmul nanobind)"
_FLOAT = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B, DataType.BFLOAT4_B)


def _r(rule_id: str, text: str, source: str, message: str = ""):
    return rule(f"sparse_matmul.{rule_id}", _OP, text, source, message=message)


R_ON_DEVICE = _r(
    "on_device",
    "input_tensor_a, input_tensor_b and sparsity are on device",
    _VALIDATE,
    "All sparse matmul inputs must be on device",
)
R_SAME_DEVICE = _r(
    "same_device",
    "input_tensor_a, input_tensor_b and sparsity are on the same device",
    _VALIDATE,
    "All sparse matmul inputs must be on the same device",
)
R_A_TILE = _r(
    "a_tile", "input_tensor_a is TILE layout", _VALIDATE, "Input tensor A must be TILE layout, got {}"
)
R_B_TILE = _r(
    "b_tile", "input_tensor_b is TILE layout", _VALIDATE, "Input tensor B must be TILE layout, got {}"
)
R_A_FLOAT = _r(
    "a_float",
    "input_tensor_a has a floating-point dtype",
    _VALIDATE,
    "Input tensor A must be a floating point type, got {}",
)
R_B_FLOAT = _r(
    "b_float",
    "input_tensor_b has a floating-point dtype",
    _VALIDATE,
    "Input tensor B must be a floating point type, got {}",
)
R_SPARSITY_RM = _r(
    "sparsity_row_major",
    "sparsity is ROW_MAJOR layout",
    _VALIDATE,
    "Sparsity tensor must be ROW_MAJOR layout, got {}",
)
R_ONE_SPARSE = _r(
    "one_sparse",
    "is_input_a_sparse or is_input_b_sparse is True",
    _VALIDATE,
    "sparse_matmul requires at least one of is_input_a_sparse or is_input_b_sparse to be true",
)
R_INNER = _r(
    "inner_dims",
    "A's padded width equals B's padded height",
    _VALIDATE,
    "Dimension K (A.shape[-1] {}) and B.shape[-2] ({}) must match for A and B",
)
R_NNZ_POSITIVE = _r("nnz_positive", "nnz, when given, is > 0", _VALIDATE, "nnz ({}) must be greater than 0")
R_SPARSITY_VOLUME = _r(
    "sparsity_volume",
    "sparsity's volume equals the batch length (A*B batches; B's batch when A is sparse too; A's when only A is)",
    _VALIDATE,
    "sparsity logical_volume ({}) must equal batch_length ({}) "
    "[sparsity_shape={}, is_input_a_sparse={}, is_input_b_sparse={}]",
)
R_NNZ_LE_BATCH = _r(
    "nnz_le_batch",
    "nnz, when given, is <= the batch length",
    _VALIDATE,
    "nnz ({}) must be less than or equal to the length of all batch dimensions ({})",
)
R_OUTPUT_SHAPE = _r(
    "optional_output_shape",
    "optional_output_tensor has the expanded output shape (compact [1, nnz, M, N] is not modelled)",
    _VALIDATE,
    "Optional output tensor shape {} must match expanded output shape {} when nnz is not provided",
)
R_SUB_NONZERO = _r(
    "subblocks_nonzero",
    "program_config out_subblock_w and out_subblock_h are non-zero",
    _VALIDATE,
    "sparse_matmul: out_subblock_w and out_subblock_h must be non-zero",
)
R_BLOCK_NONZERO = _r(
    "blocks_nonzero",
    "program_config out_block_w and out_block_h are non-zero",
    _VALIDATE,
    "sparse_matmul: out_block_w and out_block_h must be non-zero",
)
R_BLOCK_W_SUB = _r(
    "out_block_w_subblock",
    "out_block_w is a multiple of out_subblock_w",
    _VALIDATE,
    "sparse_matmul: out_block_w ({}) must be divisible by out_subblock_w ({}); otherwise "
    "in1_num_subblocks becomes 0 and the mcast_in0 kernel deadlocks",
)
R_BLOCK_H_SUB = _r(
    "out_block_h_subblock",
    "out_block_h is a multiple of out_subblock_h",
    _VALIDATE,
    "sparse_matmul: out_block_h ({}) must be divisible by out_subblock_h ({})",
)
R_PER_CORE_M = _r(
    "per_core_m_block",
    "per_core_M is a multiple of out_block_h",
    _VALIDATE,
    "sparse_matmul: per_core_M ({}) must be divisible by out_block_h ({})",
)
R_PER_CORE_N = _r(
    "per_core_n_block",
    "per_core_N is a multiple of out_block_w",
    _VALIDATE,
    "sparse_matmul: per_core_N ({}) must be divisible by out_block_w ({})",
)
R_KT = _r(
    "kt_in0_block_w",
    "K tiles are a multiple of in0_block_w",
    _FACTORY,
    "Kt ({}) must be divisible by in0_block_w ({})",
)
R_BLOCKS = _r(
    "blocks_fit_grid",
    "output blocks ceil(Mt/per_core_M) * ceil(Nt/per_core_N) <= cores of compute_with_storage_grid_size",
    _FACTORY,
    "Number of blocks exceeds number of cores available: {} blocks > {} cores",
)
R_MCAST_IN0 = _r(
    "mcast_in0", "program_config.mcast_in0 is True", _FACTORY, "Only mcast_in0 is supported for sparse matmul"
)
R_RECTANGLE = _r(
    "rectangular_cores",
    "the cores with work (row-major over the config grid) form a rectangle",
    _FACTORY,
    "num_cores_with_work ({}) must be equal to in0_mcast_receiver_num_cores ({}), please adjust the core grid to "
    "make it rectangular.",
)
# From the Python-level contract (docstring) and the factory's std::get: not TT_FATALs of validate.
R_CONFIG_1D = _r(
    "program_config_1d",
    "program_config is a MatmulMultiCoreReuseMultiCast1DProgramConfig (the only one the factory takes)",
    f"{_DOC}: program_config; {_FACTORY} (std::get of the 1D config)",
)
R_GRID = _r(
    "grid_fits_device",
    "program_config.compute_with_storage_grid_size fits the device's compute grid",
    f"{_FACTORY} (its cores are placed on that grid; a core off the device has no worker)",
)
R_SPARSITY_DTYPE = _r(
    "sparsity_dtype", "sparsity is BFLOAT16 (the kernels read 16-bit entries)", f"{_DOC}: sparsity"
)
R_RANK4 = _r(
    "rank4", "input_tensor_a, input_tensor_b and sparsity are rank 4", f"{_DOC}: 'each have a rank of 4'"
)
R_MODE_SHAPES = _r(
    "mode_shapes",
    "B is [1, E, K, N]; with A sparse too A is [1, E, M, K]; with only A sparse A is [A, E, M, K]",
    f"{_DOC}: Supported Modes table",
)
R_SPARSITY_ROW = _r(
    "sparsity_last_dim",
    "sparsity's last dim is B's batch E (one row-major page of E entries per A batch)",
    f"{_DOC}: Supported Modes table; ttnn/cpp/ttnn/operations/matmul/device/kernels/dataflow/"
    "reader_bmm_tile_layout_in0_sender_padding.cpp: kernel_main (noc_async_read_page(b, s_sparsity) "
    "then uint16_t[bB] for bB < batchB)",
)
R_INTERLEAVED = _r(
    "interleaved",
    "input_tensor_a, input_tensor_b and the output are interleaved (not sharded)",
    f"{_DOC}: Memory Support",
)
R_SUBBLOCK_DEST = _r(
    "subblock_fits_dest",
    "out_subblock_h * out_subblock_w fits the destination register (8 tiles, 4 with fp32 accumulation)",
    f"{_FACTORY} (compute kernel bmm_large_block_zm: a subblock is one dest acquire); stricter on purpose",
)
R_NNZ_EXACT = _r(
    "nnz_exact",
    "nnz, when given, equals count_nonzero(sparsity) (a mismatch hangs the device)",
    f"{_DOC}: nnz warning; {_VALIDATE} (comment: 'a mismatch deadlocks the device', issue #45943); stricter on purpose",
)
not_mirrored(
    "sparse_matmul.tile_divisible",
    _OP,
    "A's and B's padded dims are multiples of their tile height/width",
    "the emulator has 32x32 tiles only and pads every TILE tensor to them, so these four checks cannot fail",
)
not_mirrored(
    "sparse_matmul.indexed_mode",
    _OP,
    "indices / bias (indexed gather mode) and the compact output shape checks",
    "indexed/gather mode and compact outputs are not emulated; the emulator's sparse_matmul has no indices/bias keyword",
)
not_mirrored(
    "sparse_matmul.l1_circular_buffers",
    _OP,
    "the factory's circular buffers fit L1 beside allocated buffers",
    "CB sizes of the sparse factory are not modelled (dense matmul's are)",
)


def _batch(shape) -> int:
    return math.prod(shape[:-2]) if len(shape) > 2 else 1


def _tiles(n: int) -> int:
    return -(-n // TILE_SIZE)


def _interleaved(tensor: Tensor) -> bool:
    config = tensor.memory_config()
    return config is None or not config.is_sharded()


def _validate_inputs(a, b, sparsity, a_sparse: bool, b_sparse: bool):
    for name, value in (("input_tensor_a", a), ("input_tensor_b", b), ("sparsity", sparsity)):
        require_tensor(_OP, name, value)
        check(value.device() is not None, R_ON_DEVICE, f"{name} is on host")
    check(
        a.device() is b.device() and a.device() is sparsity.device(),
        R_SAME_DEVICE,
        "input_tensor_a, input_tensor_b and sparsity are on different devices",
    )
    check(a.layout == Layout.TILE, R_A_TILE, f"input_tensor_a layout is {a.layout.name}")
    check(b.layout == Layout.TILE, R_B_TILE, f"input_tensor_b layout is {b.layout.name}")
    check(a.dtype in _FLOAT, R_A_FLOAT, f"input_tensor_a dtype is {a.dtype.name}")
    check(b.dtype in _FLOAT, R_B_FLOAT, f"input_tensor_b dtype is {b.dtype.name}")
    check(sparsity.layout == Layout.ROW_MAJOR, R_SPARSITY_RM, f"sparsity layout is {sparsity.layout.name}")
    check(a_sparse or b_sparse, R_ONE_SPARSE, "is_input_a_sparse=False and is_input_b_sparse=False")
    check(sparsity.dtype == DataType.BFLOAT16, R_SPARSITY_DTYPE, f"sparsity dtype is {sparsity.dtype.name}")
    for name, value in (("input_tensor_a", a), ("input_tensor_b", b), ("sparsity", sparsity)):
        check(len(value.shape) == 4, R_RANK4, f"{name} shape is {list(value.shape)}")
    for name, value in (("input_tensor_a", a), ("input_tensor_b", b)):
        check(_interleaved(value), R_INTERLEAVED, f"{name} memory config is {value.memory_config()}")


def _validate_shapes(a, b, sparsity, a_sparse: bool, b_sparse: bool, nnz) -> tuple[int, int]:
    """(batch_a, batch_b): A's batches the kernels loop over and B's sparse groups E."""
    a_pad, b_pad = a.padded_shape, b.padded_shape
    check(
        a_pad[-1] == b_pad[-2],
        R_INNER,
        f"input_tensor_a padded width {a_pad[-1]} != input_tensor_b padded height {b_pad[-2]} "
        f"(shapes {list(a.shape)}, {list(b.shape)})",
    )
    if nnz is not None:
        check(nnz > 0, R_NNZ_POSITIVE, f"nnz is {nnz}")
    batch_a, batch_b = _batch(a_pad), _batch(b_pad)
    if a_sparse and b_sparse:
        length = batch_b
    elif a_sparse:
        length = batch_a
    else:
        length = batch_a * batch_b
    volume = math.prod(sparsity.shape)
    check(
        volume == length,
        R_SPARSITY_VOLUME,
        f"sparsity shape {list(sparsity.shape)} has {volume} entries, the batch length is {length} "
        f"(A {list(a.shape)}, B {list(b.shape)}, is_input_a_sparse={a_sparse}, is_input_b_sparse={b_sparse})",
    )
    if nnz is not None:
        check(nnz <= length, R_NNZ_LE_BATCH, f"nnz {nnz} > batch length {length}")
    mode_ok = b.shape[0] == 1
    if a_sparse and b_sparse:
        mode_ok = mode_ok and tuple(a.shape[:2]) == (1, b.shape[1])
    elif a_sparse:
        mode_ok = mode_ok and a.shape[1] == b.shape[1]
    check(
        mode_ok,
        R_MODE_SHAPES,
        f"input_tensor_a {list(a.shape)}, input_tensor_b {list(b.shape)} with is_input_a_sparse={a_sparse}, "
        f"is_input_b_sparse={b_sparse}",
    )
    check(
        sparsity.shape[-1] == batch_b,
        R_SPARSITY_ROW,
        f"sparsity shape {list(sparsity.shape)}: last dim must be B's batch {batch_b}",
    )
    if a_sparse and b_sparse:
        return 1, batch_b
    if a_sparse:
        return batch_a // batch_b, batch_b
    return batch_a, batch_b


def _validate_program_config(pc, a, b, device, fp32_acc: bool) -> int:
    """The config checks of validate and of the factory; returns the cores with work."""
    check(
        isinstance(pc, MatmulMultiCoreReuseMultiCast1DProgramConfig),
        R_CONFIG_1D,
        f"program_config is {type(pc).__name__}",
    )
    check(
        pc.out_subblock_w != 0 and pc.out_subblock_h != 0,
        R_SUB_NONZERO,
        f"out_subblock_h={pc.out_subblock_h}, out_subblock_w={pc.out_subblock_w}",
    )
    check(
        pc.out_block_w != 0 and pc.out_block_h != 0,
        R_BLOCK_NONZERO,
        f"out_block_h={pc.out_block_h}, out_block_w={pc.out_block_w}",
    )
    check(
        pc.out_block_w % pc.out_subblock_w == 0,
        R_BLOCK_W_SUB,
        f"out_block_w={pc.out_block_w}, out_subblock_w={pc.out_subblock_w}",
    )
    check(
        pc.out_block_h % pc.out_subblock_h == 0,
        R_BLOCK_H_SUB,
        f"out_block_h={pc.out_block_h}, out_subblock_h={pc.out_subblock_h}",
    )
    check(
        pc.per_core_M % pc.out_block_h == 0,
        R_PER_CORE_M,
        f"per_core_M={pc.per_core_M}, out_block_h={pc.out_block_h}",
    )
    check(
        pc.per_core_N % pc.out_block_w == 0,
        R_PER_CORE_N,
        f"per_core_N={pc.per_core_N}, out_block_w={pc.out_block_w}",
    )
    dest = 4 if fp32_acc else 8
    check(
        pc.out_subblock_h * pc.out_subblock_w <= dest,
        R_SUBBLOCK_DEST,
        f"out_subblock_h * out_subblock_w = {pc.out_subblock_h * pc.out_subblock_w} > {dest} dest tiles "
        f"(fp32_dest_acc_en={fp32_acc})",
    )
    mt, kt, nt = _tiles(a.shape[-2]), _tiles(a.shape[-1]), _tiles(b.shape[-1])
    check(kt % pc.in0_block_w == 0, R_KT, f"K is {kt} tiles, in0_block_w={pc.in0_block_w}")
    grid, device_grid = pc.compute_with_storage_grid_size, device.compute_with_storage_grid_size()
    check(
        0 < grid.x <= device_grid.x and 0 < grid.y <= device_grid.y,
        R_GRID,
        f"compute_with_storage_grid_size ({grid.x}, {grid.y}), device grid ({device_grid.x}, {device_grid.y})",
    )
    blocks = -(-mt // pc.per_core_M) * -(-nt // pc.per_core_N)
    check(
        blocks <= grid.x * grid.y, R_BLOCKS, f"{blocks} blocks > {grid.x * grid.y} cores ({grid.x}x{grid.y})"
    )
    check(pc.mcast_in0, R_MCAST_IN0, "program_config.mcast_in0 is False")
    receivers = blocks if blocks <= grid.x else grid.x * -(-blocks // grid.x)
    check(
        blocks == receivers,
        R_RECTANGLE,
        f"{blocks} cores with work on a {grid.x}-wide grid fill a {receivers}-core bounding box",
    )
    return blocks


def _active(sparsity: torch.Tensor) -> torch.Tensor:
    """Entries whose 16 bits are not all zero: the reader tests the raw bfloat16 (``uint16_t[bB] != 0``),
    so ``-0.0`` (0x8000) and NaN mark a pair active and only ``+0.0`` skips it."""
    return (sparsity != 0) | torch.signbit(sparsity)


def _keep_active(out: torch.Tensor, sparsity: torch.Tensor, mask_shape) -> torch.Tensor:
    """``out`` where the pair's sparsity entry is non-zero, exact zeros elsewhere (even for inf/NaN inputs)."""
    active = _active(sparsity).reshape(mask_shape)
    return torch.where(active, out, torch.zeros((), dtype=out.dtype, device=out.device))


def sparse_matmul(
    input_tensor_a: Tensor,
    input_tensor_b: Tensor,
    *,
    sparsity: Tensor,
    program_config,
    nnz: int | None = None,
    is_input_a_sparse: bool = False,
    is_input_b_sparse: bool = True,
    memory_config: MemoryConfig | None = None,
    dtype: DataType | None = None,
    compute_kernel_config=None,
    output_tile=None,
    optional_output_tensor: Tensor | None = None,
) -> Tensor:
    """The matmuls ``A[a] @ B[e]`` of the pairs ``sparsity`` marks non-zero, zero elsewhere (see module docstring)."""
    a, b = input_tensor_a, input_tensor_b
    a_sparse, b_sparse = bool(is_input_a_sparse), bool(is_input_b_sparse)
    _validate_inputs(a, b, sparsity, a_sparse, b_sparse)
    device = same_device(_OP, a, b, sparsity)
    if output_tile is not None:
        fail(_OP, "output_tile (tiny tiles) is not modelled by the emulator", NotImplementedError)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(_OP, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    if dtype is not None and dtype not in _FLOAT:
        fail(_OP, f"dtype must be one of {[d.name for d in _FLOAT]}, got {dtype!r}")
    if compute_kernel_config is not None and not isinstance(
        compute_kernel_config, dense.WormholeComputeKernelConfig
    ):
        fail(
            _OP,
            f"compute_kernel_config must be a ttnn.WormholeComputeKernelConfig, got {type(compute_kernel_config).__name__}",
            TypeError,
        )
    batch_a, batch_b = _validate_shapes(a, b, sparsity, a_sparse, b_sparse, nnz)
    if optional_output_tensor is not None:
        require_tensor(_OP, "optional_output_tensor", optional_output_tensor)
        dtype = dtype or optional_output_tensor.dtype
        memory_config = memory_config or optional_output_tensor.memory_config()
    out_dtype = dtype or a.dtype
    out_memory_config = memory_config or DRAM_MEMORY_CONFIG
    check(not out_memory_config.is_sharded(), R_INTERLEAVED, f"output memory_config is {out_memory_config}")
    kernel = dense.init_device_compute_kernel_config(
        device.arch(),
        compute_kernel_config,
        math_fidelity=dense._default_fidelity(a, b, True, False, device.arch()),
        math_approx_mode=False,
        fp32_dest_acc_en=out_dtype == DataType.FLOAT32,
        packer_l1_acc=out_dtype != DataType.FLOAT32,
    )
    cores = _validate_program_config(program_config, a, b, device, kernel.fp32_dest_acc_en)
    if program_config.fused_activation is not None:
        fail(
            _OP,
            "program_config.fused_activation is not modelled: the factory version read compiles it out "
            '(FUSE_ACTIVATION "0") and whether 0.81.1 applies it is not known; pass fused_activation=None',
            NotImplementedError,
        )

    m, n = a.shape[-2], b.shape[-1]
    if a_sparse and b_sparse:
        out_shape = (*b.shape[:-2], m, n)
    elif a_sparse:
        out_shape = (*a.shape[:-2], m, n)
    else:
        out_shape = (*a.shape[:-2], *b.shape[:-2], m, n)
    if optional_output_tensor is not None:
        check(
            tuple(optional_output_tensor.shape) == out_shape,
            R_OUTPUT_SHAPE,
            f"optional_output_tensor shape {list(optional_output_tensor.shape)}, expanded output shape {list(out_shape)}",
        )

    counts = []
    for shard in sparsity.shards[:1] if sparsity.num_shards == 1 else sparsity.shards:
        counts.append(None if shard.is_meta else int(torch.count_nonzero(_active(shard))))
    if nnz is not None:
        for index, count in enumerate(counts):
            check(
                count is None or count == nnz,
                R_NNZ_EXACT,
                f"nnz={nnz} but sparsity has {count} non-zero entries (device {index})",
            )

    fidelity, fp32_acc = kernel.math_fidelity, kernel.fp32_dest_acc_en
    round_last = not fp32_acc and out_dtype != DataType.BFLOAT16
    k = a.shape[-1]

    def compute(a_shard, b_shard, s_shard):
        weights = b_shard.reshape(batch_b, k, n)
        if a_sparse and b_sparse:  # pair e: A[e] @ B[e]
            lhs = a_shard.reshape(batch_b, m, k)
            out = dense._fidelity_matmul(lhs, weights, fidelity, False, False)
            out = _keep_active(out, s_shard, (batch_b, 1, 1))
        elif a_sparse:  # pair (i, e): A[i, e] @ B[e]
            lhs = a_shard.reshape(batch_a, batch_b, m, k)
            out = dense._fidelity_matmul(lhs, weights, fidelity, False, False)
            out = _keep_active(out, s_shard, (batch_a, batch_b, 1, 1))
        else:  # pair (i, e): A[i] @ B[e]
            lhs = a_shard.reshape(batch_a, 1, m, k)
            out = dense._fidelity_matmul(lhs, weights.unsqueeze(0), fidelity, False, False)
            out = _keep_active(out, s_shard, (batch_a, batch_b, 1, 1))
        out = out.reshape(out_shape)
        return dense._to_bfloat16(out) if round_last else out

    shards = shard_map(compute, a, b, sparsity)
    out = new_tensor(_OP, shards, out_dtype, Layout.TILE, device, out_memory_config)
    if optional_output_tensor is not None:
        optional_output_tensor._shards = out.shards
        out = optional_output_tensor
    pairs = batch_b if a_sparse and b_sparse else batch_a * batch_b
    active = nnz if nnz is not None else max((c if c is not None else pairs) for c in counts)
    flops = 2 * _tiles(m) * _tiles(k) * _tiles(n) * TILE_SIZE**3 * active
    # The kernels read A's and B's matrices of each active pair (in0 per pair; in1 per pair) and
    # write the whole (zero-filled) output: what the roofline charges, not every expert's weights.
    a_matrices = batch_b if a_sparse and b_sparse else math.prod(a.shape[:-2])
    pair_bytes = a.device_nbytes // a_matrices + b.device_nbytes // batch_b
    bytes_moved = active * pair_bytes + sparsity.device_nbytes + out.device_nbytes
    record(
        _OP,
        device,
        [a, b, sparsity],
        [out],
        flops=flops,
        bytes_moved=bytes_moved,
        math_fidelity=fidelity,
        compute_dtype=min(a.dtype, b.dtype, key=dense._PRECISION_RANK.__getitem__),
        cores_used=cores,
        program_config=type(program_config).__name__,
        fp32_dest_acc_en=fp32_acc,
        active_pairs=active,
        active_pairs_per_device=tuple(nnz if c is None and nnz is not None else c for c in counts),
        pairs=pairs,
    )
    return out
