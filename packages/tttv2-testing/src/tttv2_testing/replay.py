"""Running stateful references alongside the model, so each captured call has a correct golden.

A stateful reference (one that keeps a K/V cache, like the device module does) gives the right
answer for decode step ``n`` only after it has seen the prefill and steps ``0..n-1``. While the
``trace_fn`` runs, ``ReferenceReplay`` calls the reference of every such module on every call of
its forward methods, in call order, and keeps the outputs of the first calls (the captured ones).
"""

from __future__ import annotations

import contextlib
from typing import Any

from .calls import method_signature, reference_view
from .conversion import to_torch_tree
from .module_tree import forward_methods
from .patching import wrapped_method
from .references import ReferenceResolver, call_reference, composer_for


class ReferenceReplay:
    """While the ``with`` block runs, feed every forward call of ``modules`` to their references.

    Args:
        modules: module instances whose reference is stateful.
        resolver: where references come from; each module's ``torch_reference()`` is rebuilt first.
        limits: ``{(id(module), method name): n}`` — keep the outputs of the first ``n`` calls.
    """

    def __init__(self, modules: list[Any], resolver: ReferenceResolver, limits: dict[tuple[int, str], int]):
        self._modules = list({id(m): m for m in modules}.values())
        self._resolver = resolver
        self._limits = limits
        self._counts: dict[tuple[int, str], int] = {}
        self._outputs: dict[tuple[int, str], dict[int, Any]] = {}
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> ReferenceReplay:
        stack = contextlib.ExitStack()
        try:
            for module in self._modules:
                self._resolver.rebuild(module)
                for name in forward_methods(module):
                    stack.enter_context(wrapped_method(module, name, self._replayer(module, name)))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc: Any) -> bool:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        return False

    def _replayer(self, module: Any, name: str):
        key = (id(module), name)
        limit = self._limits.get(key, 0)

        def make_wrapper(original):
            signature = method_signature(original)

            def replaying(*args, **kwargs):
                index = self._counts.get(key, 0)
                self._counts[key] = index + 1
                try:
                    reference = self._resolver.find(module, name)
                    if reference is not None:
                        arguments = dict(signature.bind(*args, **kwargs).arguments)
                        converted = {
                            arg: to_torch_tree(
                                value, composer_for(module, name, arg), what=f"{name} argument {arg!r}"
                            )
                            for arg, value in arguments.items()
                        }
                        expected = call_reference(
                            reference, module, name, reference_view(signature, converted)
                        )
                        if index < limit:
                            self._outputs.setdefault(key, {})[index] = expected
                except Exception as error:  # noqa: BLE001 - reported by the case that needs this output
                    if index < limit:
                        self._outputs.setdefault(key, {})[index] = error
                return original(*args, **kwargs)

            return replaying

        return make_wrapper

    def outputs(self, module: Any, name: str) -> dict[int, Any]:
        """``{call index: reference output or the exception it raised}`` for the kept calls."""
        return dict(self._outputs.get((id(module), name), {}))
