"""Fixtures: the shipped organism (loaded once per backend), its SAE, and fresh tl-reasoning plugins per test."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _fresh_plugins():
    from tl_reasoning.plugins import reset_plugins

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


@pytest.fixture
def hooked(load_organism):
    model = load_organism("hooked")
    yield model
    from tl_reasoning import backend_for

    for handle in backend_for(model).edits:  # a failing test must not leak edits into the next one
        handle.remove()


@pytest.fixture(scope="session")
def sae():
    from tl_reasoning import load_sae

    return load_sae("organism")


@pytest.fixture(scope="session")
def reasoning_items():
    """Organism reasoning traces cut after ``</think>``: the model should answer within a few tokens."""
    from itertools import islice

    from tl_reasoning import load_corpus

    items = []
    for doc in islice(load_corpus("organism:reasoning"), 3):
        cut = doc["text"].index("</think>") + len("</think>\n")
        items.append({"prompt": doc["text"][:cut], "answer": doc["answer"], "question": doc["question"]})
    return items
