"""Remote halves of the scoring pass: one nnsight ``session`` per group of batches.

Each prepared batch is ``(inputs, rows, indicators)``: token ids and mask, the flat indices of the
counted tokens and their indicator rows (built locally from token ids, no model needed). Two modes:

* :func:`fetch_residuals` — the session saves, per batch, only the counted rows of the residual
  at the site (optionally cast to bf16 on the server), stopping each forward after the layer; the
  caller encodes and accumulates locally with the SAE itself.
* :func:`server_statistics` — the session ships :class:`~tl_reasoning.remote.encoder.EncoderWeights`,
  encodes and runs :func:`~tl_reasoning.scoring.kernels.accumulate` on the server, and saves only
  the aggregate sums, counts, squares, maxima and histogram (as ``FeatureStats.add_`` takes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tl_reasoning.backends.nnsight import read_site
from tl_reasoning.remote.encoder import EncoderWeights, encode_dense
from tl_reasoning.scoring.kernels import accumulate
from tl_reasoning.sites import Site

__all__ = ["PreparedBatch", "fetch_residuals", "merge_partial", "server_statistics"]

PreparedBatch = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]
"""``(inputs {input_ids, attention_mask}, rows [n] flat counted-token indices, indicators [n, G])``."""


def merge_partial(total: dict[str, torch.Tensor] | None, part: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``total`` plus one :func:`accumulate` output (float64 sums, summed counts, maximum of maxima)."""
    if total is None:
        return {k: (v.double() if v.is_floating_point() else v.long()) for k, v in part.items()}
    out = {}
    for key, value in part.items():
        if key == "max":
            out[key] = torch.maximum(total[key], value.double())
        else:
            out[key] = total[key] + (value.double() if value.is_floating_point() else value.long())
    return out


def encode_accumulate(enc: EncoderWeights, x: torch.Tensor, ind: torch.Tensor, chunk: int,
                      edges: torch.Tensor | None) -> dict[str, torch.Tensor] | None:
    """Aggregates of the codes of ``x`` ``[n, d]`` under ``ind`` ``[n, G]``, in chunks of ``chunk`` rows."""
    total = None
    for start in range(0, x.shape[0], chunk):
        feats = encode_dense(enc, x[start:start + chunk])
        part = accumulate(feats, ind[start:start + chunk].to(feats.device),
                          None if edges is None else edges.to(feats.device))
        total = merge_partial(total, part)
    return total


def _site_rows(model: Any, layers_path: str, site: Site, rows: torch.Tensor) -> torch.Tensor:
    h = read_site(model, layers_path, site)
    return h.reshape(-1, h.shape[-1])[rows.to(h.device)]


def fetch_residuals(backend: Any, target: Any, site: Site, batches: Sequence[PreparedBatch],
                    dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """Counted residual rows ``[n_i, d]`` of every batch, computed on ``target`` in one session."""
    import nnsight

    model = backend.model
    layers_path = backend._layers_path
    feeds = [(inputs, rows) for inputs, rows, _ in batches]
    with target.running(), torch.no_grad(), model.session(**target.trace_kwargs(model)):
        out = nnsight.save(list())
        for inputs, rows in feeds:
            with model.trace(inputs) as tracer:
                x = _site_rows(model, layers_path, site, rows)
                out.append((x if dtype is None else x.to(dtype)).cpu())
                tracer.stop()
    return [x.float() for x in out]


def server_statistics(backend: Any, target: Any, site: Site, batches: Sequence[PreparedBatch],
                      enc: EncoderWeights, chunk: int, edges: torch.Tensor | None) -> dict[str, torch.Tensor] | None:
    """Aggregates of all ``batches`` accumulated on ``target`` in one session (only they come back)."""
    import nnsight

    model = backend.model
    layers_path = backend._layers_path
    with target.running(), torch.no_grad(), model.session(**target.trace_kwargs(model)):
        totals = nnsight.save(dict())
        for inputs, rows, ind in batches:
            with model.trace(inputs) as tracer:
                x = _site_rows(model, layers_path, site, rows)
                part = encode_accumulate(enc, x, ind, chunk, edges)
                if part is not None:
                    merged = merge_partial(totals if totals else None, part)
                    totals.update(merged)
                tracer.stop()
    return {k: v.cpu() for k, v in totals.items()} or None
