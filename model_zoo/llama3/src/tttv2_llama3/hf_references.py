"""Register the HF submodules as the references of every TTTv2 module instance (for TestSuite / debug mode).

``register_hf_references(model, hf_model)`` gives each block the HF module that computes the same
math (``self_attn``, ``mlp``, the RMSNorms, ``embed_tokens``, ``norm``, ``lm_head``; each decoder
layer its ``LlamaDecoderLayer``), following the conventions of ``tttv2_testing`` (see its README):

- ``module.register_reference(hf_submodule)``: the HF module itself is the golden.
- ``module.reference_inputs(method_name, torch_args)``: adapts the block's arguments to what the HF
  module takes. Attention and decoder layers need RoPE ``position_embeddings`` (from HF's own
  ``LlamaRotaryEmbedding``), a causal mask and the user's earlier keys/values; embeddings need int64 ids.
- ``module.reference_is_stateful = True`` on attention and decoder layers: the suite then feeds
  every call, in order, to the reference, whose K/V history lives in the hook (``ReferenceKVStore``).

Users are told apart by their page-table row (the blocks that hold their K/V on the device), so a
reference follows the device cache exactly: a prefill at position 0 restarts a user's history, a
decode step at position ``p`` keeps positions ``0..p-1`` and appends ``p``.
"""

from __future__ import annotations

from collections.abc import Hashable

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


def causal_mask(starts: list[int], seq_len: int) -> torch.Tensor:
    """Additive mask ``(users, 1, seq_len, max(start) + seq_len)``: query ``i`` of user ``b`` sees keys ``<= start_b + i``."""
    length = max(starts) + seq_len
    keys = torch.arange(length)
    rows = []
    for start in starts:
        visible = keys[None, :] <= (start + torch.arange(seq_len))[:, None]
        rows.append(torch.zeros(seq_len, length).masked_fill(~visible, NEG_INF))
    return torch.stack(rows)[:, None]


class AttentionReferenceInputs:
    """``reference_inputs`` hook of an attention block (or decoder layer) whose reference is HF's.

    Turns ``forward_prefill(x, user_id, page_table, start_pos=...)`` and
    ``forward_decode(x, current_pos, page_table=...)`` arguments into the HF call
    ``(hidden_states,), {position_embeddings, attention_mask, past_key_values}``.

    Args:
        rotary_emb: HF ``LlamaRotaryEmbedding`` (``model.model.rotary_emb``): cos/sin for positions.
        where: the module path, for errors.
    """

    def __init__(self, rotary_emb, where: str):
        self.rotary_emb = rotary_emb
        self.where = where
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
            "attention_mask": causal_mask(starts, hidden.shape[1]),
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
        users = [self._user(page_table, row) for row in range(batch)]
        return self._call(
            hidden, positions[:, None], users, positions.tolist(), f"{self.where}.forward_decode"
        )


def embedding_reference_inputs(method_name: str, torch_args: dict) -> tuple[tuple, dict]:
    """``reference_inputs`` hook of the embedding: ``(1, 1, 1, tokens)`` uint32 ids -> ``(1, tokens)`` int64."""
    return (torch_args["token_ids"].reshape(1, -1).to(torch.int64),), {}


def register_hf_references(model, hf_model) -> None:
    """Register ``hf_model``'s submodules as the references of ``model``'s modules (see the module docstring).

    Args:
        model: a ``CausalLM`` built from a Llama-family spec.
        hf_model: the HF ``LlamaForCausalLM`` of the same weights (float32, eager attention).
    """
    inner = hf_model.model
    if len(inner.layers) != len(model.layers):
        raise ValueError(
            f"register_hf_references: the HF model has {len(inner.layers)} layers, the TTTv2 model {len(model.layers)}"
        )
    model.embedding.register_reference(inner.embed_tokens)
    model.embedding.reference_inputs = embedding_reference_inputs
    for layer, hf_layer in zip(model.layers, inner.layers):
        layer.register_reference(hf_layer)
        layer.attention.register_reference(hf_layer.self_attn)
        layer.ffn.register_reference(hf_layer.mlp)
        layer.attention_norm.register_reference(hf_layer.input_layernorm)
        layer.ffn_norm.register_reference(hf_layer.post_attention_layernorm)
        for stateful in (layer, layer.attention):  # their references need each user's K/V history
            stateful.reference_inputs = AttentionReferenceInputs(inner.rotary_emb, stateful.module_path)
            stateful.reference_is_stateful = True
    model.final_norm.register_reference(inner.norm)
    model.lm_head.register_reference(hf_model.lm_head)
