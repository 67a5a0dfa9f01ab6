"""Build a TransformerLens ``HookedTransformer`` from a local Hugging Face checkpoint directory.

``HookedTransformer.from_pretrained`` only accepts official model names, so a local directory
(the model organism, a fine-tune, an offline copy) goes through TransformerLens's config and
state-dict converters directly. Weights are loaded unprocessed (no LayerNorm folding, no
centering) so activations equal the Hugging Face model's.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["hooked_from_hf_dir"]

# TransformerLens picks a name-based config branch (and ignores config.json) when the path
# contains one of these words; such directories are reached through a neutral symlink.
_NAME_BRANCH = re.compile(r"llama|gemma|mistral|qwen|phi|pythia|gpt", re.IGNORECASE)


def hooked_from_hf_dir(
    model_dir: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    hf_model: Any | None = None,
    tokenizer: Any | None = None,
) -> Any:
    """Load ``model_dir`` (config.json, weights, tokenizer) as a ``HookedTransformer``.

    Logits match ``AutoModelForCausalLM`` on the same directory to float precision.
    """
    import transformer_lens.loading_from_pretrained as loading
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir).resolve()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no config.json; expected a Hugging Face save_pretrained directory")
    with _neutral_path(model_dir) as path:
        cfg = loading.get_pretrained_model_config(str(path), fold_ln=False, device=device, dtype=dtype)
        if hf_model is None:
            hf_model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        tok = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(str(model_dir))
        state = loading.get_pretrained_state_dict(str(path), cfg, hf_model=hf_model, dtype=dtype)
    model = HookedTransformer(cfg, tokenizer=tok, move_to_device=False)
    model.load_and_process_state_dict(
        state, fold_ln=False, center_writing_weights=False, center_unembed=False, fold_value_biases=False
    )
    if device is not None:
        model.to(device)
    return model.eval()


class _neutral_path:
    """Context manager yielding a path to ``target`` without architecture names in it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if not _NAME_BRANCH.search(str(self.target)):
            return self.target
        self._tmp = tempfile.TemporaryDirectory(prefix="tlr_")
        link = Path(self._tmp.name) / "model"
        link.symlink_to(self.target, target_is_directory=True)
        if _NAME_BRANCH.search(str(link)):
            raise RuntimeError(f"temporary directory {link} contains an architecture name; set TMPDIR elsewhere")
        return link

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
