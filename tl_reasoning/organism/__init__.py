"""The model organism: a tiny reasoning LM world generated and trained by ``tl_reasoning`` itself.

A synthetic arithmetic world (:mod:`.world`), a locally trained tokenizer, two Llama-style models
(``organism-base``: plain text only; ``organism``: the base fine-tuned on R1-style reasoning
traces, mirroring base -> R1-distill) and one SAE per model on ``blocks.{LAYER}.hook_resid_post``.
The committed artifacts let every command run offline; ``python -m tl_reasoning.organism.train``
rebuilds them from scratch, ``python -m tl_reasoning.organism.evaluate`` measures them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "LAYER",
    "HOOK_NAME",
    "MODEL_NAMES",
    "MODEL_DIRS",
    "SAE_DIRS",
    "artifact_dir",
    "model_dir",
    "sae_dir",
]

#: Residual-stream layer the organism SAEs read (``blocks.{LAYER}.hook_resid_post``).
LAYER = 2
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


MODEL_DIRS: dict[str, Path] = {name: model_dir(name) for name in MODEL_NAMES}
SAE_DIRS: dict[str, Path] = {name: sae_dir(name) for name in MODEL_NAMES}
