"""Emulated ``ttnn.experimental.rotary_embedding_llama`` (and its fused Q/K decode form).

The kernel computes, per 32-column tile of the head dimension::

    out = x * cos + (x @ trans_mat) * sin

where ``trans_mat`` is ONE 32x32 tile applied to every tile of ``x``. With the Meta/"interleaved"
trans_mat (``T[2i, 2i+1] = 1``, ``T[2i+1, 2i] = -1``) this rotates adjacent pairs (x0, x1) into
(-x1, x0): rotary embedding in the interleaved layout, with cos/sin repeated per pair. The
emulator applies the given trans_mat as the kernel does, so a wrong matrix gives a wrong result
here too. Checks follow ``rotary_embedding_llama_device_operation.cpp``.

Numerics: the three products and the sum are packed to bfloat16 intermediate buffers (no
fp32_dest_acc_en) or kept in float32 (fp32_dest_acc_en); the output is rounded to bfloat16.
"""

from __future__ import annotations

import torch

from . import _numerics
from ._attention_math import fp32_dest_acc, math_fidelity
from ._memory import MemoryConfig
from ._op import (
    fail,
    new_tensor,
    record,
    require_dtype,
    require_layout,
    require_on_device,
    same_device,
    shard_map,
)
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


def _check_common(op: str, input_tensor, cos_cache, sin_cache, trans_mat, compute_kernel_config) -> None:
    for name, tensor in (
        ("input_tensor", input_tensor),
        ("cos_cache", cos_cache),
        ("sin_cache", sin_cache),
        ("trans_mat", trans_mat),
    ):
        require_on_device(op, name, tensor)
        require_layout(op, name, tensor, Layout.TILE)
        require_dtype(op, name, tensor, DataType.BFLOAT16)
        if len(tensor.shape) != 4:
            fail(op, f"{name} must be 4D, got shape {list(tensor.shape)}")
    head_dim = input_tensor.shape[-1]
    if head_dim % TILE_SIZE:
        fail(op, f"head_dim {head_dim} (last dim of input_tensor) must be a multiple of {TILE_SIZE}")
    if head_dim > 256:
        fail(op, f"head_dim {head_dim} must be at most 256")
    if head_dim > 128 and fp32_dest_acc(compute_kernel_config):
        fail(op, f"head_dim {head_dim} > 128 needs compute_kernel_config.fp32_dest_acc_en=False")
    if tuple(cos_cache.shape) != tuple(sin_cache.shape):
        fail(
            op,
            f"cos_cache {list(cos_cache.shape)} and sin_cache {list(sin_cache.shape)} must have the same shape",
        )
    if cos_cache.shape[-1] != head_dim:
        fail(op, f"cos_cache last dim {cos_cache.shape[-1]} must equal head_dim {head_dim}")


def _check_decode_sharding(op: str, name: str, tensor: Tensor) -> None:
    config = tensor.memory_config()
    if config.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
        fail(op, f"{name} must be HEIGHT_SHARDED in decode mode, got {config.memory_layout.name}")


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
    op = "ttnn.experimental.rotary_embedding_llama"
    _check_common(op, input_tensor, cos_cache, sin_cache, trans_mat, compute_kernel_config)
    device = same_device(op, input_tensor, cos_cache, sin_cache, trans_mat)
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)
    out_config = memory_config or input_tensor.memory_config()
    if out_config.memory_layout != input_tensor.memory_config().memory_layout:
        fail(
            op,
            f"memory_config layout {out_config.memory_layout.name} must equal the input's {input_tensor.memory_config().memory_layout.name}",
        )
    if trans_mat.shape[0] != 1 or trans_mat.shape[1] != 1:
        fail(op, f"trans_mat must be [1, 1, ..., 32], got {list(trans_mat.shape)}")
    fp32_acc = fp32_dest_acc(compute_kernel_config)
    if is_decode_mode:
        if input_tensor.shape[0] != 1:
            fail(
                op,
                f"decode mode needs input_tensor [1, batch, heads, head_dim], got {list(input_tensor.shape)}",
            )
        for name, tensor in (
            ("input_tensor", input_tensor),
            ("cos_cache", cos_cache),
            ("sin_cache", sin_cache),
            ("trans_mat", trans_mat),
        ):
            _check_decode_sharding(op, name, tensor)
        grid = device.compute_with_storage_grid_size()
        batch = input_tensor.shape[1]
        if batch > grid.x * grid.y:
            fail(op, f"decode mode runs one user per core: batch {batch} exceeds the {grid.x * grid.y} cores")
        if cos_cache.shape[1] != batch:
            fail(op, f"cos_cache batch {cos_cache.shape[1]} must equal the input batch {batch}")
        if cos_cache.memory_config().shard_spec.shape[0] != TILE_SIZE:
            fail(
                op,
                f"cos_cache shard height must be {TILE_SIZE} (one user per core), got {cos_cache.memory_config().shard_spec.shape[0]}",
            )
        if tuple(trans_mat.memory_config().shard_spec.shape) != (TILE_SIZE, TILE_SIZE):
            fail(
                op, f"trans_mat shards must be 32x32, got {list(trans_mat.memory_config().shard_spec.shape)}"
            )

        def compute(x, cos, sin, mat):
            # Row 0 of each user's cos/sin tile is broadcast over that user's heads.
            return _rotate(x, cos[:, :, :1, :], sin[:, :, :1, :], mat[0, 0, :TILE_SIZE, :TILE_SIZE], fp32_acc)

    else:
        if input_tensor.is_sharded():
            fail(op, "input_tensor must be interleaved in prefill mode")
        for name, tensor in (("cos_cache", cos_cache), ("sin_cache", sin_cache)):
            if tensor.memory_config().memory_layout != input_tensor.memory_config().memory_layout:
                fail(
                    op,
                    f"{name} must have the input's memory layout ({input_tensor.memory_config().memory_layout.name})",
                )
        heads, seq = input_tensor.shape[1], input_tensor.shape[2]
        if cos_cache.shape[0] != 1 or cos_cache.shape[1] not in (1, heads):
            fail(op, f"cos_cache must be [1, 1|{heads}, seq, head_dim], got {list(cos_cache.shape)}")
        if cos_cache.shape[2] < seq:
            # The device would read the cache's tile padding as angles; refuse instead.
            fail(op, f"cos_cache covers {cos_cache.shape[2]} positions, input_tensor has {seq}")
        if tuple(trans_mat.shape[-2:]) != (TILE_SIZE, TILE_SIZE):
            fail(op, f"trans_mat must be [1, 1, 32, 32] in prefill mode, got {list(trans_mat.shape)}")

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
    op = "ttnn.experimental.rotary_embedding_llama_fused_qk"
    for name, tensor in (("q_input_tensor", q_input_tensor), ("k_input_tensor", k_input_tensor)):
        _check_common(op, tensor, cos_cache, sin_cache, trans_mat, compute_kernel_config)
        _check_decode_sharding(op, name, tensor)
        if tensor.shape[0] != 1:
            fail(op, f"{name} must be [1, batch, heads, head_dim], got {list(tensor.shape)}")
    for name, tensor in (("cos_cache", cos_cache), ("sin_cache", sin_cache), ("trans_mat", trans_mat)):
        _check_decode_sharding(op, name, tensor)
    device = same_device(op, q_input_tensor, k_input_tensor, cos_cache, sin_cache, trans_mat)
    batch = q_input_tensor.shape[1]
    if k_input_tensor.shape[1] != batch or q_input_tensor.shape[-1] != k_input_tensor.shape[-1]:
        fail(
            op,
            f"q {list(q_input_tensor.shape)} and k {list(k_input_tensor.shape)} must share batch and head_dim",
        )
    if cos_cache.shape[1] != 2 * batch:
        fail(op, f"cos_cache must carry 2*batch = {2 * batch} users (Q's then K's), got {cos_cache.shape[1]}")
    q_grid = set(q_input_tensor.memory_config().shard_spec.grid.cores())
    k_grid = set(k_input_tensor.memory_config().shard_spec.grid.cores())
    if q_grid & k_grid:
        fail(op, "q_input_tensor and k_input_tensor must be sharded on disjoint cores")
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
