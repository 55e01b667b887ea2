"""How attention heads are spread over the tensor-parallel devices, including dummy padding heads.

Every device must hold whole, regular GQA groups: the same number of KV heads and the same number
of query heads per KV head. Head counts that do not divide by the device count are padded::

    1. pad the KV groups with dummy groups to ``kv_groups`` >= num_kv_heads such that
       kv_groups % tp == 0 (each device holds kv_groups / tp groups), or
       tp % kv_groups == 0 (each KV head is replicated on r = tp / kv_groups devices);
    2. when replicated, pad the group size g to a multiple of r (dummy query heads) so each
       replica holds g_padded / r query heads of its group.

Dummy heads get zero q/k/v weights (and biases) and zero output-projection columns, so they add
nothing to the output. Example SmolLM2 (9 q / 3 kv heads, g = 3)::

    N300 (tp=2): 4 groups (1 dummy), 2 per device      -> device: 6 q + 2 kv heads
    T3K  (tp=8): 4 groups, r=2, g padded 3 -> 4          -> device: 2 q + 1 kv head

On TG (8x4) heads are split over the 4 mesh columns (tp = 4) and replicated over the 8 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from tttv2_blocks.ccl import is_2d_mesh


def head_tensor_parallel(device) -> int:
    """How many devices the attention heads split over: a 2D mesh's columns (TG: 4; the heads replicate
    over its rows), else every device of the mesh. ``Attention`` and the decode residual's input
    configs (tttv2-patterns) both read it, so they cannot disagree."""
    return tuple(device.shape)[1] if is_2d_mesh(device) else device.get_num_devices()


@dataclass(frozen=True)
class HeadLayout:
    """Which original head (or ``None`` for a dummy) each device slot holds.

    Attributes:
        num_heads, num_kv_heads: the model's head counts.
        tp: tensor-parallel degree (devices the heads are split over).
        kv_groups: KV groups after padding.
        replication: devices sharing one KV head (1 unless tp > kv_groups).
        group_size: query heads per KV head after padding.
    """

    num_heads: int
    num_kv_heads: int
    tp: int

    def __post_init__(self):
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"HeadLayout: num_heads {self.num_heads} must be a multiple of num_kv_heads {self.num_kv_heads}"
            )
        if self.tp < 1:
            raise ValueError(f"HeadLayout: tp must be >= 1, got {self.tp}")

    @property
    def kv_groups(self) -> int:
        groups = self.num_kv_heads
        while groups % self.tp and self.tp % groups:
            groups += 1
        return groups

    @property
    def replication(self) -> int:
        return self.tp // self.kv_groups if self.tp > self.kv_groups else 1

    @property
    def group_size(self) -> int:
        g, r = self.num_heads // self.num_kv_heads, self.replication
        return -(-g // r) * r

    @property
    def kv_heads_per_device(self) -> int:
        return max(1, self.kv_groups // self.tp)

    @property
    def q_heads_per_device(self) -> int:
        return self.kv_heads_per_device * self.group_size // self.replication

    @property
    def padded(self) -> bool:
        return self.kv_groups * self.group_size != self.num_heads

    def kv_heads(self, device: int) -> list[int | None]:
        """Original KV head of each KV slot on ``device`` (``None`` = dummy)."""
        if self.replication > 1:
            groups = [device // self.replication]
        else:
            per = self.kv_heads_per_device
            groups = list(range(device * per, (device + 1) * per))
        return [g if g < self.num_kv_heads else None for g in groups]

    def q_heads(self, device: int) -> list[int | None]:
        """Original query head of each query slot on ``device`` (``None`` = dummy), grouped by KV slot."""
        g_real = self.num_heads // self.num_kv_heads
        per_group = self.group_size // self.replication
        replica = device % self.replication
        heads: list[int | None] = []
        for group in self.kv_heads(device):
            for j in range(replica * per_group, (replica + 1) * per_group):
                heads.append(group * g_real + j if group is not None and j < g_real else None)
        return heads
