"""Training and measuring the organism SAEs with sae-lens.

One TopK SAE per model on ``blocks.{L}.hook_resid_post``, trained by sae-lens's
``LanguageModelSAETrainingRunner`` on the TransformerLens twin of the HF model (built by
:func:`tl_reasoning.loading.hooked.hooked_from_hf_dir`). Training rows pack whole documents
(each starting with ``<s>``) into fixed-length rows padded with ``<pad>``; ``<s>`` and ``<pad>``
positions are excluded from training and from the metrics (mean L0, explained variance, dead
fraction), which are computed here on held-out text through the HF model.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["pack_documents", "train_sae", "resid_activations", "sae_metrics"]


def pack_documents(texts: Sequence[str], tokenizer: Any, context_size: int) -> list[list[int]]:
    """Greedily pack ``<s> doc </s>`` sequences into rows of exactly ``context_size`` tokens."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    rows: list[list[int]] = []
    cur: list[int] = []
    for ids in tokenizer(list(texts))["input_ids"]:
        ids = (ids + [eos])[:context_size]
        if len(cur) + len(ids) > context_size:
            rows.append(cur + [pad] * (context_size - len(cur)))
            cur = []
        cur = cur + ids
    if cur:
        rows.append(cur + [pad] * (context_size - len(cur)))
    return rows


def train_sae(
    model_dir: str | os.PathLike[str],
    texts: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    model_name: str,
    layer: int,
    d_sae: int,
    k: int,
    training_tokens: int,
    context_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    init_from: str | os.PathLike[str] | None = None,
) -> Any:
    """Train a TopK SAE on ``blocks.{layer}.hook_resid_post`` of ``model_dir``; save to ``out_dir``.

    ``init_from``: a saved SAE directory to fine-tune instead of training from scratch (its
    architecture and width are kept; sae-lens's ``from_pretrained_path``).
    """
    from datasets import Dataset
    from sae_lens import (
        LanguageModelSAERunnerConfig,
        LanguageModelSAETrainingRunner,
        LoggingConfig,
        TopKTrainingSAEConfig,
    )

    from tl_reasoning.loading.hooked import hooked_from_hf_dir

    torch.manual_seed(seed)
    model = hooked_from_hf_dir(model_dir)
    tok = model.tokenizer
    # sae-lens reads a non-streaming dataset in order: shuffle so every batch mixes corpora.
    shuffled = list(texts)
    random.Random(f"sae-{seed}").shuffle(shuffled)
    rows = pack_documents(shuffled, tok, context_size)
    ds = Dataset.from_dict({"tokens": rows})
    hook = f"blocks.{layer}.hook_resid_post"
    batch = 1024  # small batches: more optimiser steps per LM forward, fewer dead latents
    steps = max(training_tokens // batch, 1)
    with tempfile.TemporaryDirectory(prefix="organism_sae_") as tmp:
        cfg = LanguageModelSAERunnerConfig(
            sae=TopKTrainingSAEConfig(d_in=model.cfg.d_model, d_sae=d_sae, k=k),
            model_name=model_name,
            hook_name=hook,
            dataset_path="",
            is_dataset_tokenized=True,
            streaming=False,
            context_size=context_size,
            training_tokens=training_tokens,
            train_batch_size_tokens=batch,
            store_batch_size_prompts=16,
            n_batches_in_buffer=max(32, 4 * batch // context_size),
            device="cpu",
            dtype="float32",
            lr=lr,
            lr_warm_up_steps=max(steps // 20, 1),
            lr_decay_steps=max(steps // 5, 1),
            dead_feature_window=max(min(steps // 10, 200), 10),
            feature_sampling_window=max(min(steps // 10, 200), 10),
            exclude_special_tokens=[tok.bos_token_id, tok.pad_token_id],
            n_eval_batches=1,
            eval_batch_size_prompts=4,
            n_batches_for_norm_estimate=4,
            logger=LoggingConfig(log_to_wandb=False),
            n_checkpoints=0,
            save_final_checkpoint=False,
            output_path=str(Path(tmp) / "out"),
            checkpoint_path=str(Path(tmp) / "ckpt"),
            verbose=False,
            seed=seed,
            from_pretrained_path=None if init_from is None else str(init_from),
        )
        sae = LanguageModelSAETrainingRunner(cfg, override_model=model, override_dataset=ds).run()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    sae.save_model(str(out_dir))
    from sae_lens import SAE

    return SAE.load_from_disk(str(out_dir), device="cpu")


def resid_activations(
    model: Any, tokenizer: Any, texts: Sequence[str], layer: int, batch_size: int = 32
) -> torch.Tensor:
    """Residual stream after decoder layer ``layer`` (= TL ``blocks.{layer}.hook_resid_post``).

    One row per real token of ``texts`` (``<s>`` and padding excluded): ``[n_tokens, d_model]``.
    """
    grabbed: list[torch.Tensor] = []
    handle = model.model.layers[layer].register_forward_hook(
        lambda mod, inp, out: grabbed.append(out[0] if isinstance(out, tuple) else out)
    )
    rows = []
    try:
        for s in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[s : s + batch_size]), return_tensors="pt", padding=True)
            with torch.no_grad():
                model(**enc)
            h = grabbed.pop()
            keep = enc["attention_mask"].bool() & (enc["input_ids"] != tokenizer.bos_token_id)
            rows.append(h[keep])
    finally:
        handle.remove()
    return torch.cat(rows)


def sae_metrics(
    model_dir: str | os.PathLike[str], sae: Any, texts: Sequence[str], layer: int
) -> dict[str, float]:
    """Mean L0, explained variance and dead-latent fraction of ``sae`` on ``texts``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.padding_side = "right"
    x = resid_activations(model, tok, texts, layer)
    with torch.no_grad():
        f = sae.encode(x)
        x_hat = sae.decode(f)
    active = f > 0
    resid = ((x - x_hat) ** 2).sum()
    total = ((x - x.mean(0)) ** 2).sum()
    return {
        "n_eval_tokens": int(x.shape[0]),
        "mean_l0": round(float(active.sum(-1).float().mean()), 2),
        "explained_variance": round(float(1 - resid / total), 4),
        "dead_fraction": round(float((~active.any(0)).float().mean()), 4),
    }
