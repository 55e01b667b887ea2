"""Default-ImplConfig adjustments every family needs (applied by ``ModelFactory.default_impl_config``)."""

from __future__ import annotations

from tttv2_hwconfig import device_spec, ttnn

TILE_COLUMNS = 32
# Share of a core's L1 the LM head's weight circular buffers may take (see fit_lm_head_chunks); the
# rest holds the sharded activations and outputs.
LM_HEAD_L1_FRACTION = 0.5
# Bytes of one 32x32 tile per weight dtype (block floats: 1 shared exponent byte per 16 values).
TILE_BYTES = {ttnn.float32: 4096, ttnn.bfloat16: 2048, ttnn.bfloat8_b: 1088, ttnn.bfloat4_b: 576}


def fit_lm_head_chunks(impl_config, spec, device) -> None:
    """Cap the LM head's columns per matmul so that its DRAM-sharded decode matmul fits in L1.

    Workaround for ``tttv2_blocks.LMHead``: its default chunk (grid cores x 32 x 16 columns, 32768
    on Wormhole) gives a 49152-word vocabulary (SmolLM2) a DRAM-sharded decode program config whose
    weight circular buffers need ~11 MB per core (L1 has ~1.4 MB), so decode fails. The blocks
    derive that config from the chunk width N and the hidden size K: ``num_cores`` = the most cores
    dividing both K and N in tiles, ``per_core_N = N / num_cores``, ``in0_block_w = K / num_cores``;
    the weight buffers take ``2 * per_core_N * in0_block_w`` tiles. This picks the widest chunk
    (fewest matmuls) whose every piece keeps those buffers within ``LM_HEAD_L1_FRACTION`` of a
    core's L1. A chunk size the user set is left as it is.
    """
    head = impl_config.lm_head
    if head.max_columns_per_matmul is not None or not head.decode_dram_sharded:
        return
    from tttv2_blocks import program_configs  # noqa: PLC0415
    from tttv2_blocks.lm_head import split_columns  # noqa: PLC0415

    from tttv2_patterns.devices import device_name, open_for_properties  # noqa: PLC0415

    device = open_for_properties(device)
    grid = device.compute_with_storage_grid_size()
    budget = device_spec(device_name(device)).l1_bytes_per_core * LM_HEAD_L1_FRACTION
    tile_bytes = TILE_BYTES.get(head.lm_head.dtype, TILE_BYTES[ttnn.float32])
    per_device = program_configs.tiles(-(-spec.lm_head.vocab_size // device.get_num_devices())) * TILE_COLUMNS
    hidden = spec.lm_head.hidden_dim

    def weight_buffer_bytes(columns: int) -> int:
        config = program_configs.dram_sharded_config(TILE_COLUMNS, hidden, columns, grid)
        return 2 * config.per_core_N * config.in0_block_w * tile_bytes

    for chunk in range(per_device, 0, -TILE_COLUMNS):
        if all(weight_buffer_bytes(n) <= budget for n in set(split_columns(per_device, chunk))):
            head.max_columns_per_matmul = chunk
            return
