"""Shared fixtures: tiny random Llama checkpoints written by transformers itself (the independent reference)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Tiny dims keep every test well under a second of model time; GQA (4 query, 2 kv heads) on purpose.
TINY_LLAMA = dict(
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=None,  # random weights would hit an EOS at random; generation tests want full lengths
    pad_token_id=None,
)


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run @pytest.mark.slow tests"
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: needs the real SmolLM2 conversion (~30-60 s); run with --run-slow"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: pass --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    # 2 cores shared by several engineers: torch's 2-thread spin-waits run ~3x slower than 1 thread here.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


@pytest.fixture(autouse=True)
def _private_tttv2_cache(request, tmp_path_factory, monkeypatch):
    """Fast tests write tensor caches into a temporary $TTTV2_CACHE, never into the user's cache.

    Slow tests keep the real cache: they need the converted SmolLM2 checkpoint that lives there.
    """
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("TTTV2_CACHE", str(tmp_path_factory.mktemp("tttv2_cache")))


@pytest.fixture(scope="session")
def device_name() -> str:
    """The catalog device the TTTv2 models are built on ($TTTV2_DEVICE, default N150)."""
    from tttv2_hwconfig import default_device_name

    return default_device_name()


def write_tiny_llama(folder: Path, *, max_shard_size: str | None = None, **overrides) -> Path:
    """Save a random tiny ``LlamaForCausalLM`` with transformers' own ``save_pretrained``; returns ``folder``.

    HF initialises norms to 1 and biases to 0, which would hide a norm or bias that is mapped wrongly
    or dropped: both are randomised here.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter))
            elif name.endswith(".bias"):
                parameter.copy_(0.1 * torch.randn_like(parameter))
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(folder, safe_serialization=True, **kwargs)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A single-file tiny checkpoint. Tests that modify files must copy it first (``copy_checkpoint``)."""
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="session")
def tiny_sharded_checkpoint(tmp_path_factory) -> Path:
    folder = write_tiny_llama(tmp_path_factory.mktemp("tiny_sharded") / "ckpt", max_shard_size="40KB")
    assert (folder / "model.safetensors.index.json").is_file(), "transformers did not shard the tiny model"
    return folder


# Word-level vocabulary of the tiny tokenizer; ids 0-4 are special, ids match their list position.
TINY_WORDS = ("<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>") + tuple(
    "what is the capital of france paris write a haiku about sea hello world".split()
)
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def write_tiny_tokenizer(folder: Path) -> None:
    """A word-level tokenizer with a chat template, built offline with the tokenizers library."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(TINY_WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(list(TINY_WORDS[:5]))
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    wrapped.chat_template = TINY_CHAT_TEMPLATE
    wrapped.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_chat_checkpoint(tmp_path_factory) -> Path:
    """Tiny checkpoint with a tokenizer and chat template; EOS is ``</s>`` (id 2)."""
    folder = write_tiny_llama(tmp_path_factory.mktemp("tiny_chat") / "ckpt", eos_token_id=2)
    write_tiny_tokenizer(folder)
    return folder


@pytest.fixture
def make_tiny_llama(tmp_path):
    """Factory: ``make_tiny_llama("name", max_shard_size=None, **config_overrides) -> folder``."""

    def make(name: str, **kwargs) -> Path:
        return write_tiny_llama(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def copy_checkpoint(tmp_path):
    """Copy a checkpoint folder into this test's tmp dir so it can be damaged."""
    import shutil

    def copy(folder: Path) -> Path:
        return Path(shutil.copytree(folder, tmp_path / f"copy-{folder.parent.name}"))

    return copy
