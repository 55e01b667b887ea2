"""HF transformers modules as the references of every TTTv2 module instance (for TestSuite / debug mode).

``register_hf_references(model, hf_model)`` gives each block of a TTTv2 ``CausalLM`` the HF module at
the same place: the module path's checkpoint prefix (``model.spec.checkpoint_layout.prefix(path)``,
e.g. ``layers.3.attention`` -> ``model.layers.3.self_attn``) is the HF module's path, because HF
names its checkpoint tensors after its modules, except where HF renames checkpoint names on load
(Mixtral's ``block_sparse_moe`` is the module ``mlp`` in transformers 5): the layout's
``hf_module_names`` says so, read through ``layout.hf_module_path(path)``. So it works for any
family whose layout is right:

- ``module.register_reference(hf_submodule)``: the HF module itself is the golden.
- ``module.reference_inputs(method_name, torch_args)``: adapts the block's arguments to what the HF
  module takes. Attention and decoder layers need RoPE ``position_embeddings`` (HF's own rotary
  embedding; per layer type when it takes a ``layer_type``, as Gemma 3's does), a causal mask (with
  the layer's sliding window, read from the TTTv2 attention spec) and the user's earlier keys/values;
  embeddings need int64 ids (scaled embeddings are HF modules with the scale inside); FFN / MoE
  blocks get ``(batch, seq, hidden)`` hidden states.
- ``module.reference_is_stateful = True`` on attention and decoder layers: the suite then feeds
  every call, in order, to the reference, whose K/V history lives in the hook (``ReferenceKVStore``).

Users are told apart by their page-table row (the blocks that hold their K/V on the device), so a
reference follows the device cache exactly: a prefill at position 0 restarts a user's history, a
decode step at position ``p`` keeps positions ``0..p-1`` and appends ``p``. A decode row at position
-1 (an idle row of the padded 32-row batch) touches no history and attends one zero key/value, so
its output is the output projection of zeros, as on the device.

Family hooks: ``rotary_for_layer(hf_model, index) -> callable(hidden, positions) -> (cos, sin)`` and
``sliding_window_for_layer(model, index) -> int | None`` replace the defaults when a family's HF
model keeps them elsewhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable

import torch

NEG_INF = float("-inf")


class ReferenceKVStore:
    """Per-user float32 K/V history of one HF attention, keyed by the user's page-table row."""

    def __init__(self):
        self.keys: dict[Hashable, torch.Tensor] = {}  # (1, kv_heads, length, head_dim)
        self.values: dict[Hashable, torch.Tensor] = {}

    def history(
        self, user: Hashable, start: int, where: str
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The user's K/V for positions ``0..start-1`` (None when ``start`` is 0)."""
        if start == 0:
            return None, None
        have = self.keys[user].shape[2] if user in self.keys else 0
        if have < start:
            raise ValueError(
                f"{where}: the HF reference has {have} cached positions for this user but the call starts at "
                f"position {start}; it must see the user's prefill (the module is reference_is_stateful)"
            )
        return self.keys[user][:, :, :start], self.values[user][:, :, :start]


class BatchCache:
    """The ``past_key_values`` an HF attention sees for one call: ``update`` appends each user's new K/V.

    Only ``update(key, value, layer_idx)`` is used by HF ``LlamaAttention``; it returns every user's
    full K/V, zero-padded to the longest (the padding is masked by the call's ``attention_mask``).
    """

    def __init__(self, store: ReferenceKVStore, users: list[Hashable], starts: list[int], where: str):
        self.store, self.users, self.starts, self.where = store, users, starts, where

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx=None, *args, **kwargs):
        keys, values = [], []
        for row, (user, start) in enumerate(zip(self.users, self.starts)):
            if user is None:  # an idle row of a padded decode batch: one zero key/value, stored nowhere
                keys.append(torch.zeros_like(key[row : row + 1]))
                values.append(torch.zeros_like(value[row : row + 1]))
                continue
            old_k, old_v = self.store.history(user, start, self.where)
            new_k, new_v = key[row : row + 1], value[row : row + 1]
            if old_k is not None:
                new_k, new_v = torch.cat([old_k, new_k], dim=2), torch.cat([old_v, new_v], dim=2)
            self.store.keys[user], self.store.values[user] = new_k, new_v
            keys.append(new_k)
            values.append(new_v)
        length = max(k.shape[2] for k in keys)

        def pad(t):
            return torch.nn.functional.pad(t, (0, 0, 0, length - t.shape[2]))

        return torch.cat([pad(k) for k in keys]), torch.cat([pad(v) for v in values])


def causal_mask(starts: list[int], seq_len: int, sliding_window: int | None = None) -> torch.Tensor:
    """Additive mask ``(users, 1, seq_len, max(start) + seq_len)``: query ``i`` of user ``b`` at position
    ``q = start_b + i`` sees keys ``k <= q``, and with a window only ``k > q - sliding_window`` (HF's
    ``sliding_window_overlay``: the window counts the query's own position)."""
    length = max(starts) + seq_len
    keys = torch.arange(length)
    rows = []
    for start in starts:
        queries = (start + torch.arange(seq_len))[:, None]
        visible = keys[None, :] <= queries
        if sliding_window is not None:
            visible &= keys[None, :] > queries - sliding_window
        rows.append(torch.zeros(seq_len, length).masked_fill(~visible, NEG_INF))
    return torch.stack(rows)[:, None]


class AttentionReferenceInputs:
    """``reference_inputs`` hook of an attention block (or decoder layer) whose reference is HF's.

    Turns ``forward_prefill(x, user_id, page_table, start_pos=...)`` and
    ``forward_decode(x, current_pos, page_table=...)`` arguments into the HF call
    ``(hidden_states,), {position_embeddings, attention_mask, past_key_values}``.

    Args:
        rotary_emb: ``(hidden, positions) -> (cos, sin)``, e.g. HF ``model.model.rotary_emb``.
        where: the module path, for errors.
        sliding_window: the layer's attention window (None: global attention).
    """

    def __init__(self, rotary_emb, where: str, sliding_window: int | None = None):
        self.rotary_emb = rotary_emb
        self.where = where
        self.sliding_window = sliding_window
        self.store = ReferenceKVStore()

    def __call__(self, method_name: str, torch_args: dict) -> tuple[tuple, dict]:
        if method_name == "forward_prefill":
            return self._prefill(**torch_args)
        if method_name == "forward_decode":
            return self._decode(**torch_args)
        raise ValueError(f"{self.where}: no HF reference call for method {method_name!r}")

    @staticmethod
    def _user(page_table, row: int) -> Hashable:
        if page_table is None:
            return ("user", int(row))
        return tuple(int(b) for b in torch.as_tensor(page_table).reshape(-1, page_table.shape[-1])[row])

    def _call(self, hidden: torch.Tensor, positions: torch.Tensor, users, starts, where: str):
        cos, sin = self.rotary_emb(hidden, positions)
        kwargs = {
            "position_embeddings": (cos, sin),
            "attention_mask": causal_mask(starts, hidden.shape[1], self.sliding_window),
            "past_key_values": BatchCache(self.store, users, starts, where),
        }
        return (hidden,), kwargs

    def _prefill(self, x, user_id=0, page_table=None, start_pos=0, rot_mats=None, kv_cache=None):
        # rot_mats / kv_cache only say where the device takes its tables and cache from; the math is the same.
        hidden = x.to(torch.float32).reshape(1, -1, x.shape[-1])
        start = int(start_pos)
        positions = torch.arange(start, start + hidden.shape[1])[None]
        return self._call(
            hidden, positions, [self._user(page_table, user_id)], [start], f"{self.where}.forward_prefill"
        )

    def _decode(self, x, current_pos, rot_mats=None, page_table=None, kv_cache=None):
        batch = x.shape[-2]
        hidden = x.to(torch.float32).reshape(batch, 1, x.shape[-1])  # one token per user
        positions = torch.as_tensor(current_pos).reshape(-1)[:batch].to(torch.int64)
        # Position -1 is an idle row of a padded decode batch: the device skips it (no cache write,
        # nothing attended: the output projection of zeros). HF gets one zero key/value for it.
        idle = positions < 0
        users = [None if idle[row] else self._user(page_table, row) for row in range(batch)]
        positions = positions.masked_fill(idle, 0)
        return self._call(
            hidden, positions[:, None], users, positions.tolist(), f"{self.where}.forward_decode"
        )


def embedding_reference_inputs(method_name: str, torch_args: dict) -> tuple[tuple, dict]:
    """``reference_inputs`` hook of the embedding: ``(1, 1, 1, tokens)`` uint32 ids -> ``(1, tokens)`` int64."""
    return (torch_args["token_ids"].reshape(1, -1).to(torch.int64),), {}


def hidden_states_reference_inputs(method_name: str, torch_args: dict) -> tuple[tuple, dict]:
    """``reference_inputs`` hook of an FFN / MoE block: ``(1, 1, tokens, hidden)`` -> ``(1, tokens, hidden)``,
    the ``(batch, seq, hidden)`` HF modules take (an HF MoE block unpacks exactly three dims)."""
    x = torch_args["x"]
    return (x.reshape(1, -1, x.shape[-1]),), {}


def default_rotary_for_layer(hf_model, index: int) -> Callable:
    """HF's rotary embedding for layer ``index``: ``model.model.rotary_emb``, given the layer's type
    when its ``forward`` takes a ``layer_type`` (Gemma 3: one theta per layer type)."""
    rotary = hf_model.model.rotary_emb
    if "layer_type" not in inspect.signature(rotary.forward).parameters:
        return rotary
    types = getattr(hf_model.config, "layer_types", None) or []
    layer_type = types[index] if index < len(types) else "full_attention"
    return lambda hidden, positions: rotary(hidden, positions, layer_type)


def default_sliding_window_for_layer(model, index: int) -> int | None:
    """The window of the TTTv2 layer's attention spec (None: global)."""
    return getattr(model.layers[index].attention.spec, "sliding_window", None)


def register_hf_references(
    model,
    hf_model,
    *,
    rotary_for_layer: Callable = default_rotary_for_layer,
    sliding_window_for_layer: Callable = default_sliding_window_for_layer,
) -> None:
    """Register ``hf_model``'s submodules as the references of ``model``'s modules (see the module docstring).

    Args:
        model: a TTTv2 ``CausalLM`` (its ``spec.checkpoint_layout`` names the HF module of each module).
        hf_model: the HF ``*ForCausalLM`` of the same weights (float32, eager attention).
        rotary_for_layer / sliding_window_for_layer: family hooks (defaults above).
    """
    layout = model.spec.checkpoint_layout
    hf_layers = hf_model.model.layers
    if len(hf_layers) != len(model.layers):
        raise ValueError(
            f"register_hf_references: the HF model has {len(hf_layers)} layers, the TTTv2 model {len(model.layers)}"
        )
    model.embedding.register_reference(_hf_module(hf_model, layout, "embedding"))
    model.embedding.reference_inputs = embedding_reference_inputs
    for index, layer in enumerate(model.layers):
        layer.register_reference(hf_model.get_submodule(layout.layer.format(index=index)))
        for name in layer.spec.submodules():  # attention, ffn and the norms present in this layer
            getattr(layer, name).register_reference(_hf_module(hf_model, layout, f"layers.{index}.{name}"))
        layer.ffn.reference_inputs = hidden_states_reference_inputs
        rotary = rotary_for_layer(hf_model, index)
        window = sliding_window_for_layer(model, index)
        for stateful in (layer, layer.attention):  # their references need each user's K/V history
            stateful.reference_inputs = AttentionReferenceInputs(rotary, stateful.module_path, window)
            stateful.reference_is_stateful = True
    model.final_norm.register_reference(_hf_module(hf_model, layout, "final_norm"))
    model.lm_head.register_reference(_hf_module(hf_model, layout, "lm_head"))


def hf_module_path(layout, module_path: str) -> str:
    """Where the HF model keeps the module of ``module_path``: the layout's ``hf_module_path`` (a
    checkpoint prefix renamed by its ``hf_module_names``), or the checkpoint prefix for a layout
    without one (tttv2-patterns before ``hf_module_names``)."""
    resolve = getattr(layout, "hf_module_path", None)
    return resolve(module_path) if resolve is not None else layout.prefix(module_path)


def _hf_module(hf_model, layout, module_path: str) -> torch.nn.Module:
    path = hf_module_path(layout, module_path)
    try:
        return hf_model.get_submodule(path)
    except AttributeError as error:
        raise ValueError(
            f"register_hf_references: {module_path} has no HF module at {path!r} ({error}); when HF names "
            f"the module differently from its checkpoint prefix {layout.prefix(module_path)!r}, the "
            "family's CheckpointLayout.hf_module_names must say so (e.g. Mixtral's ('ffn', 'mlp'))"
        ) from None
