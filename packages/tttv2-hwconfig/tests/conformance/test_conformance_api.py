"""Every public name of the emulator exists in the real ttnn 0.81.1 with compatible parameters.

Generic over whatever the emulator exports (``__all__`` of ``tttv2_hwconfig.emulator``,
``.experimental`` and ``.transformer``), so new ops are checked as they are added. The rules are
in ``_ttnn_api_compare.py``; intentional differences are listed (with reasons) in
``tttv2_hwconfig.emulator.divergences.INTENTIONAL_DIVERGENCES`` and printed by this suite.
"""

import importlib.metadata

import pytest

ttnn = pytest.importorskip("ttnn", reason="conformance needs the real ttnn==0.81.1 wheel (python3.12)")

import _ttnn_api_compare as api  # noqa: E402
from tttv2_hwconfig import emulator  # noqa: E402
from tttv2_hwconfig.emulator import experimental, transformer  # noqa: E402
from tttv2_hwconfig.emulator.divergences import INTENTIONAL_DIVERGENCES  # noqa: E402

REAL_TTNN_VERSION = "0.81.1"
if importlib.metadata.version("ttnn") != REAL_TTNN_VERSION:
    pytest.skip(f"conformance is pinned to ttnn=={REAL_TTNN_VERSION}", allow_module_level=True)

SUBMODULES = {"experimental": experimental, "transformer": transformer}
EMULATOR_OBJECTS = dict(api.iter_emulator_objects(emulator, SUBMODULES))
CHECKED = sorted(name for name in EMULATOR_OBJECTS if name not in INTENTIONAL_DIVERGENCES)
MEMBER_DIVERGENCES = frozenset(INTENTIONAL_DIVERGENCES)


def test_emulator_exports_something():
    # Guards the generic test below against silently checking nothing (e.g. an empty __all__).
    assert len(EMULATOR_OBJECTS) >= 20, (
        f"only {len(EMULATOR_OBJECTS)} emulator names found: {sorted(EMULATOR_OBJECTS)}"
    )


@pytest.mark.parametrize("name", CHECKED)
def test_name_exists_in_real_ttnn_with_compatible_signature(name):
    try:
        real = api.resolve(ttnn, name)
    except AttributeError:
        pytest.fail(f"ttnn.{name} does not exist in ttnn {REAL_TTNN_VERSION} (emulator exports it)")
    problems = api.compare_object(name, EMULATOR_OBJECTS[name], real, MEMBER_DIVERGENCES)
    assert not problems, f"ttnn.{name}:\n  " + "\n  ".join(problems)


def test_intentional_divergences_name_existing_emulator_objects():
    """Stale entries would silently widen the exemption list."""
    stale = []
    for key in INTENTIONAL_DIVERGENCES:
        if key in EMULATOR_OBJECTS:
            continue
        owner, _, member = key.rpartition(".")
        if owner in EMULATOR_OBJECTS and hasattr(EMULATOR_OBJECTS[owner], member):
            continue
        stale.append(key)
    assert not stale, f"INTENTIONAL_DIVERGENCES entries that name nothing the emulator exports: {stale}"
    assert all(reason.strip() for reason in INTENTIONAL_DIVERGENCES.values()), (
        "every divergence needs a reason"
    )


def test_print_intentional_divergences(capsys):
    with capsys.disabled():
        print(
            f"\n{len(CHECKED)} emulator names checked against ttnn {REAL_TTNN_VERSION}; intentional divergences:"
        )
        for key, reason in sorted(INTENTIONAL_DIVERGENCES.items()):
            print(f"  ttnn.{key}: {reason}")
        if not INTENTIONAL_DIVERGENCES:
            print("  (none)")
