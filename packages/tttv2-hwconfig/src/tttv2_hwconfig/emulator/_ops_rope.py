"""Emulated ``ttnn.experimental.rotary_embedding_llama`` (and its fused Q/K decode form).

The kernel computes, per 32-column tile of the head dimension::

    out = x * cos + (x @ trans_mat) * sin

where ``trans_mat`` is ONE 32x32 tile applied to every tile of ``x``. With the Meta/"interleaved"
trans_mat (``T[2i, 2i+1] = 1``, ``T[2i+1, 2i] = -1``) this rotates adjacent pairs (x0, x1) into
(-x1, x0): rotary embedding in the interleaved layout, with cos/sin repeated per pair. The
emulator applies the given trans_mat as the kernel does, so a wrong matrix gives a wrong result
here too. Acceptance rules (``rope.*``, ``rope_fused_qk.*``) mirror the device operations' validate.

Numerics: the three products and the sum are packed to bfloat16 intermediate buffers (no
fp32_dest_acc_en) or kept in float32 (fp32_dest_acc_en); the output is rounded to bfloat16.
"""

from __future__ import annotations

import torch

from . import _numerics
from ._attention_math import fp32_dest_acc, math_fidelity
from ._memory import MemoryConfig
from ._op import fail, new_tensor, record, require_tensor, same_device, shard_map
from ._rules import check, rule
from ._tensor import Tensor
from ._types import TILE_SIZE, DataType, Layout, MathFidelity, TensorMemoryLayout


def _rotate(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, trans_mat: torch.Tensor, fp32_acc: bool
) -> torch.Tensor:
    tiles = x.reshape(*x.shape[:-1], x.shape[-1] // TILE_SIZE, TILE_SIZE)
    rotated = torch.matmul(tiles, trans_mat).reshape(x.shape)
    keep = (lambda t: t) if fp32_acc else _numerics.round_to_bfloat16
    rotated = keep(rotated)
    return keep(x * cos) + keep(rotated * sin)


_OP = "ttnn.experimental.rotary_embedding_llama"
_SRC = (
    "ttnn/cpp/ttnn/operations/experimental/transformer/rotary_embedding_llama/device/"
    "rotary_embedding_llama_device_operation.cpp: validate_on_program_cache_miss"
)
R_ON_DEVICE = rule("rope.on_device", _OP, 'every operand is on device ("... need to be on device!")', _SRC)
R_TILE = rule("rope.tile_layout", _OP, 'every operand is TILE ("... must be tilized")', _SRC)
R_FP32_ACC = rule("rope.head_dim_fp32_acc", _OP, "head_dim > 128 needs fp32_dest_acc_en=False", _SRC)
R_HEAD_MAX = rule("rope.head_dim_max", _OP, 'head_dim <= 256 ("Head dim must be less than 256")', _SRC)
R_HEAD_TILE = rule("rope.head_dim_tile", _OP, "head_dim % 32 == 0", _SRC)
R_DTYPE = rule("rope.dtype", _OP, "input, cos, sin, trans_mat are all BFLOAT16", _SRC)
R_OUT_LAYOUT = rule(
    "rope.output_memory_layout", _OP, "memory_config.memory_layout equals the input's memory layout", _SRC
)
R_COS_SIN = rule("rope.cos_sin_shape", _OP, "cos and sin have the same logical shape", _SRC)
R_TRANS_LEAD = rule("rope.trans_mat_leading_dims", _OP, "trans_mat shape[0] == shape[1] == 1", _SRC)
R_DEC_SEQ = rule("rope.decode_seq_one", _OP, "decode: input shape[0] (seq_len) == 1", _SRC)
R_DEC_SHARDED = rule(
    "rope.decode_height_sharded", _OP, "decode: input, cos, sin and trans_mat are HEIGHT_SHARDED", _SRC
)
R_DEC_CORES = rule(
    "rope.decode_batch_cores", _OP, "decode: batch (input shape[1]) <= compute-with-storage grid cores", _SRC
)
R_DEC_COS_BATCH = rule("rope.decode_cos_batch", _OP, "decode: cos shape[1] equals the input batch", _SRC)
R_DEC_COS_SHARD = rule("rope.decode_cos_shard_height", _OP, "decode: cos shard height == 32", _SRC)
R_DEC_TRANS_SHARD = rule(
    "rope.decode_trans_mat_shard", _OP, "decode: trans_mat shard shape is [32, 32]", _SRC
)
R_PRE_INTERLEAVED = rule("rope.prefill_interleaved", _OP, "prefill: input is INTERLEAVED", _SRC)
R_PRE_COS_DIMS = rule(
    "rope.prefill_cos_dims", _OP, "prefill: cos shape[0] == 1 and shape[-1] == head_dim", _SRC
)
R_PRE_COS_HEADS = rule(
    "rope.prefill_cos_heads", _OP, "prefill: cos shape[1] is 1 or the input's num heads", _SRC
)
R_PRE_COS_LAYOUT = rule(
    "rope.prefill_sharded_cos_broadcast",
    _OP,
    'prefill: HEIGHT_SHARDED cos/sin need head-broadcast, cos shape[1] == 1 (0.81.1 message: "HEIGHT_SHARDED '
    'cos/sin in prefill RoPE requires head-broadcast (cos.shape[1]==1)")',
    _SRC,
)
R_PRE_TRANS_LAYOUT = rule(
    "rope.prefill_trans_mat_memory_layout",
    _OP,
    "prefill: trans_mat is INTERLEAVED or HEIGHT_SHARDED (0.81.1)",
    _SRC,
)
R_PRE_TRANS = rule("rope.prefill_trans_mat_tile", _OP, "prefill: trans_mat last two dims are [32, 32]", _SRC)


_QK_OP = "ttnn.experimental.rotary_embedding_llama_fused_qk"
_QK_SRC = (
    "ttnn/cpp/ttnn/operations/experimental/transformer/rotary_embedding_llama_fused_qk/device/"
    "rotary_embedding_llama_fused_qk_device_operation.cpp: validate_on_program_cache_miss"
)
R_QK_ON_DEVICE = rule("rope_fused_qk.on_device", _QK_OP, "every operand is on device", _QK_SRC)
R_QK_SHARDED = rule("rope_fused_qk.height_sharded", _QK_OP, "every operand is HEIGHT_SHARDED", _QK_SRC)
R_QK_DTYPE = rule("rope_fused_qk.dtype", _QK_OP, "every operand is BFLOAT16", _QK_SRC)
R_QK_TILE = rule(
    "rope_fused_qk.tile_layout",
    _QK_OP,
    "q, k, cos, sin and trans_mat are TILE (row_major_QK not modelled)",
    _QK_SRC,
)
R_QK_SEQ = rule("rope_fused_qk.decode_seq_one", _QK_OP, "q and k shape[0] == 1 (decode only)", _QK_SRC)
R_QK_HEAD_DIM = rule("rope_fused_qk.same_head_dim", _QK_OP, "q and k have the same head_dim", _QK_SRC)
R_QK_FP32_ACC = rule(
    "rope_fused_qk.head_dim_fp32_acc", _QK_OP, "head_dim > 128 needs fp32_dest_acc_en=False", _QK_SRC
)
R_QK_HEAD_TILE = rule("rope_fused_qk.head_dim_tile", _QK_OP, "head_dim % 32 == 0", _QK_SRC)
R_QK_BATCH = rule("rope_fused_qk.same_batch", _QK_OP, "q and k have the same batch (shape[1])", _QK_SRC)
R_QK_BATCH_MAX = rule("rope_fused_qk.batch_max", _QK_OP, "batch <= 32", _QK_SRC)
R_QK_CORES = rule("rope_fused_qk.core_budget", _QK_OP, "q cores + k cores <= 64", _QK_SRC)
R_QK_OVERLAP = rule("rope_fused_qk.disjoint_grids", _QK_OP, "q and k shard grids do not intersect", _QK_SRC)
R_QK_COS_SIN = rule("rope_fused_qk.cos_sin_shape", _QK_OP, "cos and sin have the same logical shape", _QK_SRC)
R_QK_COS_BATCH = rule("rope_fused_qk.cos_batch", _QK_OP, "cos shape[1] == q batch + k batch", _QK_SRC)
R_QK_TRANS_CORES = rule(
    "rope_fused_qk.trans_mat_cores", _QK_OP, "trans_mat is sharded over >= q cores + k cores", _QK_SRC
)
R_QK_TRANS_SHARD = rule("rope_fused_qk.trans_mat_shard", _QK_OP, "trans_mat shard shape is [32, 32]", _QK_SRC)


def _layout(tensor: Tensor) -> TensorMemoryLayout:
    return tensor.memory_config().memory_layout


def _check_common(op: str, operands, compute_kernel_config, rules) -> int:
    """Device, layout, dtype and head_dim rules shared by both ops; returns head_dim."""
    r_device, r_tile, r_dtype, r_fp32, r_head_tile = rules
    for name, tensor in operands:
        require_tensor(op, name, tensor)
        check(tensor.device() is not None, r_device, f"{name} is on host")
    for name, tensor in operands:
        check(tensor.layout == Layout.TILE, r_tile, f"{name} layout is {tensor.layout.name}")
    head_dim = operands[0][1].shape[-1]
    check(
        head_dim <= 128 or not fp32_dest_acc(compute_kernel_config),
        r_fp32,
        f"head_dim {head_dim} with compute_kernel_config.fp32_dest_acc_en=True",
    )
    if r_head_tile is not None:
        check(head_dim <= 256, R_HEAD_MAX, f"head_dim (last dim of input_tensor) is {head_dim}")
        check(head_dim % TILE_SIZE == 0, r_head_tile, f"head_dim (last dim of input_tensor) is {head_dim}")
    for name, tensor in operands:
        check(tensor.dtype == DataType.BFLOAT16, r_dtype, f"{name} dtype is {tensor.dtype.name}")
    for name, tensor in operands:
        if len(tensor.shape) != 4:  # emulator precondition: every index below assumes 4D operands
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")
    return head_dim


def rotary_embedding_llama(
    input_tensor: Tensor,
    cos_cache: Tensor,
    sin_cache: Tensor,
    trans_mat: Tensor,
    *,
    is_decode_mode: bool = False,
    memory_config: MemoryConfig | None = None,
    compute_kernel_config=None,
) -> Tensor:
    """Rotary embedding in the interleaved (Meta) layout.

    Prefill (``is_decode_mode=False``): ``input_tensor (batch, heads, seq, head_dim)`` interleaved,
    ``cos/sin (1, 1|heads, >=seq, head_dim)`` (rows 0..seq-1 are used), ``trans_mat (1, 1, 32, 32)``.

    Decode: ``input_tensor (1, batch, heads, head_dim)`` HEIGHT_SHARDED one user per core (heads
    padded to 32), ``cos/sin (1, batch, 1[32], head_dim)`` HEIGHT_SHARDED with 32-row shards (row 0
    broadcast over the heads), ``trans_mat (1, 1, n*32, 32)`` HEIGHT_SHARDED with 32x32 shards.
    """
    op = _OP
    operands = (
        ("input_tensor", input_tensor),
        ("cos_cache", cos_cache),
        ("sin_cache", sin_cache),
        ("trans_mat", trans_mat),
    )
    head_dim = _check_common(
        op, operands, compute_kernel_config, (R_ON_DEVICE, R_TILE, R_DTYPE, R_FP32_ACC, R_HEAD_TILE)
    )
    device = same_device(op, input_tensor, cos_cache, sin_cache, trans_mat)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    out_config = memory_config or input_tensor.memory_config()
    check(
        out_config.memory_layout == _layout(input_tensor),
        R_OUT_LAYOUT,
        f"memory_config layout {out_config.memory_layout.name}, input_tensor {_layout(input_tensor).name}",
    )
    check(
        tuple(cos_cache.shape) == tuple(sin_cache.shape),
        R_COS_SIN,
        f"cos_cache {list(cos_cache.shape)}, sin_cache {list(sin_cache.shape)}",
    )
    fp32_acc = fp32_dest_acc(compute_kernel_config)
    if is_decode_mode:
        check(input_tensor.shape[0] == 1, R_DEC_SEQ, f"input_tensor shape {list(input_tensor.shape)}")
        for name, tensor in operands:
            check(
                _layout(tensor) == TensorMemoryLayout.HEIGHT_SHARDED,
                R_DEC_SHARDED,
                f"{name} is {_layout(tensor).name}",
            )
        grid = device.compute_with_storage_grid_size()
        batch = input_tensor.shape[1]
        check(batch <= grid.x * grid.y, R_DEC_CORES, f"batch {batch}, {grid.x * grid.y} cores")
        check(
            cos_cache.shape[1] == batch,
            R_DEC_COS_BATCH,
            f"cos_cache batch {cos_cache.shape[1]}, input {batch}",
        )
        cos_shard = cos_cache.memory_config().shard_spec.shape
        check(cos_shard[0] == TILE_SIZE, R_DEC_COS_SHARD, f"cos_cache shard shape {list(cos_shard)}")
        check(
            trans_mat.shape[0] == 1 and trans_mat.shape[1] == 1,
            R_TRANS_LEAD,
            f"trans_mat shape {list(trans_mat.shape)}",
        )
        trans_shard = trans_mat.memory_config().shard_spec.shape
        check(
            tuple(trans_shard) == (TILE_SIZE, TILE_SIZE),
            R_DEC_TRANS_SHARD,
            f"trans_mat shard shape {list(trans_shard)}",
        )

        def compute(x, cos, sin, mat):
            # Row 0 of each user's cos/sin tile is broadcast over that user's heads.
            return _rotate(x, cos[:, :, :1, :], sin[:, :, :1, :], mat[0, 0, :TILE_SIZE, :TILE_SIZE], fp32_acc)

    else:
        check(
            _layout(input_tensor) == TensorMemoryLayout.INTERLEAVED,
            R_PRE_INTERLEAVED,
            f"input_tensor is {_layout(input_tensor).name}",
        )
        heads, seq = input_tensor.shape[1], input_tensor.shape[2]
        check(
            cos_cache.shape[0] == 1 and cos_cache.shape[-1] == head_dim,
            R_PRE_COS_DIMS,
            f"cos_cache shape {list(cos_cache.shape)}, head_dim {head_dim}",
        )
        check(
            cos_cache.shape[1] in (1, heads),
            R_PRE_COS_HEADS,
            f"cos_cache shape {list(cos_cache.shape)}, input heads {heads}",
        )
        if TensorMemoryLayout.HEIGHT_SHARDED in (_layout(cos_cache), _layout(sin_cache)):
            check(
                cos_cache.shape[1] == 1,
                R_PRE_COS_LAYOUT,
                f"HEIGHT_SHARDED cos_cache shape {list(cos_cache.shape)}",
            )
        check(
            _layout(trans_mat) in (TensorMemoryLayout.INTERLEAVED, TensorMemoryLayout.HEIGHT_SHARDED),
            R_PRE_TRANS_LAYOUT,
            f"trans_mat is {_layout(trans_mat).name}",
        )
        check(
            trans_mat.shape[0] == 1 and trans_mat.shape[1] == 1,
            R_TRANS_LEAD,
            f"trans_mat shape {list(trans_mat.shape)}",
        )
        check(
            tuple(trans_mat.shape[-2:]) == (TILE_SIZE, TILE_SIZE),
            R_PRE_TRANS,
            f"trans_mat shape {list(trans_mat.shape)}",
        )
        if cos_cache.shape[2] < seq:
            # Emulator precondition, not a TT_FATAL: the device would read past the tables' rows.
            fail(op, f"cos_cache covers {cos_cache.shape[2]} positions, input_tensor has {seq}")

        def compute(x, cos, sin, mat):
            return _rotate(x, cos[:, :, :seq], sin[:, :, :seq], mat[0, 0], fp32_acc)

    shards = shard_map(compute, input_tensor, cos_cache, sin_cache, trans_mat)
    out = new_tensor(op, shards, DataType.BFLOAT16, Layout.TILE, device, out_config)
    fidelity = math_fidelity(compute_kernel_config, MathFidelity.HiFi4)
    tiles = input_tensor.padded_shape.volume() // (TILE_SIZE * TILE_SIZE)
    grid = device.compute_with_storage_grid_size()
    record(
        op,
        device,
        [input_tensor, cos_cache, sin_cache, trans_mat],
        [out],
        flops=tiles * (2 * TILE_SIZE**3 + 3 * TILE_SIZE * TILE_SIZE),
        math_fidelity=fidelity,
        compute_dtype=DataType.FLOAT32 if fp32_acc else DataType.BFLOAT16,
        cores_used=min(grid.x * grid.y, input_tensor.shape[1] if is_decode_mode else tiles),
    )
    return out


def rotary_embedding_llama_fused_qk(
    q_input_tensor: Tensor,
    k_input_tensor: Tensor,
    cos_cache: Tensor,
    sin_cache: Tensor,
    trans_mat: Tensor,
    *,
    compute_kernel_config=None,
) -> tuple[Tensor, Tensor]:
    """Decode rotary embedding of Q and K in one op.

    ``q (1, batch, heads, head_dim)`` and ``k (1, batch, kv_heads, head_dim)`` HEIGHT_SHARDED on
    disjoint cores; ``cos/sin (1, 2*batch, 1[32], head_dim)``: rows 0..batch-1 for Q's users,
    batch..2*batch-1 for K's; ``trans_mat (1, 1, 2*batch*32, 32)`` HEIGHT_SHARDED.
    """
    op = _QK_OP
    operands = (
        ("q_input_tensor", q_input_tensor),
        ("k_input_tensor", k_input_tensor),
        ("cos_cache", cos_cache),
        ("sin_cache", sin_cache),
        ("trans_mat", trans_mat),
    )
    for name, tensor in operands:
        require_tensor(op, name, tensor)
        check(tensor.device() is not None, R_QK_ON_DEVICE, f"{name} is on host")
    for name, tensor in operands:
        check(
            _layout(tensor) == TensorMemoryLayout.HEIGHT_SHARDED,
            R_QK_SHARDED,
            f"{name} is {_layout(tensor).name}",
        )
        check(tensor.dtype == DataType.BFLOAT16, R_QK_DTYPE, f"{name} dtype is {tensor.dtype.name}")
    for name, tensor in operands:
        check(tensor.layout == Layout.TILE, R_QK_TILE, f"{name} layout is {tensor.layout.name}")
    for name, tensor in operands:
        if len(tensor.shape) != 4:  # emulator precondition: every index below assumes 4D operands
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")
    device = same_device(op, q_input_tensor, k_input_tensor, cos_cache, sin_cache, trans_mat)
    check(
        q_input_tensor.shape[0] == 1 and k_input_tensor.shape[0] == 1,
        R_QK_SEQ,
        f"q {list(q_input_tensor.shape)}, k {list(k_input_tensor.shape)}",
    )
    head_dim = q_input_tensor.shape[-1]
    check(
        k_input_tensor.shape[-1] == head_dim,
        R_QK_HEAD_DIM,
        f"q head_dim {head_dim}, k head_dim {k_input_tensor.shape[-1]}",
    )
    check(
        head_dim <= 128 or not fp32_dest_acc(compute_kernel_config),
        R_QK_FP32_ACC,
        f"head_dim {head_dim} with compute_kernel_config.fp32_dest_acc_en=True",
    )
    check(head_dim % TILE_SIZE == 0, R_QK_HEAD_TILE, f"head_dim is {head_dim}")
    batch = q_input_tensor.shape[1]
    check(k_input_tensor.shape[1] == batch, R_QK_BATCH, f"q batch {batch}, k batch {k_input_tensor.shape[1]}")
    check(batch <= 32, R_QK_BATCH_MAX, f"batch is {batch}")
    q_grid = q_input_tensor.memory_config().shard_spec.grid
    k_grid = k_input_tensor.memory_config().shard_spec.grid
    q_cores, k_cores = q_grid.num_cores(), k_grid.num_cores()
    check(q_cores + k_cores <= 64, R_QK_CORES, f"q on {q_cores} cores, k on {k_cores}")
    check(
        not set(q_grid.cores()) & set(k_grid.cores()),
        R_QK_OVERLAP,
        "q_input_tensor and k_input_tensor shard grids share cores",
    )
    check(
        tuple(cos_cache.shape) == tuple(sin_cache.shape),
        R_QK_COS_SIN,
        f"cos_cache {list(cos_cache.shape)}, sin_cache {list(sin_cache.shape)}",
    )
    check(
        cos_cache.shape[1] == 2 * batch,
        R_QK_COS_BATCH,
        f"cos_cache batch {cos_cache.shape[1]}, q + k batch {2 * batch}",
    )
    trans_cores = trans_mat.memory_config().shard_spec.grid.num_cores()
    check(
        trans_cores >= q_cores + k_cores,
        R_QK_TRANS_CORES,
        f"trans_mat on {trans_cores} cores, q + k on {q_cores + k_cores}",
    )
    trans_shard = trans_mat.memory_config().shard_spec.shape
    check(
        tuple(trans_shard) == (TILE_SIZE, TILE_SIZE),
        R_QK_TRANS_SHARD,
        f"trans_mat shard shape {list(trans_shard)}",
    )
    fp32_acc = fp32_dest_acc(compute_kernel_config)

    def compute_q(x, cos, sin, mat):
        return _rotate(x, cos[:, :batch, :1], sin[:, :batch, :1], mat[0, 0, :TILE_SIZE, :TILE_SIZE], fp32_acc)

    def compute_k(x, cos, sin, mat):
        return _rotate(x, cos[:, batch:, :1], sin[:, batch:, :1], mat[0, 0, :TILE_SIZE, :TILE_SIZE], fp32_acc)

    q_out = new_tensor(
        op,
        shard_map(compute_q, q_input_tensor, cos_cache, sin_cache, trans_mat),
        DataType.BFLOAT16,
        Layout.TILE,
        device,
        q_input_tensor.memory_config(),
    )
    k_out = new_tensor(
        op,
        shard_map(compute_k, k_input_tensor, cos_cache, sin_cache, trans_mat),
        DataType.BFLOAT16,
        Layout.TILE,
        device,
        k_input_tensor.memory_config(),
    )
    tiles = (q_input_tensor.padded_shape.volume() + k_input_tensor.padded_shape.volume()) // (
        TILE_SIZE * TILE_SIZE
    )
    record(
        op,
        device,
        [q_input_tensor, k_input_tensor, cos_cache, sin_cache, trans_mat],
        [q_out, k_out],
        flops=tiles * (2 * TILE_SIZE**3 + 3 * TILE_SIZE * TILE_SIZE),
        math_fidelity=math_fidelity(compute_kernel_config, MathFidelity.HiFi4),
        compute_dtype=DataType.FLOAT32 if fp32_acc else DataType.BFLOAT16,
        cores_used=2 * batch,
    )
    return q_out, k_out


__all__: list[str] = []  # exported through ``experimental``
