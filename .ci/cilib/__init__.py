"""Monorepo tooling used by ``noxfile.py`` and ``.ci/run`` (not shipped in any package).

Only the standard library and ``packaging`` are imported at module level, so every module can be
used from the interpreter that runs nox as well as from the shared dev venv. ``api_diff`` is the one
exception (it needs ``griffe``) and is only run inside the dev venv.
"""
