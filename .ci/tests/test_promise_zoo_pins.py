"""Promise 3: a model-zoo family runs against exactly the releases it pins, even after main moved on.

A family pinned to the earlier blocks release (2.0.0 on a fresh repository) is run with
``nox -s zoo`` after blocks was released again (2.1.0): its own tests assert the pinned version is
the one installed and that the newer release's addition is absent.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

from conftest import PROBE_NAME, nox

from cilib.releases import current_version

FAMILY = "promisefam"


def _write_family(clone, pins: dict[str, str]) -> None:
    family = clone / "model_zoo" / FAMILY
    (family / "src" / "tttv2_promisefam").mkdir(parents=True)
    (family / "tests").mkdir()
    deps = ", ".join(f'"tttv2-{package}=={version}"' for package, version in sorted(pins.items()))
    (family / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling>=1.21"]
        build-backend = "hatchling.build"

        [project]
        name = "tttv2-promisefam"
        version = "0.0.1"
        dependencies = [{deps}]

        # The noxfile's zoo sessions are the model_zoo projects registering a family here.
        [project.entry-points."tttv2.families"]
        promisefam = "tttv2_promisefam:FAMILY"

        [tool.hatch.build.targets.wheel]
        packages = ["src/tttv2_promisefam"]
        """)
    )
    (family / "src" / "tttv2_promisefam" / "__init__.py").write_text("FAMILY = None  # never loaded here\n")
    (family / "tests" / "test_pinned.py").write_text(
        textwrap.dedent(f"""\
        import importlib.metadata

        import tttv2_blocks


        def test_pinned_blocks_is_installed():
            assert importlib.metadata.version("tttv2-blocks") == "{pins["blocks"]}"
            assert tttv2_blocks.__version__ == "{pins["blocks"]}"


        def test_newer_release_is_not_what_runs():
            assert not hasattr(tttv2_blocks, "{PROBE_NAME}")
        """)
    )


def test_family_runs_its_pinned_blocks_after_main_moved_on(bumped_clone, tmp_path):
    clone = bumped_clone.path
    pins = {"blocks": bumped_clone.before["blocks"], "hwconfig": bumped_clone.before["hwconfig"]}
    assert str(current_version("blocks", clone)) != pins["blocks"]  # main is ahead of the pin
    _write_family(clone, pins)

    reports = tmp_path / "junit"
    reports.mkdir()
    proc = nox(clone, "-s", f"zoo(family='{FAMILY}')", TTTV2_JUNIT_DIR=str(reports))
    assert f"tttv2-blocks {pins['blocks']} imported from" in proc.stdout + proc.stderr

    (report,) = reports.glob("*.xml")
    suite = ET.parse(report).getroot().find("testsuite")
    # Both family tests ran and passed (a skipped or empty run would not prove anything).
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "2",
        "0",
        "0",
        "0",
    )
