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
    # Emulator-internal accessors: the ops of the emulator itself need them; TTTv2 code outside
    # tttv2_hwconfig.emulator never uses them (real ttnn offers ttnn.get_device_tensors instead).
    "Tensor.shards": "emulator-internal: the per-device torch data the emulated ops compute on",
    "Tensor.device_nbytes": "emulator-internal: cached bytes of one device's buffer, for L1/DRAM accounting and the trace",
    "Tensor.num_shards": "emulator-internal: number of per-device shards (real: len(ttnn.get_device_tensors(t)))",
    "DataType.is_block_float": "emulator-internal convenience used by argument checks",
    "DataType.is_integer": "emulator-internal convenience used by argument checks",
    "MeshDevice.close": "emulated devices close themselves; real code calls tttv2_hwconfig.close_device",
    "MeshDevice.check_open": "emulator-internal: every op refuses a closed emulated device",
    "MeshDevice.is_emulated": "lets TTTv2 tools tell an emulated mesh from a real one",
    "CoreRange.cores": "emulator-internal: enumerates cores for shard placement and L1 accounting",
    "CoreRange.num_cores": "emulator-internal: core count for shard checks",
    "CoreRangeSet.cores": "emulator-internal: enumerates cores for shard placement and L1 accounting",
    "Shape.volume": "emulator-internal: element count for shape checks",
    "TensorToMesh.map": "emulator-internal: the mapper's torch -> per-device split (real mappers are C++ objects)",
    "MeshToTensor.compose": "emulator-internal: the composer's per-device -> torch join (real composers are C++ objects)",
}
