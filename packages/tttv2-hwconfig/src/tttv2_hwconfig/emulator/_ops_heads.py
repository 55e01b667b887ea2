"""Emulated head split/merge ops of ``ttnn.experimental``: ``nlp_create_qkv_heads[_decode]`` and
``nlp_concat_heads[_decode]``.

The fused QKV row layout is ``[q heads | k heads | v heads]``, each head ``head_dim`` wide. Checks
follow the tt-metal device operations of the same names.
"""

from __future__ import annotations

import torch

from ._memory import CoreRangeSet, MemoryConfig, ShardSpec, num_cores_to_corerangeset
from ._op import fail, new_tensor, record, require_dtype, require_layout, require_on_device, shard_map
from ._tensor import Tensor
from ._types import TILE_SIZE, BufferType, DataType, Layout, ShardOrientation, TensorMemoryLayout

_TM_DTYPES = (DataType.BFLOAT16, DataType.FLOAT32, DataType.BFLOAT8_B)


def _check_memory_config(op: str, memory_config) -> None:
    if memory_config is not None and not isinstance(memory_config, MemoryConfig):
        fail(op, f"memory_config must be a ttnn.MemoryConfig, got {type(memory_config).__name__}", TypeError)


def _head_dim(op: str, width: int, heads: int, where: str) -> int:
    if heads <= 0 or width % heads:
        fail(op, f"{where} width {width} does not split into {heads} heads")
    head_dim = width // heads
    if head_dim % TILE_SIZE:
        fail(op, f"head_dim {head_dim} must be a multiple of {TILE_SIZE}")
    return head_dim


def _split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """(b, 1, s, heads*head_dim) -> (b, heads, s, head_dim)."""
    b, _, s, _ = x.shape
    return x.reshape(b, s, heads, head_dim).permute(0, 2, 1, 3).contiguous()


def nlp_create_qkv_heads(
    input: Tensor,  # noqa: A002 - the real parameter name
    input_kv: Tensor | None = None,
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    transpose_k_heads: bool = True,
    kv_tied: bool = False,
    memory_config: MemoryConfig | None = None,
    output_tensors=None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``(b, 1, s, (nq + 2*nkv) * head_dim)`` into ``q (b, nq, s, hd)``, ``k``, ``v (b, nkv, s, hd)``.

    ``k`` is ``(b, nkv, hd, s)`` unless ``transpose_k_heads=False``. With ``input_kv`` the input holds
    Q only and ``input_kv`` holds ``[k | v]``; with ``kv_tied`` one K section doubles as V.
    """
    op = "ttnn.experimental.nlp_create_qkv_heads"
    if output_tensors is not None:
        fail(op, "output_tensors is not modelled by the emulator", NotImplementedError)
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    tensors = [("input", input)] + ([("input_kv", input_kv)] if input_kv is not None else [])
    for name, tensor in tensors:
        require_on_device(op, name, tensor)
        require_layout(op, name, tensor, Layout.TILE)
        require_dtype(op, name, tensor, *_TM_DTYPES)
        if len(tensor.shape) != 4 or tensor.shape[1] != 1:
            fail(op, f"{name} must be [batch, 1, seq, width], got {list(tensor.shape)}")
        if tensor.is_sharded():
            fail(
                op,
                f"{name}: sharded inputs are not modelled by the emulator; pass an interleaved tensor",
                NotImplementedError,
            )
    _check_memory_config(op, memory_config)
    if num_heads % num_kv_heads:
        fail(op, f"num_heads {num_heads} must be a multiple of num_kv_heads {num_kv_heads}")
    kv_sections = 1 if kv_tied else 2
    if input_kv is None:
        head_dim = _head_dim(op, input.shape[-1], num_heads + kv_sections * num_kv_heads, "input")
    else:
        head_dim = _head_dim(op, input.shape[-1], num_heads, "input")
        if input_kv.shape[-1] != kv_sections * num_kv_heads * head_dim:
            fail(
                op,
                f"input_kv width {input_kv.shape[-1]} must be {kv_sections} x {num_kv_heads} heads x {head_dim}",
            )
        if tuple(input_kv.shape[:3]) != tuple(input.shape[:3]):
            fail(op, f"input_kv {list(input_kv.shape)} must match input {list(input.shape)} in batch and seq")
    q_width = num_heads * head_dim
    kv_width = num_kv_heads * head_dim

    def compute(x, x_kv):
        source = x if x_kv is None else x_kv
        offset = q_width if x_kv is None else 0
        q = _split_heads(x[..., :q_width], num_heads, head_dim)
        k = _split_heads(source[..., offset : offset + kv_width], num_kv_heads, head_dim)
        v_start = offset if kv_tied else offset + kv_width
        v = _split_heads(source[..., v_start : v_start + kv_width], num_kv_heads, head_dim)
        if transpose_k_heads:
            k = k.transpose(-1, -2).contiguous()
        return q, k, v

    per_device = shard_map(compute, input, input_kv)
    device = input.device()
    out_config = memory_config or input.memory_config()
    outputs = tuple(
        new_tensor(op, [d[i] for d in per_device], input.dtype, Layout.TILE, device, out_config)
        for i in range(3)
    )
    record(op, device, [input, input_kv], list(outputs))
    return outputs


def nlp_create_qkv_heads_decode(
    input_tensor: Tensor,
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    output_tensors=None,
    overlap_qk_coregrid: bool | None = True,
    batch_offset: Tensor | None = None,
    slice_size: int | None = None,
    memory_config: MemoryConfig | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Split decode QKV ``(1, 1, batch, (nq + 2*nkv) * head_dim)`` into per-user heads.

    Returns ``q (1, batch, nq, head_dim)``, ``k`` and ``v (1, batch, nkv, head_dim)``, each
    HEIGHT_SHARDED one user per core with the heads padded to 32 rows. ``memory_config`` must be
    HEIGHT_SHARDED (default ``ttnn.L1_HEIGHT_SHARDED_MEMORY_CONFIG``); its grid (or the device grid)
    supplies the cores. Input: bfloat16/float32 TILE, WIDTH_SHARDED or interleaved, batch <= 32.
    """
    op = "ttnn.experimental.nlp_create_qkv_heads_decode"
    if output_tensors is not None or batch_offset is not None or slice_size is not None:
        fail(
            op,
            "output_tensors, batch_offset and slice_size are not modelled by the emulator",
            NotImplementedError,
        )
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    require_on_device(op, "input_tensor", input_tensor)
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, DataType.BFLOAT16, DataType.FLOAT32)
    shape = input_tensor.shape
    if len(shape) != 4 or shape[0] != 1 or shape[1] != 1:
        fail(op, f"input_tensor must be [1, 1, batch, width], got {list(shape)}")
    batch = shape[2]
    if batch > 32:
        fail(op, f"at most 32 users are supported, got batch {batch}")
    if num_heads > 32:
        fail(op, f"at most 32 q heads are supported per device, got num_heads={num_heads}")
    if num_heads < num_kv_heads:
        fail(op, f"num_heads {num_heads} must be >= num_kv_heads {num_kv_heads}")
    head_dim = _head_dim(op, shape[-1], num_heads + 2 * num_kv_heads, "input_tensor")
    if input_tensor.is_sharded():
        config = input_tensor.memory_config()
        if config.memory_layout != TensorMemoryLayout.WIDTH_SHARDED:
            fail(op, f"a sharded input_tensor must be WIDTH_SHARDED, got {config.memory_layout.name}")
        if config.shard_spec.orientation != ShardOrientation.ROW_MAJOR:
            fail(op, "input_tensor shard orientation must be ROW_MAJOR")
        if not overlap_qk_coregrid and head_dim % config.shard_spec.shape[1]:
            fail(op, "with overlap_qk_coregrid=False a shard must not hold part of a head")
    elif not overlap_qk_coregrid:
        fail(op, "overlap_qk_coregrid must be True for an interleaved input_tensor")
    _check_memory_config(op, memory_config)
    memory_config = memory_config or MemoryConfig(TensorMemoryLayout.HEIGHT_SHARDED, BufferType.L1)
    if memory_config.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
        fail(op, f"memory_config must be HEIGHT_SHARDED, got {memory_config.memory_layout.name}")
    device = input_tensor.device()
    grid = device.compute_with_storage_grid_size()
    available = (
        memory_config.shard_spec.grid.num_cores() if memory_config.shard_spec is not None else grid.x * grid.y
    )
    needed = batch if overlap_qk_coregrid else 2 * batch
    if available < needed:
        fail(
            op,
            f"memory_config grid has {available} cores, {needed} are needed (one per user for q/v, k on {'the same' if overlap_qk_coregrid else 'other'} cores)",
        )
    cores = num_cores_to_corerangeset(needed, grid, row_wise=True).cores()
    q_grid = CoreRangeSet(_ranges(cores[:batch]))
    k_grid = q_grid if overlap_qk_coregrid else CoreRangeSet(_ranges(cores[batch:]))
    rows = TILE_SIZE  # heads padded to one tile of rows
    q_config = MemoryConfig(
        TensorMemoryLayout.HEIGHT_SHARDED,
        BufferType.L1,
        ShardSpec(q_grid, (rows, head_dim), ShardOrientation.ROW_MAJOR),
    )
    k_config = MemoryConfig(
        TensorMemoryLayout.HEIGHT_SHARDED,
        BufferType.L1,
        ShardSpec(k_grid, (rows, head_dim), ShardOrientation.ROW_MAJOR),
    )
    q_width, kv_width = num_heads * head_dim, num_kv_heads * head_dim

    def split(x, start, heads):
        return x[0, 0, :, start : start + heads * head_dim].reshape(1, batch, heads, head_dim).contiguous()

    q = new_tensor(
        op,
        shard_map(lambda x: split(x, 0, num_heads), input_tensor),
        input_tensor.dtype,
        Layout.TILE,
        device,
        q_config,
    )
    k = new_tensor(
        op,
        shard_map(lambda x: split(x, q_width, num_kv_heads), input_tensor),
        input_tensor.dtype,
        Layout.TILE,
        device,
        k_config,
    )
    v = new_tensor(
        op,
        shard_map(lambda x: split(x, q_width + kv_width, num_kv_heads), input_tensor),
        input_tensor.dtype,
        Layout.TILE,
        device,
        q_config,
    )
    record(op, device, [input_tensor], [q, k, v], cores_used=needed)
    return q, k, v


def _ranges(cores):
    from ._memory import CoreRange  # noqa: PLC0415

    return [CoreRange(core, core) for core in cores]


def nlp_concat_heads(input_tensor: Tensor, *, memory_config: MemoryConfig | None = None) -> Tensor:
    """Merge heads: ``(b, heads, s, head_dim)`` -> ``(b, 1, s, heads * head_dim)``."""
    op = "ttnn.experimental.nlp_concat_heads"
    require_on_device(op, "input_tensor", input_tensor)
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, *_TM_DTYPES)
    if len(input_tensor.shape) != 4:
        fail(op, f"input_tensor must be [batch, heads, seq, head_dim], got {list(input_tensor.shape)}")
    if input_tensor.shape[-1] % TILE_SIZE:
        fail(op, f"head_dim {input_tensor.shape[-1]} must be a multiple of {TILE_SIZE}")
    if input_tensor.is_sharded():
        fail(
            op,
            "sharded inputs are not modelled by the emulator; pass an interleaved tensor",
            NotImplementedError,
        )
    _check_memory_config(op, memory_config)
    b, heads, s, head_dim = input_tensor.shape

    def merge(x):
        return x.permute(0, 2, 1, 3).reshape(b, 1, s, heads * head_dim).contiguous()

    device = input_tensor.device()
    out = new_tensor(
        op,
        shard_map(merge, input_tensor),
        input_tensor.dtype,
        Layout.TILE,
        device,
        memory_config or input_tensor.memory_config(),
    )
    record(op, device, [input_tensor], [out])
    return out


def nlp_concat_heads_decode(
    input_tensor: Tensor,
    *,
    num_heads: int,
    memory_config: MemoryConfig | None = None,
    output_tensor: Tensor | None = None,
    sub_core_grids: CoreRangeSet | None = None,
) -> Tensor:
    """Merge decode heads: ``(1, batch, heads[32], head_dim)`` -> ``(1, 1, batch, num_heads * head_dim)``.

    The input must be HEIGHT_SHARDED one user per core with 32-row shards; the output is
    WIDTH_SHARDED, one head per core (the real op ignores ``memory_config``, so does this one).
    The emulator keeps the logical batch where the real op reports 32 rows (see divergences).
    """
    op = "ttnn.experimental.nlp_concat_heads_decode"
    if output_tensor is not None or sub_core_grids is not None:
        fail(op, "output_tensor and sub_core_grids are not modelled by the emulator", NotImplementedError)
    require_on_device(op, "input_tensor", input_tensor)
    require_layout(op, "input_tensor", input_tensor, Layout.TILE)
    require_dtype(op, "input_tensor", input_tensor, DataType.BFLOAT16, DataType.FLOAT32)
    shape, padded = input_tensor.shape, input_tensor.padded_shape
    if len(shape) != 4 or shape[0] != 1:
        fail(op, f"input_tensor must be [1, batch, heads, head_dim], got {list(shape)}")
    batch, head_dim = shape[1], shape[3]
    if batch > 32:
        fail(op, f"at most 32 users are supported, got batch {batch}")
    if padded[2] != TILE_SIZE:
        fail(op, f"the heads dim must pad to exactly 32 rows, got {shape[2]} (padded {padded[2]})")
    if num_heads > shape[2]:
        fail(op, f"num_heads {num_heads} exceeds the {shape[2]} heads of input_tensor")
    config = input_tensor.memory_config()
    if config.memory_layout != TensorMemoryLayout.HEIGHT_SHARDED:
        fail(op, f"input_tensor must be HEIGHT_SHARDED, got {config.memory_layout.name}")
    if tuple(config.shard_spec.shape) != (TILE_SIZE, padded[3]):
        fail(
            op,
            f"input_tensor shards must be [32, {padded[3]}] (one user per core), got {list(config.shard_spec.shape)}",
        )
    if config.shard_spec.grid.num_cores() != batch:
        fail(
            op,
            f"input_tensor shard grid has {config.shard_spec.grid.num_cores()} cores, must equal batch {batch}",
        )
    device = input_tensor.device()
    grid = num_cores_to_corerangeset(num_heads, device.compute_with_storage_grid_size(), row_wise=True)
    out_config = MemoryConfig(
        TensorMemoryLayout.WIDTH_SHARDED,
        BufferType.L1,
        ShardSpec(grid, (TILE_SIZE, head_dim), ShardOrientation.ROW_MAJOR),
    )

    def merge(x):
        return x[0, :, :num_heads, :].reshape(1, 1, batch, num_heads * head_dim).contiguous()

    out = new_tensor(op, shard_map(merge, input_tensor), input_tensor.dtype, Layout.TILE, device, out_config)
    record(op, device, [input_tensor], [out], cores_used=num_heads)
    return out


__all__: list[str] = []  # exported through ``experimental``
