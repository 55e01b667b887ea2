"""pytest fixtures every model-zoo family's tests share: device name, seed, a private tensor cache, the slow
marker. A family's ``tests/conftest.py`` is one line: ``pytest_plugins = ("tttv2_testing.zoo_fixtures",)``.
"""

from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser):
    try:
        parser.addoption(
            "--run-slow", action="store_true", default=False, help="also run @pytest.mark.slow tests"
        )
    except ValueError:  # another family's conftest in the same run registered it already
        pass


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs a real checkpoint (minutes); run with --run-slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: pass --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    torch.set_num_threads(1)  # 2 shared cores: 2-thread spin-waits run slower than 1 thread


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


@pytest.fixture(autouse=True)
def _private_tttv2_cache(request, tmp_path_factory, monkeypatch):
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("TTTV2_CACHE", str(tmp_path_factory.mktemp("tttv2_cache")))


@pytest.fixture(scope="session")
def device_name() -> str:
    from tttv2_hwconfig import default_device_name

    return default_device_name()
