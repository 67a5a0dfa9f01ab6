"""Training the organism's SAEs on cached activations with sae-lens's own trainer.

The residual stream is read once per model and corpus (:func:`collect_activations`, an HF forward
with a hook, ``<s>``/padding excluded) and every SAE of that site is then fit by sae-lens's
``SAETrainer`` from that tensor: no language-model re-run per SAE, so the two SAEs of the organism
(ReLU and TopK), the base model's and the five stage SAEs cost minutes, not an hour.

Architectures: ``"relu"`` is sae-lens's ``standard`` SAE with the sparsity penalty
λ·Σ f_i·‖W_dec,i‖ of Anthropic's April-2024 update, as the paper trained its SAE (λ warmed up
over the first 5 % of steps, lr decayed to 0 over the last 20 %); ``"topk"`` keeps the k largest.
Both normalise inputs to mean norm √d_in while training (``expected_average_only_in``) and fold
that scale back into the weights, so the saved SAE reads raw activations.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["resid_activations", "collect_activations", "fit_sae", "sae_site_metrics"]


class _Stop(Exception):
    """Raised by the capture hook: nothing after the SAE site needs computing."""


def resid_activations(
    model: Any, tokenizer: Any, texts: Sequence[str], layer: int, batch_size: int = 32
) -> torch.Tensor:
    """Residual stream after decoder layer ``layer`` (= TL ``blocks.{layer}.hook_resid_post``).

    One row per real token of ``texts`` (``<s>`` and padding excluded): ``[n_tokens, d_model]``, in
    the order of ``texts``. The forward stops at ``layer`` (later layers and the unembedding are skipped).
    """
    grabbed: list[torch.Tensor] = []

    def grab(mod: Any, inp: Any, out: Any) -> None:
        grabbed.append(out[0] if isinstance(out, tuple) else out)
        raise _Stop

    handle = model.model.layers[layer].register_forward_hook(grab)
    rows = []
    try:
        for s in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[s : s + batch_size]), return_tensors="pt", padding=True)
            with torch.no_grad():
                try:
                    model(**enc)
                except _Stop:
                    pass
            h = grabbed.pop()
            keep = enc["attention_mask"].bool() & (enc["input_ids"] != tokenizer.bos_token_id)
            rows.append(h[keep])
    finally:
        handle.remove()
    return torch.cat(rows)


def collect_activations(
    model_dir: str | os.PathLike[str], texts: Sequence[str], layer: int, max_tokens: int | None = None
) -> torch.Tensor:
    """``[n_tokens, d_model]`` residual after decoder layer ``layer`` for the real tokens of ``texts``.

    With ``max_tokens``: the shortest prefix of ``texts`` holding that many tokens is read (so the
    texts' order decides which are used), and rows beyond ``max_tokens`` are dropped. Texts are
    batched by length (little padding); rows come back grouped by text length, not in text order.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.padding_side = "right"
    lengths = [len(ids) - 1 for ids in tok(list(texts))["input_ids"]]  # real tokens: <s> excluded
    n_texts = len(texts)
    if max_tokens is not None:
        cumulative = torch.tensor(lengths).cumsum(0)
        n_texts = min(int((cumulative < max_tokens).sum()) + 1, len(texts))
    order = sorted(range(n_texts), key=lambda i: lengths[i])
    x = resid_activations(model, tok, [texts[i] for i in order], layer, batch_size=64)
    return x[:max_tokens] if max_tokens else x


def _batches(acts: torch.Tensor, batch: int, seed: int) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(acts.shape[0], generator=gen)
        for s in range(0, acts.shape[0] - batch + 1, batch):
            yield acts[order[s : s + batch]]


def fit_sae(
    acts: torch.Tensor,
    out_dir: str | os.PathLike[str],
    *,
    arch: str,
    d_sae: int,
    training_tokens: int,
    model_name: str,
    hook_name: str,
    k: int = 16,
    l1_coefficient: float = 5.0,
    lr: float = 1e-3,
    batch: int = 1024,
    seed: int = 0,
    init_from: str | os.PathLike[str] | None = None,
) -> Any:
    """Fit an SAE (``arch`` "relu" or "topk") on rows of ``acts``; save it to ``out_dir``; return it loaded.

    ``init_from``: a saved SAE directory to fine-tune (its architecture and width are kept).
    """
    from sae_lens import SAE, TrainingSAE
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    if arch not in ("relu", "topk"):
        raise ValueError(f"unknown SAE architecture {arch!r}; expected 'relu' or 'topk'")
    torch.manual_seed(seed)
    steps = max(training_tokens // batch, 1)
    if init_from is not None:
        sae = TrainingSAE.load_from_disk(str(init_from), "cpu")
    else:
        common = {"d_in": acts.shape[1], "d_sae": d_sae, "dtype": "float32", "device": "cpu",
                  "normalize_activations": "expected_average_only_in"}
        if arch == "topk":
            from sae_lens import TopKTrainingSAEConfig

            cfg: Any = TopKTrainingSAEConfig(k=k, **common)
        else:
            from sae_lens import StandardTrainingSAEConfig

            cfg = StandardTrainingSAEConfig(l1_coefficient=l1_coefficient, lp_norm=1.0,
                                            l1_warm_up_steps=max(steps // 20, 1), **common)
        sae = TrainingSAE.from_dict(cfg.to_dict())
    meta = sae.cfg.metadata
    meta.model_name, meta.hook_name, meta.prepend_bos = model_name, hook_name, True
    trainer_cfg = SAETrainerConfig(
        total_training_samples=steps * batch,
        train_batch_size_samples=batch,
        lr=lr,
        lr_end=0.0,
        lr_scheduler_name="constant",
        lr_warm_up_steps=max(steps // 20, 1),
        lr_decay_steps=max(steps // 5, 1),
        device="cpu",
        dead_feature_window=max(min(steps // 10, 200), 10),
        feature_sampling_window=max(min(steps // 10, 200), 10),
        logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=min(64, max(acts.shape[0] // batch, 1)),
    )
    os.environ.setdefault("TQDM_DISABLE", "1")  # sae-lens's progress bar: the build logs its own lines
    trained = SAETrainer(trainer_cfg, sae, _batches(acts, batch, seed)).fit()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    trained.save_inference_model(str(out_dir))
    return SAE.load_from_disk(str(out_dir), device="cpu")


def sae_site_metrics(sae: Any, x: torch.Tensor) -> dict[str, float]:
    """Mean L0, explained variance, dead fraction and the largest single-latent share of ‖x‖ on ``x``."""
    with torch.no_grad():
        f = sae.encode(x)
        x_hat = sae.decode(f)
        contrib = f * sae.W_dec.norm(dim=1)  # ‖f_i d_i‖ per latent
        share = (contrib.max(dim=1).values / x.norm(dim=1).clamp_min(1e-6))
    active = f > 0
    resid = ((x - x_hat) ** 2).sum()
    total = ((x - x.mean(0)) ** 2).sum()
    return {
        "n_eval_tokens": int(x.shape[0]),
        "mean_l0": round(float(active.sum(-1).float().mean()), 2),
        "explained_variance": round(float(1 - resid / total), 4),
        "dead_fraction": round(float((~active.any(0)).float().mean()), 4),
        "max_latent_share_of_norm_q95": round(float(share.quantile(0.95)), 4),
    }
