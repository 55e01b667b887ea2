"""The one list of intentional differences between the emulator's API and the real ``ttnn``.

The conformance suite (``tests/conformance/test_conformance_api.py``, run on python3.12 against
``ttnn==0.81.1``) checks every public name of the emulator (``tttv2_hwconfig.emulator`` and its
``experimental`` / ``transformer`` submodules) against the real package: the name must exist,
callables must take a compatible subset of the real parameters (same names, same positions, same
plain defaults), classes the same constructor keywords and members, enums a subset of the real
members. A name listed here is exempt from those checks; the suite prints every entry with its
reason, and fails on entries that no longer name anything the emulator exports.

Keys are emulator names relative to ``ttnn``: ``"from_torch"``, ``"experimental.some_op"``, or a
class member ``"Tensor.some_method"``. Values say why the difference is intended.
"""

INTENTIONAL_DIVERGENCES: dict[str, str] = {
    "Tensor.__init__": (
        "the emulator's Tensor constructor is internal (per-device torch shards); TTTv2 code creates "
        "tensors with ttnn.from_torch, whose signature is checked. Calling ttnn.Tensor(...) directly "
        "fails on the emulator, never silently."
    ),
}
