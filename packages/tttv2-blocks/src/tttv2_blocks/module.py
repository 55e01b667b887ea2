"""The base every block (and pattern) derives from: spec, impl config, device, reference."""

from __future__ import annotations

from collections.abc import Callable


class Module:
    """A TTTv2 module instance.

    Subclasses take ``(spec, impl_config, device)``, implement ``load_weights(state_dict)``,
    ``forward_prefill`` and ``forward_decode`` (two paths, no mode switch inside a forward), and
    ``torch_reference()`` returning a torch callable of the same math built from the loaded weights.

    ``reference`` may be set to another callable (an HF submodule, for instance) by whoever builds
    the module; testing tools compare against ``reference`` first, then ``torch_reference()``.
    """

    def __init__(self, spec, impl_config, device):
        self.spec = spec
        self.impl_config = impl_config
        self.device = device
        self.reference: Callable | None = None
        self.module_path: str = type(self).__name__

    def register_reference(self, reference: Callable) -> None:
        """Attach a reference (torch callable or HF module) to this instance."""
        if not callable(reference):
            raise TypeError(f"{self.module_path}: reference must be callable, got {type(reference).__name__}")
        self.reference = reference

    def torch_reference(self) -> Callable:
        raise NotImplementedError(f"{type(self).__name__} does not provide a torch reference")

    def load_weights(self, state_dict) -> None:
        raise NotImplementedError

    def forward_prefill(self, *args, **kwargs):
        raise NotImplementedError

    def forward_decode(self, *args, **kwargs):
        raise NotImplementedError
