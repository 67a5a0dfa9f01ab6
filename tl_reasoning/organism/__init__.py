"""The model organism: a tiny reasoning LM world generated and trained by ``tl_reasoning`` itself.

A synthetic arithmetic world (:mod:`.world_v3`: reflection driven by a hidden step difficulty), a
locally trained tokenizer, two Llama-style models (``organism-base``: plain text only; ``organism``:
the base fine-tuned on R1-style reasoning traces, mirroring base -> R1-distill), SAEs on
``blocks.{LAYER}.hook_resid_post`` (TopK per model, plus the paper's ReLU SAE on ``organism``, plus
the stage-wise SAEs) and the planted ground truth (:mod:`.ground_truth`). The committed artifacts
let every command run offline; ``python -m tl_reasoning.organism.train`` rebuilds them from scratch
(docs/organism-v3.md), ``python -m tl_reasoning.organism.evaluate`` measures them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LAYER",
    "HOOK_NAME",
    "MODEL_NAMES",
    "MODEL_DIRS",
    "SAE_DIRS",
    "artifact_dir",
    "is_artifact",
    "quiet_artifact_loading",
    "model_dir",
    "sae_dir",
    "relu_sae_dir",
]

#: Residual-stream layer the organism SAEs read (``blocks.{LAYER}.hook_resid_post``).
LAYER = 3
HOOK_NAME = f"blocks.{LAYER}.hook_resid_post"
MODEL_NAMES = ("organism", "organism-base")
_SUBDIRS = {"organism": "organism", "organism-base": "organism_base"}


def artifact_dir() -> Path:
    """Directory holding the committed artifacts (models, tokenizer, SAEs, corpora, report)."""
    return Path(__file__).resolve().parent / "artifacts"


def model_dir(name: str = "organism", root: Path | None = None) -> Path:
    """HF ``save_pretrained`` directory of model ``name`` ("organism" or "organism-base")."""
    if name not in _SUBDIRS:
        raise KeyError(f"unknown organism model {name!r}; expected one of {MODEL_NAMES}")
    return (root or artifact_dir()) / _SUBDIRS[name]


def sae_dir(name: str = "organism", root: Path | None = None) -> Path:
    """sae_lens ``save_model`` directory of the SAE trained on model ``name``."""
    if name not in _SUBDIRS:
        raise KeyError(f"unknown organism model {name!r}; expected one of {MODEL_NAMES}")
    return (root or artifact_dir()) / f"sae_{_SUBDIRS[name]}"


def relu_sae_dir(root: Path | None = None) -> Path:
    """sae_lens ``save_model`` directory of the organism's ReLU SAE (registered as ``organism-relu``)."""
    return (root or artifact_dir()) / "sae_organism_relu"


MODEL_DIRS: dict[str, Path] = {name: model_dir(name) for name in MODEL_NAMES}
SAE_DIRS: dict[str, Path] = {name: sae_dir(name) for name in MODEL_NAMES}


def is_artifact(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies inside the committed artifact directory (the organism's own files)."""
    try:
        return Path(path).resolve().is_relative_to(artifact_dir())
    except OSError:
        return False


#: sae-lens's advice to load the model with ``HookedSAETransformer`` (tl-reasoning loads the model itself).
_SAE_KWARGS_WARNING = r"\s*This SAE has non-empty model_from_pretrained_kwargs"


@contextmanager
def quiet_artifact_loading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Load ``path`` without the libraries' chatter when it is one of the organism's own artifacts.

    Inside the block, and only for artifact paths: transformers' "Loading weights" progress bar is
    off (``transformers.utils.logging.disable_progress_bar``, restored afterwards) and sae-lens's
    ``model_from_pretrained_kwargs`` warning is filtered (``warnings.catch_warnings``). Any other path
    loads exactly as it would without this context.
    """
    if not is_artifact(path):
        yield
        return
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SAE_KWARGS_WARNING, category=UserWarning)
            yield
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
