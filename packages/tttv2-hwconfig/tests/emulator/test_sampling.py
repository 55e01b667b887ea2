"""``ttnn.sampling`` (top-k / top-p / temperature on device) against a torch reference.

k=1 must equal argmax exactly (it is deterministic on the device). For k>1 the emulator's draws are
not the device's (different RNG), so the check is the distribution: over 3200 draws the empirical
token frequencies must be within total-variation 0.06 of the torch reference probabilities
(softmax of the top-k values times 1/T, renormalised over the nucleus); with 3200 samples over
<= 8 categories the expected TV of an exact sampler is ~0.02, so 0.06 fails any sampler that
ignores k, p or the temperature (those move the TV by > 0.15 here).
"""

import pytest
import torch
from tttv2_hwconfig import ttnn
from tttv2_hwconfig.emulator._rules import Rule, RuleViolation

USERS, WIDTH = 32, 64


def put(t, device, dtype, layout):
    return ttnn.from_torch(t, dtype=dtype, layout=layout, device=device)


def inputs(device, values, k, p, temp, index_dtype=ttnn.uint32):
    users = values.shape[2]
    return dict(
        input_values_tensor=put(values, device, ttnn.bfloat16, ttnn.TILE_LAYOUT),
        input_indices_tensor=put(
            torch.arange(values.shape[-1])
            .expand(values.shape)
            .to(torch.int32 if index_dtype == ttnn.int32 else torch.int64),
            device,
            index_dtype,
            ttnn.ROW_MAJOR_LAYOUT,
        ),
        k=put(torch.full((users,), k, dtype=torch.int64), device, ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT),
        p=put(torch.full((users,), p), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT),
        temp=put(torch.full((users,), temp), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT),
    )


def tokens(t):
    return ttnn.to_torch(ttnn.get_device_tensors(t)[0]).reshape(-1).to(torch.int64)


def test_k1_is_argmax(device):
    values = torch.randn(1, 1, USERS, WIDTH)
    out = ttnn.sampling(**inputs(device, values, k=1, p=1.0, temp=1.0), seed=7)
    assert out.shape == (1, 1, 1, USERS) and out.dtype == ttnn.uint32 and out.layout == ttnn.ROW_MAJOR_LAYOUT
    assert torch.equal(tokens(out), values.to(torch.bfloat16).float()[0, 0].argmax(-1))


def reference_probs(row, k, p, temp):
    top = torch.sort(row, descending=True, stable=True)
    probs = torch.softmax(top.values[:k] * temp, dim=-1)
    keep = (torch.cumsum(probs, 0) - probs) < p
    keep[0] = True
    probs = torch.where(keep, probs, 0.0)
    full = torch.zeros_like(row)
    full[top.indices[:k]] = probs / probs.sum()
    return full


@pytest.mark.parametrize(("k", "p", "temp"), [(4, 1.0, 1.0), (8, 0.7, 1.0), (8, 1.0, 0.5), (3, 1.0, 2.0)])
def test_distribution_matches_top_k_top_p_temperature(device, k, p, temp):
    row = torch.linspace(2.0, -2.0, WIDTH)[torch.randperm(WIDTH)].to(torch.bfloat16).float()
    values = row.expand(1, 1, USERS, WIDTH).clone()
    args = inputs(device, values, k=k, p=p, temp=temp)
    counts = torch.zeros(WIDTH)
    for _ in range(100):
        counts += torch.bincount(tokens(ttnn.sampling(**args)), minlength=WIDTH)
    empirical = counts / counts.sum()
    expected = reference_probs(
        row, k, torch.tensor(p).to(torch.bfloat16).item(), torch.tensor(temp).to(torch.bfloat16).item()
    )
    assert (empirical[expected == 0] == 0).all(), "sampled a token outside top-k / top-p"
    assert 0.5 * (empirical - expected).abs().sum() < 0.06


def test_nonzero_seed_reseeds_every_call_and_none_continues(device):
    values = torch.zeros(1, 1, USERS, WIDTH)  # uniform over the top-k: the draw decides
    args = inputs(device, values, k=32, p=1.0, temp=1.0)
    assert torch.equal(tokens(ttnn.sampling(**args, seed=11)), tokens(ttnn.sampling(**args, seed=11)))
    assert not torch.equal(tokens(ttnn.sampling(**args)), tokens(ttnn.sampling(**args)))


def _bad(device, rule_id):
    values = torch.randn(1, 1, USERS, WIDTH)
    a = inputs(device, values, k=4, p=0.9, temp=1.0)
    kw = {}
    if rule_id == "values_interleaved":
        grid = ttnn.num_cores_to_corerangeset(1, device.compute_with_storage_grid_size(), row_wise=True)
        cfg = ttnn.create_sharded_memory_config(
            (32, WIDTH), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
        )
        a["input_values_tensor"] = ttnn.from_torch(
            values, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=cfg
        )
    elif rule_id == "values_dtype":
        a["input_values_tensor"] = put(values, device, ttnn.float32, ttnn.TILE_LAYOUT)
    elif rule_id == "values_layout":
        a["input_values_tensor"] = put(values, device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "indices_interleaved":
        grid = ttnn.num_cores_to_corerangeset(1, device.compute_with_storage_grid_size(), row_wise=True)
        cfg = ttnn.create_sharded_memory_config(
            (32, WIDTH), grid, ttnn.ShardStrategy.HEIGHT, use_height_and_width_as_shard_shape=True
        )
        a["input_indices_tensor"] = ttnn.from_torch(
            torch.zeros(1, 1, USERS, WIDTH, dtype=torch.int64),
            dtype=ttnn.uint32,
            layout=ttnn.ROW_MAJOR_LAYOUT,
            device=device,
            memory_config=cfg,
        )
    elif rule_id == "indices_dtype":
        a["input_indices_tensor"] = put(
            torch.zeros(1, 1, USERS, WIDTH), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT
        )
    elif rule_id == "indices_layout":
        a["input_indices_tensor"] = put(
            torch.zeros(1, 1, USERS, WIDTH, dtype=torch.int32), device, ttnn.int32, ttnn.TILE_LAYOUT
        )
    elif rule_id == "same_shape":
        a["input_indices_tensor"] = put(
            torch.zeros(1, 1, USERS, 2 * WIDTH, dtype=torch.int64), device, ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT
        )
    elif rule_id == "rank4":
        a = inputs(device, values, 4, 0.9, 1.0)
        a["input_values_tensor"] = put(values[0], device, ttnn.bfloat16, ttnn.TILE_LAYOUT)
        a["input_indices_tensor"] = put(
            torch.zeros(1, USERS, WIDTH, dtype=torch.int64), device, ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT
        )
    elif rule_id == "nc_one":
        a = inputs(device, torch.randn(2, 1, USERS, WIDTH), 4, 0.9, 1.0)
    elif rule_id == "num_users":
        a = inputs(device, torch.randn(1, 1, 33, WIDTH), 4, 0.9, 1.0)
    elif rule_id == "width_multiple_of_32":
        a = inputs(device, torch.randn(1, 1, USERS, 48), 4, 0.9, 1.0)
    elif rule_id == "width_tiles_power_of_2":
        a = inputs(device, torch.randn(1, 1, USERS, 96), 4, 0.9, 1.0)
    elif rule_id == "output_tensor":
        kw["output_tensor"] = put(torch.zeros(1, 1, 1, USERS), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "k_dtype":
        a["k"] = put(torch.full((USERS,), 4.0), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "p_dtype":
        a["p"] = put(torch.full((USERS,), 0.9), device, ttnn.float32, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "temp_dtype":
        a["temp"] = put(torch.full((USERS,), 1.0), device, ttnn.float32, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "k_p_temp_layout":
        a["temp"] = put(torch.full((1, USERS), 1.0), device, ttnn.bfloat16, ttnn.TILE_LAYOUT)
    elif rule_id == "k_p_temp_shape":
        a["p"] = put(torch.full((USERS - 1,), 0.9), device, ttnn.bfloat16, ttnn.ROW_MAJOR_LAYOUT)
    elif rule_id == "sub_core_grids":
        kw["sub_core_grids"] = ttnn.num_cores_to_corerangeset(
            4, device.compute_with_storage_grid_size(), row_wise=True
        )
    return a, kw


RULE_IDS = [
    "values_interleaved", "values_dtype", "values_layout", "indices_interleaved", "indices_dtype",
    "indices_layout", "same_shape", "rank4", "nc_one", "num_users", "width_multiple_of_32",
    "width_tiles_power_of_2", "output_tensor", "k_dtype", "p_dtype", "temp_dtype", "k_p_temp_layout",
    "k_p_temp_shape", "sub_core_grids",
]  # fmt: skip


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_each_rule_is_enforced_alone(device, rule_id):
    args, kw = _bad(device, rule_id)
    with pytest.raises(RuleViolation) as excinfo:
        ttnn.sampling(**args, **kw)
    assert excinfo.value.rule.id == f"sampling.{rule_id}"


def test_valid_control_and_every_rule_listed():
    from tttv2_hwconfig.emulator import _ops_sampling

    declared = {v.id for v in vars(_ops_sampling).values() if isinstance(v, Rule)}
    assert declared == {f"sampling.{r}" for r in RULE_IDS}
