"""Shared fixtures. Each area keeps its own heavier fixtures in its own test modules."""

from __future__ import annotations

import os

import pytest

# Two cores in CI: keep torch from oversubscribing when tests run alongside each other.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An isolated workbench home: store, artifacts and runs live under tmp_path."""
    from workbench.home import resolve_home

    root = tmp_path / "home"
    monkeypatch.setenv("HRNET_WB_HOME", str(root))
    return resolve_home(root)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny inputs: one torch thread is as fast alone and much faster on a busy 2-core box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
