"""Shared fixtures: small real SUMO runs, outputs in tmp_path."""

from __future__ import annotations

import os

import pytest

SHORT = {"end_time": 300}
"""Episode length for fast tests: 5 simulated minutes."""


@pytest.fixture(autouse=True)
def _no_sumo_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs without SUMO_HOME: the package must find SUMO itself."""
    monkeypatch.delenv("SUMO_HOME", raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip gpu-marked tests when CUDA is absent."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


os.environ.setdefault("PYTHONHASHSEED", "0")
