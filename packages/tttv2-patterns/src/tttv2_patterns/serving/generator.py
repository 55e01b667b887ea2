"""The generator a serving engine drives: Tenstorrent's vLLM model interface, once, for every family.

tt-metal's ``models/tt_transformers/tt/generator_vllm.py`` (the models Tenstorrent's vLLM fork and
``tt-vllm-plugin`` load) defines what a TT model offers an engine::

    model = Generator.initialize_vllm_model(hf_config, mesh_device, max_batch_size, max_seq_len)
    kv_cache = model.allocate_kv_cache(kv_cache_shape, dtype, num_layers)   # engine keeps it
    logits = model.prefill_forward(tokens, page_table, kv_cache, prompt_lens)          # (B, 1, vocab)
    logits = model.decode_forward(tokens, start_pos, page_table, kv_cache)             # (B, 1, vocab)

``Generator`` implements it over any ``CausalLM`` (every family of the kit builds one with
``ModelFactory.from_huggingface``). The engine owns the KV cache and the page tables: the model keeps
neither between calls; each call binds the engine's caches and that step's page table
(``EngineKVCache``) and runs ``CausalLM.prefill_forward`` / ``decode_forward`` themselves, so
greedy tokens through the contract are those of ``CausalLM.generate``.

Continuous batching is the engine's: a decode row whose ``start_pos`` is negative is an empty slot
(TTTv1's convention) and gets zero logits; requests join by a ``prefill_forward`` between decode steps.
Unknown keyword arguments (the fork adds some per release) are accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from contextlib import contextmanager
from pathlib import Path

import torch
from tttv2_blocks import KVCacheSpec, PagedKVCache

from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.decode_trace import DecodeTraces
from tttv2_patterns.sampling import SamplingParams, select_next_tokens
from tttv2_patterns.serving.engine_cache import EngineKVCache

MAX_DECODE_BATCH = 32  # users per decode step (one per core row of attention decode)
STRATEGIES = {None: "default", "default": "default", "performance": "performance", "accuracy": "accuracy"}


def _checkpoint_folder(hf_config) -> Path:
    """The checkpoint folder of a transformers ``PretrainedConfig`` (``_name_or_path``) or a path."""
    if isinstance(hf_config, str | os.PathLike):
        return Path(hf_config)
    name = getattr(hf_config, "_name_or_path", None) or getattr(hf_config, "name_or_path", None)
    if not name:
        raise ValueError(
            "initialize_vllm_model: hf_config names no checkpoint folder (_name_or_path is empty); "
            "pass the config of a local HF folder"
        )
    return Path(name)


def _architectures(hf_config, folder: Path) -> list[str]:
    architectures = getattr(hf_config, "architectures", None)
    if architectures:
        return list(architectures)
    from tttv2_patterns.family.hf_config import read_hf_config  # noqa: PLC0415

    return list(read_hf_config(folder).architectures)


def _accepts_keyword(function, name: str) -> bool:
    """True when ``function`` names ``name`` as a parameter (``**kwargs`` alone does not count)."""
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _sampling_params(sampling_params, rows: int) -> list[SamplingParams]:
    """One ``SamplingParams`` per row from the engine's (tt-metal ``TTSamplingParams``-like) object.

    Accepts an object or dict with ``temperature``, ``top_k``, ``top_p`` (scalars or one per row);
    temperature 0 (or None) is greedy, as in vLLM.
    """

    def field(name):
        value = (
            sampling_params.get(name)
            if isinstance(sampling_params, dict)
            else getattr(sampling_params, name, None)
        )
        if isinstance(value, torch.Tensor):
            value = value.flatten().tolist()
        if isinstance(value, list | tuple):
            if len(value) == 1:
                value = value * rows
            if len(value) < rows:
                raise ValueError(f"sampling_params.{name}: {len(value)} values for {rows} rows")
            return list(value)[:rows]
        return [value] * rows

    params = []
    for temperature, top_k, top_p in zip(field("temperature"), field("top_k"), field("top_p")):
        if not temperature:
            params.append(SamplingParams())
            continue
        top_k = int(top_k) if top_k and int(top_k) > 0 else None
        top_p = float(top_p) if top_p is not None and 0.0 < float(top_p) < 1.0 else None
        params.append(
            SamplingParams(do_sample=True, temperature=float(temperature), top_k=top_k, top_p=top_p)
        )
    return params


class Generator:
    """A ``CausalLM`` behind Tenstorrent's vLLM model interface (see the module docstring).

    Args:
        model: the ``CausalLM`` (or a family's ``TextCausalLM``) to serve.
        owns_model: close the model (and its device) in ``close()``; True from ``initialize_vllm_model``.

    Attributes:
        model: the ``CausalLM``.
        model_capabilities: what the engine may ask for (``supports_prefix_caching``: False — a prefill
            always starts at position 0).
    """

    model_capabilities = {
        "supports_prefix_caching": False,
        "supports_chunked_prefill": False,
        "supports_multimodal": False,
        "max_decode_batch": MAX_DECODE_BATCH,
    }

    def __init__(self, model: CausalLM, *, owns_model: bool = False):
        if not isinstance(model, CausalLM):
            raise TypeError(f"Generator: model must be a CausalLM, got {type(model).__name__}")
        self.model = model
        self._owns_model = owns_model
        self._engine_caches: list | None = None
        # Traced decode state per engine cache: a trace reads the buffers it was captured on, so the
        # model's own (inputs, traces) never replay on the engine's caches, nor the reverse.
        self._decode_state: dict[tuple[int, ...], tuple] = {}
        self._trace_keyword = any(
            _accepts_keyword(cls.__dict__["decode_forward"], "enable_trace")
            for cls in type(model).__mro__
            if "decode_forward" in cls.__dict__
        )

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def initialize_vllm_model(
        cls,
        hf_config,
        mesh_device,
        max_batch_size: int,
        max_seq_len: int,
        tt_data_parallel: int = 1,
        optimizations: str | None = None,
        *,
        family=None,
        **kwargs,
    ) -> Generator:
        """Build the model of an HF checkpoint folder with the installed family that handles it.

        Args:
            hf_config: the engine's ``transformers.PretrainedConfig`` (its ``_name_or_path`` is the
                local checkpoint folder) or the folder itself.
            mesh_device: an opened (mesh) device, or a catalog name (``"N150"``).
            max_batch_size: decode slots (at most 32).
            max_seq_len: positions per request (prompt + generated tokens).
            tt_data_parallel: 1 (data-parallel submeshes are not supported yet).
            optimizations: ``None`` / ``"performance"`` / ``"accuracy"``: the ImplConfig strategy.
            family: a ``ModelFactory`` subclass; default: the installed family of ``architectures``.
            **kwargs: accepted and ignored (``n_layers``, ``vllm_config``, ... of other versions).

        Raises:
            NotImplementedError: ``tt_data_parallel`` other than 1.
            ValueError: unknown ``optimizations``, batch above 32, a folder that is not a checkpoint.
            UnknownFamilyError: no installed family handles the config's architectures.
        """
        if tt_data_parallel != 1:
            raise NotImplementedError(
                f"initialize_vllm_model: tt_data_parallel={tt_data_parallel}; only 1 is supported "
                "(one model on the whole mesh, tensor-parallel inside it)"
            )
        if optimizations not in STRATEGIES:
            raise ValueError(
                f"initialize_vllm_model: optimizations must be one of {sorted(k for k in STRATEGIES if k)} or None, "
                f"got {optimizations!r}"
            )
        if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_DECODE_BATCH:
            raise ValueError(
                f"initialize_vllm_model: max_batch_size must be in [1, {MAX_DECODE_BATCH}], got {max_batch_size!r}"
            )
        folder = _checkpoint_folder(hf_config)
        if family is None:
            from tttv2_patterns.family.registry import family_for_architectures  # noqa: PLC0415

            family = family_for_architectures(_architectures(hf_config, folder))
        model = family.from_huggingface(
            folder,
            device=mesh_device,
            strategy=STRATEGIES[optimizations],
            max_batch_size=max_batch_size,
            max_seq_len=max_seq_len,
            progress=False,
        )
        return cls(model, owns_model=True)

    # --- KV cache -----------------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        """Positions per KV-cache block the model's attention uses (the engine must use it too)."""
        return self.model.kv_cache.page_table.block_size

    @property
    def num_layers(self) -> int:
        return len(self.model.layers)

    def kv_cache_shape(self, num_blocks: int) -> tuple[int, int, int, int]:
        """``(num_blocks, num_kv_heads, block_size, head_dim)`` of one layer, as vLLM describes it."""
        attention = self.model.layers[0].attention
        return (num_blocks, attention.spec.num_kv_heads, self.block_size, attention.spec.head_dim)

    def kv_cache_bytes_per_block(self) -> int:
        """Host bytes of one block in every layer, K and V (what an emulated device's cache costs)."""
        total = 0
        for layer in self.model.layers:
            attention = layer.attention
            elements = attention.kv_heads_local * self.block_size * attention.head_dim_padded
            total += 2 * elements * self.model.device.get_num_devices()
        return total * 4  # the emulator holds cache values as float32

    def allocate_kv_cache(self, kv_cache_shape, dtype=None, num_layers: int | None = None, **kwargs) -> list:
        """Allocate the engine's paged KV cache: one ``PagedKVCache`` (``.keys``, ``.values``) per layer.

        The model's own cache is released: from now on the engine owns every KV block and passes it back
        (``kv_cache=``) with its page tables.

        Args:
            kv_cache_shape: ``(num_blocks, num_kv_heads, block_size, head_dim)`` (vLLM's); the number of
                blocks and the block size are taken from it; heads and head dim (split over a mesh,
                padded to tiles) are the model's.
            dtype: the engine's torch dtype; ignored — the cache dtype is each layer's
                ``impl.layers[i].attention.kv_cache.dtype`` (as tt-metal does with its optimizations).
            num_layers: must equal the model's layer count when given.

        Returns:
            ``list[PagedKVCache]``, one per layer.
        """
        num_blocks, num_kv_heads, block_size, head_dim = (int(d) for d in kv_cache_shape)
        spec = self.model.spec
        if num_layers is not None and num_layers != self.num_layers:
            raise ValueError(
                f"allocate_kv_cache: num_layers={num_layers}, the model has {self.num_layers} layers"
            )
        if block_size != self.block_size:
            raise ValueError(
                f"allocate_kv_cache: block_size {block_size} differs from the model's KV-cache block size "
                f"{self.block_size} (impl.layers[i].attention.kv_cache.block_size); use {self.block_size}"
            )
        expected = self.kv_cache_shape(num_blocks)
        if (num_kv_heads, head_dim) != expected[1:2] + expected[3:]:
            raise ValueError(
                f"allocate_kv_cache: kv_cache_shape {tuple(kv_cache_shape)} does not match the model's "
                f"(num_blocks, {expected[1]} kv heads, {expected[2]}, head_dim {expected[3]})"
            )
        self._release_model_cache()
        cache_spec = KVCacheSpec(max_batch=spec.max_batch_size, max_seq_len=spec.max_seq_len)
        caches = []
        for layer in self.model.layers:
            attention = layer.attention
            impl = dataclasses.replace(attention.impl_config.kv_cache, num_blocks=num_blocks)
            caches.append(
                PagedKVCache(
                    cache_spec, impl, self.model.device, attention.kv_heads_local, attention.head_dim_padded
                )
            )
        self._engine_caches = caches
        return caches

    def _release_model_cache(self) -> None:
        """Free the cache ``CausalLM`` allocated for itself (the engine's replaces it)."""
        for cache in getattr(self.model.kv_cache, "layer_caches", []):
            if cache not in (self._engine_caches or []):
                cache.deallocate()

    def _layer_caches(self, kv_cache) -> list:
        caches = kv_cache if kv_cache is not None else self._engine_caches
        if caches is None:
            raise ValueError("no KV cache: call allocate_kv_cache(...) and pass its result as kv_cache=")
        if len(caches) == 1 and isinstance(caches[0], list | tuple) and self.num_layers != 1:
            caches = caches[0]  # tt-metal's [per data-parallel submesh][per layer] nesting
        if len(caches) != self.num_layers:
            raise ValueError(f"kv_cache has {len(caches)} layers, the model has {self.num_layers}")
        return list(caches)

    @contextmanager
    def _engine_memory(self, kv_cache, page_table):
        """Run the model on the engine's caches and this step's page table, then put its own back."""
        model = self.model
        caches = self._layer_caches(kv_cache)
        saved = model.kv_cache, [layer.attention.kv_cache for layer in model.layers]
        model.kv_cache = EngineKVCache(model.device, caches, page_table)
        for layer, cache in zip(model.layers, caches):
            layer.attention.kv_cache = cache
        key = tuple(id(cache) for cache in caches)
        own_state = model._decode_inputs, model._decode_traces
        model._decode_inputs, model._decode_traces = self._decode_state.get(
            key, ({}, DecodeTraces(model.device))
        )
        try:
            yield
        finally:
            self._decode_state[key] = model._decode_inputs, model._decode_traces
            model._decode_inputs, model._decode_traces = own_state
            model.kv_cache = saved[0]
            for layer, cache in zip(model.layers, saved[1]):
                layer.attention.kv_cache = cache

    # --- forward ------------------------------------------------------------------------------------
    def prefill_forward(
        self,
        tokens,
        page_table,
        kv_cache,
        prompt_lens,
        *args,
        sampling_params=None,
        enable_trace: bool = False,
        **kwargs,
    ):
        """Prefill a batch of new requests into their engine-assigned blocks.

        Args:
            tokens: ``(batch, padded_len)`` token ids (row ``i`` = request ``i``, padded on the right).
            page_table: ``(batch, blocks)`` physical block ids of each request.
            kv_cache: ``allocate_kv_cache``'s result.
            prompt_lens: ``(batch,)`` prompt lengths.
            sampling_params: None returns logits; given (temperature / top_k / top_p per row, see
                ``_sampling_params``) returns sampled token ids.
            enable_trace: accepted; prefill is never traced.

        Returns:
            ``(batch, 1, vocab)`` float32 logits of each request's last prompt position, or ``(batch,)``
            token ids with ``sampling_params``.

        Raises:
            ValueError: a prompt longer than ``max_seq_len``, more than ``max_batch_size`` requests,
                page tables with blocks outside the cache (checked before anything runs).
        """
        tokens = torch.as_tensor(tokens)
        if tokens.dim() == 1:
            tokens = tokens.reshape(1, -1)
        lengths = [int(n) for n in torch.as_tensor(prompt_lens).reshape(-1).tolist()]
        if len(lengths) != tokens.shape[0]:
            raise ValueError(f"prefill_forward: {len(lengths)} prompt_lens for {tokens.shape[0]} token rows")
        prompts = [tokens[row, :length].tolist() for row, length in enumerate(lengths)]
        page_table = torch.as_tensor(page_table).reshape(len(prompts), -1)
        logits = []
        for row, prompt in enumerate(prompts):
            # Only the blocks the prompt fills (tt-metal's generator: _get_prefill_user_page_table): the
            # prefill pads the prompt to a length bucket capped by the row's blocks, and the engine's
            # unused entries (0) name blocks other requests own, which the padding would overwrite.
            own = page_table[row : row + 1, : max(1, -(-len(prompt) // self.block_size))]
            with self._engine_memory(kv_cache, own):
                logits.append(self.model.prefill_forward([prompt], user_ids=[0]).logits)
        return self._output(torch.cat(logits), sampling_params)

    def decode_forward(
        self,
        tokens,
        start_pos,
        page_table,
        kv_cache,
        *args,
        sampling_params=None,
        enable_trace: bool = True,
        read_from_device: bool = True,
        **kwargs,
    ):
        """One decode step of the engine's batch; rows with ``start_pos < 0`` are empty slots.

        Args:
            tokens: ``(batch, 1)`` or ``(batch,)`` last token of each row.
            start_pos: ``(batch,)`` position each row's token goes to (-1: empty slot).
            page_table: ``(batch, blocks)`` physical block ids per row.
            kv_cache: ``allocate_kv_cache``'s result.
            sampling_params: None returns logits; given, token ids (see ``prefill_forward``).
            enable_trace: passed on to ``CausalLM.decode_forward`` when it takes it (traced decode).
            read_from_device: False returns the raw output for ``read_decode_output``.

        Returns:
            ``(batch, 1, vocab)`` float32 logits (zeros for empty slots) or ``(batch,)`` token ids.
        """
        tokens = torch.as_tensor(tokens).reshape(-1)
        positions = [int(p) for p in torch.as_tensor(start_pos).reshape(-1).tolist()]
        if len(positions) != tokens.numel():
            raise ValueError(f"decode_forward: {len(positions)} start_pos for {tokens.numel()} tokens")
        if len(positions) > MAX_DECODE_BATCH:
            raise ValueError(
                f"decode_forward: {len(positions)} rows, more than {MAX_DECODE_BATCH} decode together"
            )
        page_table = _fixed_width(torch.as_tensor(page_table).reshape(len(positions), -1), self._table_width)
        active = [row for row, position in enumerate(positions) if position >= 0]
        vocab = self.model.spec.lm_head.vocab_size
        logits = torch.zeros(len(positions), vocab, dtype=torch.float32)
        if active:
            extra = {"enable_trace": enable_trace} if self._trace_keyword else {}
            with self._engine_memory(kv_cache, page_table[active]):
                out = self.model.decode_forward(
                    token_ids=[int(tokens[row]) for row in active],
                    cache_position=[positions[row] for row in active],
                    user_ids=list(range(len(active))),
                    **extra,
                )
            logits[active] = out.logits.to(torch.float32)
        result = self._output(logits, sampling_params)
        return result if read_from_device else _DecodeOutput(result)

    def read_decode_output(self, tt_out, async_read: bool = False, *args, **kwargs):
        """Host output of ``decode_forward(read_from_device=False)``; with ``async_read`` also the (no) events."""
        host = tt_out.value if isinstance(tt_out, _DecodeOutput) else tt_out
        return (host, []) if async_read else host

    def process_decode_output_host(self, tt_out, is_tokens: bool = False, **kwargs):
        """Host output as the engine takes it (already host tensors here)."""
        return self.read_decode_output(tt_out)

    def _output(self, logits: torch.Tensor, sampling_params):
        if sampling_params is None:
            return logits.unsqueeze(1)
        params = _sampling_params(sampling_params, logits.shape[0])
        return torch.stack([select_next_tokens(logits[row : row + 1], p)[0] for row, p in enumerate(params)])

    # --- warm-up and lifetime -----------------------------------------------------------------------
    def warmup_model_prefill(self, kv_cache=None, enable_trace: bool = False, *args, **kwargs) -> None:
        """One short prefill into block 0 (free at start-up), so the first request does not pay first-call costs."""
        caches = self._layer_caches(kv_cache)
        table = torch.zeros(1, max(1, self.model.spec.max_seq_len // self.block_size), dtype=torch.int32)
        self.prefill_forward(torch.zeros(1, 1, dtype=torch.int64), table, caches, [1])

    def warmup_model_decode(
        self, kv_cache=None, enable_trace: bool = True, max_batch_size=None, *args, **kwargs
    ):
        """One decode step of one row at position 0 in block 0 (also captures a trace when the model traces)."""
        caches = self._layer_caches(kv_cache)
        table = torch.zeros(1, max(1, self.model.spec.max_seq_len // self.block_size), dtype=torch.int32)
        self.decode_forward(
            torch.zeros(1, 1, dtype=torch.int64), [0], table, caches, enable_trace=enable_trace
        )

    @property
    def _table_width(self) -> int:
        """Blocks per page-table row in decode: fixed (the traced step's page-table input has one shape)."""
        return -(-self.model.spec.max_seq_len // self.block_size)

    def close(self) -> None:
        """Free the engine cache; close the model when this generator built it."""
        for _inputs, traces in self._decode_state.values():
            traces.release()
        self._decode_state.clear()
        for cache in self._engine_caches or []:
            cache.deallocate()
        self._engine_caches = None
        if self._owns_model:
            self.model.close()


def _fixed_width(page_table: torch.Tensor, width: int) -> torch.Tensor:
    """``page_table`` cut or padded (block 0, never read past a row's length) to ``width`` columns."""
    if page_table.shape[1] >= width:
        return page_table[:, :width]
    pad = torch.zeros(page_table.shape[0], width - page_table.shape[1], dtype=page_table.dtype)
    return torch.cat([page_table, pad], dim=1)


@dataclasses.dataclass
class _DecodeOutput:
    """``decode_forward(read_from_device=False)``: the step's output before ``read_decode_output``."""

    value: torch.Tensor
