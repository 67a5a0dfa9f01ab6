"""``run_demo``: the paper end to end on one model — score, dashboard, steering evaluation, diffing.

Steps (each timed, each written to its own sub-folder of the report):

1. ReasonScore of every SAE feature over the reasoning corpus (one pass) → ``scores/``;
2. the top candidates' dashboard → ``dashboard.html``;
3. steering evaluation on the benchmark: baseline, each candidate at γ, random features matched on
   activation frequency and push size at γ, the word ban and its random-word control → ``evaluation/``;
4. model diffing: the candidates' presence in the base model's SAE vs random features → ``diffing/``;
5. figures, the outcome check (issue #7's targets behind issue #14's gates), ``report.json``,
   ``report.html`` and ``table.md``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tl_reasoning.demo.config import DemoConfig, estimated_seconds
from tl_reasoning.demo.report import DemoReport, outcome_check, write_report
from tl_reasoning.estimates import minutes_text

__all__ = ["run_demo"]


def run_demo(
    config: DemoConfig | None = None,
    out: str | os.PathLike[str] = "runs/demo",
    *,
    progress: bool | Callable[[str], None] = True,
    threads: int | None = None,
) -> DemoReport:
    """Run every step of the demo with ``config`` into ``out``; returns the report (also on disk).

    ``progress``: ``True`` prints one line per step and per evaluation batch to stderr, a callable
    receives those lines, ``False`` is silent. ``threads``: torch's CPU threads during the run
    (default: :func:`tl_reasoning.threads.apply_thread_policy`'s rule, 1 for the organism unless
    OMP_NUM_THREADS / MKL_NUM_THREADS are set); the previous count is restored afterwards.
    """
    import torch

    previous = torch.get_num_threads()
    try:
        return _run(config or DemoConfig(), Path(out), _printer(progress), bool(progress), threads)
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _run(config: DemoConfig, out: Path, say: Callable[[str], None], progress: bool,
         threads: int | None) -> DemoReport:
    import torch

    import tl_reasoning as tr
    from tl_reasoning import evaluation as ev
    from tl_reasoning.figures import save_png, score_distribution_plot, steering_results_plot
    from tl_reasoning.threads import apply_thread_policy

    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def step(name: str) -> None:
        timings[name] = round(time.perf_counter() - start - sum(timings.values()), 2)

    estimate = estimated_seconds(config)
    if estimate is not None:
        say(f"[demo] this takes {minutes_text(estimate)} on 2 CPU cores shared with another job"
            + (" (--quick: under a minute)" if estimate >= 90 else ""))
    say(f"[demo] loading {config.model} ({config.backend}) and SAE {config.sae}")
    torch.manual_seed(config.seed)
    model = tr.load_model(config.model, backend=config.backend, device=config.device)
    choice = apply_thread_policy(model, threads=threads)
    say(f"[demo]     torch uses {torch.get_num_threads()} CPU thread(s): {choice.reason}")
    sae = tr.load_sae(config.sae, device=config.device)
    step("load")

    say(f"[demo] 1/5 ReasonScore over {config.score_docs} documents of {config.data}")
    scored = tr.score_features(model, sae, config.data, max_docs=config.score_docs)
    # what `tl-reasoning dashboard/figures --scores OUT/scores` need to find the model, SAE and data again
    scored.stats.meta["sources"] = {**(scored.stats.meta.get("sources") or {}), "model": config.model,
                                    "sae": config.sae, "data": config.data, "max_docs": config.score_docs}
    scored.save(out / "scores")
    candidates = [int(f) for f in scored.table["feature"].head(config.candidates)]
    say(f"[demo]     candidates (top {config.candidates}): {candidates}; "
        f"{len(scored.selected)} above the {scored.quantile} quantile")
    step("score")

    say(f"[demo] 2/5 dashboard of the top {config.dashboard_features} features")
    board = tr.feature_dashboard(model, sae, scored, config.data, top=config.dashboard_features,
                                 max_docs=config.dashboard_docs)
    board.save(out / "dashboard.html")
    step("dashboard")

    say(f"[demo] 3/5 steering evaluation on {config.problems} problems of {config.benchmark}")
    items = ev.load_eval_benchmark(config.benchmark, limit=config.problems)
    conditions: dict[str, Any] = ev.steering_conditions(
        sae, candidates, config.strength, mode=config.mode, stats=scored.stats, positions=config.positions)
    if config.random_per_feature > 0:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ev.ControlShortfallWarning)
            matches = ev.matched_random_features(scored.stats, candidates, config.random_per_feature, seed=config.seed,
                                                 exclude=set(scored.selected) | set(candidates), norms=sae,
                                                 push_tolerance=config.push_tolerance)
        for warning in caught:
            if issubclass(warning.category, ev.ControlShortfallWarning):
                say(f"[demo]     WARNING: {warning.message}")
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        say(f"[demo]     controls (frequency and push within ±{config.push_tolerance:.0%} matched): "
            + "; ".join(f"#{c}: {matches.found.get(c, 0)}/{config.random_per_feature}" for c in candidates))
        conditions.update(ev.random_feature_conditions(sae, matches, config.strength, mode=config.mode,
                                                       positions=config.positions))
    oracle = _add_oracle(model, sae, items, conditions, config, say)
    if config.word_ban:
        conditions["word ban"] = ev.WordBan()
        if config.random_word_bans > 0:
            conditions["random word ban"] = ev.RandomWordBans(n_runs=config.random_word_bans, seed=config.seed)
    sampling = config.samples > 1 or config.temperature > 0
    evaluation = ev.evaluate(model, items, conditions, max_new_tokens=config.max_new_tokens,
                             batch_size=config.batch_size, seed=config.seed, n_samples=config.samples,
                             do_sample=sampling, temperature=config.temperature or 0.6, top_p=config.top_p,
                             progress=_eval_progress(say) if progress else False)
    evaluation.save(out / "evaluation")
    step("evaluate")

    presence = None
    if config.base_sae:
        say(f"[demo] 4/5 model diffing: candidates of {config.sae} in {config.base_sae}")
        from tl_reasoning.diffing import diff_presence

        base_sae = tr.load_sae(config.base_sae, device=config.device)
        diff_candidates = scored.selected or candidates
        also = _diff_also(config)
        if also:
            from tl_reasoning.diffing import cross_layer_presence

            say(f"[demo]     and in {', '.join(also)}")
            saes = {config.sae: sae, config.base_sae: base_sae,
                    **{name: tr.load_sae(name, device=config.device) for name in also}}
            presence = cross_layer_presence(saes, {config.sae: diff_candidates}, threshold=config.diff_threshold,
                                            n_random=config.diff_random, seed=config.seed,
                                            frequencies_by_name={config.sae: scored.stats},
                                            targets=[config.base_sae, *also])
        else:
            presence = diff_presence(diff_candidates, sae, base_sae, threshold=config.diff_threshold,
                                     n_random=config.diff_random, seed=config.seed, frequencies=scored.stats,
                                     names=(config.sae, config.base_sae))
        presence.save(out / "diffing")
    else:
        say("[demo] 4/5 model diffing skipped (no base SAE)")
    step("diffing")

    validation = _validation(model, sae, scored, config, say)
    step("validation")

    say("[demo] 5/5 figures and report")
    figures = {
        "scores": save_png(score_distribution_plot(scored.table, quantile=scored.quantile), out / "scores.png"),
        "steering": save_png(steering_results_plot(evaluation.plot_frame()), out / "steering.png"),
    }
    if presence is not None and (out / "diffing" / "diff.png").is_file():
        figures["diffing"] = out / "diffing" / "diff.png"
    outcome = outcome_check(evaluation.summary, target=config.target_change, limit=config.control_limit,
                            n_problems=len(items), min_problems=config.min_verdict_problems)
    step("report")
    timings["total"] = round(time.perf_counter() - start, 2)
    from tl_reasoning.demo.claims import build_claims

    claims = build_claims(evaluation.summary, outcome,
                          None if validation is None else validation.to_json(), oracle_condition=oracle)
    report = DemoReport(config=config, out=out, candidates=candidates, scored=scored, evaluation=evaluation,
                        presence=presence, figures=figures, outcome=outcome, timings=timings,
                        validation=validation, claims=claims)
    write_report(report)
    say(f"[demo] done in {timings['total']:.0f} s → {out / 'report.html'}")
    return report


def _add_oracle(model: Any, sae: Any, items: Any, conditions: dict[str, Any], config: DemoConfig,
                say: Callable[[str], None]) -> str | None:
    """The positive control: the organism's planted oracle direction at ``config.oracle_rho`` (issue 15)."""
    if not config.oracle_rho or config.model != "organism":
        return None
    from tl_reasoning.directions import direction_steering
    from tl_reasoning.evaluation.prompting import build_prompts
    from tl_reasoning.loading.saes import sae_site
    from tl_reasoning.organism.ground_truth import load_ground_truth
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering.push import strength_for_rho

    try:
        truth = load_ground_truth()
    except FileNotFoundError as exc:
        say(f"[demo]     no oracle control: {exc}")
        return None
    site = sae_site(sae)
    if site != truth["rule"]["site"]:
        say(f"[demo]     no oracle control: the ground truth is at {truth['rule']['site']}, the SAE reads {site}")
        return None

    def make(gamma: float) -> Any:
        return direction_steering(truth["direction"], site, gamma, positions=config.positions)

    prompts = build_prompts(list(items[:16]), backend_for(model).tokenizer)
    gamma = strength_for_rho(model, make, prompts, config.oracle_rho)
    name = f"oracle direction ρ={config.oracle_rho:g}"
    conditions[name] = make(gamma)
    say(f"[demo]     positive control: {name} (strength {gamma:.3g}, ground truth at {site})")
    return name


def _validation(model: Any, sae: Any, scored: Any, config: DemoConfig, say: Callable[[str], None]) -> Any:
    """Selectors vs the organism's planted ground truth (``tl-reasoning validate --no-causal``); None elsewhere."""
    if config.model != "organism":
        return None
    import tl_reasoning as tr
    from tl_reasoning.organism.ground_truth import load_ground_truth
    from tl_reasoning.validate.run import ValidationConfig, validate

    try:
        truth = load_ground_truth()
    except FileNotFoundError as exc:
        say(f"[demo]     no validation: {exc}")
        return None
    if config.sae not in truth.get("saes", {}):
        say(f"[demo]     no validation: the ground truth covers the SAEs {sorted(truth.get('saes', {}))}")
        return None
    say(f"[demo]     validation: selectors vs the {len(truth['saes'][config.sae]['features'])} ground-truth "
        f"features of {config.sae}")
    contexts = [doc["text"] for doc, _ in zip(tr.load_corpus(config.data), range(64), strict=False)]
    smoke = config.problems < config.min_verdict_problems  # a --quick run: the quick output-score sizes
    sizes = ValidationConfig.quick(causal=False, seed=config.seed) if smoke else \
        ValidationConfig(causal=False, seed=config.seed)
    return validate(model, sae, scored, truth, sae_name=config.sae, contexts=contexts, config=sizes)


def _diff_also(config: DemoConfig) -> list[str]:
    """The extra SAEs of the diffing step (see :attr:`DemoConfig.diff_also`)."""
    if config.diff_also is not None:
        return [name.strip() for name in config.diff_also.split(",") if name.strip()]
    if config.sae != "organism":
        return []
    from tl_reasoning.plugins import get_registry

    return [name for name in get_registry("sae").names() if name.startswith("organism-stage-")]


def _printer(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:

        def write(line: str) -> None:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

        return write
    return lambda line: None


def _eval_progress(say: Callable[[str], None]) -> Callable[[Any], None]:
    """One line per finished evaluation batch."""

    def report(event: Any) -> None:
        run = f" run {event.run + 1}/{event.n_runs}" if event.n_runs > 1 else ""
        say(f"[demo]     {event.condition} ({event.condition_index + 1}/{event.n_conditions}){run}: "
            f"{event.done}/{event.total} generations, {event.elapsed:.0f} s")

    return report
