"""``ttnn.sampling``: top-k / top-p / temperature sampling on device, one token id per user.

Numerics follow the device kernel (reduction/sampling/device/kernels/compute/sampling.cpp): the 32
largest values per user (bitonic top-k), entries past the user's ``k`` masked to -inf, multiplied
by the user's ``temp`` (the *reciprocal* temperature 1/T), softmax over those 32, then nucleus
(top-p) cut on the sorted cumulative probabilities and a multinomial draw with one uniform random
number per user. The result is ``input_indices_tensor[user, chosen]``.

Not bit-exact: the device draws its random numbers with the SFPU ``rand_tile`` generator; the
emulator draws them from a ``torch.Generator`` (same seed -> same tokens, and the same
distribution as the device, not the same samples). As on the device, a non-zero ``seed`` re-seeds
the generator on every call (a replayed trace draws the same number each step); ``seed`` None or 0
continues the generator from call to call. With ``k = 1`` the op is deterministic and
returns the index of the largest value (the first one on ties), as ``ttnn.argmax`` does.
"""

from __future__ import annotations

import torch

from ._op import new_tensor, record, same_device, shard_map
from ._rules import check, rule
from ._tensor import Tensor
from ._types import DataType, Layout

__all__ = ["sampling"]

_OP = "ttnn.sampling"
_SRC = "ttnn/cpp/ttnn/operations/reduction/sampling/device/sampling_device_operation.cpp: validate_on_program_cache_miss"


def _r(rule_id: str, text: str):
    return rule(f"sampling.{rule_id}", _OP, text, _SRC)


VALUES_INTERLEAVED = _r("values_interleaved", "input_values_tensor is INTERLEAVED")
VALUES_DTYPE = _r("values_dtype", "input_values_tensor dtype is BFLOAT16")
VALUES_LAYOUT = _r("values_layout", "input_values_tensor layout is TILE")
INDICES_INTERLEAVED = _r("indices_interleaved", "input_indices_tensor is INTERLEAVED")
INDICES_DTYPE = _r("indices_dtype", "input_indices_tensor dtype is UINT32 or INT32")
INDICES_LAYOUT = _r("indices_layout", "input_indices_tensor layout is ROW_MAJOR")
SAME_SHAPE = _r("same_shape", "input_values_tensor and input_indices_tensor have the same logical shape")
RANK4 = _r("rank4", "input_values_tensor is rank 4")
NC_ONE = _r("nc_one", "input dims 0 and 1 (N, C) are 1")
USERS = _r("num_users", "input dim 2 (users) is in [1, 32]")
WIDTH_32 = _r("width_multiple_of_32", "input dim 3 is non-zero and a multiple of 32")
WIDTH_POW2 = _r("width_tiles_power_of_2", "input dim 3 / 32 is a power of 2")
OUTPUT = _r("output_tensor", "output_tensor is UINT32/INT32, INTERLEAVED, shape [1, 1, 1, users]")
K_DTYPE = _r("k_dtype", "k dtype is UINT32 or INT32")
P_DTYPE = _r("p_dtype", "p dtype is BFLOAT16")
TEMP_DTYPE = _r("temp_dtype", "temp dtype is BFLOAT16")
KPT_LAYOUT = _r("k_p_temp_layout", "k, p and temp are ROW_MAJOR")
KPT_SHAPE = _r("k_p_temp_shape", "k, p and temp have shape [users]")
SUB_GRID = _r("sub_core_grids", "sub_core_grids supplies at least num_users cores")


def _interleaved(tensor: Tensor) -> bool:
    config = tensor.memory_config()
    return config is None or not config.is_sharded()


def _validate(values, indices, k, p, temp, sub_core_grids, output_tensor) -> int:
    check(_interleaved(values), VALUES_INTERLEAVED, f"input_values_tensor is {values.memory_config()}")
    check(
        values.dtype == DataType.BFLOAT16, VALUES_DTYPE, f"input_values_tensor dtype is {values.dtype.name}"
    )
    check(values.layout == Layout.TILE, VALUES_LAYOUT, f"input_values_tensor layout is {values.layout.name}")
    check(_interleaved(indices), INDICES_INTERLEAVED, f"input_indices_tensor is {indices.memory_config()}")
    check(
        indices.dtype in (DataType.UINT32, DataType.INT32),
        INDICES_DTYPE,
        f"input_indices_tensor dtype is {indices.dtype.name}",
    )
    check(
        indices.layout == Layout.ROW_MAJOR,
        INDICES_LAYOUT,
        f"input_indices_tensor layout is {indices.layout.name}",
    )
    shape = values.shape
    check(
        indices.shape == shape,
        SAME_SHAPE,
        f"input_values_tensor {list(shape)}, input_indices_tensor {list(indices.shape)}",
    )
    check(len(shape) == 4, RANK4, f"input_values_tensor shape is {list(shape)}")
    check(shape[0] == 1 and shape[1] == 1, NC_ONE, f"input_values_tensor shape is {list(shape)}")
    users = shape[2]
    check(1 <= users <= 32, USERS, f"input dim 2 is {users}")
    width = shape[3]
    check(width != 0 and width % 32 == 0, WIDTH_32, f"input dim 3 is {width}")
    tiles = width // 32
    check(tiles & (tiles - 1) == 0, WIDTH_POW2, f"input dim 3 is {width} ({tiles} tiles)")
    if sub_core_grids is not None:
        check(
            sub_core_grids.num_cores() >= users,
            SUB_GRID,
            f"sub_core_grids has {sub_core_grids.num_cores()} cores for {users} users",
        )
    if output_tensor is not None:
        check(
            output_tensor.dtype in (DataType.UINT32, DataType.INT32)
            and _interleaved(output_tensor)
            and tuple(output_tensor.shape) == (1, 1, 1, users),
            OUTPUT,
            f"output_tensor is {output_tensor!r}",
        )
    check(k.dtype in (DataType.UINT32, DataType.INT32), K_DTYPE, f"k dtype is {k.dtype.name}")
    check(p.dtype == DataType.BFLOAT16, P_DTYPE, f"p dtype is {p.dtype.name}")
    check(temp.dtype == DataType.BFLOAT16, TEMP_DTYPE, f"temp dtype is {temp.dtype.name}")
    # Layouts of k, p, temp before any shape (sampling_device_operation.cpp: validate_on_program_cache_miss).
    per_user = (("k", k), ("p", p), ("temp", temp))
    for name, tensor in per_user:
        check(tensor.layout == Layout.ROW_MAJOR, KPT_LAYOUT, f"{name} layout is {tensor.layout.name}")
    for name, tensor in per_user:
        check(
            tuple(tensor.shape) == (users,), KPT_SHAPE, f"{name} shape is {list(tensor.shape)}, users {users}"
        )
    return users


def sample_rows(
    values: torch.Tensor,
    indices: torch.Tensor,
    k: torch.Tensor,
    p: torch.Tensor,
    temp: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """The kernel's math on [users, width] values; one uniform draw per user from ``generator``."""
    top_values, top_positions = torch.sort(values, dim=-1, descending=True, stable=True)
    top_values, top_positions = top_values[:, :32], top_positions[:, :32]
    keep = torch.arange(top_values.shape[-1]).unsqueeze(0) < k.to(torch.int64).unsqueeze(-1)
    scaled = torch.where(keep, top_values, torch.full_like(top_values, float("-inf"))) * temp.unsqueeze(-1)
    probs = torch.softmax(scaled, dim=-1)
    cumulative = torch.cumsum(probs, dim=-1)
    # Nucleus: keep entries whose preceding mass is below p (the first entry always stays).
    nucleus = (cumulative - probs) < p.unsqueeze(-1)
    nucleus[:, 0] = True
    kept = torch.where(nucleus & keep, probs, torch.zeros_like(probs))
    kept_cumulative = torch.cumsum(kept, dim=-1)
    draw = torch.rand(values.shape[0], generator=generator) * kept_cumulative[:, -1]
    chosen = torch.searchsorted(kept_cumulative, draw.unsqueeze(-1), right=True).clamp(max=31)
    positions = torch.gather(top_positions, -1, chosen)
    return torch.gather(indices, -1, positions).squeeze(-1)


def _generator(device, seed) -> torch.Generator:
    """A non-zero seed re-seeds the generator on every call, as the kernel's ``rand_tile_init(seed)``
    does; seed None/0 continues the device's generator state from call to call."""
    if seed:
        return torch.Generator().manual_seed(int(seed))
    if not hasattr(device, "_sampling_generator"):
        device._sampling_generator = torch.Generator().manual_seed(0)
    return device._sampling_generator


def sampling(
    input_values_tensor: Tensor,
    input_indices_tensor: Tensor,
    k: Tensor,
    p: Tensor,
    temp: Tensor,
    *,
    seed: int | None = None,
    sub_core_grids=None,
    output_tensor: Tensor | None = None,
) -> Tensor:
    """Sample one index per user (dim 2) from ``input_values_tensor``; ``temp`` holds 1/T per user."""
    users = _validate(input_values_tensor, input_indices_tensor, k, p, temp, sub_core_grids, output_tensor)
    device = same_device(_OP, input_values_tensor, input_indices_tensor, k, p, temp)
    generator = _generator(device, seed)

    def compute(values, indices, k_, p_, temp_):
        chosen = sample_rows(values[0, 0], indices[0, 0].to(torch.int64), k_, p_, temp_, generator)
        return chosen.reshape(1, 1, 1, users)

    shards = shard_map(compute, input_values_tensor, input_indices_tensor, k, p, temp)
    dtype = output_tensor.dtype if output_tensor is not None else DataType.UINT32
    out = new_tensor(_OP, shards, dtype, Layout.ROW_MAJOR, device, input_values_tensor.memory_config())
    record(_OP, device, [input_values_tensor, input_indices_tensor, k, p, temp], [out], cores_used=users)
    if output_tensor is not None:
        output_tensor._shards = out.shards
        return output_tensor
    return out
