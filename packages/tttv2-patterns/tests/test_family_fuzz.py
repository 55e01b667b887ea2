"""Fuzzing the kit's public entry (``ModelFactory.from_huggingface``, here the test family TinyLlama)
with mutated config.json values and damaged safetensors headers: every outcome must be a named TTTv2
error or a correct spec, never a raw KeyError / IndexError / struct.error / TypeError, a hang, or a
silently wrong spec.

Seeded (``SEED``); ``validate=False`` + ``spec.validate()`` runs the config mapping, the meta-device HF
module check and every checkpoint check without converting weights: 650 inputs take ~2 s.
"""

from __future__ import annotations

import collections
import json
import math
import random
import shutil
import signal
import time

import pytest
import torch
from _family import TinyLlama, write_tiny_llama
from safetensors import safe_open

SEED = 13
CONFIG_INPUTS = 400
HEADER_INPUTS = 250
HANG_S = 30  # one input taking this long counts as a hang (the whole run takes ~2 s)
CONFIG_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "head_dim",
    "hidden_act",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "eos_token_id",
    "bos_token_id",
    "architectures",
    "model_type",
    "torch_dtype",
)
VALUES = (
    "abc",
    "",
    None,
    0,
    -1,
    1,
    3,
    7,
    2**40,
    1.5,
    -0.5,
    1e-30,
    True,
    False,
    [],
    [1, 2],
    {},
    {"a": 1},
    "64",
)


def _named(error: BaseException) -> bool:
    """A TTTv2 error: its class is defined in a tttv2 package (not a bare builtin)."""
    return any(cls.__module__.startswith("tttv2") for cls in type(error).__mro__[:-3])


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def _outcome(folder, check):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        spec = TinyLlama.from_huggingface(folder, "N150", validate=False, max_seq_len=64, progress=False)
        spec.validate()
    except _Hang:
        return ("hang", f"> {HANG_S} s", "")
    except Exception as error:  # noqa: BLE001 - classifying every outcome is the point
        return ("named" if _named(error) else "raw", type(error).__name__, str(error)[:200])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    problem = check(spec)
    return ("wrong", "accepted", problem) if problem else ("ok", "accepted", "")


def _spec_matches(config: dict):
    """An accepted spec must carry the config's values (nothing ignored or coerced silently)."""

    def check(spec):
        attention = spec.layers[0].attention
        expected = {
            "num_hidden_layers": len(spec.layers),
            "num_attention_heads": attention.num_heads,
            "num_key_value_heads": attention.num_kv_heads,
            "hidden_size": attention.hidden_dim,
            "vocab_size": spec.embedding.vocab_size,
            "rms_norm_eps": spec.layers[0].attention_norm.eps,
        }
        for key, actual in expected.items():
            if key in config and not (
                isinstance(config[key], int | float) and math.isclose(float(config[key]), float(actual))
            ):
                return f"{key}={config[key]!r} in config.json but the spec has {actual!r}"
        return ""

    return check


def _mutate_config(original: dict, rng: random.Random) -> dict:
    config = dict(original)
    for _ in range(rng.choice((1, 1, 1, 2))):
        key = rng.choice(CONFIG_KEYS)
        if rng.random() < 0.15:
            config.pop(key, None)
        else:
            config[key] = rng.choice(VALUES)
    return config


def _mutate_header(data: bytes, rng: random.Random) -> bytes:
    header_end = 8 + int.from_bytes(data[:8], "little")
    kind = rng.choice(("truncate", "flip", "flip", "flip_length"))
    if kind == "truncate":
        return data[: rng.randrange(0, min(len(data), header_end + 64))]
    mutated = bytearray(data)
    if kind == "flip_length":
        position = rng.randrange(0, 8)
    else:
        position = rng.randrange(8, header_end)
    mutated[position] ^= 1 << rng.randrange(8)
    return bytes(mutated)


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("fuzz") / "ckpt", num_hidden_layers=1)


def test_fuzzed_configs_and_headers_give_named_errors_or_correct_specs(fuzz_folder, tmp_path):
    rng = random.Random(SEED)
    folder = shutil.copytree(fuzz_folder, tmp_path / "ckpt")
    original_config = json.loads((fuzz_folder / "config.json").read_text())
    original_weights = (fuzz_folder / "model.safetensors").read_bytes()
    with safe_open(str(fuzz_folder / "model.safetensors"), framework="pt") as handle:
        original_tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    outcomes: list[tuple[str, str, str, str]] = []
    start = time.monotonic()

    for _index in range(CONFIG_INPUTS):
        config = _mutate_config(original_config, rng)
        (folder / "config.json").write_text(json.dumps(config))
        outcomes.append(("config", *_outcome(folder, _spec_matches(config))))
    (folder / "config.json").write_text(json.dumps(original_config))

    def same_weights(spec):
        checkpoint = spec.checkpoint
        changed = [k for k in original_tensors if not torch.equal(checkpoint[k], original_tensors[k])]
        return f"accepted with different values of {changed[:3]}" if changed else ""

    for _index in range(HEADER_INPUTS):
        (folder / "model.safetensors").write_bytes(_mutate_header(original_weights, rng))
        outcomes.append(("header", *_outcome(folder, same_weights)))
    elapsed = time.monotonic() - start

    counts = collections.Counter((source, kind, name) for source, kind, name, _ in outcomes)
    print(f"\n{len(outcomes)} fuzzed inputs in {elapsed:.1f} s (seed {SEED}):")
    for (source, kind, name), count in sorted(counts.items()):
        print(f"  {source:6} {kind:6} {name:28} {count}")
    bad = [o for o in outcomes if o[1] in ("raw", "wrong", "hang")]
    examples = {}
    for source, kind, name, message in bad:
        examples.setdefault((source, kind, name), message)
    assert len(outcomes) >= 500
    assert not bad, "\n".join(f"{k}: {v}" for k, v in examples.items())
    assert counts[("config", "ok", "accepted")] > 0  # the mutations leave some configs valid: checked
