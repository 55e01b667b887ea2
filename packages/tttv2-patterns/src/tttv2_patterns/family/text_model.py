"""The model ``tttv2_patterns.family.ModelFactory.from_huggingface`` returns: a ``CausalLM`` that also speaks text.

Everything of ``tttv2_patterns.CausalLM`` (``prefill_forward``, ``decode_forward``, ``generate``,
``layers[i].attention``, ``impl_config``...) plus:

- prompts as text: ``model("What is 12 times 7?")`` / ``model.generate(["Hi", "Bye"], 32)`` apply the
  checkpoint's chat template; token ids work as before;
- generation stops at the checkpoint's EOS ids unless told otherwise (as HF ``generate`` does);
- lazy weights: with ``lazy=True`` the modules are built at once and the weights are converted (or
  read from the tensor cache) at the first forward, or by ``model.load_weights()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tttv2_patterns.causal_lm import CausalLM
from tttv2_patterns.family.tokenization import encode_prompt
from tttv2_patterns.specs import CausalLMSpec


class TextCausalLM(CausalLM):
    """A ``CausalLM`` with its tokenizer and checkpoint facts.

    Args:
        model_spec: the ``CausalLMSpec`` (with the checkpoint attached).
        impl_config: ``CausalLM.ImplConfig`` (default: derived for ``device``).
        device: catalog name or opened mesh device.
        tensor_cache: directory of converted weights (or None).
        progress: tqdm bar while converting/loading weights.
        tokenizer: the checkpoint's transformers tokenizer, or None.
        eos_token_ids: ids that end a generation (from config.json).
        lazy: defer loading the weights to the first forward.

    Attributes:
        tokenizer, eos_token_ids: as given.
        checkpoint_dir: the checkpoint folder (set by ``ModelFactory``).
        hf_reference: the ``tttv2_testing.hf.HFReference`` whose submodules are the references, if any.
        register_references: ``(model) -> None`` that (re)registers them; called again for blocks
            that ``apply_impl_config`` rebuilds.
    """

    def __init__(
        self,
        model_spec: CausalLMSpec,
        impl_config=None,
        device="N150",
        *,
        tensor_cache=None,
        progress: bool = True,
        tokenizer=None,
        eos_token_ids: Sequence[int] = (),
        lazy: bool = False,
    ):
        self._pending_checkpoint = None  # CausalLM.__init__ calls load_weights, which reads it
        pending = None
        if lazy and isinstance(model_spec, CausalLMSpec) and model_spec.checkpoint is not None:
            pending, model_spec = model_spec.checkpoint, model_spec.replace(checkpoint=None)
        super().__init__(model_spec, impl_config, device, tensor_cache=tensor_cache, progress=progress)
        self._pending_checkpoint = pending
        self.tokenizer = tokenizer
        self.eos_token_ids = tuple(int(t) for t in eos_token_ids)
        self.checkpoint_dir = None
        self.hf_reference = None
        self.register_references = None

    # --- weights ------------------------------------------------------------------------------------
    @property
    def weights_loaded(self) -> bool:
        """False until a lazy model's weights are loaded."""
        return self._pending_checkpoint is None

    def load_weights(self, checkpoint=None) -> None:
        """Load (convert, or restore from the tensor cache) the weights; default: the pending or attached checkpoint."""
        checkpoint = checkpoint if checkpoint is not None else self._pending_checkpoint
        super().load_weights(checkpoint)
        if checkpoint is not None and checkpoint is self._pending_checkpoint:
            self.spec.checkpoint = checkpoint
            self._pending_checkpoint = None

    def apply_impl_config(self) -> list[str]:
        """``CausalLM.apply_impl_config``; rebuilt blocks get their HF references registered again."""
        rebuilt = super().apply_impl_config()
        if rebuilt and self.register_references is not None:
            self.register_references(self)
        return rebuilt

    def _ensure_weights(self) -> None:
        if self._pending_checkpoint is not None:
            self.load_weights()

    # --- inputs -------------------------------------------------------------------------------------
    def encode(self, inputs):
        """Token ids per user: text (one prompt or a list) through the chat template; ids unchanged."""
        if isinstance(inputs, str):
            return [encode_prompt(self._require_tokenizer(), inputs)]
        if isinstance(inputs, Sequence) and inputs and all(isinstance(p, str) for p in inputs):
            tokenizer = self._require_tokenizer()
            return [encode_prompt(tokenizer, prompt) for prompt in inputs]
        return inputs

    def decode(self, token_ids) -> str:
        """Text of generated ids (special tokens dropped)."""
        return self._require_tokenizer().decode([int(t) for t in token_ids], skip_special_tokens=True)

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError(
                "text prompts need the checkpoint's tokenizer, but its folder has none "
                "(tokenizer.json / tokenizer_config.json); pass token ids instead"
            )
        return self.tokenizer

    # --- forward ------------------------------------------------------------------------------------
    def prefill_forward(self, prompt_ids, *, user_ids=None, **kwargs):
        self._ensure_weights()
        return super().prefill_forward(self.encode(prompt_ids), user_ids=user_ids, **kwargs)

    def decode_forward(self, previous=None, **kwargs):
        self._ensure_weights()
        return super().decode_forward(previous, **kwargs)

    def __call__(self, inputs):
        """A simple forward: prefill every prompt (text or ids); returns the ``ForwardOutput`` (last logits)."""
        return self.prefill_forward(inputs)

    def generate(self, inputs, max_new_tokens: int = 20, **kwargs):
        """``tttv2_patterns.generate`` with text prompts (chat template), stopping at EOS by default.

        Pass ``stop_token_ids=()`` to always produce ``max_new_tokens`` tokens. The returned
        ``GenerateOutput`` has ``text`` when the checkpoint has a tokenizer.
        """
        if "stop_token_ids" not in kwargs and "eos_token_id" not in kwargs and self.eos_token_ids:
            kwargs["stop_token_ids"] = list(self.eos_token_ids)
        if self.tokenizer is not None:
            kwargs.setdefault("tokenizer", self.tokenizer)
        return super().generate(self.encode(inputs), max_new_tokens, **kwargs)
