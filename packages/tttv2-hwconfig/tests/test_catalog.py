"""Catalog tests: lookups, errors, completeness, and the derived figures against published ones.

The expected values below are typed in from the public sources (cited per line), not read from
catalog.py, so a wrong catalog entry fails here.
"""

import dataclasses
import math

import pytest
from tttv2_hwconfig.catalog import DEVICE_SPECS, DeviceSpec, EthernetLinks, device_spec, list_devices

# (mesh rows, mesh cols) per product: TTTv1 determine_device_name maps 1/2/8/32 Wormhole and
# 1/2/4 Blackhole devices to these names; TG runs as an 8x4 mesh, the rest as 1xN.
EXPECTED_MESH_SHAPES = {
    "N150": (1, 1),
    "N300": (1, 2),
    "T3K": (1, 8),
    "TG": (8, 4),
    "P100": (1, 1),
    "P150": (1, 1),
    "P300": (1, 2),
    "P150x4": (1, 4),
}

# Per-chip figures from the vendor tables (docs.tenstorrent.com aibs/wormhole and aibs/blackhole
# specifications); n300 board figures are halved (2 ASICs per board).
PUBLISHED_PER_CHIP = {
    # name: (DRAM GB, DRAM GB/s, Tensix cores)
    "N150": (12, 288, 72),
    "N300": (12, 576 / 2, 128 / 2),
    "P100": (28, 448, 120),
    "P150": (32, 512, 120),  # 120 cores: tt-system-firmware v19.5.0 (tt-metal issue #47014)
}

# Published peak TFLOPS per chip and the math fidelity the figure corresponds to. The derivation
# under test: tensix_cores * clock * 4096 / phases (tech_reports/matrix_engine).
PUBLISHED_TFLOPS = [
    ("N150", "HiFi4", 74.0),  # [WH-SPEC] n150 "TeraFLOPS (FP16) 74"
    ("N150", "HiFi2", 148.0),  # [WH-SPEC] n150 "TeraFLOPS (BLOCKFP8) 148"
    ("N300", "HiFi4", 131.0 / 2),  # [WH-SPEC] n300 "TeraFLOPS (FP16) 131" per 2-chip board
    ("N300", "HiFi2", 262.0 / 2),  # [WH-SPEC] n300 "TeraFLOPS (BLOCKFP8) 262" per board
    ("TG", "LoFi", 328.0),  # Hot Chips 2024 "Wormhole 80 Tensix cores ... 328 TOPS (FP8)"
    ("P150", "LoFi", 664.0),  # p150 after fw v19.5.0: "664 TFLOPS BLOCKFP8" (servernews.ru 2026-02-07)
    ("P150", "HiFi2", 332.0),  # "332 TFLOPS BF16" (awesomeagents.ai p150a page)
]


def test_every_required_device_is_present_with_its_mesh_shape():
    assert set(list_devices()) == set(EXPECTED_MESH_SHAPES)
    for name, shape in EXPECTED_MESH_SHAPES.items():
        spec = device_spec(name)
        assert spec.name == name
        assert spec.mesh_shape == shape
        assert spec.num_chips == math.prod(shape)
    assert list(DEVICE_SPECS) == list_devices()


@pytest.mark.parametrize("query", ["n300", "N300", " n300 ", "N300"])
def test_lookup_is_case_insensitive(query):
    assert device_spec(query) is DEVICE_SPECS["N300"]


def test_mixed_case_name_lookup():
    assert device_spec("p150X4").name == "P150x4"


def test_unknown_name_error_lists_every_valid_name():
    with pytest.raises(ValueError) as excinfo:
        device_spec("N999")
    message = str(excinfo.value)
    assert "N999" in message
    for name in EXPECTED_MESH_SHAPES:
        assert name in message


def test_non_string_name_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        device_spec(150)


@pytest.mark.parametrize("name", list(EXPECTED_MESH_SHAPES))
def test_every_field_is_populated(name):
    spec = device_spec(name)
    for field in dataclasses.fields(DeviceSpec):
        value = getattr(spec, field.name)
        assert value is not None, f"{name}.{field.name} is None"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value > 0, f"{name}.{field.name} = {value}"
        if isinstance(value, tuple):
            assert all(v > 0 for v in value), f"{name}.{field.name} = {value}"
        if isinstance(value, str):
            assert value, f"{name}.{field.name} is empty"
    assert spec.arch in ("wormhole_b0", "blackhole")
    assert spec.dispatch_core_type in ("worker", "ethernet")
    assert spec.dispatch_core_axis in ("row", "col")
    assert isinstance(spec.eth_links, EthernetLinks)


@pytest.mark.parametrize("name", list(EXPECTED_MESH_SHAPES))
def test_internal_consistency(name):
    spec = device_spec(name)
    # Dispatch keeps some cores, so the compute grid never exceeds the enabled Tensix cores.
    assert spec.compute_cores <= spec.tensix_cores_per_chip
    assert 0 < spec.l1_usable_bytes_per_core < spec.l1_bytes_per_core
    # dram_grid_size() is (banks, 1) on Wormhole and Blackhole.
    assert spec.dram_grid == (spec.dram_banks, 1)
    # Links exist exactly along mesh axes with more than one chip.
    for axis in (0, 1):
        assert (spec.eth_links.links_per_axis[axis] > 0) == (spec.mesh_shape[axis] > 1), name
    assert (spec.eth_links.topology == "none") == (spec.num_chips == 1)


@pytest.mark.parametrize("name", list(PUBLISHED_PER_CHIP))
def test_memory_and_cores_match_the_vendor_tables(name):
    spec = device_spec(name)
    dram_gb, dram_gb_per_s, tensix = PUBLISHED_PER_CHIP[name]
    # Vendors quote round GB; the allocator sees GiB-sized banks (1 GiB on WH, ~3.98 GiB on BH):
    # within 10% covers the GB/GiB difference and nothing more.
    assert dram_gb * 1e9 <= spec.dram_bytes_per_chip <= dram_gb * 1e9 * 1.1
    assert spec.dram_bandwidth_bytes_per_s == pytest.approx(dram_gb_per_s * 1e9, rel=1e-9)
    assert spec.tensix_cores_per_chip == tensix


@pytest.mark.parametrize(("name", "fidelity", "tflops"), PUBLISHED_TFLOPS)
def test_derived_peak_matches_published_peak(name, fidelity, tflops):
    spec = device_spec(name)
    derived = spec.peak_flops_per_s("bfloat16", fidelity, cores=spec.tensix_cores_per_chip)
    # Vendors round to whole TFLOPS (73.7 -> 74): 1.5% covers the rounding.
    assert derived / 1e12 == pytest.approx(tflops, rel=0.015)


def test_peak_divides_by_fidelity_phases_and_counts_compute_grid_by_default():
    spec = device_spec("N150")
    lofi = spec.peak_flops_per_s("bfloat8_b", "LoFi")
    # 8x8 grid x 1 GHz x (2*8*16*16) FLOP/cycle: tech_reports/matrix_engine.
    assert lofi == pytest.approx(64 * 1e9 * 2 * 8 * 16 * 16)
    for fidelity, phases in (("HiFi2", 2), ("HiFi3", 3), ("HiFi4", 4)):
        assert spec.peak_flops_per_s("bfloat8_b", fidelity) == pytest.approx(lofi / phases)


def test_peak_rejects_unknown_fidelity_and_dtype():
    spec = device_spec("P150")
    with pytest.raises(ValueError, match="math_fidelity"):
        spec.peak_flops_per_s("bfloat16", "HiFi5")
    with pytest.raises(ValueError, match="dtype"):
        spec.peak_flops_per_s("int8", "LoFi")


def test_blackhole_chip_outruns_wormhole_chip():
    # Sanity across generations: more cores at a higher clock, more L1 and DRAM bandwidth per chip.
    wh, bh = device_spec("N150"), device_spec("P150")
    assert bh.peak_flops_per_s("bfloat16", "HiFi2") > wh.peak_flops_per_s("bfloat16", "HiFi2")
    assert bh.dram_bandwidth_bytes_per_s > wh.dram_bandwidth_bytes_per_s
    assert bh.l1_bytes_per_core > wh.l1_bytes_per_core


def test_links_for_axis():
    tg = device_spec("TG").eth_links
    assert tg.links_for_axis(0) == 4  # tt_transformers ccl.py link_dict "TG": (4, 3)
    assert tg.links_for_axis(1) == 3
    assert tg.links_for_axis(None) == 3
    assert device_spec("N150").eth_links.links_for_axis() == 0
    with pytest.raises(ValueError, match="cluster_axis"):
        tg.links_for_axis(2)


# Collective settings per device, typed in from TTTv1: ccl.py get_num_links link_dict (links per axis, a
# 1-chip axis has none) and model_config.py ccl_topology ("Use ring on a T3K", every other mesh Linear).
EXPECTED_COLLECTIVES = {
    # name: {cluster_axis: (topology, num_links)}
    "N150": {None: ("none", 0), 0: ("none", 0), 1: ("none", 0)},
    "N300": {None: ("linear", 1), 0: ("none", 0), 1: ("linear", 1)},
    "T3K": {None: ("ring", 1), 0: ("none", 0), 1: ("ring", 1)},
    "TG": {None: ("linear", 3), 0: ("linear", 4), 1: ("linear", 3)},
    "P100": {None: ("none", 0), 0: ("none", 0), 1: ("none", 0)},
    "P150": {None: ("none", 0), 0: ("none", 0), 1: ("none", 0)},
    "P300": {None: ("linear", 2), 0: ("none", 0), 1: ("linear", 2)},
    "P150x4": {None: ("linear", 2), 0: ("none", 0), 1: ("linear", 2)},
}


@pytest.mark.parametrize("name", list(EXPECTED_COLLECTIVES))
def test_collective_settings_follow_tttv1(name):
    spec = device_spec(name)
    for axis, (topology, links) in EXPECTED_COLLECTIVES[name].items():
        got = spec.collective(axis)
        assert (got.topology, got.num_links) == (topology, links), (
            f"{name} cluster_axis={axis}: expected ({topology!r}, {links}), got ({got.topology!r}, {got.num_links})"
        )


def test_device_spec_of_emulated_device():
    from tttv2_hwconfig import device_spec_of, open_device

    with open_device("TG", emulate=True) as device:
        assert device_spec_of(device) is device_spec("TG")
