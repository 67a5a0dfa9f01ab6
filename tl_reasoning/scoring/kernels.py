"""The statistic kernel: one chunk of SAE activations and token indicators → per-feature partial sums.

Plain torch on two tensors, nothing else, so it can run anywhere (locally, or later inside an
nnsight trace on NDIF). Indicator columns follow one layout (:data:`COLUMNS`): one window column
per vocabulary word group, then the union of all windows, the other tokens, and the matched
tokens themselves. Rows with neither the window nor the other column set are ignored (special
tokens, padding), so callers may pass whole padded batches.
"""

from __future__ import annotations

import math

import torch

__all__ = ["COLUMNS", "N_ROLE_COLUMNS", "accumulate", "log_bin_edges"]

#: Roles of the last indicator columns, after one column per word group.
COLUMNS: tuple[str, ...] = ("window", "other", "matched")
N_ROLE_COLUMNS = len(COLUMNS)


def log_bin_edges(low: float = 1e-3, high: float = 1e4, per_decade: int = 16) -> torch.Tensor:
    """Geometric bin edges ``[low, …, high]`` (float64) for the per-feature activation histogram.

    Histogram bins are ``(0, low)``, the geometric bins between the edges (ratio
    ``10**(1/per_decade)``, ±7.5 % at 16 per decade) and ``[high, ∞)``; zeros are not binned.
    """
    if not (0 < low < high) or per_decade < 1:
        raise ValueError(f"histogram edges need 0 < low < high and per_decade >= 1, got {low}, {high}, {per_decade}")
    decades = torch.log10(torch.tensor(high / low, dtype=torch.float64))
    n = int(torch.round(decades * per_decade).item())
    return low * torch.logspace(0, float(decades), n + 1, dtype=torch.float64)


def accumulate(
    acts: torch.Tensor, indicators: torch.Tensor, hist_edges: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Partial statistics of ``acts`` ``[N, F]`` (non-negative SAE codes) under ``indicators`` ``[N, G]``.

    Returns ``sum`` ``[G, F]`` (= indicatorsᵀ · acts, one dense matmul), ``count`` ``[G]``, ``sumsq``
    ``[2, F]`` (sums of squares over the window and the other rows, which the layout keeps exclusive),
    ``max`` ``[F]`` over counted rows,
    and with ``hist_edges`` (geometric, as from :func:`log_bin_edges`) ``hist``
    ``[F, len(hist_edges) + 1]``: counts of the positive activations of counted rows per bin. The
    squares, maxima and histogram touch only the non-zero activations (SAE codes are sparse).
    """
    if acts.dim() != 2 or indicators.dim() != 2 or acts.shape[0] != indicators.shape[0]:
        raise ValueError(f"accumulate needs acts [N, F] and indicators [N, G], got {tuple(acts.shape)} "
                         f"and {tuple(indicators.shape)}")
    if acts.dtype not in (torch.float32, torch.float64):
        acts = acts.float()
    n_feat = acts.shape[1]
    ind = indicators.to(acts.dtype)
    counted = (ind[:, -3] != 0) | (ind[:, -2] != 0)
    if not bool(counted.all()):
        acts = acts * counted[:, None].to(acts.dtype)  # uncounted rows (BOS, padding) contribute nothing
    rows, cols = acts.nonzero(as_tuple=True)
    values = acts[rows, cols]
    role = (ind[:, -2] != 0).long()[rows]  # 0: window row, 1: other row (the layout makes them exclusive)
    out = {
        "sum": ind.T @ acts,
        "count": (indicators != 0).sum(0),
        "sumsq": _sumsq(acts, ind, values, role * n_feat + cols, n_feat),
        "max": acts.new_zeros(n_feat).scatter_reduce_(0, cols, values, "amax"),
    }
    if hist_edges is not None:
        out["hist"] = _histogram(values, cols, n_feat, hist_edges)
    return out


def _sumsq(acts: torch.Tensor, ind: torch.Tensor, values: torch.Tensor, slots: torch.Tensor,
           n_feat: int) -> torch.Tensor:
    """``[2, F]`` sums of squares over window / other rows, bit-reproducible at any thread count.

    On the CPU a weighted ``bincount`` over the non-zeros (one serial pass in a fixed order; the
    former ``index_put_(accumulate=True)`` summed in a thread-dependent order). On CUDA, where
    ``bincount`` with weights uses atomics, a dense matmul of the two role columns (cuBLAS is
    deterministic for fixed shapes).
    """
    if acts.device.type == "cpu":
        return torch.bincount(slots, weights=values * values, minlength=2 * n_feat).reshape(2, n_feat).to(acts.dtype)
    return ind[:, -3:-1].T @ (acts * acts)


def _histogram(values: torch.Tensor, cols: torch.Tensor, n_feat: int, edges: torch.Tensor) -> torch.Tensor:
    """``[F, len(edges) + 1]`` counts of positive ``values`` of features ``cols`` per geometric bin."""
    n_edges = edges.numel()
    low, high = float(edges[0]), float(edges[-1])
    steps_per_log = (n_edges - 1) / math.log(high / low)
    bins = ((values.log() - math.log(low)) * steps_per_log).floor_().add_(1).clamp_(0, n_edges).long()
    return torch.bincount(cols * (n_edges + 1) + bins, minlength=n_feat * (n_edges + 1)).reshape(n_feat, n_edges + 1)
