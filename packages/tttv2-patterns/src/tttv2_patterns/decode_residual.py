"""The decode residual stream on the grid the decode matmuls read.

TTTv1 (``models/tt_transformers/tt/distributed_norm.py`` ``forward``, decode) puts a norm's input
into the norm's ``sharded_output_config``, which is the next matmul's input config
(``SHARDED_ATTN_INPUT_MEMCFG`` / ``SHARDED_MLP_INPUT_MEMCFG``), so the norm writes what the
DRAM-sharded matmul reads. TTTv2 goes one step further when the attention's QKV and the FFN's
gate/up read the same width-sharded config (same K, same core count): the residual stream
itself lives in that config, so neither the norm's input nor the matmul's input is resharded. When
they read different configs (Llama-3.2-1B / 3B on N300 and T3K, Llama-3.1-8B on TG), each pre-norm reshards the
residual into its own matmul's input config first, as TTTv1 does, so no reshard runs between a norm
and its matmul.

TG (8x4) runs the same rule on TTTv2's own split: the residual is replicated at full width, QKV is
column-parallel over the 4 mesh columns and gate/up over all 32 chips (``attention.py``, ``ffn.py``),
so both read K = hidden on every chip (Llama-3.1-8B: QKV 16 cores x 256, gate/up 2 x 2048; 1B and 3B
read one config). TTTv1 fractures the residual over the columns instead and runs
``ccl.py`` ``tt_sharded_distributed_rmsnorm``: ``to_memory_config`` into ``gather_in_mem_cfg`` (the
norm's own input config, ``distributed_norm.py``), pre/post all-gather norm writing it, and the 1D QKV
matmul (``model_config.py`` ``XQKV_DECODE_PROGCFG``) reading it as ``SHARDED_ATTN_INPUT_MEMCFG``: one
reshard in front of the norm and none between norm and matmul, which is what TTTv2 does here too.

Not checked by the emulator: the sharded norm's circular buffers. A 2048-wide shard (8B's FFN norm on
TG) with fp32 intermediates needs, by ``layernorm_op_multi_core_sharded.cpp``'s CB sizes (in0, out,
gamma at 2 KiB a tile; x, xmm, xmm2 at 4 KiB), about 1.1 MiB of the core's 1.40 MiB usable L1.
"""

from __future__ import annotations

from tttv2_blocks import AttentionImplConfig, FeedForwardImplConfig
from tttv2_blocks.head_layout import HeadLayout, head_tensor_parallel
from tttv2_blocks.program_configs import dram_sharded_num_cores, width_sharded_activation_memory_config
from tttv2_blocks.rope import padded_head_dim
from tttv2_hwconfig import ttnn

TILE = 32


def _input_config(k: int, n: int, grid):
    return width_sharded_activation_memory_config(TILE, k, dram_sharded_num_cores(k, n, grid), grid)


def matmul_input_configs(spec, configs, device):
    """(memory config, norm program config) both pre-norms should use, or None to keep the norms' own.

    Only with replicated (not distributed) norms, only for a dense attention and FFN whose decode
    matmuls are DRAM-sharded and read one and the same input config.
    """
    both = per_norm_matmul_input_configs(spec, configs, device)
    if both is None or both[0] != both[1]:
        return None
    return both[0]


def per_norm_matmul_input_configs(spec, configs, device):
    """((memory config, norm program config) of the attention norm, the same of the FFN norm), or None.

    Each is the input config of the decode matmul that reads that norm's output (QKV, gate/up), under
    the conditions of ``matmul_input_configs``; the two may differ.
    """
    attention, ffn = configs.get("attention"), configs.get("ffn")
    norm = configs.get("attention_norm")
    if getattr(norm, "distributed", True):
        return None  # distributed norms run interleaved
    if not (isinstance(attention, AttentionImplConfig) and isinstance(ffn, FeedForwardImplConfig)):
        return None
    if not (attention.decode_dram_sharded and ffn.decode_dram_sharded):
        return None
    ffn_tp, grid = device.get_num_devices(), device.compute_with_storage_grid_size()
    a, f = spec.attention, spec.ffn
    if f.intermediate_dim % ffn_tp:
        return None  # the FFN block refuses this mesh with its own error
    # Column-parallel QKV and gate/up: every device reads the whole (replicated) residual as K.
    try:
        layout = HeadLayout(a.num_heads, a.num_kv_heads, head_tensor_parallel(device))
    except ValueError:
        return None  # the attention block refuses this mesh with its own error
    qkv_width = (layout.q_heads_per_device + 2 * layout.kv_heads_per_device) * padded_head_dim(a.head_dim)
    attention_input = _input_config(a.hidden_dim, qkv_width, grid)
    ffn_input = _input_config(f.hidden_dim, f.intermediate_dim // ffn_tp, grid)
    fp32 = configs["attention_norm"].compute_kernel_config.fp32_dest_acc_en
    return tuple((config, norm_program_config(config, fp32)) for config in (attention_input, ffn_input))


def norm_program_config(memory_config, fp32_dest_acc_en: bool):
    """The sharded norm program config of a ``(1, 1, <=32, width)`` input in ``memory_config``.

    One row of shards: ``block_w`` is the shard width in tiles and the grid covers the shard grid's
    bounding box (tt-metal ``layernorm_device_operation.cpp`` validate; the op multicasts along the width).
    """
    box = memory_config.shard_spec.grid.bounding_box()
    block_w = memory_config.shard_spec.shape[1] // TILE
    # Sub-block width is bounded by the destination registers: 4 tiles with fp32 accumulation, else 8.
    limit = 4 if fp32_dest_acc_en else 8
    subblock_w = max(d for d in range(1, min(block_w, limit) + 1) if block_w % d == 0)
    return ttnn.LayerNormShardedMultiCoreProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(box.end.x + 1, box.end.y + 1),
        subblock_w=subblock_w,
        block_h=1,
        block_w=block_w,
        inplace=False,
    )


def tttv1_data_flow(impl, spec, device) -> None:
    """Put the pre-norms (and the residual) back on the grid the norms pick for themselves, in place.

    TTTv1's decode reshards the residual into each norm's input config and the norm writes the matmul's
    input: one reshard per norm, as TTTv2 runs when the matmuls' inputs differ. The ``tttv1-precision``
    prediction program uses this so its op count stays TTTv1's.
    """
    from tttv2_blocks.normalization import sharded_decode_configs  # noqa: PLC0415

    if per_norm_matmul_input_configs_of(impl, spec, device) is None:
        return
    for layer, layer_spec in zip(impl.layers, spec.layers):
        fp32 = layer.attention_norm.compute_kernel_config.fp32_dest_acc_en
        memory_config, program_config = sharded_decode_configs(layer_spec.attention.hidden_dim, device, fp32)
        for norm in (layer.attention_norm, layer.ffn_norm):
            norm.decode_memory_config, norm.decode_program_config = memory_config, program_config
        layer.attention.output_decode_memory_config = memory_config
        layer.ffn.output_decode_memory_config = memory_config


def matmul_input_configs_of(impl, spec, device):
    """``matmul_input_configs`` of the first layer of a model ImplConfig (None when it does not apply)."""
    return _of(matmul_input_configs, impl, spec, device)


def per_norm_matmul_input_configs_of(impl, spec, device):
    """``per_norm_matmul_input_configs`` of the first layer of a model ImplConfig (None when it does not apply)."""
    return _of(per_norm_matmul_input_configs, impl, spec, device)


def _of(function, impl, spec, device):
    if not impl.layers:
        return None
    layer = impl.layers[0]
    configs = {"attention": layer.attention, "ffn": layer.ffn, "attention_norm": layer.attention_norm}
    return function(spec.layers[0], configs, device)
