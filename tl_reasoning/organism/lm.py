"""Building and training the organism's Llama-style language models with plain torch on CPU.

``LlamaForCausalLM`` (RMSNorm, rotary, gated SiLU MLP, untied embeddings). Training: AdamW,
linear warm-up then cosine decay, batches of documents grouped by length and right-padded to a
fixed token budget, loss on every non-pad token (``<s>`` document ``</s>``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ModelSize", "SIZES", "new_model", "TrainConfig", "encode_documents", "make_batches", "train_lm"]


@dataclass(frozen=True)
class ModelSize:
    """Architecture of an organism model."""

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_mlp: int = 384
    n_ctx: int = 512


#: "full" is the committed organism; "quick" is the smoke-test size.
SIZES: dict[str, ModelSize] = {
    "full": ModelSize(d_model=160, n_layers=6, n_heads=5, d_mlp=384, n_ctx=512),
    "v2": ModelSize(),
    "quick": ModelSize(d_model=32, n_layers=6, n_heads=2, d_mlp=64, n_ctx=512),
}


def new_model(vocab_size: int, size: ModelSize, tokenizer: Any, seed: int = 0) -> Any:
    """A freshly initialised ``LlamaForCausalLM`` for ``tokenizer``'s vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=size.d_model,
        intermediate_size=size.d_mlp,
        num_hidden_layers=size.n_layers,
        num_attention_heads=size.n_heads,
        num_key_value_heads=size.n_heads,
        max_position_embeddings=size.n_ctx,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(cfg)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training phase."""

    tokens: int  # training tokens (non-pad) to consume
    lr: float = 2e-3
    batch_tokens: int = 4096  # padded tokens per batch
    warmup_frac: float = 0.05
    weight_decay: float = 0.05
    min_lr_frac: float = 0.05
    seed: int = 0


def encode_documents(texts: Sequence[str], tokenizer: Any, max_len: int) -> list[list[int]]:
    """Token ids ``<s> text </s>`` per document, truncated to ``max_len``."""
    ids = tokenizer(list(texts))["input_ids"]
    eos = tokenizer.eos_token_id
    return [(x + [eos])[:max_len] for x in ids]


def make_batches(docs: list[list[int]], batch_tokens: int, rng: random.Random) -> list[list[list[int]]]:
    """Group documents of similar length into batches of at most ``batch_tokens`` padded tokens."""
    order = list(range(len(docs)))
    rng.shuffle(order)
    batches: list[list[list[int]]] = []
    chunk = 512
    for s in range(0, len(order), chunk):
        group = sorted(order[s : s + chunk], key=lambda i: len(docs[i]))
        cur: list[list[int]] = []
        for i in group:
            longest = max([len(docs[i])] + [len(d) for d in cur])
            if cur and longest * (len(cur) + 1) > batch_tokens:
                batches.append(cur)
                cur = []
            cur.append(docs[i])
        if cur:
            batches.append(cur)
    rng.shuffle(batches)
    return batches


def _collate(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(d) for d in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, d in enumerate(batch):
        ids[r, : len(d)] = torch.tensor(d)
        mask[r, : len(d)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def train_lm(
    model: Any,
    doc_stream: Callable[[int], list[list[int]]],
    cfg: TrainConfig,
    pad_id: int,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Train ``model`` on documents from ``doc_stream(epoch)`` until ``cfg.tokens`` are consumed.

    Returns a summary with the loss curve (mean loss per ~5 % of training) and throughput.
    """
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "norm" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )
    model.train()
    seen, step, epoch = 0, 0, 0
    curve: list[tuple[int, float]] = []
    window: list[float] = []
    next_log = cfg.tokens // 20
    start = time.time()
    done = False
    while not done:
        for batch in make_batches(doc_stream(epoch), cfg.batch_tokens, rng):
            frac = seen / cfg.tokens
            if frac < cfg.warmup_frac:
                lr = cfg.lr * max(frac / cfg.warmup_frac, 0.01)
            else:
                t = (frac - cfg.warmup_frac) / (1 - cfg.warmup_frac)
                lr = cfg.lr * (
                    cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
                )
            for g in opt.param_groups:
                g["lr"] = lr
            ids, mask, labels = _collate(batch, pad_id)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            seen += int(mask.sum())
            step += 1
            window.append(loss.item())
            if seen >= next_log or seen >= cfg.tokens:
                curve.append((seen, sum(window) / len(window)))
                log(
                    f"step {step} tokens {seen} loss {curve[-1][1]:.4f} lr {lr:.2e} ({time.time() - start:.0f}s)"
                )
                window = []
                next_log += cfg.tokens // 20
            if seen >= cfg.tokens:
                done = True
                break
        epoch += 1
    model.eval()
    elapsed = time.time() - start
    return {
        "steps": step,
        "tokens": seen,
        "epochs_started": epoch,
        "seconds": round(elapsed, 1),
        "tokens_per_second": round(seen / max(elapsed, 1e-9)),
        "final_loss": curve[-1][1] if curve else float("nan"),
        "loss_curve": [[t, round(v, 4)] for t, v in curve],
    }
