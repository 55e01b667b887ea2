"""CausalLM: embedding, decoder layers, final norm and LM head, with a paged KV cache."""

from __future__ import annotations

import os

import torch
from tqdm.auto import tqdm
from tttv2_blocks import Module, token_ids_to_device
from tttv2_hwconfig import close_device, op_scope, ttnn

from tttv2_patterns import config_tree
from tttv2_patterns.building import build_block
from tttv2_patterns.checkpoint import Checkpoint
from tttv2_patterns.decode_trace import (
    DECODE_ROWS,
    DecodeInputs,
    DecodeTraces,
    decode_rows,
    padded_prefill_len,
)
from tttv2_patterns.decoder_layer import DecoderLayer
from tttv2_patterns.device_sampling import (
    DeviceSampler,
    check_device_sampling,
    greedy_tokens,
    tokens_to_torch,
)
from tttv2_patterns.devices import device_name, open_for_model
from tttv2_patterns.generation import generate
from tttv2_patterns.impl_config import CausalLMImplConfig, residual_decode_memory_config
from tttv2_patterns.inputs import prompt_token_ids
from tttv2_patterns.kv_cache import ModelKVCache
from tttv2_patterns.outputs import ForwardOutput
from tttv2_patterns.sampling import SamplingParams
from tttv2_patterns.specs import CausalLMSpec
from tttv2_patterns.tensor_cache import TensorCache, block_cache_key

TILE = 32


class CausalLM(Module):
    """A decoder-only LM on a TT device, composed from blocks (same Spec / ImplConfig contract).

    Args:
        model_spec: ``CausalLMSpec``; if it has a checkpoint attached the weights are loaded
            (from ``tensor_cache`` when given).
        impl_config: ``CausalLM.ImplConfig(model_spec, device)`` (the default), possibly overridden.
        device: catalog name (``"N150"``, opened and owned by the model; ``close()`` closes it) or an
            opened mesh device.
        tensor_cache: directory (or ``TensorCache``) of converted weights; None converts every time.
        progress: show a tqdm progress bar while converting/loading weights.
        enable_trace: capture the decode step once (per batch bucket) and replay it with
            ``ttnn.execute_trace`` (TTTv1's traced decode); False runs every step eagerly. Both run
            the same padded 32-row program and give bit-identical logits and tokens.

    Attributes:
        embedding / layers / final_norm / lm_head: the modules (``layers[i]`` is a ``DecoderLayer``
            with ``attention``, ``ffn``, ``attention_norm``...), each with ``module_path``.
        impl_config: the ``CausalLMImplConfig`` in use.
        kv_cache: the paged KV cache (``ModelKVCache``) and its page table.
        enable_trace: whether ``decode_forward`` replays a captured trace (may be changed between steps).

    Example:
        >>> model = CausalLM(model_spec, device="N150")
        >>> prefill_out = model.prefill_forward(ttnn.from_torch(torch.tensor([1, 2, 3, 4])))
        >>> next_out = model.decode_forward(prefill_out, cache_position=4)
        >>> model.generate([[1, 2, 3], [4, 5]], max_new_tokens=16).token_ids
    """

    ImplConfig = CausalLMImplConfig

    def __init__(
        self,
        model_spec: CausalLMSpec,
        impl_config: CausalLMImplConfig | None = None,
        device="N150",
        *,
        tensor_cache: TensorCache | str | os.PathLike | None = None,
        progress: bool = True,
        enable_trace: bool = True,
    ):
        if not isinstance(model_spec, CausalLMSpec):
            raise TypeError(f"CausalLM: model_spec must be a CausalLMSpec, got {type(model_spec).__name__}")
        model_spec.validate()
        device, owns_device = open_for_model(device)
        try:
            if impl_config is None:
                impl_config = CausalLMImplConfig(model_spec, device)
            self._check_impl_config(model_spec, impl_config, device)
            super().__init__(model_spec, impl_config, device)
            self._owns_device = owns_device
            self.module_path = "model"
            self.progress = progress
            self.enable_trace = bool(enable_trace)
            self._checkpoint = None
            self.tensor_cache = (
                TensorCache(tensor_cache) if isinstance(tensor_cache, str | os.PathLike) else tensor_cache
            )
            self._build(model_spec, impl_config, device)
            if model_spec.checkpoint is not None:
                self.load_weights(model_spec.checkpoint)
        except BaseException:
            if owns_device:
                close_device(device)
            raise

    # --- construction ---------------------------------------------------------------------------------
    @staticmethod
    def _check_impl_config(spec: CausalLMSpec, impl: CausalLMImplConfig, device) -> None:
        if not isinstance(impl, CausalLMImplConfig):
            raise TypeError(f"CausalLM: impl_config must be a CausalLM.ImplConfig, got {type(impl).__name__}")
        if impl.device_name != device_name(device):
            raise ValueError(
                f"CausalLM: impl_config was derived for {impl.device_name} but the model is built on "
                f"{device_name(device)}; use CausalLM.ImplConfig(model_spec, device={device_name(device)!r})"
            )
        if not isinstance(impl.layers, list) or len(impl.layers) != len(spec.layers):
            count = len(impl.layers) if isinstance(impl.layers, list) else impl.layers
            raise ValueError(f"layers: the ImplConfig has {count} layers, the spec has {len(spec.layers)}")

    def _build(self, spec: CausalLMSpec, impl: CausalLMImplConfig, device) -> None:
        self.embedding = build_block(spec.embedding, impl.embedding, device, "embedding")
        self.layers = [
            DecoderLayer(layer_spec, impl.layers[index], device, module_path=f"layers.{index}")
            for index, layer_spec in enumerate(spec.layers)
        ]
        self.final_norm = build_block(spec.final_norm, impl.final_norm, device, "final_norm")
        self.lm_head = build_block(spec.lm_head, impl.lm_head, device, "lm_head")
        self.kv_cache = ModelKVCache(self)
        self._decode_inputs: dict[int, DecodeInputs] = {}  # per row bucket
        self._decode_traces = DecodeTraces(device)
        self._sampler = DeviceSampler(device, DECODE_ROWS)
        self._built_config = config_tree.leaves(impl)
        self._config_snapshot = None

    def _changed_config_paths(self) -> set[str]:
        snapshot = getattr(self, "_config_snapshot", None)
        if snapshot is not None and snapshot.root is self.impl_config and snapshot.unchanged():
            return set()  # the per-step fast path: the same tree, node by node
        current = config_tree.leaves(self.impl_config)
        built = self._built_config
        changed = {path for path in current.keys() | built.keys() if current.get(path) is not built.get(path)}
        if not changed:
            self._config_snapshot = config_tree.Snapshot(self.impl_config)
        return changed

    def apply_impl_config(self) -> list[str]:
        """Rebuild the blocks whose ImplConfig was edited since the model was built (``model.impl_config...``).

        The new blocks are validated first (errors name the path), then swapped in and their weights
        loaded again (from the tensor cache when there is one). Rebuilding an attention block resets
        the KV cache. ``prefill_forward`` calls this automatically.

        Returns:
            The module paths rebuilt.
        """
        changed = self._changed_config_paths()
        if not changed:
            return []
        spec, impl = self.spec, self.impl_config
        self._check_impl_config(spec, impl, self.device)
        specs = spec.module_specs()
        stale = {}
        for path in changed:
            owner = next((m for m in specs if _under(path, config_tree.module_path_to_config_path(m))), None)
            if owner is None:
                raise ValueError(
                    f"{path}: changed after the model was built, but it belongs to no block of the spec"
                )
            stale[owner] = specs[owner]
        rebuilt = {
            path: build_block(stale[path], impl.module_config(path), self.device, path)
            for path in specs
            if path in stale
        }
        for path, block in rebuilt.items():
            parts = path.split(".")
            if parts[0] == "layers":
                index = int(parts[1])
                self.layers[index].replace_block(parts[2], block, impl.layers[index])
            else:
                setattr(self, path, block)
        self._decode_traces.release()  # the traces read the replaced blocks' tensors
        if self._checkpoint is not None:
            self._load_blocks(rebuilt, self._checkpoint)
        if any(path.endswith(".attention") for path in rebuilt):
            self.kv_cache = ModelKVCache(self)
        self._built_config = config_tree.leaves(impl)
        self._config_snapshot = None
        return list(rebuilt)

    def blocks(self) -> dict[str, Module]:
        """Every block by module path (``"layers.0.attention"``), in execution order."""
        found = {"embedding": self.embedding}
        for layer in self.layers:
            found.update({block.module_path: block for block in layer.blocks().values()})
        found["final_norm"] = self.final_norm
        found["lm_head"] = self.lm_head
        return found

    # --- weights ----------------------------------------------------------------------------------------
    def load_weights(self, checkpoint=None) -> None:
        """Load (convert, or restore from the tensor cache) every block's weights.

        Args:
            checkpoint: HF-layout full-model tensors: a safetensors file/directory, a state dict or a
                ``Checkpoint``; default: the checkpoint attached to the spec. Shapes are checked first.
        """
        spec = self.spec
        checkpoint = Checkpoint.coerce(checkpoint) if checkpoint is not None else spec.checkpoint
        if checkpoint is None:
            raise ValueError("CausalLM.load_weights: no checkpoint given and none attached to the spec")
        spec.replace(checkpoint=checkpoint).validate_checkpoint()
        self._load_blocks(self.blocks(), checkpoint)
        self._checkpoint = checkpoint

    def _load_blocks(self, blocks: dict[str, Module], checkpoint: Checkpoint) -> None:
        spec = self.spec
        self._decode_traces.release()  # new weight tensors: a captured trace would read the old ones
        action = "Loading/converting" if self.tensor_cache is not None else "Converting"
        for path, block in tqdm(
            blocks.items(), desc=f"{action} weights", unit="module", disable=not self.progress
        ):
            view = spec.state_dict_for(path, checkpoint)
            if self.tensor_cache is None:
                block.load_weights(view)
                continue
            key = block_cache_key(block, view.fingerprint(), self.device)
            self.tensor_cache.load_or_build(
                block, key, lambda block=block, view=view: block.load_weights(view), self.device
            )

    # --- forward ----------------------------------------------------------------------------------------
    def _check_users(self, user_ids: list[int], count: int, where: str) -> None:
        if len(user_ids) != count:
            raise ValueError(f"{where}: {len(user_ids)} user_ids for {count} users")
        if len(set(user_ids)) != len(user_ids):
            raise ValueError(f"{where}: user_ids must be distinct, got {user_ids}")
        limit = self.spec.max_batch_size
        if count > limit:
            raise ValueError(f"{where}: {count} users, more than max_batch_size={limit}")
        for user in user_ids:
            if not isinstance(user, int) or not 0 <= user < limit:
                raise ValueError(f"{where}: user id {user!r} is outside [0, {limit}) (max_batch_size)")

    def prefill_forward(
        self,
        prompt_ids,
        *,
        user_ids: list[int] | None = None,
        sampling: SamplingParams | None = None,
        seed: int | None = None,
    ) -> ForwardOutput:
        """Prefill each user's prompt into its KV-cache slot; return the logits of its last position.

        Each prompt is padded to a length bucket (``decode_trace.padded_prefill_len``: 128, then powers
        of two / multiples of 2048, capped at the cache) so prefill programs are reused; the padding
        positions are causal-masked away from the prompt and overwritten by decode.

        Args:
            prompt_ids: token ids: a 1-D host ``ttnn.Tensor`` or ``torch.Tensor`` (one user), a 2-D
                tensor (users, seq), a list of ints, or a list of lists (users with different lengths).
            user_ids: KV-cache slot of each user (default 0, 1, ...).
            sampling: how ``next_tokens`` are chosen on the device (default: greedy ``ttnn.argmax``);
                sampling needs ``1 <= top_k <= 32`` (``device_sampling``).
            seed: seed of the device sampling draws (None continues the device generator).

        Returns:
            ``ForwardOutput``: ``logits (users, vocab)``, ``next_tokens`` chosen on the device,
            ``positions`` = prompt lengths.

        Raises:
            ValueError: too many users, or a prompt longer than ``max_seq_len`` (before anything runs).
        """
        prompts = prompt_token_ids(prompt_ids)
        user_ids = list(range(len(prompts))) if user_ids is None else list(user_ids)
        self._check_users(user_ids, len(prompts), "prefill_forward")
        sampling = self._check_sampling(sampling, "prefill_forward")
        vocab = self.spec.embedding.vocab_size if hasattr(self.spec.embedding, "vocab_size") else None
        for user, prompt in zip(user_ids, prompts):
            if len(prompt) > self.spec.max_seq_len:
                raise ValueError(
                    f"prefill_forward: user {user}: prompt of {len(prompt)} tokens is longer than the KV cache "
                    f"(max_seq_len={self.spec.max_seq_len})"
                )
            if vocab is not None and max(prompt) >= vocab:
                raise ValueError(
                    f"prefill_forward: user {user}: token id {max(prompt)} >= vocab_size {vocab}"
                )
        self.apply_impl_config()  # edits of model.impl_config take effect here (the design doc's override)
        results = [self._prefill_one(prompt, user, sampling, seed) for prompt, user in zip(prompts, user_ids)]
        logits = torch.stack([logits for logits, _ in results])
        tokens = torch.stack([token for _, token in results])
        self.kv_cache.filled.after_prefill(user_ids, [len(p) for p in prompts])
        return ForwardOutput(logits, tokens, [len(p) for p in prompts], user_ids)

    def _prefill_one(self, prompt: list[int], user: int, sampling: SamplingParams, seed) -> tuple:
        """(logits ``(vocab,)``, next token) of one user's prompt, padded to its length bucket."""
        length = len(prompt)
        padded = padded_prefill_len(
            length, self.kv_cache.page_table.blocks_per_user * self.kv_cache.page_table.block_size
        )
        with op_scope(self.module_path):
            tokens = token_ids_to_device(torch.tensor(prompt + [0] * (padded - length)), self.device)
        x = self.embedding.forward_prefill(tokens)
        page_table = self.kv_cache.page_table_tensor()
        for layer in self.layers:
            x = layer.forward_prefill(x, user, page_table=page_table)
        # Only the last prompt position's logits are needed: keep the tile of rows holding it (a
        # tile-aligned slice, as TTTv1's get_last_token) for the final norm and LM head, then pick the row.
        dim = x.shape[-1]
        start = (length - 1) // TILE * TILE
        end = min(start + TILE, x.shape[-2])
        if start or end < x.shape[-2]:
            with op_scope(self.module_path):
                x = ttnn.slice(x, [0, 0, start, 0], [1, 1, end, dim])
        logits_tt = self.lm_head.forward_prefill(self.final_norm.forward_prefill(x))
        with op_scope(self.module_path):
            tokens_tt = self._choose_tokens(logits_tt, sampling, seed)
        row = length - 1 - start
        return self._logits_to_torch(logits_tt)[row], tokens_to_torch(tokens_tt)[row]

    def _check_sampling(self, sampling: SamplingParams | None, where: str) -> SamplingParams:
        sampling = SamplingParams() if sampling is None else sampling
        if not isinstance(sampling, SamplingParams):
            raise TypeError(f"{where}: sampling must be a SamplingParams, got {type(sampling).__name__}")
        check_device_sampling(sampling, where)
        return sampling

    def _choose_tokens(self, logits_tt, sampling: SamplingParams, seed):
        """Device token ids of ``(1, 1, rows, vocab)`` logits: argmax, or ``ttnn.sampling``."""
        if not sampling.do_sample:
            return greedy_tokens(logits_tt)
        if logits_tt.shape[-2] != DECODE_ROWS:
            raise ValueError(f"device sampling takes {DECODE_ROWS} rows, got {logits_tt.shape[-2]}")
        return self._sampler.sample(logits_tt, sampling, seed)

    def decode_forward(
        self,
        previous: ForwardOutput | None = None,
        *,
        cache_position: int | list[int] | None = None,
        token_ids=None,
        user_ids: list[int] | None = None,
        sampling: SamplingParams | None = None,
        seed: int | None = None,
        return_logits: bool = True,
    ) -> ForwardOutput:
        """One decode step for a batch of users, each at its own position.

        The step runs 32 rows (idle rows at position -1, skipped by the cache update and SDPA), or one
        row for a single user sampled greedily (``decode_trace.decode_rows``: the device cost is the
        same tile, the emulator's is far smaller); with ``enable_trace`` it replays the row bucket's
        captured trace, whose inputs (token ids, positions, rotation indices, page table) are
        persistent device tensors written in place before the replay.

        Args:
            previous: a ``ForwardOutput``; its ``next_tokens`` are fed at its ``positions`` for its users.
            cache_position: override positions: an int for every user or one per user.
            token_ids: override the fed tokens: one token id per user (list or 1-D tensor).
            user_ids: KV-cache slots (default: ``previous.user_ids``, or 0, 1, ...).
            sampling: how ``next_tokens`` are chosen on the device (default: greedy ``ttnn.argmax``);
                sampling needs ``1 <= top_k <= 32`` and runs right after the traced step.
            seed: seed of the device sampling draws (None continues the device generator).
            return_logits: read the logits back (a host transfer of ``rows x vocab`` values); False reads
                only the token ids and returns ``logits=None``.

        Returns:
            ``ForwardOutput`` with positions advanced by one.

        Raises:
            ValueError: more than 32 users (or ``max_batch_size``), a position outside the cache.
        """
        changed = self._changed_config_paths()
        if changed:
            raise RuntimeError(
                f"decode_forward: impl_config changed since the blocks were built ({', '.join(sorted(changed)[:3])}); "
                "rebuilding would drop the KV cache, so apply it with prefill_forward or apply_impl_config() first"
            )
        if token_ids is None:
            if previous is None:
                raise ValueError("decode_forward: pass a previous ForwardOutput or token_ids=")
            token_ids = previous.next_tokens
        tokens = (
            torch.as_tensor(token_ids).flatten().tolist()
            if not isinstance(token_ids, list)
            else list(token_ids)
        )
        if len(tokens) > DECODE_ROWS:
            raise ValueError(
                f"decode_forward: {len(tokens)} users in one step; a decode step takes at most {DECODE_ROWS} "
                "(one tile of users)"
            )
        if user_ids is None:
            user_ids = list(previous.user_ids) if previous is not None else list(range(len(tokens)))
        user_ids = list(user_ids)
        self._check_users(user_ids, len(tokens), "decode_forward")
        sampling = self._check_sampling(sampling, "decode_forward")
        positions = self._decode_positions(previous, cache_position, len(tokens))
        for user, position in zip(user_ids, positions):
            if not 0 <= position < self.spec.max_seq_len:
                raise ValueError(
                    f"decode_forward: user {user}: cache position {position} is outside the KV cache "
                    f"(max_seq_len={self.spec.max_seq_len})"
                )
        vocab = getattr(self.spec.embedding, "vocab_size", None)
        if vocab is not None and any(not 0 <= t < vocab for t in tokens):
            raise ValueError(f"decode_forward: token ids {tokens} must be in [0, vocab_size={vocab})")
        self.kv_cache.filled.check_decode(user_ids, positions)
        rows = decode_rows(len(tokens), device_sampling=sampling.do_sample)
        logits_tt, greedy_tt = self._run_decode_step(tokens, positions, user_ids, rows)
        with op_scope(self.module_path):
            tokens_tt = (
                greedy_tt if not sampling.do_sample else self._sampler.sample(logits_tt, sampling, seed)
            )
        users = len(tokens)
        next_tokens = tokens_to_torch(tokens_tt)[:users]
        logits = self._logits_to_torch(logits_tt)[:users] if return_logits else None
        self.kv_cache.filled.after_decode(user_ids, positions)
        return ForwardOutput(logits, next_tokens, [p + 1 for p in positions], user_ids)

    def _run_decode_step(self, tokens: list[int], positions: list[int], user_ids: list[int], rows: int):
        """Write the step's inputs into the ``rows`` bucket's persistent tensors and run (or replay) it."""
        values = DecodeInputs.host_values(tokens, positions, self.kv_cache.page_table.rows(user_ids), rows)
        with op_scope(self.module_path):
            inputs = self._decode_inputs.get(rows)
            if inputs is None:
                inputs = self._decode_inputs[rows] = DecodeInputs.allocate(values, self.device)
            else:
                inputs.write(values)
        if self.enable_trace:
            return self._decode_traces.run(rows, self._decode_step, inputs)
        return self._decode_step(inputs)

    def _decode_step(self, inputs: DecodeInputs) -> tuple:
        """The device program of one padded decode step: ``(logits (1, 1, rows, vocab), argmax (1, 1, rows))``.

        Reads only device tensors (the persistent ``inputs``, weights, KV cache): trace-safe.
        """
        x = self.embedding.forward_decode(inputs.token_ids)
        residual = residual_decode_memory_config(self.impl_config.layers[0]) if self.layers else None
        if residual is not None and x.memory_config() != residual:
            with op_scope(self.module_path):  # the width-sharded residual stream, once per step
                x = ttnn.to_memory_config(x, residual)
        shared_rot_mats: dict[str, tuple] = {}
        for layer in self.layers:
            x = layer.forward_decode(
                x,
                inputs.current_pos,
                page_table=inputs.page_table,
                rot_mats=self._rot_mats(layer, inputs.rot_idxs, shared_rot_mats),
            )
        logits = self.lm_head.forward_decode(self.final_norm.forward_decode(x))
        with op_scope(self.module_path):
            return logits, greedy_tokens(logits)

    def _rot_mats(self, layer, rot_idxs, shared: dict):
        """cos/sin of this step for the layer's rope, looked up once per distinct rope (as TTTv1 does),
        through the persistent UINT32 rotation index (``Rope.rot_idxs``)."""
        rope = getattr(layer.attention, "rope", None)
        if rope is None:
            return None
        key = repr((rope.spec, rope.impl_config))
        if key not in shared:
            with op_scope(self.module_path):
                shared[key] = rope.decode_rot_mats(rot_idxs)
        return shared[key]

    @staticmethod
    def _decode_positions(previous, cache_position, count: int) -> list[int]:
        if cache_position is None:
            if previous is None:
                raise ValueError(
                    "decode_forward: pass cache_position= (no previous output to take positions from)"
                )
            return list(previous.positions)
        if isinstance(cache_position, int):
            return [cache_position] * count
        positions = torch.as_tensor(cache_position).flatten().tolist()
        if len(positions) != count:
            raise ValueError(f"decode_forward: {len(positions)} cache positions for {count} users")
        return [int(p) for p in positions]

    @staticmethod
    def _logits_to_torch(logits) -> torch.Tensor:
        """``(rows, vocab)`` float32 torch logits from the LM head's replicated ``(1, 1, rows, vocab)`` output
        (read through a mesh composer, so trace-safety tools see the read; the first device's copy is kept)."""
        values = ttnn.to_torch(logits, mesh_composer=ttnn.ConcatMeshToTensor(logits.device(), dim=0))
        return values[:1].to(torch.float32).reshape(logits.shape[-2], logits.shape[-1])

    def torch_reference(self):
        """Float32 torch model from the blocks' references: ``token_ids (seq,)`` -> logits ``(seq, vocab)``.

        Independent of TTNN: every block's ``torch_reference()`` (plain torch on the loaded weights),
        composed the same way; attention runs causally over the whole sequence.
        """
        embedding, final_norm, lm_head = (
            m.torch_reference() for m in (self.embedding, self.final_norm, self.lm_head)
        )
        layers = [layer.torch_reference() for layer in self.layers]

        def reference(token_ids) -> torch.Tensor:
            x = embedding(torch.as_tensor(token_ids).reshape(1, -1))
            for layer in layers:
                x = layer(x)
            return lm_head(final_norm(x))[0]

        return reference

    # --- generation and lifetime --------------------------------------------------------------------------
    def generate(self, inputs, max_new_tokens: int = 20, **kwargs):
        """HF-style generation; see ``tttv2_patterns.generation.generate`` for every argument."""
        return generate(self, inputs, max_new_tokens, **kwargs)

    def close(self) -> None:
        """Release the captured decode traces, and the device if the model opened it."""
        self._decode_traces.release()
        if self._owns_device:
            close_device(self.device)
            self._owns_device = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self) -> str:
        return f"CausalLM({len(self.layers)} layers on {device_name(self.device)}, strategy={self.impl_config.strategy!r})"


def _under(path: str, prefix: str) -> bool:
    """``layers[0].attention.qkv_proj.dtype`` is under ``layers[0].attention``."""
    return path == prefix or path.startswith((prefix + ".", prefix + "["))
