"""Build-time check of every program a model will run: a shapes-only dry run on the same device.

    check_programs(spec, impl_config, "N150")   # ProgramCheckError naming the module, or None

A model's program configs (matmul grids and block sizes, shardings, SDPA chunks) are only judged by
the ops that run them, so an L1 overflow used to surface at the first prefill, far from the config
that caused it. This builds the model again shapes-only (``tttv2_hwconfig.shapes_only``: ``meta``
weights, no numerics, the emulator's full validation and L1/DRAM accounting) on a fresh emulated
device of the same catalog name, runs one prefill of the longest prompt the model accepts and one
decode step of each row bucket (one user in one row; every user in 32 rows), and turns the first op refusal into an error naming the module path.
Emulator only (shapes-only runs there); a few seconds for a 135M model at 1024 tokens.
"""

from __future__ import annotations

from tttv2_hwconfig import OutOfMemoryError, close_device, open_device, shapes_only, ttnn_is_emulated

from tttv2_patterns.decode_trace import DECODE_ROWS, SINGLE_USER_ROWS
from tttv2_patterns.specs import CausalLMSpec


class ProgramCheckError(ValueError):
    """A module's program config is refused by the op it drives (L1 overflow, grid, shard, block sizes),
    or the model does not fit the device's DRAM/L1 at ``max_seq_len`` x ``max_batch_size``.

    Attributes:
        module_path: the module whose op refused (``"layers.3.ffn"``); ``""`` outside any block.
        phase: ``"prefill"`` or ``"decode"``, with the shape that was tried in the message.
    """

    def __init__(self, message: str, module_path: str, phase: str):
        super().__init__(message)
        self.module_path = module_path
        self.phase = phase


def check_programs(spec: CausalLMSpec, impl_config, device_name: str, *, prefill_len: int | None = None):
    """Dry-run ``spec`` under ``impl_config`` on an emulated ``device_name``; raise on the first refusal.

    Args:
        prefill_len: prompt length of the dry prefill (default ``spec.max_seq_len``: the largest
            activations, so the tightest L1).

    Raises:
        ProgramCheckError: an op refused its arguments; the message names the module, the phase and the
            op's own error (rule id, tt-metal source).
    """
    if not ttnn_is_emulated:
        return
    from tttv2_hwconfig.emulator._rules import RuleViolation  # noqa: PLC0415 - emulator-only
    from tttv2_hwconfig.emulator._trace import current_scope  # noqa: PLC0415

    from tttv2_patterns.shapes_only import shapes_only_model  # noqa: PLC0415 - imports CausalLM

    length = spec.max_seq_len if prefill_len is None else prefill_len
    phase = f"prefill of {length} tokens"
    with shapes_only():
        device = open_device(device_name)
        try:
            model = shapes_only_model(spec, impl_config, device)
            try:
                model.prefill_forward([[0] * length])
                for rows in sorted({SINGLE_USER_ROWS, DECODE_ROWS}):  # every decode row bucket
                    users = list(range(min(rows, spec.max_batch_size)))
                    phase = f"decode of {len(users)} users in {rows} rows"
                    model._run_decode_step([0] * len(users), [0] * len(users), users, rows)
            except (RuleViolation, OutOfMemoryError) as error:
                where = getattr(error, "module_path", "") or current_scope()
                raise ProgramCheckError(
                    f"{where or 'model'}: its {phase} on {device_name} is refused by the device: {error}. "
                    "Change that module's ImplConfig (a smaller in0_block_w / per_core_N, another grid or "
                    "memory config) or the strategy.",
                    where,
                    phase.split()[0],
                ) from error
            finally:
                model.close()
        finally:
            close_device(device)
