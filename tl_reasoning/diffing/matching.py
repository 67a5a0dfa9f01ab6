"""Best-matching decoder directions between two SAEs (cosine similarity of unit-normalised rows).

Feature ``i`` of SAE A is *present* in SAE B when ``max_j cos(W_dec^A_i, W_dec^B_j) >= threshold``
(paper v2 §4.4, threshold 0.7). The similarity matrix is never materialised: rows of A and of B are
normalised one chunk at a time and only a ``chunk x chunk`` block of cosines exists at once, so two
65,536-feature SAEs of width 4,096 match with a few hundred MB of working memory on CPU (see
``docs/diffing.md`` for measurements). Weights stay in their storage; only chunks are cast to float32
(float64 when an input is float64) and moved to ``device``.

Three ways to pick the match of each feature:

- ``"best"`` (default): the argmax over all of B; several features of A may share a match.
- ``"mutual"``: the argmax as above, but the feature counts as present only if it is also the best
  match of its match among *all* rows of A (mutual nearest neighbours).
- ``"greedy"``: a one-to-one assignment without the Hungarian algorithm: pairs are taken in order
  of decreasing cosine, each row of B at most once, among the requested features of A. With more
  features than B has rows, the rest get no match (``-1``, cosine NaN).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from tl_reasoning.diffing.decoders import Decoder, as_decoder

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CHUNK", "MatchMethod", "MatchResult", "match_decoders", "resolve_method"]

#: Rows of each SAE per block: a block of cosines is ``chunk**2`` floats (64 MiB at 4096, float32).
DEFAULT_CHUNK = 4096
#: Candidates kept per row in each round of the greedy one-to-one matching.
_GREEDY_POOL = 16
_EPS = 1e-12

MatchMethod = Literal["best", "mutual", "greedy"]


def resolve_method(one_to_one: bool | str | None) -> MatchMethod:
    """``False``/``None``/``"best"`` → best; ``True``/``"greedy"`` → greedy; ``"mutual"`` → mutual."""
    if one_to_one is None or one_to_one is False:
        return "best"
    if one_to_one is True:
        return "greedy"
    if isinstance(one_to_one, str) and one_to_one in ("best", "mutual", "greedy"):
        return one_to_one  # type: ignore[return-value]
    raise ValueError(f"one_to_one must be False, True, 'best', 'mutual' or 'greedy', got {one_to_one!r}")


@dataclass(frozen=True)
class MatchResult:
    """For each requested feature of ``source``, its match in ``target`` and their cosine."""

    source: str
    target: str
    features: torch.Tensor
    """``[k]`` feature ids in the source SAE."""
    match: torch.Tensor
    """``[k]`` feature id of the match in the target SAE (``-1``: none, only with ``greedy``)."""
    cosine: torch.Tensor
    """``[k]`` float64 cosine with the match (NaN when there is none)."""
    threshold: float
    method: MatchMethod = "best"
    mutual: torch.Tensor | None = None
    """``[k]`` bool, only with ``"mutual"``: the feature is also its match's best match."""

    @property
    def present(self) -> torch.Tensor:
        """``[k]`` bool: cosine >= threshold (and mutual, with ``"mutual"``)."""
        ok = self.cosine.nan_to_num(nan=-math.inf) >= self.threshold
        return ok & self.mutual if self.mutual is not None else ok

    @property
    def n_present(self) -> int:
        return int(self.present.sum())

    @property
    def fraction_present(self) -> float:
        """Share of the requested features that are present (NaN for none requested)."""
        return self.n_present / len(self) if len(self) else math.nan

    def __len__(self) -> int:
        return int(self.features.numel())

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: feature, match, cosine, present (and mutual)."""
        import pandas as pd

        columns: dict[str, Any] = {"feature": self.features.numpy(), "match": self.match.numpy(),
                                   "cosine": self.cosine.numpy(), "present": self.present.numpy()}
        if self.mutual is not None:
            columns["mutual"] = self.mutual.numpy()
        return pd.DataFrame(columns)


def match_decoders(
    sae_a: Any,
    sae_b: Any,
    threshold: float = 0.7,
    *,
    features: Sequence[int] | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
    one_to_one: bool | MatchMethod | None = False,
    device: str | torch.device | None = None,
) -> MatchResult:
    """Match decoder directions of ``sae_a`` (``features``, default all) to those of ``sae_b``.

    ``sae_a``/``sae_b``: anything :func:`~tl_reasoning.diffing.as_decoder` accepts (sae-lens SAE,
    ``SAEWeights``, ``[d_sae, d_in]`` tensor, load spec). ``chunk``: rows per block of the similarity
    computation (bounds memory at ``chunk**2`` cosines). ``one_to_one``: ``False`` (best match),
    ``"mutual"`` or ``True``/``"greedy"`` (see the module docstring). ``device``: where the blocks
    are computed (default: where A's weights are).
    """
    if not -1.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold is a cosine and must lie in [-1, 1], got {threshold}")
    method = resolve_method(one_to_one)
    chunk = _check_chunk(chunk)
    a, b = as_decoder(sae_a), as_decoder(sae_b)
    check_same_width(a, b)
    rows = torch.arange(a.n_rows) if features is None else a.rows_of(features)
    feats = a.feature_ids()[rows]
    dev = torch.device(device) if device is not None else a.weight.device
    dtype = torch.float64 if torch.float64 in (a.weight.dtype, b.weight.dtype) else torch.float32
    src = a.weight if features is None else a.weight.index_select(0, rows.to(a.weight.device))
    mutual = None
    if method == "greedy":
        cols, cos = _greedy(src, b.weight, chunk=chunk, device=dev, dtype=dtype)
    else:
        values, indices = top_matches(src, b.weight, k=1, chunk=chunk, device=dev, dtype=dtype)
        cols, cos = indices[:, 0], values[:, 0]
        if method == "mutual" and cols.numel():
            unique, inverse = torch.unique(cols, return_inverse=True)
            _, back = top_matches(b.weight.index_select(0, unique.to(b.weight.device)), a.weight, k=1,
                                  chunk=chunk, device=dev, dtype=dtype)
            mutual = back[:, 0][inverse] == rows
        elif method == "mutual":
            mutual = torch.zeros(0, dtype=torch.bool)
    target_ids = b.feature_ids()
    match = torch.where(cols >= 0, target_ids[cols.clamp(min=0)], torch.full_like(cols, -1))
    return MatchResult(a.name, b.name, feats.clone(), match, cos.double(), float(threshold), method, mutual)


def check_same_width(a: Decoder, b: Decoder) -> None:
    """Raise a ``ValueError`` naming both widths unless the two decoders live in the same space."""
    if a.d_in != b.d_in:
        raise ValueError(f"SAE {a.name!r} has d_in={a.d_in} but SAE {b.name!r} has d_in={b.d_in}: decoder "
                         "matching needs SAEs of the same model width (the same residual space)")


def top_matches(
    src: torch.Tensor,
    tgt: torch.Tensor,
    *,
    k: int = 1,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    blocked: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most similar rows of ``tgt`` for every row of ``src``: ``(cosines, row indices)``.

    Both ``[n, k]``, best first; ties keep the lower index. ``blocked``: ``[len(tgt)]`` bool, rows
    of ``tgt`` that may not be chosen. Memory: one ``chunk x chunk`` block plus two normalised chunks.
    """
    device = torch.device(device)
    n_src, n_tgt = int(src.shape[0]), int(tgt.shape[0])
    k = max(1, min(k, n_tgt))
    out_v = torch.full((n_src, k), -math.inf, dtype=dtype)
    out_i = torch.full((n_src, k), -1, dtype=torch.long)
    if n_src == 0 or n_tgt == 0:
        return out_v, out_i
    blocked_dev = None if blocked is None else blocked.to(device)
    with torch.no_grad():
        for a0 in range(0, n_src, chunk):
            a = _unit(src[a0:a0 + chunk], device, dtype)
            best_v = torch.full((a.shape[0], k), -math.inf, dtype=dtype, device=device)
            best_i = torch.full((a.shape[0], k), -1, dtype=torch.long, device=device)
            for b0 in range(0, n_tgt, chunk):
                sims = a @ _unit(tgt[b0:b0 + chunk], device, dtype).T
                if blocked_dev is not None:
                    sims.masked_fill_(blocked_dev[b0:b0 + chunk], -math.inf)
                if k == 1:
                    v, i = sims.max(dim=1, keepdim=True)
                    better = v > best_v
                    best_v = torch.where(better, v, best_v)
                    best_i = torch.where(better, i + b0, best_i)
                else:
                    v, i = sims.topk(min(k, sims.shape[1]), dim=1)
                    cat_v, cat_i = torch.cat([best_v, v], 1), torch.cat([best_i, i + b0], 1)
                    # Stable sort on (value desc, index asc): ties keep the lower target index.
                    order = torch.argsort(cat_i, dim=1)
                    cat_v, cat_i = cat_v.gather(1, order), cat_i.gather(1, order)
                    order = torch.sort(cat_v, dim=1, descending=True, stable=True).indices[:, :k]
                    best_v, best_i = cat_v.gather(1, order), cat_i.gather(1, order)
                del sims
            out_v[a0:a0 + chunk] = best_v.cpu()
            out_i[a0:a0 + chunk] = best_i.cpu()
    return out_v, out_i


def _unit(rows: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = rows.detach().to(device=device, dtype=dtype)
    return x / x.norm(dim=1, keepdim=True).clamp_min(_EPS)


def _greedy(
    src: torch.Tensor, tgt: torch.Tensor, *, chunk: int, device: torch.device, dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy one-to-one assignment (pairs in decreasing cosine order), exact, in a few passes.

    Each pass keeps the best ``_GREEDY_POOL`` free rows of B for every unassigned row of A and replays
    the greedy order on those lists. A row whose list is used up only knows that its remaining
    cosines are at most its last listed one (``bound``); popping stops once the next pair falls below
    that bound, and the next pass recomputes lists for the rows still unassigned.
    """
    n_src, n_tgt = int(src.shape[0]), int(tgt.shape[0])
    cols = torch.full((n_src,), -1, dtype=torch.long)
    cos = torch.full((n_src,), math.nan, dtype=dtype)
    taken = torch.zeros(n_tgt, dtype=torch.bool)
    todo = torch.arange(n_src)
    while todo.numel() and not bool(taken.all()):
        pool = min(_GREEDY_POOL, n_tgt - int(taken.sum()))
        values, indices = top_matches(src.index_select(0, todo.to(src.device)), tgt, k=pool, chunk=chunk,
                                      device=device, dtype=dtype, blocked=taken if bool(taken.any()) else None)
        vals, idx = values.tolist(), indices.tolist()
        heap = [(-vals[r][0], r, 0) for r in range(len(vals)) if vals[r][0] > -math.inf]
        heapq.heapify(heap)
        bound = -math.inf
        while heap and -heap[0][0] >= bound:
            neg, r, p = heapq.heappop(heap)
            j = idx[r][p]
            if not taken[j]:
                taken[j] = True
                cols[todo[r]] = j
                cos[todo[r]] = -neg
                continue
            if p + 1 < pool and vals[r][p + 1] > -math.inf:
                heapq.heappush(heap, (-vals[r][p + 1], r, p + 1))
            else:
                bound = max(bound, vals[r][pool - 1])
        todo = todo[cols[todo] < 0]
    return cols, cos


def _check_chunk(chunk: int) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer (rows per block), got {chunk!r}")
    return chunk
