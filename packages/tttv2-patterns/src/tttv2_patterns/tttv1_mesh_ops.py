"""The collectives and selection ops TTTv1 runs in every decode layer on a 2D mesh (TG), for predictions.

TTTv2's TG layer reduces 3 times (attention output along axis 1, FFN along axis 1 then axis 0).
TTTv1's (tenstorrent/tt-metal ``models/tt_transformers/tt/``: ``attention.py`` @00b769d
``forward_decode``, ``mlp.py`` @03f118e ``forward``, ``ccl.py`` ``tt_all_reduce`` / ``tt_all_gather`` /
``tt_sharded_distributed_rmsnorm``) keeps the hidden state fractured over the 4 mesh columns, shards
every weight 2D (N over the 8 rows, K over the 4 columns, or the reverse for wo / w2) and runs 8
collectives per layer on the (8, 4) mesh (axis 0: 8 rows, axis 1: 4 columns):

====================  ==========================================================================
where                 TTTv1 ops with no TTTv2 counterpart (collectives in capitals)
====================  ==========================================================================
attention norm        ``rms_norm_pre_all_gather`` of ``dim / 4``, ALL-GATHER of the stats (axis 1,
                      1 link); its ``rms_norm_post_all_gather`` is TTTv2's ``rms_norm``
attention             QKV ALL-REDUCE (axis 1): all-gather of the partial ``(n_heads + 2 n_kv) hd / 8``
                      + ``to_memory_config`` + ``fast_reduce_nc``; ``matmul(slice_mat, qkv)``;
                      ALL-GATHER of the users (axis 1, 2 links) + ``to_memory_config`` +
                      ``matmul(user_selection_matrix, ...)``; wo ALL-REDUCE (axis 0) of ``dim / 4``
ffn norm              as the attention norm
MLP                   w1 and w3 ALL-REDUCEs (axis 1, 2 links) of ``ff / 8``; w2 ALL-REDUCE (axis 0)
====================  ==========================================================================

An ALL-REDUCE is TTTv1's TG ``tt_all_reduce`` (``sharded=True``): all-gather along dim 0 of the whole
partial result, ``to_memory_config`` to L1, ``fast_reduce_nc`` (its final ``reshape`` to the same
shape is a view). Hidden 8192 (70B) takes ``use_composite=True`` for wo and w2 (reduce-scatter +
all-gather on axis 0) and, in the MLP, reduce-scatters w1 and w3 (axis 1) and all-gathers ``w2_in``
(axis 1, 2 links) + ``to_memory_config``. Collectives carry TTTv1's ``ccl_dtype`` (bfloat8_b).

So ``tttv1-precision`` on a 2D mesh replaces TTTv2's per-layer collectives (its ``all_gather_async``
and ``fast_reduce_nc`` records) with these; everything else in the layer stays TTTv2's program. The
ops run through the emulator on zero tensors of TTTv1's per-chip shapes (numerically, outside
``shapes_only()``: these tensors are one tile row), once per distinct layer shape; the perf model charges their records as any other op: no new constant.
"""

from __future__ import annotations

import dataclasses

import torch
from tttv2_blocks.ccl import TTTV1_ALL_GATHER_KNOBS, all_gather_semaphores, collective_kwargs, group_size
from tttv2_blocks.program_configs import width_sharded_activation_memory_config
from tttv2_hwconfig import is_shapes_only, ttnn

SCOPE = "tttv1_2d_mesh"
ROWS = TILE = 32  # decode activations are one tile row
# Per-layer records of TTTv2's own collectives that TTTv1's replace on a 2D mesh.
REPLACED_OPS = ("ttnn.experimental.all_gather_async", "ttnn.experimental.fast_reduce_nc")
LARGE_HIDDEN = 8192  # TTTv1: use_composite / reduce-scatter MLP when self.dim == 8192
_HOST_OPS = ("ttnn.from_torch", "ttnn.to_device")  # the inputs' creation, not TTTv1 decode ops


def replaced(record) -> bool:
    """A decoder-layer collective of TTTv2's program that ``run_tttv1_2d_mesh_ops`` stands in for."""
    return record.name in REPLACED_OPS and record.scope.startswith("layers.")


def tttv1_2d_mesh_records(spec, device) -> list:
    """The op records of TTTv1's per-layer 2D-mesh ops (table above) for every decoder layer of ``spec``.

    Runs them on the emulated mesh ``device`` outside ``shapes_only()`` (its trace is cleared before
    and after); each layer's records are scoped ``layers.<i>.tttv1_2d_mesh``.
    """
    if is_shapes_only():
        raise RuntimeError("tttv1_2d_mesh_records: call it outside tttv2_hwconfig.shapes_only()")
    ops, trace = _Ops(device), device.trace
    by_shape: dict[tuple, list] = {}
    records = []
    for index, layer in enumerate(spec.layers):
        key = _layer_key(layer)
        if key not in by_shape:
            trace.clear()
            ops.layer(layer)
            by_shape[key] = [r for r in trace.since(0) if r.name not in _HOST_OPS]
            trace.clear()
        scope = f"layers.{index}.{SCOPE}"
        records += [dataclasses.replace(r, scope=scope) for r in by_shape[key]]
    return records


def _layer_key(layer) -> tuple:
    a = layer.attention
    return (a.hidden_dim, a.num_heads, a.num_kv_heads, a.head_dim, layer.ffn.intermediate_dim)


class _Ops:
    def __init__(self, device):
        self.device = device
        self.rows, self.cols = tuple(device.shape)
        grid = self.grid = device.compute_with_storage_grid_size()
        self.cores = grid.x * grid.y
        self.semaphores = all_gather_semaphores(device)

    def tensor(self, width: int, dtype=ttnn.bfloat16, rows: int = ROWS):
        return ttnn.from_torch(
            torch.zeros((1, 1, rows, width), dtype=torch.bfloat16),
            dtype=dtype,
            layout=ttnn.TILE_LAYOUT,
            device=self.device,
            memory_config=ttnn.L1_MEMORY_CONFIG,
            mesh_mapper=ttnn.ReplicateTensorToMesh(self.device),
        )

    def all_gather(self, x, dim: int, axis: int, num_links: int | None = None, sharded: bool = False):
        """``all_gather_async`` as TTT_CCL calls it; ``sharded``: into an L1 width-sharded output, as
        TTTv1's decode gathers (``QKV_OUT_GATHERED_MEMCFG``, ``GATHER_USERS_MEMCFG``, ...) do."""
        kwargs = collective_kwargs(self.device, axis)
        if num_links is not None:
            kwargs["num_links"] = num_links
        config = ttnn.L1_MEMORY_CONFIG
        if sharded:
            shape = list(x.shape)
            shape[dim] *= group_size(self.device, axis)
            config = self.width_sharded(shape[0] * shape[1] * shape[2], shape[3])
        return ttnn.experimental.all_gather_async(
            x,
            persistent_output_buffer=None,
            dim=dim,
            multi_device_global_semaphore=self.semaphores[:2],
            barrier_semaphore=self.semaphores[2],
            memory_config=config,
            **kwargs,
            **TTTV1_ALL_GATHER_KNOBS,
        )

    def width_sharded(self, height: int, width: int):
        tiles = -(-width // TILE)
        cores = max(n for n in range(1, min(tiles, self.cores) + 1) if tiles % n == 0)
        return width_sharded_activation_memory_config(height, width, cores, self.grid)

    def all_reduce(self, width: int, axis: int, num_links: int | None = None) -> None:
        gathered = self.all_gather(self.tensor(width, ttnn.bfloat8_b), 0, axis, num_links, sharded=True)
        gathered = ttnn.to_memory_config(gathered, ttnn.L1_MEMORY_CONFIG)
        ttnn.experimental.fast_reduce_nc(
            gathered, dims=[0], output=None, compute_kernel_config=None, memory_config=ttnn.L1_MEMORY_CONFIG
        )

    def reduce_scatter(self, width: int, axis: int) -> None:
        ttnn.reduce_scatter(
            self.tensor(width, ttnn.bfloat8_b),
            3,
            memory_config=ttnn.L1_MEMORY_CONFIG,
            **collective_kwargs(self.device, axis),
        )

    def norm(self, dim: int) -> None:
        stats = ttnn.rms_norm_pre_all_gather(self.tensor(dim // self.cols), dtype=ttnn.bfloat16)
        self.all_gather(stats, 3, 1, num_links=1)

    def layer(self, layer) -> None:
        attention, ffn = layer.attention, layer.ffn
        dim = attention.hidden_dim
        head_dim = attention.head_dim or dim // attention.num_heads
        kv_heads = attention.num_kv_heads or attention.num_heads
        large = dim >= LARGE_HIDDEN
        self.norm(dim)
        # attention.py forward_decode (TG)
        qkv = (attention.num_heads + 2 * kv_heads) * head_dim // self.rows
        self.all_reduce(qkv, 1)
        ttnn.matmul(self.tensor(ROWS), self.tensor(qkv), dtype=ttnn.bfloat16)  # slice_mat
        heads = attention.num_heads * head_dim // self.rows
        users = self.all_gather(self.tensor(heads), 2, 1, num_links=2, sharded=True)
        users = ttnn.to_memory_config(users, ttnn.L1_MEMORY_CONFIG)
        ttnn.matmul(self.tensor(ROWS * self.cols), users, dtype=ttnn.bfloat16)  # user_selection_matrix
        if large:  # use_composite: reduce-scatter + all-gather
            self.reduce_scatter(dim // self.cols, 0)
            self.all_gather(self.tensor(dim // self.cols // self.rows, ttnn.bfloat8_b), 3, 0)
        else:
            self.all_reduce(dim // self.cols, 0)
        self.norm(dim)
        # mlp.py forward (TG)
        ff = ffn.intermediate_dim // self.rows
        if large:
            self.reduce_scatter(ff, 1)
            self.reduce_scatter(ff, 1)
            w2_in = self.all_gather(
                self.tensor(ff // self.cols, ttnn.bfloat8_b), 3, 1, num_links=2, sharded=True
            )
            ttnn.to_memory_config(w2_in, ttnn.L1_MEMORY_CONFIG)
            self.reduce_scatter(dim // self.cols, 0)
            self.all_gather(self.tensor(dim // self.cols // self.rows, ttnn.bfloat8_b), 3, 0)
        else:
            self.all_reduce(ff, 1, num_links=2)
            self.all_reduce(ff, 1, num_links=2)
            self.all_reduce(dim // self.cols, 0)
