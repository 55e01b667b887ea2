"""Run by a venv's own python: prove each ``name==version`` is installed there, at that version.

    <venv>/bin/python installed_check.py <venv> tttv2-blocks==2.0.0 tttv2-hwconfig==2.0.0

Checks ``importlib.metadata.version`` and that the imported module's file lives inside the venv
(not in a source tree reached through ``sys.path``, an editable install or a ``.pth`` file).
Standard library only: it runs in venvs that have nothing of the tooling.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    venv = Path(argv[0]).resolve()
    problems = []
    for pin in argv[1:]:
        name, _, wanted = pin.partition("==")
        try:
            got = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        module = importlib.import_module(name.replace("-", "_"))
        where = Path(module.__file__).resolve()
        print(f"{name} {got} imported from {where}")
        if got != wanted:
            problems.append(f"{name}: installed {got}, expected {wanted}")
        if venv not in where.parents:
            problems.append(f"{name}: imported from {where}, outside the venv {venv}")
    for problem in problems:
        print(f"installed_check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
