"""Compare the emulator's public API with the real ``ttnn`` package, name by name.

Pure Python (no ttnn, no torch import) so the rules themselves are unit-tested on any interpreter
(``test_conformance_api_rules.py``); ``test_conformance_api.py`` applies them to the real wheel and
``dump_real_api.py`` prints real signatures for people writing emulator ops.

Getting a real signature. Real ttnn ops are ``ttnn.decorators.FastOperation`` objects whose
``.function`` is either a Python function or a nanobind-bound C++ operation object (``linear_t``);
classes are nanobind types. nanobind exposes every overload as text plus its default values in
``__nb_signature__`` (``(("def __call__(self, input_tensor_a: ..., *, bias: ... = \\0, ...)",
doc, (None, ...)), ...)``), which :func:`parse_nanobind_signature` turns into :class:`Param`
tuples. Plain Python callables go through :func:`inspect.signature`.

Compatibility rule (:func:`signature_problems`): code written against the emulator must also run
on the real package. So for some real overload:

* each parameter the emulator takes positionally sits at the same position, with the same name,
  among the real positional parameters;
* each keyword the emulator accepts is accepted by the real one (same name);
* each parameter the real one requires is required by the emulator too (else emulator callers may
  omit it);
* defaults that are plain values (None, bool, int, float, str, enum members by name) are equal;
* the emulator takes ``*args``/``**kwargs`` only where the real one does.

The emulator may accept a subset of the real keywords.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
from collections.abc import Iterator
from typing import Any

POSITIONAL_ONLY = "positional_only"
POSITIONAL_OR_KEYWORD = "positional_or_keyword"
KEYWORD_ONLY = "keyword_only"
VAR_POSITIONAL = "var_positional"
VAR_KEYWORD = "var_keyword"

_INSPECT_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY: KEYWORD_ONLY,
    inspect.Parameter.VAR_POSITIONAL: VAR_POSITIONAL,
    inspect.Parameter.VAR_KEYWORD: VAR_KEYWORD,
}


class _Unknown:
    """Marker for a default whose value could not be read (compared as 'anything')."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of a callable, independent of where the signature came from."""

    name: str
    kind: str
    has_default: bool = False
    default: Any = UNKNOWN

    @property
    def positional(self) -> bool:
        return self.kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD)

    @property
    def keyword(self) -> bool:
        return self.kind in (POSITIONAL_OR_KEYWORD, KEYWORD_ONLY)

    @property
    def variadic(self) -> bool:
        return self.kind in (VAR_POSITIONAL, VAR_KEYWORD)


Signature = tuple[Param, ...]


# ----------------------------------------------------------------------------- parsing


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _parameter_list_text(signature_text: str) -> str:
    """The text between the parentheses of ``def name(...) -> ret``."""
    open_index = signature_text.index("(")
    depth, quote = 0, None
    for i in range(open_index, len(signature_text)):
        char = signature_text[i]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return signature_text[open_index + 1 : i]
    raise ValueError(f"unbalanced parentheses in signature {signature_text!r}")


def _default_value(text: str, defaults: tuple | None) -> Any:
    """nanobind writes defaults as ``\\N`` (index into the defaults tuple) or as literal text."""
    text = text.strip()
    if text.startswith("\\") and text[1:].isdigit() and defaults is not None:
        index = int(text[1:])
        return defaults[index] if index < len(defaults) else UNKNOWN
    literals = {"None": None, "True": True, "False": False}
    if text in literals:
        return literals[text]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return UNKNOWN


def parse_nanobind_signature(text: str, defaults: tuple | None = None) -> Signature:
    """Parse one nanobind overload text into parameters (``self`` included if present).

    Args:
        text: e.g. ``"def __call__(self, a: T, *, b: T | None = \\0) -> R"``.
        defaults: the overload's default values, indexed by the ``\\N`` placeholders.
    """
    params: list[Param] = []
    kind = POSITIONAL_OR_KEYWORD
    for item in _split_top_level(_parameter_list_text(text)):
        if item == "/":
            params = [dataclasses.replace(p, kind=POSITIONAL_ONLY) for p in params]
            continue
        if item in ("*", "\\*"):  # trace ops' nanobind texts escape the marker as "\*" (reST)
            kind = KEYWORD_ONLY
            continue
        if item.startswith("**"):
            params.append(Param(item[2:].split(":")[0].strip(), VAR_KEYWORD))
            continue
        if item.startswith("*"):
            params.append(Param(item[1:].split(":")[0].strip(), VAR_POSITIONAL))
            kind = KEYWORD_ONLY
            continue
        name_and_type, *default = _split_top_level(item, "=")
        name = _split_top_level(name_and_type, ":")[0].strip()
        if default:
            params.append(Param(name, kind, True, _default_value(default[0], defaults)))
        else:
            params.append(Param(name, kind))
    return tuple(params)


def signature_from_inspect(signature: inspect.Signature) -> Signature:
    return tuple(
        Param(
            p.name,
            _INSPECT_KINDS[p.kind],
            p.default is not inspect.Parameter.empty,
            UNKNOWN if p.default is inspect.Parameter.empty else p.default,
        )
        for p in signature.parameters.values()
    )


def _drop_self(signature: Signature) -> Signature:
    if signature and signature[0].name in ("self", "cls") and signature[0].positional:
        return signature[1:]
    return signature


def _nanobind_overloads(function: Any) -> list[Signature] | None:
    overloads = getattr(function, "__nb_signature__", None)
    if not overloads:
        return None
    return [_drop_self(parse_nanobind_signature(text, defaults)) for text, _doc, defaults in overloads]


def _python_overloads(function: Any) -> list[Signature] | None:
    try:
        return [_drop_self(signature_from_inspect(inspect.signature(function)))]
    except (TypeError, ValueError):
        return None


def real_signatures(obj: Any) -> list[Signature] | None:
    """All overloads of a real ttnn callable or class constructor; None when not introspectable."""
    if hasattr(obj, "python_fully_qualified_name") and hasattr(obj, "function"):
        obj = obj.function  # ttnn.decorators.FastOperation / Operation
    if isinstance(obj, type):
        init = inspect.getattr_static(obj, "__init__", None)
        return _nanobind_overloads(init) or (
            _python_overloads(obj) if init is not None and inspect.isfunction(init) else None
        )
    direct = _nanobind_overloads(obj)
    if direct:
        return direct
    if not inspect.isroutine(obj) and callable(obj):
        by_call = _nanobind_overloads(type(obj).__call__)
        if by_call:
            return by_call
    return _python_overloads(obj)


def emulator_signature(obj: Any) -> Signature | None:
    """The emulator callable's (or class constructor's) signature, ``self`` dropped."""
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return None
    try:
        return _drop_self(signature_from_inspect(inspect.signature(obj)))
    except (TypeError, ValueError):
        return None


def format_signature(signature: Signature) -> str:
    """Human-readable ``(a, b=None, *, c=False)`` form (types omitted)."""
    parts: list[str] = []
    saw_keyword_only_marker = False
    for i, p in enumerate(signature):
        if p.kind == KEYWORD_ONLY and not saw_keyword_only_marker:
            parts.append("*")
            saw_keyword_only_marker = True
        if p.kind == VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            saw_keyword_only_marker = True
        elif p.kind == VAR_KEYWORD:
            parts.append(f"**{p.name}")
        else:
            parts.append(f"{p.name}={_format_default(p.default)}" if p.has_default else p.name)
        if p.kind == POSITIONAL_ONLY and (
            i + 1 == len(signature) or signature[i + 1].kind != POSITIONAL_ONLY
        ):
            parts.append("/")
    return "(" + ", ".join(parts) + ")"


def _format_default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------------------- comparison


def _plain_default(value: Any) -> tuple[bool, Any]:
    """(comparable, normalised value) for defaults compared across the two packages."""
    if value is UNKNOWN:
        return False, None
    if value is None or isinstance(value, (bool, str)):
        return True, (type(value).__name__, value)
    if isinstance(value, (int, float)):
        return True, ("number", float(value))
    if isinstance(value, enum.Enum):
        return True, ("enum", type(value).__name__, value.name)
    return False, None


def signature_problems(
    emulated: Signature, real: Signature, optional_in_other_overloads: frozenset[str] = frozenset()
) -> list[str]:
    """Why code calling the emulator's signature could fail or behave differently on ``real``.

    ``optional_in_other_overloads``: names some other real overload does not require; an emulator
    that merges overloads into one function may give those a default.
    """
    problems: list[str] = []
    real_by_name = {p.name: p for p in real if not p.variadic}
    real_positional = [p for p in real if p.positional]
    real_takes_var_positional = any(p.kind == VAR_POSITIONAL for p in real)
    real_takes_var_keyword = any(p.kind == VAR_KEYWORD for p in real)

    # Positions first. nanobind names positional-only parameters arg/arg0/...: only the position
    # counts there, but the emulator must not invite keyword use of them.
    emulated_positional = [p for p in emulated if p.positional]
    matched_positional_only: set[str] = set()
    for index, p in enumerate(emulated_positional):
        if index < len(real_positional):
            theirs = real_positional[index]
            if theirs.kind == POSITIONAL_ONLY:
                matched_positional_only.add(p.name)
                if p.kind == POSITIONAL_OR_KEYWORD:
                    problems.append(
                        f"emulator accepts {p.name!r} as a keyword but ttnn's parameter {index} is "
                        f"positional-only (declare it `{p.name}, /`)"
                    )
            elif theirs.name != p.name:
                problems.append(
                    f"positional parameter {index} is {p.name!r} in the emulator but {theirs.name!r} in ttnn"
                )
        elif not real_takes_var_positional:
            where = "keyword-only" if p.name in real_by_name else "absent"
            problems.append(
                f"emulator takes {p.name!r} positionally (position {index}); in ttnn it is {where}"
            )

    for p in emulated:
        if p.kind == VAR_POSITIONAL and not real_takes_var_positional:
            problems.append(f"emulator accepts *{p.name} but ttnn takes no variable positional arguments")
        elif p.kind == VAR_KEYWORD and not real_takes_var_keyword:
            problems.append(f"emulator accepts **{p.name} but ttnn takes no arbitrary keywords")
        elif not p.keyword or p.name in matched_positional_only:
            continue
        elif p.name not in real_by_name and not real_takes_var_keyword:
            problems.append(f"keyword {p.name!r} does not exist in ttnn")
        elif p.name in real_by_name and real_by_name[p.name].kind == POSITIONAL_ONLY:
            problems.append(f"emulator accepts {p.name!r} as a keyword; in ttnn it is positional-only")

    # Everything ttnn requires, the emulator must require too (else emulator callers may omit it).
    emulated_by_name = {p.name: p for p in emulated if not p.variadic}
    for index, theirs in enumerate(real_positional):
        if theirs.kind != POSITIONAL_ONLY or theirs.has_default:
            continue
        if index >= len(emulated_positional):
            problems.append(f"ttnn requires positional parameter {index}, which the emulator does not take")
        elif emulated_positional[index].has_default:
            problems.append(f"ttnn requires positional parameter {index}; the emulator gives it a default")
    for theirs in real:
        if theirs.variadic or theirs.has_default or theirs.kind == POSITIONAL_ONLY:
            continue
        mine = emulated_by_name.get(theirs.name)
        if mine is None:
            problems.append(f"ttnn requires {theirs.name!r}, which the emulator does not take")
        elif mine.has_default and theirs.name not in optional_in_other_overloads:
            problems.append(f"ttnn requires {theirs.name!r}; the emulator gives it a default")

    # Defaults: only when both sides give a concrete plain value (None on either side usually
    # means "ttnn picks", which the emulator is free to model).
    for name, mine in emulated_by_name.items():
        theirs = real_by_name.get(name)
        if theirs is None or not (mine.has_default and theirs.has_default):
            continue
        if mine.default is None or theirs.default is None:
            continue
        mine_ok, mine_value = _plain_default(mine.default)
        theirs_ok, theirs_value = _plain_default(theirs.default)
        if mine_ok and theirs_ok and mine_value != theirs_value:
            problems.append(
                f"default of {name!r} is {_format_default(mine.default)} in the emulator but "
                f"{_format_default(theirs.default)} in ttnn"
            )
    return problems


def _collapse_positional(signature: Signature) -> Signature:
    """Replace all positional parameters by one ``*args``."""
    rest = tuple(p for p in signature if not p.positional and p.kind != VAR_POSITIONAL)
    return (Param("args", VAR_POSITIONAL), *rest)


def best_overload_problems(
    emulated: Signature, real_overloads: list[Signature]
) -> tuple[list[str], Signature]:
    """Problems against the best-matching real overload (empty list = compatible).

    An emulator callable taking ``*args`` may stand for a ttnn callable overloaded by arity
    (``Tensor.reshape(a, b, c, d)`` / ``reshape(shape)``, ``MeshShape(2, 4)`` / ``MeshShape((2, 4))``):
    then only the keywords are compared and the emulator validates the positional arity itself.
    """
    if len(real_overloads) > 1 and any(p.kind == VAR_POSITIONAL for p in emulated):
        emulated = _collapse_positional(emulated)
        real_overloads = [_collapse_positional(overload) for overload in real_overloads]

    def required(overload: Signature) -> set[str]:
        return {p.name for p in overload if not p.has_default and not p.variadic}

    scored = []
    for index, overload in enumerate(real_overloads):
        others = [o for i, o in enumerate(real_overloads) if i != index]
        optional_elsewhere = frozenset(
            name for name in required(overload) if any(name not in required(o) for o in others)
        )
        scored.append((signature_problems(emulated, overload, optional_elsewhere), overload))
    problems, overload = min(scored, key=lambda item: len(item[0]))

    # The name-based relaxation above must not let the emulator default a position that every
    # overload requires (under whatever name).
    def required_positional(signature: Signature) -> int:
        return sum(1 for p in signature if p.positional and not p.has_default)

    fewest_required = min(required_positional(o) for o in real_overloads)
    if required_positional(emulated) < fewest_required:
        problems = [
            *problems,
            f"every ttnn overload requires {fewest_required} positional arguments; "
            f"the emulator requires {required_positional(emulated)}",
        ]
    return problems, overload


# ----------------------------------------------------------------------------- namespace walk


def public_names(module: types.ModuleType) -> list[str]:
    """``__all__`` if the module defines it, else its public attributes defined in this package."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(names)
    package = module.__name__.split(".")[0]
    result = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        defined_in = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if isinstance(value, types.ModuleType) and not value.__name__.startswith(module.__name__):
            continue
        if (inspect.isclass(value) or inspect.isroutine(value)) and not str(defined_in).startswith(package):
            continue
        result.append(name)
    return sorted(result)


def class_member_names(cls: type) -> list[str]:
    """Public methods, properties and dataclass fields an emulator class defines itself.

    Members inherited from ``object``/``enum.Enum`` or from classes outside the class's own
    top-level package are left out (they are not part of what the emulator claims to mirror).
    """
    package = cls.__module__.split(".")[0]
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or not klass.__module__.split(".")[0] == package:
            continue
        for name in vars(klass):
            if not name.startswith("_"):
                names.add(name)
    if dataclasses.is_dataclass(cls):
        names.update(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
    if issubclass(cls, enum.Enum):
        names -= set(cls.__members__)
    return sorted(names)


def iter_emulator_objects(
    root: types.ModuleType, submodules: dict[str, types.ModuleType]
) -> Iterator[tuple[str, Any]]:
    """Yield ``(qualified name, object)`` for every public name of the emulator namespace.

    ``submodules`` maps a prefix (``"experimental"``) to the emulator module mirroring it.
    """
    for prefix, module in [("", root), *submodules.items()]:
        for name in public_names(module):
            qualified = f"{prefix}.{name}" if prefix else name
            yield qualified, getattr(module, name)


def resolve(root: Any, qualified_name: str) -> Any:
    """``resolve(ttnn, "experimental.rotary_embedding_llama")``; raises AttributeError."""
    obj = root
    for part in qualified_name.split("."):
        obj = getattr(obj, part)
    return obj


# ----------------------------------------------------------------------------- object comparison


def _is_enum_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, enum.Enum)


def _callable_problems(emulated: Any, real: Any) -> list[str]:
    mine = emulator_signature(emulated)
    theirs = real_signatures(real)
    if mine is None or not theirs:
        return []  # not introspectable on one side: existence is all that is checked
    problems, overload = best_overload_problems(mine, theirs)
    if not problems:
        return []
    where = f"emulator {format_signature(mine)} vs ttnn {format_signature(overload)}"
    if len(theirs) > 1:
        where += f" (closest of {len(theirs)} overloads)"
    return [f"{problem} [{where}]" for problem in problems]


def _is_data_member(obj: Any) -> bool:
    return isinstance(obj, property) or (
        not callable(obj) and not isinstance(obj, (staticmethod, classmethod)) and not inspect.isroutine(obj)
    )


def _member_problems(emulated_cls: type, real_cls: type, skip: set[str], qualified: str) -> list[str]:
    problems = []
    for name in class_member_names(emulated_cls):
        if f"{qualified}.{name}" in skip:
            continue
        if not hasattr(real_cls, name):
            problems.append(f"member {name!r} does not exist on ttnn.{qualified}")
            continue
        mine = inspect.getattr_static(emulated_cls, name, None)
        theirs = inspect.getattr_static(real_cls, name, None)
        if mine is None or theirs is None:
            continue  # dataclass field without a class-level default, or dynamic attribute
        if _is_data_member(mine) != _is_data_member(theirs):
            kind = {True: "an attribute/property", False: "a method"}
            problems.append(
                f"member {name!r} is {kind[_is_data_member(mine)]} in the emulator but "
                f"{kind[_is_data_member(theirs)]} in ttnn"
            )
        elif not _is_data_member(mine):
            problems += [f"{name}: {p}" for p in _callable_problems(getattr(emulated_cls, name), theirs)]
    return problems


def compare_object(qualified: str, emulated: Any, real: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Problems with emulator object ``qualified`` relative to the real object of that name."""
    if isinstance(emulated, types.ModuleType):
        return (
            []
            if isinstance(real, types.ModuleType)
            else [f"is a module in the emulator, {type(real)} in ttnn"]
        )
    if _is_enum_class(emulated):
        members = getattr(real, "__members__", None)
        if members is None:
            return [f"is an enum in the emulator but {type(real).__name__} in ttnn"]
        missing = sorted(set(emulated.__members__) - set(members))
        problems = (
            [f"enum members {missing} do not exist in ttnn.{qualified} (ttnn has {sorted(members)})"]
            if missing
            else []
        )
        return (
            problems + _member_problems(emulated, real, set(skip), qualified)
            if isinstance(real, type)
            else problems
        )
    if isinstance(emulated, type):
        problems = [] if f"{qualified}.__init__" in skip else _callable_problems(emulated, real)
        if isinstance(real, type):
            problems += _member_problems(emulated, real, set(skip), qualified)
        return problems
    if isinstance(emulated, enum.Enum):
        if not isinstance(real, enum.Enum) or real.name != emulated.name:
            return [f"is {type(emulated).__name__}.{emulated.name} in the emulator but {real!r} in ttnn"]
        return []
    if callable(emulated):
        if not callable(real):
            return [f"is callable in the emulator but a {type(real).__name__} in ttnn"]
        return _callable_problems(emulated, real)
    if emulated is None or isinstance(emulated, (bool, int, float, str)):
        return [] if emulated == real else [f"is {emulated!r} in the emulator but {real!r} in ttnn"]
    if type(emulated).__name__ != type(real).__name__:
        return [f"is a {type(emulated).__name__} in the emulator but a {type(real).__name__} in ttnn"]
    return []
