"""Promise 1: a user can depend on only ``tttv2-blocks`` and run a block.

A tiny example project (written here, outside the repository) lists only ``tttv2-blocks`` and is
installed into a clean venv from the release wheels: pip may bring only what blocks declares
(``tttv2-hwconfig`` and torch), and patterns/testing must not be importable.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from conftest import run

from cilib.venvs import find_python

EXAMPLE_SCRIPT = '''
"""What a blocks-only user runs; prints one JSON line for the test to read."""
import importlib.util
import json

import torch
import tttv2_blocks

result = {
    "blocks_file": tttv2_blocks.__file__,
    "patterns_importable": importlib.util.find_spec("tttv2_patterns") is not None,
    "testing_importable": importlib.util.find_spec("tttv2_testing") is not None,
    "has_rmsnorm": hasattr(tttv2_blocks, "RMSNorm"),
}
if result["has_rmsnorm"]:
    from tttv2_hwconfig import open_device, ttnn
    from tttv2_blocks import RMSNorm, RMSNormSpec, get_default_impl_config

    torch.manual_seed(0)
    spec = RMSNormSpec(dim=64, eps=1e-6)
    dev = open_device("N150")
    norm = RMSNorm(spec, get_default_impl_config(spec, dev, "prefill"), dev)
    w = torch.rand(64) + 0.5
    norm.load_weights({"weight": w})
    t = torch.randn(1, 1, 32, 64)
    x = ttnn.from_torch(t, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=dev)
    y = ttnn.to_torch(norm.forward_prefill(x)).float().reshape(t.shape)
    # Independent reference: RMSNorm written out in float32.
    ref = t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    result["pcc"] = torch.corrcoef(torch.stack([y.flatten(), ref.flatten()]))[0, 1].item()
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def blocks_only_user(released_clone, tmp_path_factory):
    """Install the example project into a clean venv from the wheelhouse; return (pip report, run result)."""
    work = tmp_path_factory.mktemp("blocks-only")
    project = work / "example"
    (project / "src" / "blocks_user").mkdir(parents=True)
    blocks_version = released_clone.versions["blocks"]
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "blocks-user"
        version = "0.0.1"
        # The application pins torch (blocks says torch>=2.13): 2.13.0 is the local CPU wheel.
        dependencies = ["tttv2-blocks=={blocks_version}", "torch==2.13.0"]

        [tool.hatch.build.targets.wheel]
        packages = ["src/blocks_user"]
        """)
    )
    (project / "src" / "blocks_user" / "__init__.py").write_text("")
    (project / "src" / "blocks_user" / "run.py").write_text(EXAMPLE_SCRIPT)

    venv = work / "venv"
    run([find_python("3.11"), "-m", "venv", str(venv)], cwd=work)
    report = work / "pip-report.json"
    run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-compile", "--find-links", str(released_clone.wheelhouse),
         "--report", str(report), str(project)], cwd=work)  # fmt: skip
    # Run from a folder that holds nothing of the monorepo.
    proc = subprocess.run(
        [str(venv / "bin/python"), "-m", "blocks_user.run"], cwd=work, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(report.read_text()), json.loads(proc.stdout.strip().splitlines()[-1]), venv


def test_only_blocks_and_what_it_declares_is_installed(blocks_only_user, released_clone):
    report, _, _ = blocks_only_user
    installed = {item["metadata"]["name"]: item for item in report["install"]}
    ours = {name for name in installed if name.startswith("tttv2-")}
    assert ours == {"tttv2-blocks", "tttv2-hwconfig"}
    for name in ours:
        assert installed[name]["download_info"]["url"].startswith(f"file://{released_clone.wheelhouse}")
    assert installed["torch"]["metadata"]["version"].startswith("2.13.0")


def test_patterns_and_testing_are_not_importable(blocks_only_user):
    _, result, venv = blocks_only_user
    assert result["blocks_file"].startswith(str(venv))
    assert result["patterns_importable"] is False
    assert result["testing_importable"] is False


def test_a_block_runs_against_a_torch_reference(blocks_only_user):
    _, result, _ = blocks_only_user
    if not result["has_rmsnorm"]:
        pytest.skip("tttv2_blocks.RMSNorm is not in the released blocks yet; switches on once it is")
    # bfloat16 activations keep ~3 significant digits; PCC > 0.999 is the usual TTNN accuracy bar.
    assert result["pcc"] > 0.999
