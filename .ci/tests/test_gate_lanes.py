"""`.ci/run` runs `nox -t gate` once per lane (noxfile.py GATE_LANES): together the lanes are the gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT


def _gate_sessions(lane: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "TTTV2_GATE_LANE"}
    if lane:
        env["TTTV2_GATE_LANE"] = lane
    out = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--json", "-t", "gate"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [entry["name"] for entry in json.loads(out)]


def test_lanes_partition_the_gate():
    whole, one, two = _gate_sessions(""), _gate_sessions("1"), _gate_sessions("2")
    assert one and two
    assert not set(one) & set(two), "a session runs in both lanes"
    assert sorted(one + two) == sorted(whole), "a gate session runs in no lane"
    assert two[0] == "conformance", "conformance opens lane 2, while the disk is emptiest"


def test_unknown_lane_is_refused():
    env = {**os.environ, "TTTV2_GATE_LANE": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "-t", "gate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "TTTV2_GATE_LANE='3'" in proc.stdout + proc.stderr
