"""Fixtures: one torch thread, a fixed seed, fresh plugins per test, the shipped organism and its SAE."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed_and_fresh_plugins():
    from tl_reasoning.plugins import reset_plugins

    torch.manual_seed(0)
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture(scope="session")
def load_organism():
    """``load_organism(backend)``: the organism on that backend, loaded once per test session."""
    from tl_reasoning import load_model

    models: dict[str, object] = {}

    def load(backend: str = "hooked"):
        if backend not in models:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models[backend] = load_model("organism", backend=backend)
        return models[backend]

    return load


@pytest.fixture(scope="session")
def sae():
    from tl_reasoning import load_sae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_sae("organism")
