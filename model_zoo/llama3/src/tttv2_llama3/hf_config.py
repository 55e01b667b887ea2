"""The architecture of a Llama-family HF checkpoint, read from its ``config.json`` (no code executed).

One frozen dataclass, ``LlamaCheckpointConfig``, holds the numbers the TTTv2 model and the tensor
shape checks need. It accepts both spellings of the RoPE settings found in the wild:

- transformers < 5 and Meta's releases: ``rope_theta`` + ``rope_scaling`` (``{"rope_type": "llama3", ...}``)
- transformers >= 5: ``rope_parameters`` (``{"rope_type": ..., "rope_theta": ..., <scaling keys>}``)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# model_type -> architectures this family reads. SmolLM2 and Llama 3.x (3.0, 3.1, 3.2, 3.3) all
# ship as model_type "llama" / LlamaForCausalLM.
SUPPORTED_ARCHITECTURES: dict[str, tuple[str, ...]] = {"llama": ("LlamaForCausalLM",)}
SUPPORTED_FAMILIES_TEXT = "llama family: Llama 3.x (3.0, 3.1, 3.2, 3.3), SmolLM2"
# RoPE variants the tttv2 blocks implement (ARCHITECTURE.md section 4).
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3", "yarn")
# Keys every llama config.json must have; the others have HF defaults.
REQUIRED_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
)


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be used as it is; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LlamaCheckpointConfig:
    """The math of a Llama-family checkpoint.

    Attributes:
        hidden_size: model width ``dim``.
        intermediate_size: SwiGLU hidden width.
        num_hidden_layers: decoder layers.
        num_attention_heads: query heads.
        num_key_value_heads: key/value heads (GQA when fewer than query heads).
        head_dim: per-head width (``hidden_size // num_attention_heads`` unless the config says).
        vocab_size: embedding and LM head rows.
        rms_norm_eps: epsilon of every RMSNorm.
        rope_theta: RoPE base frequency.
        rope_scaling: the scaling dict with its ``rope_type`` ("linear", "llama3", "yarn"), or None.
        max_position_embeddings: longest context the checkpoint was trained for.
        tie_word_embeddings: LM head shares the embedding matrix (no ``lm_head.weight`` needed).
        attention_bias: q/k/v/o projections carry biases.
        mlp_bias: gate/up/down projections carry biases.
        bos_token_id: beginning-of-sequence id, if any.
        eos_token_ids: end-of-sequence ids (a tuple; Llama 3.x instruct models have several).
        raw: the whole parsed ``config.json``.
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict[str, Any] | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    attention_bias: bool
    mlp_bias: bool
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def rope_type(self) -> str:
        return "default" if self.rope_scaling is None else self.rope_scaling["rope_type"]

    @classmethod
    def from_dict(cls, config: dict[str, Any], *, source: str = "config.json") -> LlamaCheckpointConfig:
        """Parse and check a config dict; ``source`` names it in errors.

        Raises:
            CheckpointError: unsupported model_type/architecture, a quantized checkpoint, a missing
                key, inconsistent head counts or an unsupported RoPE type.
        """
        _check_architecture(config, source)
        if config.get("quantization_config"):
            method = config["quantization_config"].get("quant_method", "?")
            raise CheckpointError(
                f"{source}: quantized checkpoint (quantization_config.quant_method={method!r}); only "
                "unquantized float16/bfloat16/float32 safetensors checkpoints are supported"
            )
        missing = [key for key in REQUIRED_KEYS if key not in config]
        if missing:
            raise CheckpointError(f"{source}: missing required keys {missing}")

        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        if heads % kv_heads:
            raise CheckpointError(
                f"{source}: num_attention_heads={heads} is not a multiple of num_key_value_heads={kv_heads}"
            )
        head_dim = config.get("head_dim")
        if head_dim is None:
            if hidden % heads:
                raise CheckpointError(
                    f"{source}: hidden_size={hidden} is not divisible by num_attention_heads={heads} "
                    "and no head_dim is given"
                )
            head_dim = hidden // heads
        rope_theta, rope_scaling = _rope_settings(config, source)
        eos = config.get("eos_token_id")
        eos_ids = () if eos is None else tuple(int(i) for i in (eos if isinstance(eos, list) else [eos]))
        return cls(
            hidden_size=hidden,
            intermediate_size=int(config["intermediate_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=int(head_dim),
            vocab_size=int(config["vocab_size"]),
            rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=rope_theta,
            rope_scaling=rope_scaling,
            max_position_embeddings=int(config.get("max_position_embeddings", 2048)),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=bool(config.get("attention_bias", False)),
            mlp_bias=bool(config.get("mlp_bias", False)),
            bos_token_id=config.get("bos_token_id"),
            eos_token_ids=eos_ids,
            raw=config,
        )


def read_config(checkpoint_dir: str | Path) -> LlamaCheckpointConfig:
    """Read ``<checkpoint_dir>/config.json`` (plain JSON; nothing is executed).

    Raises:
        CheckpointError: the folder or file is missing, not JSON, or not a supported architecture.
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
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return LlamaCheckpointConfig.from_dict(config, source=str(path))


def _check_architecture(config: dict[str, Any], source: str) -> None:
    supported = ", ".join(
        f"model_type={mt!r} ({'/'.join(archs)})" for mt, archs in SUPPORTED_ARCHITECTURES.items()
    )
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise CheckpointError(
            f"{source}: unsupported model_type {model_type!r}; supported: {supported} [{SUPPORTED_FAMILIES_TEXT}]"
        )
    architectures = config.get("architectures") or []
    unknown = [a for a in architectures if a not in SUPPORTED_ARCHITECTURES[model_type]]
    if unknown:
        raise CheckpointError(
            f"{source}: unsupported architectures {unknown}; supported: {supported} [{SUPPORTED_FAMILIES_TEXT}]"
        )


def _rope_settings(config: dict[str, Any], source: str) -> tuple[float, dict[str, Any] | None]:
    parameters = dict(config.get("rope_parameters") or {})
    scaling = dict(config.get("rope_scaling") or {})
    theta = parameters.pop("rope_theta", None) or config.get("rope_theta") or 10000.0
    merged = {**scaling, **parameters}
    # Old configs spell the type "type"; "default" with no other keys means no scaling.
    rope_type = merged.pop("rope_type", None) or merged.pop("type", None) or "default"
    merged.pop("type", None)
    if rope_type not in SUPPORTED_ROPE_TYPES:
        raise CheckpointError(
            f"{source}: unsupported RoPE type {rope_type!r}; supported: {list(SUPPORTED_ROPE_TYPES)}"
        )
    if rope_type == "default":
        return float(theta), None
    return float(theta), {"rope_type": rope_type, **merged}
