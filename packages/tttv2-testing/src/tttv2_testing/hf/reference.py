"""The HF transformers reference on a checkpoint folder: float32, eager attention, CPU.

    reference = HFReference(checkpoint_dir)                                # any AutoModelForCausalLM folder
    prompt_ids = reference.encode("What is the capital of France?")        # chat template applied
    new_ids = reference.greedy_generate([prompt_ids], max_new_tokens=32)   # (1, <=32)
    top1 = reference.teacher_forced_topk(full_ids, k=1)                    # (batch, seq, 1)
    reference.layer_submodules(0)["self_attn"]                             # for TestSuite references

float32 + eager attention is the most exact configuration transformers offers on a CPU, which is what
a reference should be; the weights are whatever the checkpoint stores (bfloat16 for SmolLM2), upcast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class HFReference:
    """``transformers`` ``AutoModelForCausalLM`` loaded from a safetensors checkpoint folder (no remote code).

    Check the folder first (``tttv2_patterns.family.ModelFactory.hf_reference`` does): this class
    leaves every error to transformers.

    Args:
        checkpoint_dir: the HF folder (config.json, safetensors, tokenizer files).
        dtype: the weights' dtype in the reference (float32: the most exact a CPU offers).
        tokenizer: a tokenizer to use; default the folder's (``AutoTokenizer``), None without files.
        eos_token_ids: ids that end a generation; default the config's ``eos_token_id``.

    Attributes:
        model: the HF model (``model.model.layers[i].self_attn`` etc. are the per-layer references).
        tokenizer: the checkpoint's tokenizer, or None if the folder has none.
        eos_token_ids: ids that end a generation.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path,
        *,
        dtype: torch.dtype = torch.float32,
        tokenizer=None,
        eos_token_ids: Sequence[int] | None = None,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 - heavy import

        checkpoint_dir = Path(checkpoint_dir)
        self.model = AutoModelForCausalLM.from_pretrained(
            checkpoint_dir,
            dtype=dtype,
            attn_implementation="eager",
            use_safetensors=True,
            trust_remote_code=False,
        ).eval()
        if tokenizer is None and any((checkpoint_dir / name).is_file() for name in TOKENIZER_FILES):
            tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, trust_remote_code=False)
        self.tokenizer = tokenizer
        if eos_token_ids is None:
            eos = getattr(self.model.config, "eos_token_id", None)
            eos_token_ids = () if eos is None else (eos if isinstance(eos, list | tuple) else [eos])
        self.eos_token_ids = tuple(int(t) for t in eos_token_ids)

    @property
    def has_chat_template(self) -> bool:
        return self.tokenizer is not None and bool(getattr(self.tokenizer, "chat_template", None))

    def encode(self, prompt: str, *, chat: bool = True) -> list[int]:
        """Token ids of ``prompt``, wrapped in the chat template (as a user turn) when there is one.

        Args:
            prompt: the user's text.
            chat: False encodes the raw text even if a chat template exists.
        """
        tokenizer = self._require_tokenizer()
        if chat and self.has_chat_template:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])  # the template holds BOS
        return list(tokenizer(prompt)["input_ids"])

    def decode(self, token_ids: Sequence[int] | torch.Tensor, *, stop_at_eos: bool = True) -> str:
        """Text of ``token_ids``; with ``stop_at_eos`` everything from the first EOS on is dropped."""
        ids = [int(t) for t in token_ids]
        if stop_at_eos:
            ids = truncate_at_eos(ids, self.eos_token_ids)
        return self._require_tokenizer().decode(ids, skip_special_tokens=True)

    @torch.inference_mode()
    def logits(self, token_ids: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
        """Next-token logits at every position, ``(batch, seq, vocab)`` float32."""
        return self.model(input_ids=_as_batch(token_ids), use_cache=False).logits.float()

    @torch.inference_mode()
    def teacher_forced_topk(
        self, token_ids: torch.Tensor | Sequence[Sequence[int]], k: int = 1
    ) -> torch.Tensor:
        """Top-``k`` next-token ids at every position of a given sequence, ``(batch, seq, k)``.

        Position ``t`` holds HF's prediction for token ``t + 1`` having seen tokens ``0..t``; compare
        it with another model's prediction on the same input to get teacher-forced top-1/top-k agreement.
        """
        return self.logits(token_ids).topk(k, dim=-1).indices

    @torch.inference_mode()
    def greedy_generate(
        self,
        prompt_ids: torch.Tensor | Sequence[Sequence[int]],
        max_new_tokens: int,
        *,
        stop_at_eos: bool = True,
    ) -> torch.Tensor:
        """Greedy (argmax) continuation with HF's KV cache: one prefill, then one decode step per token.

        Args:
            prompt_ids: ``(batch, seq)`` ids; every row the same length (no padding, so no mask effects).
            max_new_tokens: tokens to produce per row.
            stop_at_eos: stop early once every row has produced an EOS (rows are not truncated; see
                ``truncate_at_eos``). False always produces ``max_new_tokens``.

        Returns:
            ``(batch, new_tokens)`` int64 ids, ``new_tokens <= max_new_tokens``.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        ids = _as_batch(prompt_ids)
        eos = torch.tensor(self.eos_token_ids, dtype=torch.long)
        output = self.model(input_ids=ids, use_cache=True)
        next_token = output.logits[:, -1].argmax(-1)
        generated = [next_token]
        finished = torch.isin(next_token, eos)
        while len(generated) < max_new_tokens and not (stop_at_eos and bool(finished.all())):
            output = self.model(
                input_ids=next_token[:, None], past_key_values=output.past_key_values, use_cache=True
            )
            next_token = output.logits[:, -1].argmax(-1)
            generated.append(next_token)
            finished |= torch.isin(next_token, eos)
        return torch.stack(generated, dim=1)

    def layer_submodules(self, index: int) -> dict[str, torch.nn.Module]:
        """HF submodules of decoder layer ``index`` by their HF names (``self_attn``, ``mlp``, norms...)."""
        layers = self.model.model.layers
        if not 0 <= index < len(layers):
            raise IndexError(f"layer index {index} out of range: the model has {len(layers)} layers")
        return dict(layers[index].named_children())

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError(
                "this checkpoint folder has no tokenizer files (tokenizer.json / tokenizer_config.json)"
            )
        return self.tokenizer


def truncate_at_eos(
    token_ids: Sequence[int], eos_token_ids: Sequence[int], *, keep_eos: bool = False
) -> list[int]:
    """``token_ids`` up to the first EOS id, which is kept only with ``keep_eos``."""
    ids = [int(t) for t in token_ids]
    for position, token in enumerate(ids):
        if token in eos_token_ids:
            return ids[: position + 1] if keep_eos else ids[:position]
    return ids


def _as_batch(token_ids) -> torch.Tensor:
    if isinstance(token_ids, torch.Tensor):
        ids = token_ids
    else:
        lengths = sorted({len(row) for row in token_ids})
        if len(lengths) > 1:
            raise ValueError(
                f"every row of token ids must have the same length (no padding), got lengths {lengths}"
            )
        ids = torch.tensor([list(row) for row in token_ids], dtype=torch.long)
    if ids.dim() != 2:
        raise ValueError(f"token ids must be (batch, seq), got shape {tuple(ids.shape)}")
    return ids.long()
