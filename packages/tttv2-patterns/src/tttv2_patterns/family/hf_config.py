"""``config.json`` of an HF checkpoint, read as plain JSON (no code executed), with checked accessors.

    config = read_hf_config("path/to/folder")          # or HFConfig.coerce(dict | PretrainedConfig)
    config.int("num_attention_heads", minimum=1)        # ConfigError naming the key on "abc", 0, True...
    config.float("rms_norm_eps", 1e-6, positive=True)
    config.token_ids("eos_token_id")                    # () | (2,) | (128001, 128009); a string is an error

Every accessor raises ``ConfigError`` with the file and the key in the message, so a bad value is
refused where it is read instead of surfacing as a ``KeyError`` or ``TypeError`` inside a block.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tttv2_patterns.family.errors import CheckpointError, ConfigError

_REQUIRED = object()
# TTNN tensor dimensions are uint32 (ttnn::Shape); a larger config value cannot describe a tensor.
MAX_DIM = 2**32 - 1
# Far above any released decoder (Llama 3.1 405B: 126); more is a corrupt config, and building that
# many layer specs would hang instead of failing.
MAX_LAYERS = 4096


class HFConfig(Mapping):
    """A parsed ``config.json``; a read-only mapping with typed, checked accessors.

    Attributes:
        raw: the parsed JSON object.
        source: where it came from (a path, or ``"<dict>"``), named in every error.
    """

    def __init__(self, raw: Mapping[str, Any], source: str = "config.json"):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(raw).__name__}")
        self.raw = dict(raw)
        self.source = source

    # --- construction ------------------------------------------------------------------------------
    @classmethod
    def coerce(cls, config) -> HFConfig:
        """An ``HFConfig`` from an HFConfig, a dict, a checkpoint folder / ``config.json`` path, or an HF
        ``PretrainedConfig`` (anything with ``to_dict()``)."""
        if isinstance(config, HFConfig):
            return config
        if isinstance(config, str | os.PathLike):
            path = Path(config)
            return read_hf_config(path.parent if path.name == "config.json" else path)
        if isinstance(config, Mapping):
            return cls(config, "<dict>")
        if hasattr(config, "to_dict"):
            return cls(config.to_dict(), f"<{type(config).__name__}>")
        raise TypeError(
            f"HF config must be a dict, a folder/config.json path or a PretrainedConfig, got {type(config).__name__}"
        )

    # --- Mapping -----------------------------------------------------------------------------------
    def __getitem__(self, key: str):
        return self.raw[key]

    def __iter__(self):
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"HFConfig({self.source}, model_type={self.raw.get('model_type')!r})"

    # --- checked accessors -------------------------------------------------------------------------
    def error(self, key: str, message: str) -> ConfigError:
        """A ``ConfigError`` naming this config and ``key``."""
        return ConfigError(f"{self.source}: {key}: {message}", key)

    def _value(self, key: str, default):
        value = self.raw.get(key)
        if value is None:
            if default is _REQUIRED:
                raise self.error(key, "missing (required)")
            return default
        return value

    def int(
        self, key: str, default: Any = _REQUIRED, *, minimum: int | None = None, maximum: int = MAX_DIM
    ) -> int:
        """``key`` as an int (JSON integer; ``2.0`` is accepted, ``"2"``, ``2.5`` and ``true`` are not)."""
        value = self._value(key, default)
        if value is None:  # an optional key with default None
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise self.error(key, f"expected an integer, got {value!r}")
        value = int(value)
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        if value > maximum:
            raise self.error(key, f"must be <= {maximum}, got {value}")
        return value

    def float(self, key: str, default: Any = _REQUIRED, *, positive: bool = False) -> float:
        """``key`` as a finite float (a JSON number; strings such as ``"abc"`` or ``"1e-5"`` are refused)."""
        value = self._value(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {value!r}")
        if positive and not value > 0:
            raise self.error(key, f"must be > 0, got {value!r}")
        return float(value)

    def bool(self, key: str, default: bool = False) -> bool:
        """``key`` as a JSON boolean (``"false"`` or ``0`` are refused: they would read as the opposite)."""
        value = self._value(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def str(self, key: str, default: Any = _REQUIRED) -> str:
        value = self._value(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def token_ids(self, key: str) -> tuple[int, ...]:
        """A token id or list of ids (``eos_token_id``); absent -> ``()``."""
        value = self.raw.get(key)
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise self.error(key, f"expected a token id or a list of token ids (ints >= 0), got {value!r}")
        return tuple(values)

    # --- the numbers every decoder config has --------------------------------------------------------
    @property
    def model_type(self) -> str | None:
        return self.raw.get("model_type")

    @property
    def architectures(self) -> tuple[str, ...]:
        value = self.raw.get("architectures") or []
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise self.error("architectures", f"expected a list of class names, got {value!r}")
        return tuple(value)

    @property
    def hidden_size(self) -> int:
        return self.int("hidden_size", minimum=1)

    @property
    def num_hidden_layers(self) -> int:
        return self.int("num_hidden_layers", minimum=1, maximum=MAX_LAYERS)

    @property
    def num_attention_heads(self) -> int:
        return self.int("num_attention_heads", minimum=1)

    @property
    def num_key_value_heads(self) -> int:
        heads = self.num_attention_heads
        kv_heads = self.int("num_key_value_heads", heads, minimum=1)
        if heads % kv_heads:
            raise self.error(
                "num_key_value_heads",
                f"num_attention_heads={heads} is not a multiple of num_key_value_heads={kv_heads}",
            )
        return kv_heads

    @property
    def head_dim(self) -> int:
        if self.raw.get("head_dim") is not None:
            return self.int("head_dim", minimum=1)
        hidden, heads = self.hidden_size, self.num_attention_heads
        if hidden % heads:
            raise self.error(
                "head_dim",
                f"not given, and hidden_size={hidden} is not divisible by num_attention_heads={heads}",
            )
        return hidden // heads

    @property
    def intermediate_size(self) -> int:
        return self.int("intermediate_size", minimum=1)

    @property
    def vocab_size(self) -> int:
        return self.int("vocab_size", minimum=1)

    @property
    def max_position_embeddings(self) -> int:
        return self.int("max_position_embeddings", 2048, minimum=1)

    @property
    def tie_word_embeddings(self) -> bool:
        return self.bool("tie_word_embeddings", False)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        return self.token_ids("eos_token_id")

    def check_unquantized(self) -> None:
        """Refuse a quantized checkpoint: the kit reads float16/bfloat16/float32 safetensors only."""
        quantization = self.raw.get("quantization_config")
        if quantization:
            method = quantization.get("quant_method", "?") if isinstance(quantization, Mapping) else "?"
            raise self.error(
                "quantization_config",
                f"quantized checkpoint (quant_method={method!r}); only unquantized float16/bfloat16/float32 "
                "safetensors checkpoints are supported",
            )


def read_hf_config(checkpoint_dir: str | os.PathLike) -> HFConfig:
    """Read ``<checkpoint_dir>/config.json`` (plain JSON; nothing is executed).

    Raises:
        CheckpointError: the folder or file is missing, or not a JSON object.
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise CheckpointError(f"checkpoint folder {checkpoint_dir} does not exist or is not a folder")
    path = checkpoint_dir / "config.json"
    if not path.is_file():
        raise CheckpointError(
            f"{path}: missing; an HF checkpoint folder needs config.json beside its safetensors files"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from error
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error})") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return HFConfig(raw, str(path))
