"""Config dataclasses that refuse unknown fields at assignment (a typo must not be ignored).

    impl.qkv_proj.dtyp = ttnn.bfloat16
    AttributeError: layers[0].attention.qkv_proj.dtyp: LinearImplConfig has no field 'dtyp'
        (did you mean 'dtype'?); its fields are ['dtype', ...]

The path prefix comes from ``_config_path``, which trees that hold the config set (the patterns'
``CausalLM.ImplConfig``); a standalone config names its class only.
"""

from __future__ import annotations

import dataclasses
import difflib


class UnknownFieldError(AttributeError, ValueError):
    """A field name that the config does not have (both an AttributeError and a ValueError)."""


def unknown_field_error(node, name: str, fields: list[str], path: str = "") -> UnknownFieldError:
    close = difflib.get_close_matches(name, fields, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    where = f"{path}.{name}" if path else name
    return UnknownFieldError(
        f"{where}: {type(node).__name__} has no field {name!r}{hint}; its fields are {fields}"
    )


class StrictFields:
    """Mixin for mutable config dataclasses: setting a public attribute that is not a field raises."""

    __slots__ = ()

    def __setattr__(self, name: str, value) -> None:
        if not name.startswith("_"):
            fields = [f.name for f in dataclasses.fields(self)]
            if name not in fields:
                raise unknown_field_error(self, name, fields, getattr(self, "_config_path", ""))
            set_child_path(value, f"{getattr(self, '_config_path', '') or type(self).__name__}.{name}")
        object.__setattr__(self, name, value)


def set_child_path(value, path: str) -> None:
    """Record where a config node sits (for the path in later errors); leaves are left alone."""
    if isinstance(value, StrictFields):
        object.__setattr__(value, "_config_path", path)
        for field in dataclasses.fields(value):
            set_child_path(getattr(value, field.name, None), f"{path}.{field.name}")
