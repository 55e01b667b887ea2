"""Capturing the real inputs of module methods while a model runs (``trace_fn``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from .calls import RecordedCall, method_signature
from .patching import wrapped_method


def method_key(method: Callable) -> tuple[int, str]:
    """Identity of a bound method: (id of its instance, method name)."""
    instance = getattr(method, "__self__", None)
    if instance is None or isinstance(instance, type):
        raise TypeError(
            f"expected a bound method of a module instance (e.g. model.layers[0].attention.forward_prefill), "
            f"got {getattr(method, '__qualname__', type(method).__name__)}"
        )
    return id(instance), method.__name__


class InputCapture:
    """Records the arguments of the given bound methods while the ``with`` block runs.

    Each call is bound to parameter names and copied to the host (see ``conversion.snapshot_tree``)
    BEFORE the method runs, so neither the method (deallocating an input) nor later in-place updates
    (a KV-cache write) change what was captured. Only the first ``max_calls`` calls of each method are
    kept; all calls are counted.

    Example::

        with InputCapture([model.layers[0].ffn.forward_decode], max_calls=4) as capture:
            model.decode_forward(tokens, current_pos)
        calls = capture.calls(model.layers[0].ffn.forward_decode)   # list[RecordedCall]
    """

    def __init__(self, methods: Iterable[Callable], max_calls: int | dict[tuple[int, str], int] = 1):
        self._methods: dict[tuple[int, str], Callable] = {}
        for method in methods:
            self._methods.setdefault(method_key(method), method)
        if isinstance(max_calls, int):
            if max_calls < 1:
                raise ValueError(f"max_calls must be >= 1, got {max_calls}")
            max_calls = {key: max_calls for key in self._methods}
        self._max_calls = max_calls
        self._calls: dict[tuple[int, str], list[RecordedCall]] = {key: [] for key in self._methods}
        self._counts: dict[tuple[int, str], int] = {key: 0 for key in self._methods}
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> InputCapture:
        stack = contextlib.ExitStack()
        try:
            for key, method in self._methods.items():
                stack.enter_context(
                    wrapped_method(method.__self__, method.__name__, self._recorder(key, method))
                )
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

    def _recorder(self, key: tuple[int, str], method: Callable) -> Callable[[Callable], Callable]:
        signature = method_signature(method)
        limit = self._max_calls.get(key, 1)

        def make_wrapper(original: Callable) -> Callable:
            def capturing(*args, **kwargs):
                index = self._counts[key]
                self._counts[key] = index + 1
                if index < limit:
                    self._calls[key].append(RecordedCall.capture(signature, args, kwargs, index))
                return original(*args, **kwargs)

            return capturing

        return make_wrapper

    def calls(self, method: Callable) -> list[RecordedCall]:
        """The captured calls of ``method`` (at most its ``max_calls``), in call order."""
        return list(self._calls[method_key(method)])

    def call_count(self, method: Callable) -> int:
        """How many times ``method`` was called inside the block (captured or not)."""
        return self._counts[method_key(method)]
