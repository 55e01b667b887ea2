"""Temporarily replacing a method on ONE instance (not its class) with a wrapper."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def wrapped_method(instance: Any, name: str, make_wrapper: Callable[[Callable], Callable]) -> Iterator[None]:
    """Within the block, ``instance.<name>`` is ``make_wrapper(original bound method)``.

    Other instances of the class are untouched. Wrappers nest (a debug-mode wrapper around a capture
    wrapper) and are removed in reverse order.

    Raises:
        TypeError: the instance has no ``__dict__`` to hold the wrapper (a class with ``__slots__``).
    """
    own = vars(instance) if hasattr(instance, "__dict__") else None
    if own is None:
        raise TypeError(
            f"cannot wrap {type(instance).__name__}.{name}: the instance has no __dict__ (uses __slots__)"
        )
    had_own = name in own
    previous = own.get(name)
    original = getattr(instance, name)
    wrapper = functools.wraps(original)(make_wrapper(original))
    wrapper.__self__ = instance  # so the wrapper is still recognised as a method of this instance
    setattr(instance, name, wrapper)
    try:
        yield
    finally:
        if had_own:
            setattr(instance, name, previous)
        else:
            own.pop(name, None)
