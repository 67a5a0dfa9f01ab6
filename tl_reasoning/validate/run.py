"""``validate``: how well do feature selectors find the planted reasoning features, and does steering them work?

1. **Selection.** Every selector (:data:`~tl_reasoning.validate.selectors.SELECTORS`) scores every
   feature; its top ``n`` (``n`` = the size of ReasonScore's selected set, the paper's quantile
   rule, for every selector alike) is compared with the ground-truth set: precision, recall, and
   the average precision of its full ranking (:mod:`.metrics`).
2. **Causal.** Steered at the same push ρ (``ρ = ‖Δ‖ / mean‖x‖``, converted to a strength per
   feature with :func:`~tl_reasoning.steering.push.strength_for_rho` on reasoning-corpus traces, whose
   residual norms are those of thinking tokens; additive pushes grow linearly, so ``γ(ρ) = ρ · γ(1)``;
   the ρ measured while generating is reported next to it): (a) the top ReasonScore features,
   (b) as many ground-truth features (highest AUC first), (c) the oracle direction and (d) random
   features matched to (a) on activation frequency and push
   (:func:`~tl_reasoning.evaluation.matched_random_features`). A group of features is one
   :class:`~tl_reasoning.evaluation.Averaged` condition (each feature steered alone, one run each),
   so its CI covers problems and features. Everything is sampled on the benchmark through
   :func:`~tl_reasoning.evaluation.evaluate`, whose summary (paired bootstrap) gives the
   dose-response table.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from tl_reasoning.validate.metrics import average_precision, precision, ranking_from_scores, recall, top_n
from tl_reasoning.validate.result import DOSE_COLUMNS, DOSE_METRICS, ValidationResult
from tl_reasoning.validate.selectors import SELECTORS

__all__ = ["GROUPS", "ValidationConfig", "ground_truth_for", "selection_table", "validate"]

#: Steered groups, in table order.
GROUPS = ("reason_score", "ground_truth", "oracle", "random")


@dataclass(frozen=True)
class ValidationConfig:
    """Sizes of a validation run; :meth:`quick` is the < 1 minute setting used by the tests."""

    problems: int = 32
    samples: int = 1
    rhos: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    positions: tuple[str, ...] = ("thinking",)
    n_steer: int = 2
    """Features steered in groups (a) and (b) (at most ReasonScore's selected set)."""
    n_random: int = 10
    """Random matched features in group (d)."""
    push_tolerance: float | None = 0.2
    max_new_tokens: int = 320
    batch_size: int = 32
    temperature: float = 0.6
    top_p: float = 0.95
    seed: int = 0
    n_boot: int = 1000
    confidence: float = 0.95
    calibration_prompts: int = 8
    output_rho: float = 0.2
    output_contexts: int = 8
    output_max_length: int = 64
    causal: bool = True

    @classmethod
    def quick(cls, **changes: Any) -> ValidationConfig:
        """A smoke-test size: 4 problems, 1 sample, 2 ρ, 1 feature per group, 2 random features."""
        base = cls(problems=4, samples=1, rhos=(0.1, 0.4), n_steer=1, n_random=2, max_new_tokens=256, batch_size=8,
                   n_boot=200, calibration_prompts=2, output_contexts=2, output_max_length=32)
        return replace(base, **changes)

    def check(self) -> None:
        for name in ("problems", "samples", "n_steer", "n_random", "max_new_tokens", "batch_size", "n_boot",
                     "calibration_prompts", "output_contexts", "output_max_length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        bad = [r for r in self.rhos if not (isinstance(r, int | float) and math.isfinite(r) and r > 0)]
        if not self.rhos or bad:
            raise ValueError(f"rho values must be finite numbers > 0, got {list(self.rhos)}")
        if not self.positions:
            raise ValueError("positions needs at least one rule (thinking, all, ...)")


def ground_truth_for(truth: dict[str, Any], sae_name: str) -> list[int]:
    """The ground-truth feature list of SAE ``sae_name`` in ``truth`` (``load_ground_truth()``)."""
    from tl_reasoning.organism.ground_truth import SAE_DIRS

    saes = truth.get("saes") or {}
    if sae_name not in saes:
        known = ", ".join(saes) or "none"
        if sae_name in SAE_DIRS:  # labelled by the rule, but its SAE was missing when the truth was built
            raise ValueError(f"no ground truth for SAE {sae_name!r} yet (the ground truth covers {known}); rebuild "
                             "it with python -m tl_reasoning.organism.ground_truth now that the SAE is there")
        raise ValueError(f"no ground truth for SAE {sae_name!r}: tl_reasoning.organism.ground_truth labels only the "
                         f"organism's SAEs ({known}); pass --sae with one of those")
    return [int(f) for f in saes[sae_name]["features"]]


def selection_table(scores: dict[str, Any], truth_features: Sequence[int], n_selected: int,
                    selected: dict[str, Sequence[int]] | None = None,
                    auc_hard: Sequence[float] | None = None) -> Any:
    """One row per selector: its top ``n_selected`` (or ``selected[name]``) and full ranking vs the truth.

    ``auc_hard``: every latent's AUC for step difficulty at decision points (the ground truth's
    ``auc_hard_all``); ``mean_auc_hard`` is its mean over the chosen features (0.5: no relation), a
    view that needs no threshold, so it says something also when the rule finds no true feature.
    """
    import pandas as pd

    rows = []
    for name, values in scores.items():
        chosen = list((selected or {}).get(name, top_n(values, n_selected)))
        mean_auc = (sum(float(auc_hard[int(f)]) for f in chosen) / len(chosen)
                    if auc_hard is not None and chosen else math.nan)
        rows.append({"selector": name, "n_selected": len(chosen),
                     "n_true_selected": len(set(chosen) & {int(f) for f in truth_features}),
                     "precision": precision(chosen, truth_features), "recall": recall(chosen, truth_features),
                     "average_precision": average_precision(ranking_from_scores(values), truth_features),
                     "mean_auc_hard": mean_auc})
    return pd.DataFrame(rows)


def _selector_scores(model: Any, sae: Any, result: Any, contexts: Sequence[str], config: ValidationConfig,
                     selectors: Sequence[str]) -> dict[str, Any]:
    from tl_reasoning.plugins import get_registry

    registry = get_registry("scorer")
    out: dict[str, Any] = {}
    for name in selectors:
        if name == "reason_score":
            out[name] = result.scores
        elif name == "output_score":
            out[name] = registry.get(name).obj(result.stats, model=model, sae=sae,
                                               contexts=list(contexts)[:config.output_contexts],
                                               rho=config.output_rho, max_length=config.output_max_length)
        elif name == "random":
            out[name] = registry.get(name).obj(result.stats, seed=config.seed)
        else:
            out[name] = registry.get(name).obj(result.stats)
    return out


def _feature_gamma(model: Any, sae: Any, feature: int, f_max: float, site: str, prompts: list[str]) -> float:
    """Strength per unit ρ of an additive single-feature steering (measured at all prompt tokens)."""
    from tl_reasoning.steering import feature_steering
    from tl_reasoning.steering.push import strength_for_rho

    return strength_for_rho(model, lambda g: feature_steering(sae, [feature], strength=g, f_max=f_max,
                                                              positions="all", site=site), prompts, 1.0)


def _conditions(model: Any, sae: Any, result: Any, truth: dict[str, Any], gt: list[int], site: str,
                prompts: list[str], config: ValidationConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(conditions, labels {name: (group, rho, positions)}, steered {group: features})``."""
    import torch

    from tl_reasoning.directions import direction_steering
    from tl_reasoning.evaluation import Averaged, ControlShortfallWarning, matched_random_features
    from tl_reasoning.steering import feature_steering
    from tl_reasoning.steering.fmax import f_max_from_stats
    from tl_reasoning.steering.push import strength_for_rho

    ranked = result.selected or ranking_from_scores(result.scores)
    top = [int(f) for f in ranked[:config.n_steer]]
    groups: dict[str, list[int]] = {"reason_score": top, "ground_truth": gt[:len(top)]}
    per = max(1, math.ceil(config.n_random / len(top)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ControlShortfallWarning)
        matches = matched_random_features(result.stats, top, per, config.seed, norms=sae,
                                          push_tolerance=config.push_tolerance)
    groups["random"] = [m.feature for m in matches][:max(config.n_random, len(top))]
    steered: dict[str, Any] = {g: f if f else "none" for g, f in groups.items()}
    shortfall = [str(w.message) for w in caught if issubclass(w.category, ControlShortfallWarning)]
    for other in (w for w in caught if not issubclass(w.category, ControlShortfallWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if shortfall:
        steered["random_shortfall"] = shortfall
    feats = sorted({f for g in ("reason_score", "ground_truth", "random") for f in groups[g]})
    f_max = dict(zip(feats, f_max_from_stats(result.stats, feats, sae=sae).tolist(), strict=True))
    gamma = {f: _feature_gamma(model, sae, f, f_max[f], site, prompts) for f in feats}
    direction = torch.as_tensor(truth["direction"]).float()
    oracle_gamma = strength_for_rho(model, lambda g: direction_steering(direction, site, g), prompts, 1.0)
    steered["oracle"] = f"direction ‖v‖ = {float(direction.norm()):.3g}"
    conditions: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for where in config.positions:
        for rho in config.rhos:
            for group in GROUPS:
                name = f"{group} ρ={rho:g} {where}"
                info = {"kind": "validation", "group": group, "rho": rho, "positions": where}
                if group == "oracle":
                    conditions[name] = direction_steering(direction, site, oracle_gamma * rho, positions=where)
                elif groups[group]:
                    runs = [feature_steering(sae, [f], strength=gamma[f] * rho, f_max=f_max[f], positions=where,
                                             site=site) for f in groups[group]]
                    conditions[name] = Averaged(runs, {**info, "features": groups[group]})
                else:
                    continue
                labels[name] = (group, rho, where)
    return conditions, labels, steered


def _dose_frame(summary: Any, labels: dict[str, Any]) -> Any:
    import pandas as pd

    rows = []
    for record in summary.to_dict(orient="records"):
        if record["condition"] not in labels:
            continue
        group, rho, where = labels[record["condition"]]
        row = {"group": group, "rho": rho, "positions": where, "n_runs": record.get("n_runs", 1),
               "measured_rho": record.get("rho"), "finished": record.get("finished")}
        for _, column, _, _ in DOSE_METRICS:
            row.update({f"{column}{s}": record.get(f"{column}{s}", math.nan) for s in ("", "_low", "_high")})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(DOSE_COLUMNS))


def validate(
    model: Any,
    sae: Any,
    result: Any,
    truth: dict[str, Any],
    *,
    sae_name: str,
    contexts: Sequence[str],
    benchmark: Any = "organism",
    config: ValidationConfig | None = None,
    selectors: Sequence[str] = SELECTORS,
    progress: bool | Callable[..., None] = False,
) -> ValidationResult:
    """Validate the selectors and the steering of ``sae`` against ``truth`` (module docstring).

    :param result: the :class:`~tl_reasoning.scoring.ScoreResult` of ReasonScore over the reasoning
        corpus (its statistics need maxima and histograms, as ``score_features`` collects by default).
    :param truth: :func:`tl_reasoning.organism.ground_truth.load_ground_truth` (``saes``, ``direction``).
    :param contexts: reasoning-corpus texts: the first ``output_contexts`` for the output score, the first
        ``calibration_prompts`` to convert ρ to strengths.
    :param benchmark: benchmark spec or :class:`~tl_reasoning.evaluation.EvalItem` list.
    """
    from tl_reasoning.evaluation import EvalItem, evaluate, load_eval_benchmark
    from tl_reasoning.loading.saes import check_sae_compatible

    config = config or ValidationConfig()
    config.check()
    gt = ground_truth_for(truth, sae_name)
    d_sae = int(sae.cfg.d_sae)
    if result.stats.n_features != d_sae:
        raise ValueError(f"the scores cover {result.stats.n_features} features but the SAE has {d_sae}")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    scores = _selector_scores(model, sae, result, contexts, config, selectors)
    timings["selectors_s"] = round(time.perf_counter() - start, 2)
    n_selected = len(result.selected)
    selection = selection_table(scores, gt, n_selected, {"reason_score": result.selected},
                                auc_hard=truth.get("saes", {}).get(sae_name, {}).get("auc_hard_all"))
    meta: dict[str, Any] = {
        "sae": sae_name, "d_sae": d_sae, "n_ground_truth": len(gt), "ground_truth": gt,
        "chance_precision": len(gt) / d_sae, "n_selected": n_selected, "quantile": result.quantile,
        "rule": truth.get("rule"), "config": {**asdict(config), "rhos": list(config.rhos),
                                              "positions": list(config.positions)},
        "n_problems": config.problems, "n_samples": config.samples, "temperature": config.temperature,
        "top_p": config.top_p, "confidence": config.confidence, "timings": timings,
    }
    if not config.causal:
        import pandas as pd

        meta["causal_skipped"] = "disabled (--no-causal)"
        return ValidationResult(selection, pd.DataFrame(columns=list(DOSE_COLUMNS)), meta)
    start = time.perf_counter()
    given = list(benchmark) if not isinstance(benchmark, str) else []
    items = given[:config.problems] if given and all(isinstance(i, EvalItem) for i in given) else \
        load_eval_benchmark(benchmark, config.problems)
    site = check_sae_compatible(model, sae, None)
    prompts = [str(t) for t in contexts][:config.calibration_prompts]
    if not prompts:
        raise ValueError("validate needs reasoning-corpus contexts to convert rho to strengths")
    conditions, labels, steered = _conditions(model, sae, result, truth, gt, site, prompts, config)
    meta["steered"] = steered
    timings["calibration_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    evaluation = evaluate(model, items, conditions, n_samples=config.samples, max_new_tokens=config.max_new_tokens,
                          batch_size=config.batch_size, do_sample=True, temperature=config.temperature,
                          top_p=config.top_p, seed=config.seed, n_boot=config.n_boot,
                          confidence=config.confidence, progress=progress)
    timings["evaluation_s"] = round(time.perf_counter() - start, 2)
    meta["n_problems"] = len(items)
    return ValidationResult(selection, _dose_frame(evaluation.summary, labels), meta, evaluation)
