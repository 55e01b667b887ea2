"""Installed families, found through the ``tttv2.families`` entry-point group (never a hard-coded list).

A family's ``pyproject.toml`` declares itself::

    [project.entry-points."tttv2.families"]
    llama3 = "tttv2_llama3:Llama3"

    families()                                        # {"llama3": Llama3, "qwen": Qwen, ...}
    get_family("llama3")                              # the ModelFactory subclass
    family_for_architectures(["Qwen3ForCausalLM"])    # the family handling an HF config
    family_for_checkpoint("path/to/folder")           # by its config.json
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterable

from tttv2_patterns.family.errors import UnknownFamilyError
from tttv2_patterns.family.hf_config import read_hf_config

ENTRY_POINT_GROUP = "tttv2.families"


def families() -> dict[str, type]:
    """Name -> family (``ModelFactory`` subclass) of every installed family, sorted by name.

    Raises:
        UnknownFamilyError: an entry point that cannot be loaded or is not a ``ModelFactory``, or two
            distributions registering one name (named with their distributions).
    """
    from tttv2_patterns.family.factory import ModelFactory  # noqa: PLC0415

    found: dict[str, type] = {}
    owners: dict[str, str] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        owner = entry_point.dist.name if entry_point.dist is not None else "?"
        if entry_point.name in owners and owners[entry_point.name] != owner:
            raise UnknownFamilyError(
                f"family {entry_point.name!r} is registered by two distributions: {owners[entry_point.name]} and {owner}"
            )
        try:
            family = entry_point.load()
        except Exception as error:  # an entry point runs a module's import: any error can come out
            raise UnknownFamilyError(
                f"family {entry_point.name!r} ({entry_point.value}, from {owner}) cannot be loaded: "
                f"{type(error).__name__}: {error}"
            ) from error
        if not (isinstance(family, type) and issubclass(family, ModelFactory)):
            raise UnknownFamilyError(
                f"family {entry_point.name!r} ({entry_point.value}, from {owner}) is not a ModelFactory subclass"
            )
        found[entry_point.name] = family
        owners[entry_point.name] = owner
    return dict(sorted(found.items()))


def get_family(name: str) -> type:
    """The installed family called ``name``."""
    installed = families()
    if name not in installed:
        raise UnknownFamilyError(
            f"no installed family {name!r}; installed: {sorted(installed) or 'none'} "
            f"(a family registers itself in the {ENTRY_POINT_GROUP!r} entry-point group)"
        )
    return installed[name]


def family_for_architectures(architectures: Iterable[str]) -> type:
    """The installed family handling every HF ``architectures`` name (``config.json``)."""
    wanted = list(architectures)
    installed = families()
    for family in installed.values():
        if wanted and all(a in family.architectures for a in wanted):
            return family
    handled = {name: list(f.architectures) for name, f in installed.items()}
    raise UnknownFamilyError(f"no installed family handles architectures {wanted}; installed: {handled}")


def family_for_checkpoint(checkpoint_dir: str | os.PathLike) -> type:
    """The installed family of a checkpoint folder, by its ``config.json`` ``architectures``."""
    return family_for_architectures(read_hf_config(checkpoint_dir).architectures)
