"""tttv2-hwconfig: the device catalog, device opening, and the one place code gets TTNN from.

    from tttv2_hwconfig import ttnn, open_device

``ttnn`` is the real module on a machine with Tenstorrent hardware and the host emulator
everywhere else (see the package README for the emulator's fidelity contract).
"""

from tttv2_hwconfig.__about__ import __version__
from tttv2_hwconfig._resolve import resolve_ttnn

ttnn, ttnn_is_emulated = resolve_ttnn()

from tttv2_hwconfig.catalog import CollectiveSettings, DeviceSpec, device_spec, device_spec_of, list_devices  # noqa: E402
from tttv2_hwconfig.devices import close_device, default_device_name, open_device  # noqa: E402
from tttv2_hwconfig.emulator._device import OutOfMemoryError  # noqa: E402
from tttv2_hwconfig.emulator._host_access import (  # noqa: E402
    HostReadError,
    HostTransfer,
    HostTransferError,
    HostWriteError,
    host_reads_forbidden,
    host_transfers_forbidden,
    watch_host_transfers,
)
from tttv2_hwconfig.emulator._shapes_only import is_shapes_only, shapes_only  # noqa: E402
from tttv2_hwconfig.emulator._trace import OpRecord, OpTrace, op_scope  # noqa: E402
from tttv2_hwconfig.perf_model import (  # noqa: E402
    PerfConstants,
    Prediction,
    predict_op_latency_s,
    predict_trace,
    tokens_per_s_per_user,
)

__all__ = [
    "CollectiveSettings",
    "DeviceSpec",
    "HostReadError",
    "HostTransfer",
    "HostTransferError",
    "HostWriteError",
    "OpRecord",
    "OpTrace",
    "OutOfMemoryError",
    "PerfConstants",
    "Prediction",
    "__version__",
    "close_device",
    "default_device_name",
    "device_spec",
    "device_spec_of",
    "host_reads_forbidden",
    "host_transfers_forbidden",
    "is_shapes_only",
    "list_devices",
    "op_scope",
    "open_device",
    "predict_op_latency_s",
    "predict_trace",
    "shapes_only",
    "tokens_per_s_per_user",
    "ttnn",
    "ttnn_is_emulated",
    "watch_host_transfers",
]
