"""Per-feature activation statistics gathered in one pass, from which every scorer works.

For each SAE feature: sums and counts of activations on reasoning-window tokens, on all other
tokens, per vocabulary word group and on the matched tokens themselves, sums of squares (for
Cohen's d), the maximum activation and a fixed-bin log histogram of positive activations (bounded
memory, mergeable; used for high quantiles such as a robust f_max). Keeping sums and counts (not
means) makes shards mergeable and lets scores with other α, ε or quantiles be recomputed without
touching the model.

Statistics are saved as one safetensors file whose header carries JSON metadata (configuration,
progress, data fingerprint) and a SHA-256 of the tensors, so corrupted files and statistics
computed under other settings are refused with an error naming the problem. The header records
the unit convention (:data:`~tl_reasoning.units.UNITS`: folded activations are ``f_i · ‖d_i‖`` with
``d_i = decode(e_i) − decode(0)``); files without it (the old ``‖W_dec,i‖`` fold) are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.stats_checks import (
    CHECKSUM_SCOPE,
    StatsFileError,
    StatsMismatchError,
    StatsUnitsError,
    check_config,
    check_same,
    check_units,
    checksum,
)
from tl_reasoning.units import UNITS

__all__ = ["FORMAT", "FORMAT_VERSION", "UNITS", "FeatureStats", "StatsFileError", "StatsMismatchError",
           "StatsUnitsError", "check_config", "check_units"]

FORMAT = "tl_reasoning.feature_stats"
FORMAT_VERSION = 1

#: Optional per-feature tensors beyond the core sums; ``None`` when not collected.
_OPTIONAL = ("sumsq_window", "sumsq_other", "sum_matched", "count_matched", "max_activation", "hist",
             "hist_edges", "decoder_norm")
_CORE = ("sum_window", "count_window", "sum_other", "count_other", "sum_word", "count_word")
#: Fields that add up when shards merge (``max_activation`` takes the maximum; the rest must agree).
_ADDITIVE = ("sum_window", "count_window", "sum_other", "count_other", "sum_word", "count_word", "sumsq_window",
             "sumsq_other", "sum_matched", "count_matched", "hist")
_SAME = ("hist_edges", "decoder_norm")


@dataclass
class FeatureStats:
    """Sums over tokens, per feature (``F`` = number of SAE features, ``W`` = word groups)."""

    words: list[str]
    sum_window: torch.Tensor
    """``[F]`` activation sums over tokens inside a reasoning-word window."""
    count_window: torch.Tensor
    """``[]`` number of window tokens."""
    sum_other: torch.Tensor
    """``[F]`` activation sums over all other (non-special) tokens."""
    count_other: torch.Tensor
    """``[]`` number of other tokens."""
    sum_word: torch.Tensor
    """``[W, F]`` activation sums over the window of each word group."""
    count_word: torch.Tensor
    """``[W]`` tokens in each word group's window."""
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    """Further moments a plugin's scorers need (saved and merged by summation)."""
    sumsq_window: torch.Tensor | None = None
    """``[F]`` sums of squared activations over window tokens."""
    sumsq_other: torch.Tensor | None = None
    """``[F]`` sums of squared activations over other tokens."""
    sum_matched: torch.Tensor | None = None
    """``[F]`` activation sums over the matched vocabulary tokens themselves (before the window)."""
    count_matched: torch.Tensor | None = None
    """``[]`` number of matched tokens."""
    max_activation: torch.Tensor | None = None
    """``[F]`` maximum activation over counted tokens (in the units of the sums)."""
    hist: torch.Tensor | None = None
    """``[F, B]`` counts of positive activations per bin (bins of :attr:`hist_edges`)."""
    hist_edges: torch.Tensor | None = None
    """``[B - 1]`` bin edges: bins ``(0, e0)``, ``[e0, e1)``, …, ``[e_last, ∞)``."""
    decoder_norm: torch.Tensor | None = None
    """``[F]`` the ‖d_i‖ (:func:`~tl_reasoning.units.unit_norms`) the activations were multiplied by
    (ones when raw)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """JSON metadata: ``config`` (what must match to merge or resume), ``progress``, ``sources``."""

    def __post_init__(self) -> None:
        n_feat = self.sum_window.shape[-1]
        if self.sum_other.shape != (n_feat,) or self.sum_word.shape != (len(self.words), n_feat):
            raise ValueError(
                f"inconsistent statistics: sum_window {tuple(self.sum_window.shape)}, sum_other "
                f"{tuple(self.sum_other.shape)}, sum_word {tuple(self.sum_word.shape)} for {len(self.words)} words"
            )
        for name in ("sumsq_window", "sumsq_other", "sum_matched", "max_activation", "decoder_norm"):
            value = getattr(self, name)
            if value is not None and value.shape != (n_feat,):
                raise ValueError(f"inconsistent statistics: {name} has shape {tuple(value.shape)}, expected ({n_feat},)")
        if self.hist is not None:
            if self.hist_edges is None or self.hist.shape != (n_feat, self.hist_edges.numel() + 1):
                raise ValueError(f"inconsistent statistics: hist {tuple(self.hist.shape)} does not fit "
                                 f"{n_feat} features and the histogram edges")

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def empty(
        cls,
        words: list[str],
        n_features: int,
        *,
        hist_edges: torch.Tensor | None = None,
        decoder_norm: torch.Tensor | None = None,
        meta: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> FeatureStats:
        """All-zero float64 accumulators with every optional statistic enabled (histogram if edges).

        ``device``: where the sums accumulate (keep them next to the activations on a GPU; the
        device must support float64).
        """
        f64 = torch.float64

        def zeros(*shape: int, dtype: torch.dtype = f64) -> torch.Tensor:
            return torch.zeros(*shape, dtype=dtype, device=device)

        return cls(
            list(words), zeros(n_features), zeros((), dtype=torch.long), zeros(n_features),
            zeros((), dtype=torch.long), zeros(len(words), n_features), zeros(len(words), dtype=torch.long),
            sumsq_window=zeros(n_features), sumsq_other=zeros(n_features), sum_matched=zeros(n_features),
            count_matched=zeros((), dtype=torch.long), max_activation=zeros(n_features),
            hist=None if hist_edges is None else zeros(n_features, hist_edges.numel() + 1, dtype=torch.long),
            hist_edges=None if hist_edges is None else hist_edges.to(device, f64),
            decoder_norm=(torch.ones(n_features, dtype=f64, device=device) if decoder_norm is None
                          else decoder_norm.detach().to(device, f64)),
            meta=dict(meta or {}),
        )

    def add_(self, partial: Mapping[str, torch.Tensor]) -> FeatureStats:
        """Add the output of :func:`tl_reasoning.scoring.kernels.accumulate` (in place)."""
        n_words = len(self.words)
        device = self.sum_window.device
        total = partial["sum"].detach().to(device, torch.float64)
        count = partial["count"].detach().to(device, torch.long)
        if total.shape != (n_words + 3, self.n_features):
            raise ValueError(f"partial sums {tuple(total.shape)} do not fit {n_words} words + 3 role columns "
                             f"and {self.n_features} features")
        self.sum_word += total[:n_words]
        self.count_word += count[:n_words]
        self.sum_window += total[n_words]
        self.count_window += count[n_words]
        self.sum_other += total[n_words + 1]
        self.count_other += count[n_words + 1]
        if self.sum_matched is not None:
            self.sum_matched += total[n_words + 2]
            self.count_matched += count[n_words + 2]
        if self.sumsq_window is not None and "sumsq" in partial:
            sq = partial["sumsq"].detach().to(device, torch.float64)
            self.sumsq_window += sq[0]
            self.sumsq_other += sq[1]
        if self.max_activation is not None and "max" in partial:
            torch.maximum(self.max_activation, partial["max"].detach().to(device, torch.float64),
                          out=self.max_activation)
        if self.hist is not None and "hist" in partial:
            self.hist += partial["hist"].detach().to(device, torch.long)
        return self

    # -- derived quantities -----------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return int(self.sum_window.shape[-1])

    @property
    def tokens_seen(self) -> int:
        """Tokens counted (window + other; BOS, EOS and padding never are)."""
        return int(self.count_window) + int(self.count_other)

    @property
    def docs_seen(self) -> int:
        return int(self.meta.get("progress", {}).get("docs_seen", 0))

    @staticmethod
    def _mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        return total / count.clamp(min=1).to(total.dtype)

    @property
    def mean_window(self) -> torch.Tensor:
        return self._mean(self.sum_window, self.count_window)

    @property
    def mean_other(self) -> torch.Tensor:
        return self._mean(self.sum_other, self.count_other)

    @property
    def mean_word(self) -> torch.Tensor:
        """``[W, F]`` mean activation per word group."""
        return self.sum_word / self.count_word.clamp(min=1).to(self.sum_word.dtype)[:, None]

    def _variance(self, total: torch.Tensor, sumsq: torch.Tensor | None, count: torch.Tensor) -> torch.Tensor:
        if sumsq is None:
            raise ValueError("these statistics have no sums of squares; recompute them with tl_reasoning.collect_stats")
        n = count.to(torch.float64).clamp(min=2)
        var = (sumsq.double() - total.double() ** 2 / n) / (n - 1)
        return var.clamp(min=0)

    @property
    def var_window(self) -> torch.Tensor:
        """``[F]`` sample variance over window tokens."""
        return self._variance(self.sum_window, self.sumsq_window, self.count_window)

    @property
    def var_other(self) -> torch.Tensor:
        """``[F]`` sample variance over other tokens."""
        return self._variance(self.sum_other, self.sumsq_other, self.count_other)

    def f_max(self, raw: bool = True) -> torch.Tensor:
        """``[F]`` maximum activation; ``raw=True`` divides out ‖d_i‖ (units of ``sae.encode``).

        Steering adds ``γ · f_max · d_i``: use raw f_max with ``d_i``
        (:func:`~tl_reasoning.units.unit_directions`).
        """
        if self.max_activation is None:
            raise ValueError("these statistics have no maximum activations; recompute them with collect_stats")
        if raw and self.decoder_norm is not None:
            return self.max_activation / self.decoder_norm.clamp(min=1e-12)
        return self.max_activation.clone()

    def activation_quantile(self, q: float, *, active_only: bool = True, raw: bool = False) -> torch.Tensor:
        """``[F]`` q-quantile of each feature's activation, estimated from the histogram.

        ``active_only``: over the tokens where the feature is positive (default), else over all
        counted tokens (zeros included). Within a bin the estimate interpolates geometrically
        (linearly in the first bin and, up to the maximum, in the last), so it is within one bin
        (±7.5 % at 16 bins per decade) of the exact quantile. Features never active get 0.
        """
        if self.hist is None or self.hist_edges is None or self.max_activation is None:
            raise ValueError("these statistics have no activation histogram; recompute them with collect_stats")
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile q must be in [0, 1], got {q}")
        counts = self.hist.double()
        edges = self.hist_edges.double()
        n_feat, n_bins = counts.shape
        lower = torch.cat([edges.new_zeros(1), edges]).expand(n_feat, n_bins)
        upper = torch.cat([edges, edges.new_full((1,), float("inf"))]).expand(n_feat, n_bins).clone()
        upper[:, -1] = torch.maximum(self.max_activation.double(), edges[-1])
        if not active_only:
            zeros = (float(self.tokens_seen) - counts.sum(1)).clamp(min=0)
            counts = torch.cat([zeros[:, None], counts], 1)
            lower = torch.cat([lower.new_zeros(n_feat, 1), lower], 1)
            upper = torch.cat([upper.new_zeros(n_feat, 1), upper], 1)
        total = counts.sum(1)
        cum = counts.cumsum(1)
        target = (q * total).clamp(min=1e-12)[:, None]
        idx = torch.searchsorted(cum, target).clamp(max=counts.shape[1] - 1)
        in_bin = counts.gather(1, idx).clamp(min=1e-12)
        before = cum.gather(1, idx) - counts.gather(1, idx)
        frac = ((target - before) / in_bin).clamp(0, 1)
        lo, hi = lower.gather(1, idx), upper.gather(1, idx)
        geometric = (lo > 0) & (hi > lo)
        value = torch.where(geometric, lo * (hi / lo.clamp(min=1e-300)) ** frac, lo + (hi - lo) * frac).squeeze(1)
        value = torch.minimum(value, self.max_activation.double())
        value = torch.where(total > 0, value, torch.zeros_like(value))
        if raw and self.decoder_norm is not None:
            value = value / self.decoder_norm.double().clamp(min=1e-12)
        return value

    # -- merging ----------------------------------------------------------------------------------
    def merge(self, *others: FeatureStats) -> FeatureStats:
        """One :class:`FeatureStats` equal to a single run over all shards' documents.

        Shards must share configuration, words, features, histogram edges and decoder norms
        (:class:`StatsMismatchError` names the first difference). Documents, tokens and data
        fingerprints add up (the fingerprint is an order-free sum of per-document hashes).
        """
        from tl_reasoning.scoring.fingerprint import DataFingerprint

        out = self.copy()
        for other in others:
            check_same(out, other, _OPTIONAL, _SAME)
            for name in _ADDITIVE:
                mine, theirs = getattr(out, name), getattr(other, name)
                if mine is not None:
                    setattr(out, name, mine + theirs)
            if out.max_activation is not None:
                out.max_activation = torch.maximum(out.max_activation, other.max_activation)
            for key in set(out.extra) | set(other.extra):
                if key not in out.extra or key not in other.extra:
                    raise StatsMismatchError(f"extra statistic {key!r} is in one shard but not the other")
                out.extra[key] = out.extra[key] + other.extra[key]
            mine_p, theirs_p = out.meta.get("progress", {}), other.meta.get("progress", {})
            fingerprint = DataFingerprint.parse(mine_p.get("fingerprint")).merge(
                DataFingerprint.parse(theirs_p.get("fingerprint")))
            out.meta["progress"] = {
                "docs_seen": int(mine_p.get("docs_seen", 0)) + int(theirs_p.get("docs_seen", 0)),
                "tokens_seen": out.tokens_seen, "fingerprint": str(fingerprint),
                "complete": bool(mine_p.get("complete", True) and theirs_p.get("complete", True)),
                "shards": int(mine_p.get("shards", 1)) + int(theirs_p.get("shards", 1)),
            }
        return out

    def to(self, device: str | torch.device) -> FeatureStats:
        """The same statistics with every tensor on ``device`` (a new object)."""
        out = self.copy()
        for f in fields(out):
            value = getattr(out, f.name)
            if isinstance(value, torch.Tensor):
                setattr(out, f.name, value.to(device))
        out.extra = {k: v.to(device) for k, v in out.extra.items()}
        return out

    def copy(self) -> FeatureStats:
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in kwargs.items():
            if isinstance(value, torch.Tensor):
                kwargs[name] = value.clone()
        kwargs["extra"] = {k: v.clone() for k, v in self.extra.items()}
        kwargs["meta"] = json.loads(json.dumps(self.meta))
        kwargs["words"] = list(self.words)
        return FeatureStats(**kwargs)

    # -- persistence ------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor by name (``extra.<key>`` for extras), contiguous, on the CPU."""
        out = {name: getattr(self, name) for name in (*_CORE, *_OPTIONAL) if getattr(self, name) is not None}
        out.update({f"extra.{k}": v for k, v in self.extra.items()})
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a safetensors file atomically (temporary file + rename; a kill never leaves half a file)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = self.tensors()
        header: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "units": UNITS, "words": self.words,
                                  "meta": self.meta, "checksum_scope": CHECKSUM_SCOPE}
        header["checksum"] = checksum(tensors, header)
        from tl_reasoning.scoring.outputs import write_atomic

        text = json.dumps(header)
        return write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={FORMAT: text}))

    @classmethod
    def load(cls, path: str | os.PathLike[str], expect_config: Mapping[str, Any] | None = None) -> FeatureStats:
        """Read a file written by :meth:`save`; refuse corrupted files, files in other units
        (:class:`StatsUnitsError`) and, with ``expect_config``, statistics computed under another configuration."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"statistics file {path} does not exist")
        try:
            with safe_open(str(path), framework="pt") as f:
                header_text = (f.metadata() or {}).get(FORMAT)
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
        except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
            raise StatsFileError(f"{path} is not a readable statistics file (corrupted or truncated: {exc}); "
                                 "delete it and compute the statistics again") from None
        if header_text is None:
            raise StatsFileError(f"{path} is a safetensors file but not tl-reasoning statistics (no {FORMAT} header)")
        try:
            header = json.loads(header_text)
        except json.JSONDecodeError as exc:
            raise StatsFileError(f"{path}: statistics header is not valid JSON ({exc.msg}); the file is corrupted") from None
        if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
            raise StatsFileError(f"{path}: statistics format {header.get('format')} v{header.get('version')} is not "
                                 f"{FORMAT} v{FORMAT_VERSION}; recompute them with this version")
        check_units(header.get("units"), str(path))
        # files since the header checksum cover words and metadata too; older ones only the tensors
        covered = {k: v for k, v in header.items() if k != "checksum"}
        expected = checksum(tensors, covered) if header.get("checksum_scope") == CHECKSUM_SCOPE else checksum(tensors)
        if expected != header.get("checksum"):
            raise StatsFileError(f"{path}: checksum mismatch, the statistics file (tensors or header: words, "
                                 "settings, progress) was modified or is corrupted; delete it and compute the "
                                 "statistics again")
        missing = [name for name in _CORE if name not in tensors]
        if missing:
            raise StatsFileError(f"{path}: statistics file lacks {missing}")
        kwargs: dict[str, Any] = {name: tensors.get(name) for name in (*_CORE, *_OPTIONAL)}
        extra = {k.removeprefix("extra."): v for k, v in tensors.items() if k.startswith("extra.")}
        try:
            stats = cls(words=list(header["words"]), extra=extra, meta=header.get("meta", {}), **kwargs)
        except ValueError as exc:
            raise StatsFileError(f"{path}: {exc}") from None
        if expect_config is not None:
            check_config(stats.meta.get("config", {}), expect_config, what=str(path))
        return stats
