"""One pass over a corpus: statistics of every SAE feature at once.

Per batch of documents: tokenize each document on its own (BOS prepended, right padding), run the
model once up to the SAE's site (``backend.capture`` stops there), keep the counted tokens (no
BOS/EOS/padding), encode them with the SAE's own ``encode`` in bounded chunks, optionally scale by
‖d_i‖ (:func:`~tl_reasoning.units.unit_norms`, what ``fold_W_dec_norm`` gives), and add
``indicatorsᵀ · activations`` to the running sums. Memory is bounded by the batch and chunk sizes,
whatever the corpus size. The official code instead re-ran the model for each batch of 48 features
(paper.md §10).

With a checkpoint path the statistics are saved (atomically) every ``checkpoint_every`` batches and
at the end; a later call with the same settings resumes from the file, skipping the documents it
already counted after checking their fingerprint, and gives identical results.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.scoring.config import StatsConfig
from tl_reasoning.scoring.fingerprint import DataFingerprint
from tl_reasoning.scoring.kernels import accumulate, log_bin_edges
from tl_reasoning.scoring.windows import model_context, token_indicators, valid_tokens
from tl_reasoning.stats import FeatureStats, StatsMismatchError, check_config
from tl_reasoning.stats_checks import NonFiniteActivationsError
from tl_reasoning.units import unit_norms
from tl_reasoning.vocab.expand import ExpandedVocabulary, expand_vocabulary
from tl_reasoning.vocab.matching import TokenEdges

__all__ = ["collect_stats", "decoder_norms", "encode_features", "model_identity", "resolve_context_size",
           "sae_identity", "texts_of"]

OnBatch = Callable[[FeatureStats, int], None]


def texts_of(data: Any, text_field: str = "text") -> Iterable[str]:
    """Document texts from a corpus spec (``load_corpus``), a list of strings or of dicts."""
    from tl_reasoning.corpora import iter_texts, load_corpus

    if isinstance(data, (str, os.PathLike)):
        return _Reiterable(lambda: iter_texts(load_corpus(data, text_field=text_field), "text"))
    return _Reiterable(lambda: iter_texts(data, text_field))


class _Reiterable:
    def __init__(self, make: Callable[[], Iterator[str]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[str]:
        return self._make()


def decoder_norms(sae: Any) -> torch.Tensor:
    """``[d_sae]`` ‖d_i‖, ``d_i = decode(e_i) − decode(0)`` (float32, on the SAE's device): the fold factor.

    ``‖W_dec,i‖`` for a plain SAE, 1 for a TopK SAE with ``rescale_acts_by_decoder_norm`` (its
    ``encode`` is already folded); see :mod:`tl_reasoning.units`.
    """
    return unit_norms(sae).to(sae.W_dec.device)


def encode_features(sae: Any, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``sae.encode(x)`` as dense float32 ``[N, d_sae]``, times ``scale`` (‖d_i‖) if given."""
    with torch.no_grad():
        feats = sae.encode(x.to(sae.W_dec.device, sae.W_dec.dtype))
        if feats.is_sparse:
            feats = feats.to_dense()
        feats = feats.float()
        return feats * scale if scale is not None else feats


def sae_identity(sae: Any) -> dict[str, Any]:
    """What identifies an SAE in metadata: shape, site, architecture and a hash of sampled weights."""
    from tl_reasoning.loading.saes import sae_site

    stride = max(1, sae.W_dec.shape[0] // 256)
    sample = sae.W_dec.detach()[::stride].float().cpu().contiguous()
    digest = hashlib.sha256(sample.numpy().tobytes()).hexdigest()[:16]
    try:
        site = sae_site(sae)
    except ValueError:
        site = None
    return {"d_in": int(sae.cfg.d_in), "d_sae": int(sae.cfg.d_sae), "architecture": str(sae.cfg.architecture()),
            "hook": site, "w_dec_sample_sha256": digest}


def model_identity(backend: Any) -> dict[str, Any]:
    """What identifies a model in metadata (the same on every backend)."""
    return {"d_model": backend.d_model, "n_layers": backend.n_layers, "vocab_size": len(backend.tokenizer)}


def collect_stats(
    model: Any,
    sae: Any,
    data: Any,
    *,
    vocab: Any = None,
    config: StatsConfig | None = None,
    site: str | None = None,
    text_field: str = "text",
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
    progress: bool = False,
    on_batch: OnBatch | None = None,
    sources: dict[str, Any] | None = None,
    remote: Any = None,
    remote_mode: str = "auto",
    remote_dtype: torch.dtype | str | None = None,
    remote_batches: int = 8,
) -> FeatureStats:
    """:class:`FeatureStats` of every feature of ``sae`` over the documents of ``data``.

    ``model``: any model a backend handles (HookedTransformer, TransformerBridge, nnsight) or a
    backend. ``data``: a corpus spec for :func:`tl_reasoning.load_corpus` or an iterable of strings
    or dicts (``text_field``). ``vocab``: anything :func:`tl_reasoning.vocab.load_vocabulary`
    accepts, or an :class:`~tl_reasoning.vocab.ExpandedVocabulary`. ``checkpoint``: statistics
    file written every ``checkpoint_every`` batches and at the end; with ``resume`` an existing
    file made with the same settings is continued (else :class:`StatsMismatchError`).
    ``on_batch(stats, batches_done)`` is called after every batch.

    ``remote`` (nnsight models only): ``True`` (NDIF), ``"local"`` (nnsight's simulation), a host
    URL or a :class:`~tl_reasoning.remote.RemoteTarget`; ``remote_batches`` batches go in one
    request (keep it under the server's time limit; checkpoints are written between requests).
    ``remote_mode``: ``"residuals"`` (download the counted residuals, encode locally),
    ``"server"`` (ship the encoder, accumulate on the server) or ``"auto"`` (by bytes moved, see
    :func:`tl_reasoning.remote.choose_mode`). ``remote_dtype="bfloat16"`` halves the transfer.
    """
    from tl_reasoning.loading.saes import check_sae_compatible
    from tl_reasoning.plugins import backend_for

    config = config or StatsConfig()
    backend = backend_for(model)
    site = check_sae_compatible(backend.model, sae, site)
    config = resolve_context_size(config, backend)
    expanded = vocab if isinstance(vocab, ExpandedVocabulary) else expand_vocabulary(vocab, backend.tokenizer)
    n_features = int(sae.cfg.d_sae)
    chunk = config.chunk_tokens or max(64, min(8192, (1 << 26) // n_features))
    special = sorted(backend.special_token_ids)
    identity = {"model": model_identity(backend), "sae": sae_identity(sae), "site": site,
                "vocab": expanded.to_json(), "special_token_ids": special, **config.identity()}
    run = {**config.run_settings(), "chunk_tokens": chunk}
    scale = decoder_norms(sae) if config.decoder_norm else None
    edges = log_bin_edges(*config.hist) if config.hist is not None else None
    texts = texts_of(data, text_field)

    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists() and resume:
        stats = FeatureStats.load(path, expect_config=identity)
        check_config(stats.meta.get("run", {}), run, what=f"the checkpoint {path}")
        fingerprint = _verify_prefix(texts, stats, path)
        _check_limits(stats, config, path)
    else:
        stats = FeatureStats.empty(expanded.words, n_features, hist_edges=edges, decoder_norm=scale)
        fingerprint = DataFingerprint()
    stats = stats.to(_accumulator_device(sae))
    stats.meta.update({"config": identity, "run": run, "sources": {**(stats.meta.get("sources") or {}),
                                                                    **_sources(backend, sources)}})
    word_edges = TokenEdges(backend.tokenizer) if config.word_boundary else None
    docs = itertools.islice(iter(texts), stats.docs_seen, config.max_docs)
    bar = _progress_bar(progress, config, data, stats)
    batches = 0
    local_batches: Iterable[list[str]] = _batched(docs, config.batch_size)
    if remote is not None and remote is not False:
        from tl_reasoning.remote.collect import RemoteCounter

        counter = RemoteCounter.create(backend, sae, site, remote, remote_mode, remote_dtype, remote_batches,
                                       config, chunk, scale, edges)
        stats.meta["run_remote"] = counter.describe()
        prepare = lambda texts, budget: _prepare_batch(backend, texts, expanded, word_edges, special,  # noqa: E731
                                                       config, budget)
        batches = counter.run(stats, docs, prepare, fingerprint, path, checkpoint_every, on_batch, bar,
                              _set_progress)
        fingerprint, local_batches = counter.fingerprint, iter(())
    with torch.no_grad():
        for batch_texts in local_batches:
            if config.max_tokens is not None and stats.tokens_seen >= config.max_tokens:
                break
            counted = _process_batch(backend, sae, site, batch_texts, stats, expanded, word_edges, special,
                                     config, chunk, scale, edges)
            for text in batch_texts:
                fingerprint = fingerprint.add(text)
            stats.meta["blank_docs"] = stats.meta.get("blank_docs", 0) + sum(not t.strip() for t in batch_texts)
            _set_progress(stats, fingerprint, complete=False)
            batches += 1
            bar.update(counted if config.max_tokens is not None else len(batch_texts))
            bar.set_postfix(docs=stats.docs_seen, tokens=stats.tokens_seen, refresh=False)
            if path is not None and checkpoint_every and batches % checkpoint_every == 0:
                stats.save(path)
            if on_batch is not None:
                on_batch(stats, batches)
    bar.close()
    _set_progress(stats, fingerprint, complete=True)
    if path is not None:
        stats.save(path)
    return stats.to("cpu")


def _accumulator_device(sae: Any) -> torch.device:
    """Accumulate next to the activations on CUDA (no per-chunk transfers), else on the CPU."""
    device = sae.W_dec.device
    return device if device.type == "cuda" else torch.device("cpu")


def _process_batch(
    backend: Any, sae: Any, site: str, texts: list[str], stats: FeatureStats, vocab: ExpandedVocabulary,
    word_edges: TokenEdges | None, special: list[int], config: StatsConfig, chunk: int,
    scale: torch.Tensor | None, edges: torch.Tensor | None,
) -> int:
    """Count one batch of documents into ``stats``; return the number of tokens counted."""
    budget = None if config.max_tokens is None else config.max_tokens - stats.tokens_seen
    cut = stats.meta.setdefault("truncated", {"docs": 0, "tokens": 0, "context_size": config.context_size})
    ids, mask, rows, indicators = _prepare_batch(backend, texts, vocab, word_edges, special, config, budget, cut)
    if rows.numel():
        resid = backend.capture(ids, [site], attention_mask=mask)[site]
        x = resid.reshape(-1, resid.shape[-1])[rows]
        ind = indicators
        for start in range(0, rows.numel(), chunk):
            _check_finite(x[start:start + chunk], rows[start:start + chunk], ids.shape[1], stats, "residuals at "
                          f"{site}")
            feats = encode_features(sae, x[start:start + chunk], scale)
            _check_finite(feats, rows[start:start + chunk], ids.shape[1], stats, "SAE codes")
            stats.add_(accumulate(feats, ind[start:start + chunk].to(feats.device), edges))
    return int(rows.numel())


def _check_finite(values: torch.Tensor, rows: torch.Tensor, seq: int, stats: FeatureStats, what: str) -> None:
    """Raise :class:`NonFiniteActivationsError` naming the document if ``values`` hold NaN or ±inf."""
    bad = ~torch.isfinite(values).all(dim=-1)
    if bool(bad.any()):
        row = int(rows[bad.nonzero()[0, 0].to(rows.device)])
        doc = stats.docs_seen + row // seq
        kind = "NaN" if bool(torch.isnan(values[bad]).any()) else "infinite"
        raise NonFiniteActivationsError(
            f"{kind} {what} in document {doc} (0-based; token {row % seq}); the model or SAE produced non-finite "
            "values: check the model and SAE weights, use --dtype float32, or drop that document")


def resolve_context_size(config: StatsConfig, backend: Any) -> StatsConfig:
    """``config`` with ``context_size`` set to the model's context when ``None``; refuse one larger than it."""
    limit = model_context(backend)
    if config.context_size is None:
        return replace(config, context_size=limit or 1024)
    if limit is not None and config.context_size > limit:
        raise ValueError(f"--context-size {config.context_size} exceeds the model's context of {limit} tokens; "
                         f"pass --context-size {limit} or less (or omit it: longer documents are truncated)")
    return config


def _prepare_batch(
    backend: Any, texts: list[str], vocab: ExpandedVocabulary, word_edges: TokenEdges | None, special: list[int],
    config: StatsConfig, budget: int | None, cut: dict[str, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, mask, flat indices of the counted tokens (at most ``budget``) and their indicator rows.

    Needs only the tokenizer, so remote scoring builds the indicators locally and ships them.
    Documents longer than ``config.context_size`` are truncated; ``cut`` (if given) counts them
    (``docs``) and the tokens dropped (``tokens``).
    """
    ids, mask = backend.tokenize(texts)
    if ids.shape[1] > config.context_size:
        lengths = mask.sum(1)
        if cut is not None:
            cut["docs"] += int((lengths > config.context_size).sum())
            cut["tokens"] += int((lengths - config.context_size).clamp(min=0).sum())
        ids, mask = ids[:, :config.context_size].contiguous(), mask[:, :config.context_size].contiguous()
    valid = valid_tokens(ids, mask, special)
    if budget is not None:
        valid &= (valid.reshape(-1).cumsum(0) <= budget).reshape(valid.shape)
    indicators = token_indicators(ids, valid, vocab, config.window, word_edges)
    rows = valid.reshape(-1).nonzero().squeeze(1)
    return ids, mask, rows, indicators.reshape(-1, indicators.shape[-1])[rows]


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _set_progress(stats: FeatureStats, fingerprint: DataFingerprint, complete: bool) -> None:
    stats.meta["progress"] = {"docs_seen": fingerprint.n_docs, "tokens_seen": stats.tokens_seen,
                              "fingerprint": str(fingerprint), "complete": complete}


def _verify_prefix(texts: Iterable[str], stats: FeatureStats, path: Path) -> DataFingerprint:
    """Fingerprint of the first ``stats.docs_seen`` documents, checked against the checkpoint's."""
    expected = DataFingerprint.parse(stats.meta.get("progress", {}).get("fingerprint"))
    found = DataFingerprint()
    for text in itertools.islice(iter(texts), expected.n_docs):
        found = found.add(text)
    if found != expected:
        raise StatsMismatchError(
            f"the checkpoint {path} counted {expected.n_docs} documents, but the first {found.n_docs} documents "
            "of this data differ from them (data fingerprint mismatch); pass the same data, or --overwrite"
        )
    return found


def _check_limits(stats: FeatureStats, config: StatsConfig, path: Path) -> None:
    if config.max_docs is not None and stats.docs_seen > config.max_docs:
        raise StatsMismatchError(f"the statistics in {path} already count {stats.docs_seen} documents, more than "
                                 f"max_docs={config.max_docs}; use --overwrite to start afresh")


def _sources(backend: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    from tl_reasoning._version import __version__

    return {"model_name": backend.name, "backend": backend.kind, "tl_reasoning": __version__,
            "torch": torch.__version__, **(extra or {})}


def _progress_bar(enabled: bool, config: StatsConfig, data: Any, stats: FeatureStats) -> Any:
    from tqdm.auto import tqdm

    if config.max_tokens is not None:
        total, initial, unit = config.max_tokens, min(stats.tokens_seen, config.max_tokens), "tok"
    else:
        size = len(data) if hasattr(data, "__len__") and not isinstance(data, (str, os.PathLike)) else None
        total = min(x for x in (size, config.max_docs) if x is not None) if (size or config.max_docs) else None
        initial, unit = stats.docs_seen, "doc"
    return tqdm(total=total, initial=initial, unit=unit, desc="scoring", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)
