import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from tttv2_hwconfig import default_device_name, open_device  # noqa: E402

# The emulator runs many tiny torch ops; on a small shared CI machine intra-op thread pools spin and
# contend (measured: a T3K decode step of the tiny model takes 0.55 s with default threads, 0.14 s with 1).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def device_name() -> str:
    return default_device_name()


@pytest.fixture
def device(device_name):
    with open_device(device_name) as dev:
        yield dev


@pytest.fixture(scope="session")
def llama_checkpoint(tmp_path_factory):
    """(HF model, checkpoint dir): a tiny random Llama saved as safetensors (never a hub download)."""
    from _llama import save_tiny_llama  # noqa: PLC0415

    torch.manual_seed(1234)
    path = tmp_path_factory.mktemp("tiny_llama")
    return save_tiny_llama(path), path


@pytest.fixture
def llama_spec_with_checkpoint(llama_checkpoint):
    """A fresh CausalLMSpec of the tiny Llama with its checkpoint attached."""
    from _llama import llama_spec  # noqa: PLC0415

    hf_model, path = llama_checkpoint
    return llama_spec(hf_model.config).attach_checkpoint(path)
