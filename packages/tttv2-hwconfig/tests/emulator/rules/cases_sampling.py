"""ttnn.sampling rule cases (reduction/sampling/device/sampling_device_operation.cpp:
SamplingDeviceOperation::validate_on_program_cache_miss).

``sample(d, ...)`` builds a valid call (32 users, width 64, k/p/temp of shape [users]) and swaps in
one broken argument. The per-user arguments are built for the values' dim 2, so a case that changes
the values' shape still has matching k/p/temp and breaks only the shape rule it names.
"""

import torch
from rulecase import Case, Control, dev, sharded
from tttv2_hwconfig import ttnn

OP = "ttnn.sampling"
RM, TILE = ttnn.ROW_MAJOR_LAYOUT, ttnn.TILE_LAYOUT
HEIGHT = ttnn.TensorMemoryLayout.HEIGHT_SHARDED
USERS, WIDTH = 32, 64


def values(d, shape=(1, 1, USERS, WIDTH), **kw):
    return dev(d, shape, **kw)


def indices(d, shape=(1, 1, USERS, WIDTH), *, dtype=None, layout=RM, memory_config=None):
    data = torch.arange(shape[-1]).expand(shape).contiguous()
    return dev(d, shape, data=data, dtype=dtype or ttnn.uint32, layout=layout, memory_config=memory_config)


def per_user(d, value, users=USERS, *, dtype=ttnn.bfloat16, layout=RM, shape=None):
    return dev(
        d, shape or (users,), data=torch.full(shape or (users,), float(value)), dtype=dtype, layout=layout
    )


def sample(d, *, vals=None, idx=None, k=None, p=None, temp=None, **kwargs):
    """A valid ttnn.sampling call with any argument replaced (k/p/temp follow the values' users)."""
    vals = vals if vals is not None else values(d)
    users = vals.shape[2] if len(vals.shape) == 4 else USERS
    idx = idx if idx is not None else indices(d, tuple(vals.shape))
    k = k if k is not None else per_user(d, 4, users, dtype=ttnn.uint32)
    p = p if p is not None else per_user(d, 0.9, users)
    temp = temp if temp is not None else per_user(d, 1.0, users)
    return ttnn.sampling(vals, idx, k, p, temp, **kwargs)


def one_core_sharded(rows, width):
    return sharded((rows, width), (1, 1), HEIGHT)


def output(d, shape=(1, 1, 1, USERS), *, dtype=ttnn.uint32, memory_config=None):
    return dev(d, shape, data=torch.zeros(shape), dtype=dtype, layout=RM, memory_config=memory_config)


def cores(d, n):
    return ttnn.num_cores_to_corerangeset(n, d.compute_with_storage_grid_size(), row_wise=True)


def tokens(t):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).reshape(-1).to(torch.int64)


def k1_is_argmax(d, index_dtype=ttnn.uint32, **kwargs):
    data = torch.randn(1, 1, USERS, WIDTH)
    k = per_user(d, 1, dtype=index_dtype)
    out = sample(d, vals=values(d, data=data), idx=indices(d, dtype=index_dtype), k=k, seed=7, **kwargs)
    assert tuple(out.shape) == (1, 1, 1, USERS) and out.layout == RM
    assert torch.equal(tokens(out), data.to(torch.bfloat16).float()[0, 0].argmax(-1))
    return out


def into_preallocated_int32(d):
    out = output(d, dtype=ttnn.int32)
    assert k1_is_argmax(d, ttnn.int32, output_tensor=out) is out and out.dtype == ttnn.int32


CASES = [
    Case(
        "sampling.values_interleaved",
        lambda d: sample(d, vals=values(d, memory_config=one_core_sharded(USERS, WIDTH))),
    ),
    Case("sampling.values_dtype", lambda d: sample(d, vals=values(d, dtype=ttnn.float32))),
    Case("sampling.values_dtype", lambda d: sample(d, vals=values(d, dtype=ttnn.bfloat8_b)), name="bfp8"),
    Case("sampling.values_layout", lambda d: sample(d, vals=values(d, layout=RM))),
    Case(
        "sampling.indices_interleaved",
        lambda d: sample(d, idx=indices(d, memory_config=one_core_sharded(USERS, WIDTH))),
    ),
    Case("sampling.indices_dtype", lambda d: sample(d, idx=indices(d, dtype=ttnn.bfloat16))),
    Case("sampling.indices_dtype", lambda d: sample(d, idx=indices(d, dtype=ttnn.uint16)), name="uint16"),
    Case("sampling.indices_layout", lambda d: sample(d, idx=indices(d, dtype=ttnn.int32, layout=TILE))),
    Case("sampling.same_shape", lambda d: sample(d, idx=indices(d, (1, 1, USERS, 2 * WIDTH)))),
    Case("sampling.same_shape", lambda d: sample(d, idx=indices(d, (1, 1, 16, WIDTH))), name="users"),
    Case(
        "sampling.rank4", lambda d: sample(d, vals=values(d, (USERS, WIDTH)), idx=indices(d, (USERS, WIDTH)))
    ),
    Case(
        "sampling.rank4",
        lambda d: sample(d, vals=values(d, (1, 1, 1, USERS, WIDTH)), idx=indices(d, (1, 1, 1, USERS, WIDTH))),
        name="rank5",
    ),
    Case("sampling.nc_one", lambda d: sample(d, vals=values(d, (2, 1, USERS, WIDTH)))),
    Case("sampling.nc_one", lambda d: sample(d, vals=values(d, (1, 2, USERS, WIDTH))), name="c"),
    Case("sampling.num_users", lambda d: sample(d, vals=values(d, (1, 1, 64, WIDTH)))),
    Case("sampling.width_multiple_of_32", lambda d: sample(d, vals=values(d, (1, 1, USERS, 48)))),
    Case("sampling.width_tiles_power_of_2", lambda d: sample(d, vals=values(d, (1, 1, USERS, 96)))),
    Case(
        "sampling.width_tiles_power_of_2", lambda d: sample(d, vals=values(d, (1, 1, USERS, 192))), name="6"
    ),
    Case("sampling.sub_core_grids", lambda d: sample(d, sub_core_grids=cores(d, USERS - 1))),
    Case("sampling.output_tensor", lambda d: sample(d, output_tensor=output(d, dtype=ttnn.bfloat16))),
    Case(
        "sampling.output_tensor",
        lambda d: sample(d, output_tensor=output(d, memory_config=one_core_sharded(1, USERS))),
        name="sharded",
    ),
    Case(
        "sampling.output_tensor", lambda d: sample(d, output_tensor=output(d, (1, 1, USERS, 1))), name="shape"
    ),
    Case("sampling.k_dtype", lambda d: sample(d, k=per_user(d, 4))),
    Case("sampling.k_dtype", lambda d: sample(d, k=per_user(d, 4, dtype=ttnn.float32)), name="fp32"),
    Case("sampling.p_dtype", lambda d: sample(d, p=per_user(d, 0.9, dtype=ttnn.float32))),
    Case("sampling.temp_dtype", lambda d: sample(d, temp=per_user(d, 1.0, dtype=ttnn.float32))),
    Case(
        "sampling.k_p_temp_layout",
        lambda d: sample(d, k=per_user(d, 4, dtype=ttnn.uint32, layout=TILE, shape=(1, USERS))),
    ),
    Case(
        "sampling.k_p_temp_layout",
        lambda d: sample(d, p=per_user(d, 0.9, layout=TILE, shape=(1, USERS))),
        name="p",
    ),
    Case(
        "sampling.k_p_temp_layout",
        lambda d: sample(d, temp=per_user(d, 1.0, layout=TILE, shape=(1, USERS))),
        name="temp",
    ),
    Case("sampling.k_p_temp_shape", lambda d: sample(d, k=per_user(d, 4, USERS - 1, dtype=ttnn.uint32))),
    Case("sampling.k_p_temp_shape", lambda d: sample(d, p=per_user(d, 0.9, shape=(1, USERS))), name="p"),
    Case("sampling.k_p_temp_shape", lambda d: sample(d, temp=per_user(d, 1.0, 2 * USERS)), name="temp"),
]

CONTROLS = [
    Control(OP, k1_is_argmax),
    Control(OP, into_preallocated_int32, name="int32_preallocated_output"),
    Control(OP, lambda d: k1_is_argmax(d, sub_core_grids=cores(d, USERS)), name="sub_core_grids"),
    Control(
        OP,
        lambda d: sample(d, vals=values(d, (1, 1, 1, 32)), k=per_user(d, 32, 1, dtype=ttnn.uint32)),
        name="one_user_one_tile",
    ),
]
