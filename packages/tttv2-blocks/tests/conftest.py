import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from tttv2_hwconfig import default_device_name, open_device  # noqa: E402

# Many tiny torch ops: on a small shared machine intra-op threads contend (a tiny T3K decode step
# takes 0.55 s with the default threads, 0.14 s with one).
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
