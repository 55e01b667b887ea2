"""Enums and constants of the TTNN API, with the real names and members."""

from __future__ import annotations

import enum

TILE_SIZE = 32  # TT tiles are 32x32; faces are 16x16.
FACE_SIZE = 16


class DataType(enum.Enum):
    BFLOAT16 = 0
    FLOAT32 = 1
    UINT32 = 2
    BFLOAT8_B = 3
    BFLOAT4_B = 4
    UINT8 = 5
    UINT16 = 6
    INT32 = 7

    def __repr__(self) -> str:
        return f"DataType.{self.name}"

    @property
    def is_block_float(self) -> bool:
        return self in (DataType.BFLOAT8_B, DataType.BFLOAT4_B)

    @property
    def is_integer(self) -> bool:
        return self in (DataType.UINT32, DataType.UINT8, DataType.UINT16, DataType.INT32)


bfloat16 = DataType.BFLOAT16
float32 = DataType.FLOAT32
uint32 = DataType.UINT32
bfloat8_b = DataType.BFLOAT8_B
bfloat4_b = DataType.BFLOAT4_B
uint8 = DataType.UINT8
uint16 = DataType.UINT16
int32 = DataType.INT32

# Bytes one 32x32 tile occupies on device; block floats carry one exponent byte per 16 values.
TILE_BYTES = {
    DataType.BFLOAT16: 2 * 1024,
    DataType.FLOAT32: 4 * 1024,
    DataType.UINT32: 4 * 1024,
    DataType.INT32: 4 * 1024,
    DataType.UINT16: 2 * 1024,
    DataType.UINT8: 1024,
    DataType.BFLOAT8_B: 1024 + 64,
    DataType.BFLOAT4_B: 512 + 64,
}
ELEMENT_BYTES = {
    DataType.BFLOAT16: 2,
    DataType.FLOAT32: 4,
    DataType.UINT32: 4,
    DataType.INT32: 4,
    DataType.UINT16: 2,
    DataType.UINT8: 1,
}


class Layout(enum.Enum):
    ROW_MAJOR = 0
    TILE = 1

    def __repr__(self) -> str:
        return f"Layout.{self.name}"


ROW_MAJOR_LAYOUT = Layout.ROW_MAJOR
TILE_LAYOUT = Layout.TILE


class TensorMemoryLayout(enum.Enum):
    INTERLEAVED = 0
    HEIGHT_SHARDED = 2
    WIDTH_SHARDED = 3
    BLOCK_SHARDED = 4


class BufferType(enum.Enum):
    DRAM = 0
    L1 = 1


class ShardOrientation(enum.Enum):
    ROW_MAJOR = 0
    COL_MAJOR = 1


class ShardStrategy(enum.Enum):
    HEIGHT = 1
    WIDTH = 2
    BLOCK = 3


class MathFidelity(enum.Enum):
    LoFi = 0
    HiFi2 = 2
    HiFi3 = 3
    HiFi4 = 4
    Invalid = 255  # "not set": ops substitute their own default (real ttnn's default-constructed value)


class StorageType(enum.Enum):
    HOST = 0
    DEVICE = 1


class Topology(enum.Enum):
    Ring = 0
    Linear = 1
    Mesh = 2


class UnaryOpType(enum.Enum):
    """The unary ops TTTv2 fuses into matmuls and binary ops (values as in real ttnn 0.81.1)."""

    EXP = 0
    RECIP = 1
    GELU = 2
    GELU_TANH = 3
    RELU = 4
    SQRT = 5
    SIGMOID = 6
    TANH = 9
    SQUARE = 19
    RSQRT = 39
    RELU6 = 40
    SILU = 58
    IDENTITY = 60
    NEG = 61
