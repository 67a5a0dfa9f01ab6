"""Model diffing (paper v2 §4.4, App. D.1): are the ReasonScore candidates of one SAE present in another?

For a source SAE with candidate features and a target SAE of the same model width, a candidate is
present when its decoder direction has a target decoder direction with cosine >= ``threshold``
(0.7 in the paper). The share of present candidates is compared with the share of present random
features of the same source SAE (uniform, or matched on activation frequency), each with a Wilson
interval, plus a bootstrap interval of the difference and Fisher's exact test. The paper's result:
reasoning features are mostly absent from the base model's SAE while random features mostly are
present.

:func:`diff_presence` does this for a reasoning/base pair (both directions when both have
candidates); :func:`cross_layer_presence` for any number of SAEs (layers of one model, base and
reasoning models at several layers), giving a source x target matrix of presence fractions.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tl_reasoning.diffing.decoders import Decoder, as_decoder
from tl_reasoning.diffing.intervals import bootstrap_difference, fisher_exact, wilson_interval
from tl_reasoning.diffing.matching import (
    DEFAULT_CHUNK,
    MatchMethod,
    MatchResult,
    check_same_width,
    match_decoders,
    resolve_method,
)
from tl_reasoning.diffing.sampling import sample_random_features

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DirectionPresence", "PresenceResult", "cross_layer_presence", "diff_presence", "load_candidates"]

FORMAT = "tl_reasoning.diff_presence"
FORMAT_VERSION = 1


def load_candidates(
    scores: Any = None, *, top: int | None = None, features: Sequence[int] | None = None,
) -> list[int]:
    """Candidate feature ids, best first.

    ``features`` (explicit ids) wins. Otherwise ``scores`` is a sequence of ids, a
    :class:`~tl_reasoning.ScoreResult`, a scores ``DataFrame`` or a ``tl-reasoning score`` output
    (directory or ``scores.csv``); from a table, ``top`` takes the ``top`` best ranked features and
    without it the ``selected`` ones (ReasonScore above the quantile) are taken.
    """
    if features is not None:
        return _ids(features, "features")
    if scores is None:
        raise ValueError("no candidates: pass scores (a ScoreResult, DataFrame or scores.csv) or features")
    table = _score_table(scores)
    if table is None:
        ids = _ids(scores, "candidates")
        return ids[:top] if top is not None else ids
    if "feature" not in table.columns:
        raise ValueError(f"the scores table has no 'feature' column; columns: {list(table.columns)}")
    if "rank" in table.columns:
        table = table.sort_values("rank", kind="stable")
    elif "reason_score" in table.columns:
        table = table.sort_values("reason_score", ascending=False, kind="stable")
    if top is not None:
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        return _ids(table["feature"].head(top).tolist(), "features")
    if "selected" not in table.columns:
        raise ValueError("the scores table has no 'selected' column; choose candidates with top=N (--top N)")
    chosen = table.loc[table["selected"].astype(bool), "feature"].tolist()
    if not chosen:
        raise ValueError("no feature of the scores table is selected; choose candidates with top=N (--top N)")
    return _ids(chosen, "features")


def _score_table(scores: Any) -> pd.DataFrame | None:
    import pandas as pd

    from tl_reasoning.scoring.result import ScoreResult

    if isinstance(scores, ScoreResult):
        return scores.table
    if isinstance(scores, pd.DataFrame):
        return scores
    if isinstance(scores, (str, os.PathLike)):
        path = Path(scores)
        csv = path / "scores.csv" if path.is_dir() else path
        if not csv.is_file():
            hint = f" (a demo folder: use {path / 'scores'})" if (path / "scores" / "scores.csv").is_file() else ""
            raise FileNotFoundError(f"{csv} not found; `tl-reasoning score --out DIR` writes DIR/scores.csv{hint}")
        from tl_reasoning.stats_checks import check_score_folder

        check_score_folder(csv)
        try:
            return pd.read_csv(csv)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{csv} is not a readable scores CSV: {exc}") from None
    return None


def _ids(values: Any, what: str) -> list[int]:
    try:
        raw = values.tolist() if hasattr(values, "tolist") else list(values)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of feature ids, got {type(values).__name__}") from None
    out: list[int] = []
    seen: set[int] = set()
    for v in raw:
        if isinstance(v, bool) or float(v) != int(v):
            raise ValueError(f"{what} must be integer feature ids, got {v!r}")
        f = int(v)
        if f < 0:
            raise ValueError(f"{what} must be non-negative feature ids, got {f}")
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


@dataclass(frozen=True)
class DirectionPresence:
    """Candidates (and random features) of ``source`` matched into ``target``, with statistics."""

    candidates: MatchResult
    random: MatchResult | None
    random_kind: str
    """``uniform``, ``frequency-matched`` or ``none``."""
    confidence: float = 0.95
    n_boot: int = 2000
    seed: int = 0

    @property
    def source(self) -> str:
        return self.candidates.source

    @property
    def target(self) -> str:
        return self.candidates.target

    def stats(self) -> dict[str, Any]:
        """Counts, fractions, intervals, difference (candidates − random) and Fisher p-value."""
        c = self.candidates
        lo, hi = wilson_interval(c.n_present, len(c), self.confidence)
        row: dict[str, Any] = {
            "source": self.source, "target": self.target, "n_candidates": len(c), "present_candidates": c.n_present,
            "fraction_candidates": c.fraction_present, "ci_low": lo, "ci_high": hi,
            "median_cosine_candidates": _median(c.cosine),
        }
        r = self.random
        if r is None or len(r) == 0:
            nan = math.nan
            row.update(n_random=0, present_random=0, fraction_random=nan, random_ci_low=nan, random_ci_high=nan,
                       difference=nan, difference_ci_low=nan, difference_ci_high=nan, p_value=nan,
                       median_cosine_random=nan)
        else:
            r_lo, r_hi = wilson_interval(r.n_present, len(r), self.confidence)
            d_lo, d_hi = bootstrap_difference(c.n_present, len(c), r.n_present, len(r), confidence=self.confidence,
                                              n_boot=self.n_boot, seed=self.seed)
            row.update(n_random=len(r), present_random=r.n_present, fraction_random=r.fraction_present,
                       random_ci_low=r_lo, random_ci_high=r_hi,
                       difference=c.fraction_present - r.fraction_present, difference_ci_low=d_lo,
                       difference_ci_high=d_hi, p_value=fisher_exact(c.n_present, len(c), r.n_present, len(r)),
                       median_cosine_random=_median(r.cosine))
        row["random_baseline"] = self.random_kind
        return row


def _median(values: torch.Tensor) -> float:
    finite = values[~torch.isnan(values)]
    return float(finite.median()) if finite.numel() else math.nan


@dataclass
class PresenceResult:
    """Presence of each source SAE's candidates in every other SAE, against random features.

    ``directions``: one :class:`DirectionPresence` per (source, target) pair, sources in the order
    given, targets in the order of ``names``.
    """

    names: list[str]
    directions: list[DirectionPresence]
    threshold: float
    method: MatchMethod
    settings: dict[str, Any] = field(default_factory=dict)

    def direction(self, source: str | None = None, target: str | None = None) -> DirectionPresence:
        """The pair ``source`` → ``target`` (default: the first pair computed)."""
        for d in self.directions:
            if (source is None or d.source == source) and (target is None or d.target == target):
                return d
        pairs = ", ".join(f"{d.source}->{d.target}" for d in self.directions) or "none"
        raise KeyError(f"no presence computed for {source or '*'} -> {target or '*'}; computed: {pairs}")

    def fraction(self, source: str | None = None, target: str | None = None, group: str = "candidates") -> float:
        """Share of ``group`` (``candidates`` or ``random``) of ``source`` present in ``target``."""
        d = self.direction(source, target)
        if group == "candidates":
            return d.candidates.fraction_present
        if group == "random":
            return d.random.fraction_present if d.random is not None else math.nan
        raise ValueError(f"group must be 'candidates' or 'random', got {group!r}")

    def summary_frame(self) -> pd.DataFrame:
        """One row per (source, target): counts, fractions with intervals, difference, p-value."""
        import pandas as pd

        return pd.DataFrame([d.stats() for d in self.directions])

    def matrix(self, group: str = "candidates") -> pd.DataFrame:
        """Sources x targets table of presence fractions of ``group`` (NaN where not computed)."""
        import pandas as pd

        frame = pd.DataFrame(math.nan, index=pd.Index(self.names, name="source"),
                             columns=pd.Index(self.names, name="target"))
        for d in self.directions:
            frame.loc[d.source, d.target] = self.fraction(d.source, d.target, group)
        return frame

    def to_frame(self) -> pd.DataFrame:
        """Per-feature rows: source, target, group, feature, match, cosine, present (and mutual)."""
        import pandas as pd

        parts = []
        for d in self.directions:
            for group, m in (("candidate", d.candidates), ("random", d.random)):
                if m is None or len(m) == 0:
                    continue
                part = m.to_frame()
                part.insert(0, "group", group)
                part.insert(0, "target", d.target)
                part.insert(0, "source", d.source)
                parts.append(part)
        columns = ["source", "target", "group", "feature", "match", "cosine", "present"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

    def summary(self) -> str:
        """A printable table: per pair, candidates vs random present, with intervals and p-value."""
        pct = int(round(self.settings.get("confidence", 0.95) * 100))
        lines = [f"Decoder presence (cosine >= {self.threshold:g}, matching: {self.method}, {pct}% intervals)"]
        header = f"{'source -> target':<32} {'candidates present':>26} {'random present':>26} {'diff':>7} {'p':>8}"
        lines += [header, "-" * len(header)]
        for row in (d.stats() for d in self.directions):
            pair = f"{row['source']} -> {row['target']}"
            cand = _cell(row["present_candidates"], row["n_candidates"], row["ci_low"], row["ci_high"])
            if row["n_random"]:
                rand = _cell(row["present_random"], row["n_random"], row["random_ci_low"], row["random_ci_high"])
                diff, p = f"{100 * row['difference']:+.0f}pp", f"{row['p_value']:.2g}"
            else:
                rand, diff, p = "-", "-", "-"
            lines.append(f"{pair:<32} {cand:>26} {rand:>26} {diff:>7} {p:>8}")
        kinds = sorted({d.random_kind for d in self.directions if d.random_kind != "none"})
        if kinds:
            lines.append(f"random baseline: {', '.join(kinds)} features of the source SAE, seed "
                         f"{self.settings.get('seed', 0)}")
        return "\n".join(lines)

    def figure(self, max_histograms: int = 6) -> Any:
        """Presence bars and cosine histograms in one figure (see :func:`~tl_reasoning.diffing.diffing_figure`)."""
        from tl_reasoning.diffing.plots import diffing_figure

        return diffing_figure(self, max_histograms=max_histograms)

    def to_json(self) -> dict[str, Any]:
        """Everything needed to rebuild the tables: settings, summary rows, matrices, per-feature rows."""
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "names": self.names, "threshold": self.threshold,
            "method": self.method, "settings": self.settings,
            "summary": _records(self.summary_frame()),
            "matrix": {"candidates": _matrix_json(self.matrix("candidates")),
                       "random": _matrix_json(self.matrix("random"))},
            "features": _records(self.to_frame()),
        }

    def save(self, out_dir: str | os.PathLike[str], *, figure: bool = True) -> dict[str, Path]:
        """Write the results into ``out_dir``; returns the paths by kind.

        ``diff.json`` (settings, summary, matrices, per-feature rows), ``diff_summary.csv`` (one row
        per pair), ``diff_features.csv`` (one row per feature and pair), ``diff_matrix.csv`` /
        ``diff_matrix_random.csv`` (source x target presence fractions) and, with ``figure=True``,
        ``diff.png``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "diff.json", "summary": out / "diff_summary.csv",
                 "features": out / "diff_features.csv", "matrix": out / "diff_matrix.csv"}
        paths["json"].write_text(json.dumps(self.to_json(), indent=2, allow_nan=False), encoding="utf-8")
        self.summary_frame().to_csv(paths["summary"], index=False)
        self.to_frame().to_csv(paths["features"], index=False)
        paths["matrix_random"] = out / "diff_matrix_random.csv"
        self.matrix("candidates").to_csv(paths["matrix"])
        self.matrix("random").to_csv(paths["matrix_random"])
        if figure:
            from tl_reasoning.figures import save_png

            paths["figure"] = save_png(self.figure(), out / "diff.png")
        return paths


def _cell(present: int, n: int, lo: float, hi: float) -> str:
    return f"{present}/{n} = {100 * present / n:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]" if n else "0/0"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _matrix_json(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {str(s): {str(t): _plain(frame.loc[s, t]) for t in frame.columns} for s in frame.index}


def _plain(value: Any) -> Any:
    """JSON-safe scalar: numpy types to Python, NaN to ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def cross_layer_presence(
    saes: Mapping[str, Any],
    candidates_by_name: Mapping[str, Any],
    *,
    threshold: float = 0.7,
    n_random: int = 200,
    seed: int = 0,
    frequencies_by_name: Mapping[str, Any] | None = None,
    targets: Sequence[str] | None = None,
    one_to_one: bool | MatchMethod | None = False,
    chunk: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
) -> PresenceResult:
    """Presence of each SAE's candidates in every other SAE (layers, models, training stages).

    ``saes``: name → SAE (anything :func:`~tl_reasoning.diffing.as_decoder` accepts; all of one model
    width). ``candidates_by_name``: name → candidates of that SAE (ids, a ``ScoreResult``, a scores
    table or directory; see :func:`load_candidates`); SAEs without an entry are only targets.
    ``targets``: restrict the targets (default: all other SAEs). ``n_random`` random non-candidate
    features per source, drawn once (seed ``seed + k`` for the k-th source) and used for every
    target, so targets are compared on the same features; uniform, or
    frequency-matched to the candidates when ``frequencies_by_name[name]`` is given (anything
    :func:`~tl_reasoning.diffing.activation_frequencies` accepts). Matching options as in
    :func:`~tl_reasoning.diffing.match_decoders`.
    """
    if not saes:
        raise ValueError("no SAEs given")
    unknown = [n for n in candidates_by_name if n not in saes]
    if unknown:
        raise ValueError(f"candidates given for {unknown[0]!r}, which is not among the SAEs {list(saes)}")
    if not candidates_by_name:
        raise ValueError("no candidates given for any SAE")
    targets = list(saes) if targets is None else list(targets)
    missing = [t for t in targets if t not in saes]
    if missing:
        raise ValueError(f"target {missing[0]!r} is not among the SAEs {list(saes)}")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    method = resolve_method(one_to_one)
    decoders = {name: as_decoder(sae, str(name)) for name, sae in saes.items()}
    first = next(iter(decoders.values()))
    for dec in decoders.values():
        check_same_width(first, dec)
    frequencies_by_name = frequencies_by_name or {}
    stray = [n for n in frequencies_by_name if n not in candidates_by_name]
    if stray:
        raise ValueError(f"frequencies given for {stray[0]!r}, which has no candidates; frequencies match the "
                         "random features of a source SAE to its candidates")
    directions: list[DirectionPresence] = []
    random_by_source: dict[str, list[int]] = {}
    candidates = {source: load_candidates(spec) for source, spec in candidates_by_name.items()}
    for s_index, (source, cands) in enumerate(candidates.items()):
        src = decoders[source]
        if not cands:
            raise ValueError(f"no candidates given for {source!r}")
        src.rows_of(cands)  # range check with a clear error before any work
        freq = frequencies_by_name.get(source)
        rand = _random_features(src, cands, n_random, seed + s_index, freq)
        random_by_source[source] = rand
        kind = "none" if not rand else ("frequency-matched" if freq is not None else "uniform")
        for target in targets:
            if target == source:
                continue
            tgt = decoders[target]
            cand_m, rand_m = _match_groups(src, tgt, cands, rand, threshold, method, chunk, device)
            directions.append(DirectionPresence(cand_m, rand_m, kind, confidence, n_boot, seed))
    if not directions:
        raise ValueError("nothing to compare: every target is the source itself; give at least two SAEs")
    settings = {"threshold": float(threshold), "method": method, "n_random": n_random, "seed": seed,
                "confidence": confidence, "n_boot": n_boot, "chunk": chunk,
                "d_in": first.d_in, "d_sae": {n: d.d_sae for n, d in decoders.items()},
                "candidates": candidates,
                "random_features": random_by_source}
    return PresenceResult(list(saes), directions, float(threshold), method, settings)


def _random_features(src: Decoder, cands: list[int], n: int, seed: int, freq: Any) -> list[int]:
    if src.ids is not None:  # a SAEWeights subset: draw among the features it holds
        if freq is not None:
            raise ValueError(f"frequency-matched random features need the whole SAE {src.name!r}, not a "
                             "SAEWeights subset; pass the SAE or drop the frequencies")
        held = [int(f) for f in src.ids.tolist() if int(f) not in set(cands)]
        if n > len(held):
            raise ValueError(f"asked for {n} random features but {src.name!r} holds only {len(held)} non-candidate "
                             "features; pass the whole SAE or fewer random features")
        picks = sample_random_features(len(held), n, seed=seed)
        return sorted(held[i] for i in picks)
    return sample_random_features(src.d_sae, n, exclude=cands, seed=seed, frequencies=freq)


def _match_groups(
    src: Decoder, tgt: Decoder, cands: list[int], rand: list[int], threshold: float, method: MatchMethod,
    chunk: int, device: str | torch.device | None,
) -> tuple[MatchResult, MatchResult | None]:
    """Match candidates and random features; one pass when they do not compete (not greedy)."""
    if method == "greedy" or not rand:
        cand_m = match_decoders(src, tgt, threshold, features=cands, chunk=chunk, one_to_one=method, device=device)
        rand_m = (match_decoders(src, tgt, threshold, features=rand, chunk=chunk, one_to_one=method, device=device)
                  if rand else None)
        return cand_m, rand_m
    both = match_decoders(src, tgt, threshold, features=cands + rand, chunk=chunk, one_to_one=method, device=device)
    k = len(cands)
    return _take(both, slice(0, k)), _take(both, slice(k, None))


def _take(m: MatchResult, part: slice) -> MatchResult:
    return MatchResult(m.source, m.target, m.features[part], m.match[part], m.cosine[part], m.threshold, m.method,
                       None if m.mutual is None else m.mutual[part])


def diff_presence(
    candidates: Any,
    sae_reasoning: Any,
    sae_base: Any,
    *,
    threshold: float = 0.7,
    n_random: int = 200,
    seed: int = 0,
    frequencies: Any = None,
    base_candidates: Any = None,
    base_frequencies: Any = None,
    names: tuple[str, str] = ("reasoning", "base"),
    one_to_one: bool | MatchMethod | None = False,
    chunk: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
) -> PresenceResult:
    """Share of the reasoning SAE's ReasonScore ``candidates`` present in the base model's SAE.

    The paper's model diffing (v2 §4.4): a candidate is present when some base decoder direction has
    cosine >= ``threshold`` with it; compared with ``n_random`` random non-candidate features of the
    reasoning SAE (frequency-matched when ``frequencies`` of the reasoning SAE's features are given).
    With ``base_candidates`` (e.g. ReasonScore run on the base SAE) the reverse direction is computed
    too. ``candidates``: ids, a ``ScoreResult``, a scores table or ``tl-reasoning score`` directory.
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different labels, got {names!r}")
    cands = {names[0]: candidates}
    freqs = {names[0]: frequencies} if frequencies is not None else {}
    if base_candidates is not None:
        cands[names[1]] = base_candidates
        if base_frequencies is not None:
            freqs[names[1]] = base_frequencies
    return cross_layer_presence({names[0]: sae_reasoning, names[1]: sae_base}, cands, threshold=threshold,
                                n_random=n_random, seed=seed, frequencies_by_name=freqs, one_to_one=one_to_one,
                                chunk=chunk, device=device, confidence=confidence, n_boot=n_boot)
