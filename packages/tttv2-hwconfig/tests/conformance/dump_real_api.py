"""Print the real ttnn signatures of the given names (for people writing emulator ops).

Usage (needs the real wheel, i.e. the python3.12 conformance environment)::

    python packages/tttv2-hwconfig/tests/conformance/dump_real_api.py linear rms_norm \\
        experimental.rotary_embedding_llama MemoryConfig Tensor.to_torch MathFidelity
    python .../dump_real_api.py --members Tensor      # also every public member of a class

For each name it prints what kind of object it is and every overload as
``name(positional, /, either, *, keyword_only=default)`` (types are left out; ``help(ttnn.X)``
has them), enum members for enums, and the emulator's own signature next to it when the emulator
exports the same name.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ttnn_api_compare as api  # noqa: E402


def _describe(ttnn, emulator_objects: dict, name: str, with_members: bool) -> list[str]:
    try:
        obj = api.resolve(ttnn, name)
    except AttributeError:
        return [f"ttnn.{name}: does not exist"]
    lines = [f"ttnn.{name}: {type(obj).__module__}.{type(obj).__qualname__}"]
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        lines.append(f"  members: {', '.join(obj.__members__)}")
    elif isinstance(obj, enum.Enum):
        lines.append(f"  value: {type(obj).__name__}.{obj.name}")
    elif callable(obj):
        overloads = api.real_signatures(obj)
        if overloads is None:
            lines.append("  signature: not introspectable")
        for overload in overloads or []:
            lines.append(f"  {name.rpartition('.')[2]}{api.format_signature(overload)}")
    else:
        lines.append(f"  value: {obj!r}"[:300])
    if name in emulator_objects:
        mine = api.emulator_signature(emulator_objects[name])
        lines.append(f"  emulator: {api.format_signature(mine) if mine is not None else '(no signature)'}")
    if with_members and isinstance(obj, type):
        for member in sorted(n for n in dir(obj) if not n.startswith("_")):
            value = inspect.getattr_static(obj, member)
            if isinstance(value, property) or not callable(value):
                lines.append(f"  .{member}  (property/attribute)")
                continue
            for overload in api.real_signatures(getattr(obj, member)) or [None]:
                text = api.format_signature(overload) if overload is not None else "(?)"
                lines.append(f"  .{member}{text}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="names relative to ttnn, e.g. linear or experimental.foo")
    parser.add_argument("--members", action="store_true", help="also list public members of classes")
    args = parser.parse_args(argv)

    import ttnn  # noqa: PLC0415  (slow-ish import, only after argument parsing)

    try:
        from tttv2_hwconfig import emulator  # noqa: PLC0415
        from tttv2_hwconfig.emulator import experimental, transformer  # noqa: PLC0415

        submodules = {"experimental": experimental, "transformer": transformer}
        emulator_objects = dict(api.iter_emulator_objects(emulator, submodules))
    except ImportError:
        emulator_objects = {}
    for name in args.names:
        print("\n".join(_describe(ttnn, emulator_objects, name, args.members)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
