"""Prompts -> token ids the way the checkpoint's chat model expects them (shared by HF and TTTv2 runs).

transformers is imported only here and only when a folder has tokenizer files (``tttv2-patterns[hf]``).
"""

from __future__ import annotations

from pathlib import Path

from tttv2_patterns.family.errors import CheckpointError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def load_tokenizer(checkpoint_dir: str | Path):
    """The checkpoint folder's tokenizer (``AutoTokenizer``, no remote code), or None if it has none.

    Raises:
        CheckpointError: the tokenizer files exist but cannot be loaded (corrupt ``tokenizer.json``...).
        ImportError: the folder has a tokenizer but transformers is not installed (``tttv2-patterns[hf]``).
    """
    checkpoint_dir = Path(checkpoint_dir)
    present = [name for name in TOKENIZER_FILES if (checkpoint_dir / name).is_file()]
    if not present:
        return None
    from transformers import AutoTokenizer  # noqa: PLC0415 - heavy import

    try:
        return AutoTokenizer.from_pretrained(checkpoint_dir, trust_remote_code=False)
    except Exception as error:  # tokenizers/transformers raise many types (JSON, Rust panics, OSError)
        raise CheckpointError(
            f"{checkpoint_dir}: the tokenizer ({', '.join(present)}) cannot be loaded: {type(error).__name__}: {error}"
        ) from error


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


def truncate_at_eos(token_ids, eos_token_ids, *, keep_eos: bool = False) -> list[int]:
    """``token_ids`` up to the first EOS id, which is kept only with ``keep_eos``."""
    ids = [int(t) for t in token_ids]
    eos = set(int(t) for t in eos_token_ids)
    for index, token in enumerate(ids):
        if token in eos:
            return ids[: index + 1] if keep_eos else ids[:index]
    return ids
