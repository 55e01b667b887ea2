"""Where a module's golden reference comes from, and how it is called.

Lookup order for ``(module, method_name)``:

1. ``ref=`` given to ``expect_pcc`` / ``expect_correctness`` (overrides everything);
2. ``module.reference`` registered at model construction: a torch callable, an HF submodule, or a
   dict ``{method_name: callable}``;
3. ``module.torch_reference()`` (TTTv2 blocks implement it), which may also return such a dict.

A reference object may also MIRROR the module: ``ref.forward_prefill(...)`` and
``ref.forward_decode(...)`` taking the same parameters in torch; the suite then calls the attribute
named like the method under test.

Stateful references (a decode step needs the K/V of every earlier step): the module declares
``reference_is_stateful = True``. The suite then builds a fresh reference before running the
``trace_fn`` and runs it on EVERY call of the module's forward methods, in call order, recording its
outputs for the captured calls; the cases compare against those recorded outputs. Debug mode calls
references in run order anyway.

Call convention: the reference receives the arguments of the method under test, converted to torch
(float32), under the same parameter names when it accepts all of them as named parameters, else
positionally in the method's parameter order. A module whose reference takes different arguments
implements the hook::

    def reference_inputs(self, method_name: str, torch_args: dict) -> tuple[tuple, dict]:
        # e.g. HF attention wants position embeddings and a causal mask instead of positions
        return (torch_args["x"],), {"position_embeddings": ..., "attention_mask": ...}

Multi-device tensors: replicated ones convert by taking one device's copy. A module whose inputs or
outputs are distributed over the mesh implements the hook::

    def reference_composer(self, method_name: str, name: str, mesh_device):
        # name is a parameter name or "output"; return a ttnn mesh composer or None (replicated)
        return ttnn.ConcatMeshToTensor(mesh_device, dim=-1) if name == "output" else None

Outputs: tensors are collected in order from the method's output and from the reference's output
(tuples, lists, dicts, HF ``ModelOutput``). When the method returns ONE tensor and the reference
returns several (HF attention returns ``(output, weights)``), the first reference tensor is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .conversion import flatten_tensors


def select_method(reference: Any, method_name: str) -> Any:
    """The part of a registered reference that stands for ``method_name``.

    A dict gives its entry; an object that MIRRORS the module (has a callable attribute of the same
    name, e.g. ``forward_decode``, that is not a torch module's own method) gives that attribute;
    anything else is the reference itself.
    """
    if reference is None:
        return None
    if isinstance(reference, Mapping):
        return reference.get(method_name)
    mirrored = getattr(reference, method_name, None)
    if callable(mirrored) and not isinstance(reference, torch.nn.Module):
        return mirrored
    return reference


def is_stateful(module: Any) -> bool:
    """True when the module declares ``reference_is_stateful = True`` (its reference keeps state
    across calls, e.g. a K/V cache, so it must see every call in order)."""
    return getattr(module, "reference_is_stateful", False) is True


def composer_for(module: Any, method_name: str, name: str) -> Callable[[Any], Any] | None:
    """``mesh_device -> composer`` from the module's ``reference_composer`` hook, or None."""
    hook = getattr(module, "reference_composer", None)
    if not callable(hook):
        return None
    return lambda mesh_device: hook(method_name, name, mesh_device)


class ReferenceResolver:
    """Finds references and builds each ``torch_reference()`` once per module instance."""

    def __init__(self):
        self._built: dict[int, Any] = {}

    def find(self, module: Any, method_name: str, override: Callable | None = None) -> Callable | None:
        """The reference callable, or None when the module has none.

        Raises:
            TypeError: a registered reference is not callable.
            Exception: whatever ``torch_reference()`` raises (other than NotImplementedError),
                e.g. weights not loaded yet.
        """
        if override is not None:
            return override
        registered = getattr(module, "reference", None)
        if registered is None:
            registered = self._torch_reference(module)
        registered = select_method(registered, method_name)
        if registered is not None and not callable(registered):
            raise TypeError(f"reference for {method_name} must be callable, got {type(registered).__name__}")
        return registered

    def rebuild(self, module: Any) -> None:
        """Forget the built ``torch_reference()`` of ``module`` (a stateful one starts afresh)."""
        self._built.pop(id(module), None)

    def _torch_reference(self, module: Any) -> Any:
        builder = getattr(module, "torch_reference", None)
        if not callable(builder):
            return None
        if id(module) not in self._built:
            try:
                self._built[id(module)] = builder()
            except NotImplementedError:
                self._built[id(module)] = None
        return self._built[id(module)]


def reference_call_arguments(
    reference: Callable, module: Any, method_name: str, torch_args: dict[str, Any]
) -> tuple[tuple, dict]:
    """``(args, kwargs)`` for the reference: the module's ``reference_inputs`` hook, else by name or position."""
    hook = getattr(module, "reference_inputs", None)
    if callable(hook):
        adapted = hook(method_name, dict(torch_args))
        if not (isinstance(adapted, tuple) and len(adapted) == 2):
            raise TypeError(
                f"{type(module).__name__}.reference_inputs must return (args, kwargs), got {type(adapted).__name__}"
            )
        return tuple(adapted[0]), dict(adapted[1])
    if _accepts_names(reference, torch_args):
        return (), dict(torch_args)
    return tuple(torch_args.values()), {}


def _accepts_names(reference: Callable, torch_args: dict[str, Any]) -> bool:
    target = reference.forward if isinstance(reference, torch.nn.Module) else reference
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature: call positionally
        return False
    named = {
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return all(name in named for name in torch_args)


def call_reference(reference: Callable, module: Any, method_name: str, torch_args: dict[str, Any]) -> Any:
    """Run the reference on torch arguments (no autograd)."""
    args, kwargs = reference_call_arguments(reference, module, method_name, torch_args)
    with torch.no_grad():
        return reference(*args, **kwargs)


def output_pairs(
    reference_output: Any, actual_output: Any, what: str
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pair the reference's output tensors with the method's (both already torch).

    Raises:
        ValueError: the two sides hold different numbers of tensors (after the one-vs-many rule).
    """
    expected = flatten_tensors(reference_output)
    actual = flatten_tensors(actual_output)
    if len(actual) == 1 and len(expected) > 1:
        expected = expected[:1]
    if len(expected) != len(actual) or not actual:
        raise ValueError(
            f"{what}: the method returned {len(actual)} tensor(s), the reference {len(expected)}; "
            "they must match one to one (a module whose reference returns something else can wrap it "
            "in its reference)"
        )
    return [(e.to(torch.float32) if e.is_floating_point() else e, a) for e, a in zip(expected, actual)]
