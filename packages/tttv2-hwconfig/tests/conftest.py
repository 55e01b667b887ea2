import pytest
import torch
from tttv2_hwconfig import default_device_name, open_device


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
