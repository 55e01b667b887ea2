"""Prompts -> token ids the way the checkpoint's chat model expects them (shared by HF and TTTv2 runs)."""

from __future__ import annotations

from pathlib import Path


def load_tokenizer(checkpoint_dir: str | Path):
    """The checkpoint folder's tokenizer (``AutoTokenizer``, no remote code), or None if it has none."""
    checkpoint_dir = Path(checkpoint_dir)
    if not any((checkpoint_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        return None
    from transformers import AutoTokenizer  # noqa: PLC0415 - heavy import

    return AutoTokenizer.from_pretrained(checkpoint_dir, trust_remote_code=False)


def has_chat_template(tokenizer) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def encode_prompt(tokenizer, prompt: str, *, chat: bool = True) -> list[int]:
    """Token ids of ``prompt``, wrapped in the chat template (as a user turn) when there is one.

    Args:
        tokenizer: a transformers tokenizer.
        prompt: the user's text.
        chat: False encodes the raw text even if a chat template exists.
    """
    if tokenizer is None:
        raise ValueError(
            "this checkpoint folder has no tokenizer files (tokenizer.json / tokenizer_config.json)"
        )
    if chat and has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        # The template already holds the BOS/role tokens; do not add them twice.
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(prompt)["input_ids"])
