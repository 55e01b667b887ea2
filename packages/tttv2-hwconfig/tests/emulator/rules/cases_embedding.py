"""ttnn.embedding rule cases (embedding_device_operation.cpp / embedding.cpp)."""

from rulecase import Case, Control, dev, ids, sharded
from tttv2_hwconfig import ttnn

OP = "ttnn.embedding"
RM = ttnn.ROW_MAJOR_LAYOUT


def table(device, *, dtype=None, shape=(64, 64), memory_config=None, layout=RM):
    return dev(device, shape, dtype=dtype or ttnn.bfloat16, layout=layout, memory_config=memory_config)


CASES = [
    Case("embedding.index_dtype", lambda d: ttnn.embedding(ids(d, (1, 32), dtype=ttnn.int32), table(d))),
    Case("embedding.weight_dtype", lambda d: ttnn.embedding(ids(d, (1, 32)), table(d, dtype=ttnn.float32))),
    Case(
        "embedding.index_interleaved",
        lambda d: ttnn.embedding(
            ids(d, (32, 32), memory_config=sharded((32, 32), (1, 1), ttnn.TensorMemoryLayout.HEIGHT_SHARDED)),
            table(d),
        ),
    ),
    Case(
        "embedding.weight_interleaved",
        lambda d: ttnn.embedding(
            ids(d, (1, 32)),
            table(d, memory_config=sharded((64, 64), (1, 1), ttnn.TensorMemoryLayout.HEIGHT_SHARDED)),
        ),
    ),
    Case(
        "embedding.weight_leading_dims",
        lambda d: ttnn.embedding(ids(d, (1, 32)), table(d, shape=(2, 64, 64))),
    ),
    Case("embedding.index_shape", lambda d: ttnn.embedding(ids(d, (1, 2, 32)), table(d))),
    Case(
        "embedding.typecast_needs_tile",
        lambda d: ttnn.embedding(ids(d, (1, 32)), table(d), dtype=ttnn.bfloat8_b),
    ),
    Case(
        "embedding.padded_needs_pad_token",
        lambda d: ttnn.embedding(ids(d, (1, 32)), table(d), embeddings_type=ttnn.EmbeddingsType.PADDED),
    ),
    Case(
        "embedding.binary_two_rows",
        lambda d: ttnn.embedding(ids(d, (1, 32)), table(d), embeddings_type=ttnn.EmbeddingsType.BINARY),
    ),
    Case(
        "embedding.rm_sharded_output_height",
        lambda d: ttnn.embedding(
            ids(d, (1, 32)),
            table(d),
            memory_config=sharded((32, 32), (2, 1), ttnn.TensorMemoryLayout.WIDTH_SHARDED),
        ),
    ),
    Case(
        "embedding.tile_output_shard",
        lambda d: ttnn.embedding(
            ids(d, (1, 32)),
            table(d),
            layout=ttnn.TILE_LAYOUT,
            memory_config=sharded((32, 48), (2, 1), ttnn.TensorMemoryLayout.WIDTH_SHARDED),
        ),
    ),
]

CONTROLS = [
    Control(
        OP, lambda d: ttnn.embedding(ids(d, (1, 32)), table(d), layout=ttnn.TILE_LAYOUT, dtype=ttnn.bfloat8_b)
    ),
    Control(OP, lambda d: ttnn.embedding(ids(d, (1, 1, 1, 7)), table(d)), name="row_major_4d"),
    Control(
        OP,
        lambda d: ttnn.embedding(ids(d, (32,), dtype=ttnn.bfloat16), table(d, layout=ttnn.TILE_LAYOUT)),
        name="bf16_ids_tile_weight",
    ),  # fmt: skip
    Control(
        OP,
        lambda d: ttnn.embedding(
            ids(d, (1, 64)),
            table(d),
            memory_config=sharded((32, 64), (2, 1), ttnn.TensorMemoryLayout.HEIGHT_SHARDED),
        ),
        name="rm_height_sharded_output",
    ),
]
