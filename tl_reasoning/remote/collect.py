"""The remote loop of :func:`tl_reasoning.scoring.collect_stats`: groups of batches, one request each.

Documents are batched as locally; ``per_request`` prepared batches (ids, counted rows, indicator
rows — all built locally from the tokenizer) go to the server in one ``session``. After each
request the statistics, progress and data fingerprint are updated and, every ``checkpoint_every``
batches, saved — so a long job is a series of requests each well under the server's time limit,
and an interrupted job resumes from the checkpoint exactly as a local one does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.remote.encoder import EncoderWeights
from tl_reasoning.remote.plan import ModeChoice, choose_mode
from tl_reasoning.remote.scoring import PreparedBatch, fetch_residuals, server_statistics
from tl_reasoning.remote.target import RemoteTarget, resolve_remote
from tl_reasoning.scoring.fingerprint import DataFingerprint
from tl_reasoning.scoring.kernels import accumulate
from tl_reasoning.stats import FeatureStats

__all__ = ["RemoteCounter"]

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32,
           "float16": torch.float16, "fp16": torch.float16}


def _dtype(value: torch.dtype | str | None) -> torch.dtype | None:
    if value is None or isinstance(value, torch.dtype):
        return value
    try:
        return _DTYPES[value.lower()]
    except KeyError:
        raise ValueError(f"remote_dtype={value!r}: use one of {', '.join(_DTYPES)}") from None


@dataclass
class RemoteCounter:
    """Counts prepared batches into :class:`FeatureStats` on a remote target (see module docstring)."""

    backend: Any
    sae: Any
    site: Any
    target: RemoteTarget
    choice: ModeChoice
    dtype: torch.dtype | None
    per_request: int
    config: Any
    chunk: int
    scale: torch.Tensor | None
    edges: torch.Tensor | None
    encoder: EncoderWeights | None = None
    fingerprint: DataFingerprint = field(default_factory=DataFingerprint)

    @classmethod
    def create(cls, backend: Any, sae: Any, site: str, remote: Any, mode: str, dtype: torch.dtype | str | None,
               per_request: int, config: Any, chunk: int, scale: torch.Tensor | None,
               edges: torch.Tensor | None) -> RemoteCounter:
        if getattr(backend, "kind", None) != "nnsight":
            raise ValueError(f"remote scoring needs an nnsight model (load_model(..., backend='nnsight')), not a "
                             f"{getattr(backend, 'kind', type(backend).__name__)} model")
        if backend._edits:
            raise ValueError("remote scoring runs without installed edits; remove the steering first")
        if per_request < 1:
            raise ValueError(f"remote_batches must be >= 1, got {per_request}")
        target = resolve_remote(remote)
        assert target is not None
        torch_dtype = _dtype(dtype)
        width = 2 if torch_dtype in (torch.bfloat16, torch.float16) else 4
        tokens = per_request * config.batch_size * config.context_size
        choice = choose_mode(tokens, int(sae.cfg.d_in), int(sae.cfg.d_sae), width, mode=mode)
        counter = cls(backend, sae, backend.check_site(site), target, choice, torch_dtype, per_request, config,
                      chunk, scale, edges)
        if choice.mode == "server":
            counter.encoder = EncoderWeights.from_sae(sae, dtype=torch_dtype, scale=scale)
        return counter

    def describe(self) -> dict[str, Any]:
        """Mode, target and byte estimates for the statistics' metadata (no API key)."""
        return {"mode": self.choice.mode, "target": self.target.label, "batches_per_request": self.per_request,
                "dtype": str(self.dtype or "float32").replace("torch.", ""),
                "estimated_download_bytes": self.choice.download_residuals,
                "estimated_upload_bytes": self.choice.upload_encoder}

    def run(self, stats: FeatureStats, docs: Iterator[str], prepare: Callable[..., Any], fingerprint: DataFingerprint,
            path: Path | None, checkpoint_every: int, on_batch: Any, bar: Any, set_progress: Callable[..., None]
            ) -> int:
        """Count every batch of ``docs``; return the number of batches counted."""
        self.fingerprint = fingerprint
        size, batches = self.config.batch_size, 0
        max_tokens = self.config.max_tokens
        while True:
            group_texts: list[list[str]] = []
            prepared: list[PreparedBatch] = []
            pending = 0
            while len(group_texts) < self.per_request:
                if max_tokens is not None and stats.tokens_seen + pending >= max_tokens:
                    break
                texts = list(itertools.islice(docs, size))
                if not texts:
                    break
                budget = None if max_tokens is None else max_tokens - stats.tokens_seen - pending
                ids, mask, rows, ind = prepare(texts, budget)
                group_texts.append(texts)
                prepared.append(({"input_ids": ids, "attention_mask": mask}, rows, ind))
                pending += int(rows.numel())
            if not group_texts:
                return batches
            self._count(stats, [p for p in prepared if p[1].numel()])
            for texts, (_, rows, _) in zip(group_texts, prepared, strict=True):
                for text in texts:
                    self.fingerprint = self.fingerprint.add(text)
                batches += 1
                bar.update(int(rows.numel()) if max_tokens is not None else len(texts))
                set_progress(stats, self.fingerprint, complete=False)
                if on_batch is not None:
                    on_batch(stats, batches)
            bar.set_postfix(docs=stats.docs_seen, tokens=stats.tokens_seen, refresh=False)
            if path is not None and checkpoint_every and batches // checkpoint_every > (
                    batches - len(group_texts)) // checkpoint_every:
                stats.save(path)

    def _count(self, stats: FeatureStats, prepared: list[PreparedBatch]) -> None:
        if not prepared:
            return
        if self.choice.mode == "server":
            assert self.encoder is not None
            totals = server_statistics(self.backend, self.target, self.site, prepared, self.encoder, self.chunk,
                                       self.edges)
            if totals:
                stats.add_({k: v.to(stats.sum_window.device) for k, v in totals.items()})
            return
        from tl_reasoning.scoring.collect import encode_features

        residuals = fetch_residuals(self.backend, self.target, self.site, prepared, self.dtype)
        for x, (_, _, ind) in zip(residuals, prepared, strict=True):
            for start in range(0, x.shape[0], self.chunk):
                feats = encode_features(self.sae, x[start:start + self.chunk], self.scale)
                stats.add_(accumulate(feats, ind[start:start + self.chunk].to(feats.device), self.edges))
