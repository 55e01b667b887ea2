"""The TTNN host emulator: the subset of the ``ttnn`` API that TTTv2 uses, running on torch.

This package *is* the ``ttnn`` namespace that ``from tttv2_hwconfig import ttnn`` returns when no
Tenstorrent device is present: same names, signatures, keyword arguments, argument checks and
(for data formats) bit-exact numerics. ``experimental`` and ``transformer`` mirror
``ttnn.experimental`` and ``ttnn.transformer``. What is exact, approximated and not modelled is
listed in the package README ("Fidelity contract").
"""

from . import (  # noqa: E402  (submodules use the names above)
    _ops_ccl,
    _ops_ccl_async,
    _ops_eltwise,
    _ops_io,
    _ops_kv,
    _ops_matmul,
    _ops_misc,
    _ops_norm,
    _ops_sampling,
    _ops_sparse_matmul,
    _ops_trace,
    _program_configs,
    experimental,
    transformer,
)
from ._device import Arch, MeshDevice, MeshShape
from ._memory import (
    DRAM_MEMORY_CONFIG,
    L1_BLOCK_SHARDED_MEMORY_CONFIG,
    L1_HEIGHT_SHARDED_MEMORY_CONFIG,
    L1_MEMORY_CONFIG,
    L1_WIDTH_SHARDED_MEMORY_CONFIG,
    CoreCoord,
    CoreGrid,
    CoreRange,
    CoreRangeSet,
    MemoryConfig,
    ShardSpec,
    create_sharded_memory_config,
    num_cores_to_corerangeset,
)
from ._mesh import (
    ConcatMesh2dToTensor,
    ConcatMeshToTensor,
    MeshToTensor,
    ReplicateTensorToMesh,
    ShardTensor2dMesh,
    ShardTensorToMesh,
    TensorToMesh,
)
from ._ops_ccl import *  # noqa: F403
from ._ops_ccl_async import *  # noqa: F403
from ._ops_core import (
    clone,
    concat,
    deallocate,
    from_device,
    from_torch,
    get_device_tensors,
    interleaved_to_sharded,
    pad,
    permute,
    reshape,
    sharded_to_interleaved,
    slice,
    synchronize_device,
    to_device,
    to_layout,
    to_memory_config,
    to_torch,
    transpose,
    typecast,
)
from ._ops_eltwise import *  # noqa: F403
from ._ops_io import *  # noqa: F403
from ._ops_kv import *  # noqa: F403
from ._ops_matmul import *  # noqa: F403
from ._ops_misc import *  # noqa: F403
from ._ops_norm import *  # noqa: F403
from ._ops_sampling import *  # noqa: F403
from ._ops_sparse_matmul import *  # noqa: F403
from ._ops_trace import *  # noqa: F403
from ._program_configs import *  # noqa: F403
from ._sdpa_config import SDPAProgramConfig
from ._tensor import Shape, Tensor
from ._types import (
    ROW_MAJOR_LAYOUT,
    TILE_LAYOUT,
    TILE_SIZE,
    BufferType,
    DataType,
    Layout,
    MathFidelity,
    ShardOrientation,
    ShardStrategy,
    StorageType,
    TensorMemoryLayout,
    Topology,
    UnaryOpType,
    bfloat4_b,
    bfloat8_b,
    bfloat16,
    float32,
    int32,
    uint8,
    uint16,
    uint32,
)

__all__ = [
    "Arch",
    "BufferType",
    "ConcatMesh2dToTensor",
    "ConcatMeshToTensor",
    "CoreCoord",
    "CoreGrid",
    "CoreRange",
    "CoreRangeSet",
    "DRAM_MEMORY_CONFIG",
    "DataType",
    "L1_BLOCK_SHARDED_MEMORY_CONFIG",
    "L1_HEIGHT_SHARDED_MEMORY_CONFIG",
    "L1_MEMORY_CONFIG",
    "L1_WIDTH_SHARDED_MEMORY_CONFIG",
    "Layout",
    "MathFidelity",
    "MemoryConfig",
    "MeshDevice",
    "MeshShape",
    "MeshToTensor",
    "ROW_MAJOR_LAYOUT",
    "ReplicateTensorToMesh",
    "SDPAProgramConfig",
    "Shape",
    "ShardOrientation",
    "ShardSpec",
    "ShardStrategy",
    "ShardTensor2dMesh",
    "ShardTensorToMesh",
    "StorageType",
    "TILE_LAYOUT",
    "TILE_SIZE",
    "Tensor",
    "TensorMemoryLayout",
    "TensorToMesh",
    "Topology",
    "UnaryOpType",
    "bfloat16",
    "bfloat4_b",
    "bfloat8_b",
    "clone",
    "concat",
    "create_sharded_memory_config",
    "deallocate",
    "experimental",
    "float32",
    "from_device",
    "from_torch",
    "get_device_tensors",
    "int32",
    "interleaved_to_sharded",
    "num_cores_to_corerangeset",
    "pad",
    "permute",
    "reshape",
    "sharded_to_interleaved",
    "slice",
    "synchronize_device",
    "to_device",
    "to_layout",
    "to_memory_config",
    "to_torch",
    "transformer",
    "transpose",
    "typecast",
    "uint16",
    "uint32",
    "uint8",
]
for _module in (
    _ops_ccl,
    _ops_ccl_async,
    _ops_eltwise,
    _ops_io,
    _ops_kv,
    _ops_matmul,
    _ops_misc,
    _ops_norm,
    _ops_sampling,
    _ops_sparse_matmul,
    _ops_trace,
    _program_configs,
):
    __all__ += list(_module.__all__)
del _module

# Every public op goes through one dispatcher: host-transfer checks and trace capture (_ops_trace).
import sys as _sys  # noqa: E402

_ops_trace.wrap_namespace(_sys.modules[__name__], __all__)
_ops_trace.wrap_namespace(experimental, experimental.__all__)
_ops_trace.wrap_namespace(transformer, transformer.__all__)
del _sys
