"""The push ρ = ‖Δ‖ / mean‖x‖ is measured on the run's own real tokens, and --rho picks γ from it."""

from __future__ import annotations

import json

import pytest
import torch

from tl_reasoning import backend_for, feature_steering, generate, load_model, load_sae
from tl_reasoning.steering import add_steering
from tl_reasoning.steering.push import real_token_mask, strength_for_rho
from tl_reasoning.units import unit_directions

PROMPTS = ["Question: What is 959 + 928?\n", "Question: What is 12 + 7?\n"]
F_MAX = 16.0


@pytest.fixture(scope="module")
def sae():
    return load_sae("organism")


@pytest.fixture(scope="module")
def hooked():
    return load_model("organism", backend="hooked")


def _site(sae):
    from tl_reasoning.loading.saes import sae_site

    return sae_site(sae)


def test_forward_push_is_gamma_fmax_d_and_x_is_the_real_token_mean(hooked, sae):
    backend = backend_for(hooked)
    batch = backend.tokenize(PROMPTS, padding_side="left")
    steering = feature_steering(sae, [787], strength=2.0, f_max=F_MAX)
    with add_steering(hooked, steerings=steering) as handle:
        handle.set_prompt_mask(real_token_mask(backend, batch.input_ids, batch.attention_mask))
        backend.forward(batch.input_ids, batch.attention_mask)
        report = handle.push()[0]
    expected_push = float((2.0 * F_MAX * unit_directions(sae, [787])[0]).norm())
    assert report.push_norm == pytest.approx(expected_push, rel=1e-5)
    site = _site(sae)
    acts = backend.capture(batch.input_ids, [site], batch.attention_mask)[site]
    real = batch.attention_mask.bool() & (batch.input_ids != backend.bos_token_id)
    assert report.tokens == int(real.sum()) and report.changed_tokens == report.tokens
    assert report.x_norm == pytest.approx(float(acts.norm(dim=-1)[real].mean()), rel=1e-5)
    assert report.rho == pytest.approx(expected_push / report.x_norm, rel=1e-6)


def test_generate_reports_the_same_rho_on_every_backend(sae):
    steering = feature_steering(sae, [787], strength=2.0, f_max=F_MAX)
    rhos = {}
    for name in ("hooked", "bridge", "nnsight"):
        model = load_model("organism", backend=name)
        rows = generate(model, PROMPTS, 24, steering)
        assert rows[0].push == rows[1].push and len(rows[0].push) == 1
        rhos[name] = rows[0].push[0].rho
        assert generate(model, PROMPTS[0], 4)[0].push == ()  # unsteered: nothing to report
    assert rhos["bridge"] == pytest.approx(rhos["hooked"], rel=1e-4)
    assert rhos["nnsight"] == pytest.approx(rhos["hooked"], rel=1e-4)


def test_strength_for_rho_hits_the_requested_rho_on_the_prompt(hooked, sae):
    def make(gamma):
        return feature_steering(sae, [787, 873], strength=gamma, f_max=[F_MAX, 9.0])

    gamma = strength_for_rho(hooked, make, PROMPTS, 0.1)
    backend = backend_for(hooked)
    batch = backend.tokenize(PROMPTS, padding_side="left")
    with add_steering(hooked, steerings=make(gamma)) as handle:
        handle.set_prompt_mask(real_token_mask(backend, batch.input_ids, batch.attention_mask))
        backend.forward(batch.input_ids, batch.attention_mask)
        assert handle.push()[0].rho == pytest.approx(0.1, rel=1e-4)


def test_strength_for_rho_refuses_token_dependent_pushes_and_bad_values(hooked, sae):
    def cap(gamma):  # x − (x·d̂)d̂ + γ·f_max·d̂: the push depends on each token's projection
        return feature_steering(sae, [787], strength=gamma, f_max=F_MAX, mode="cap")

    with pytest.raises(ValueError, match="does not grow linearly"):
        strength_for_rho(hooked, cap, PROMPTS, 0.1)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rho must be a finite number > 0"):
            strength_for_rho(hooked, lambda g: None, PROMPTS, bad)


def test_steer_cli_reports_rho_and_takes_rho(capsys):
    from tl_reasoning.cli import main

    base = ["steer", "--model", "organism", "--sae", "organism", "--feature", "787", "--f-max", str(F_MAX),
            "--prompt", PROMPTS[0], "--max-new-tokens", "8", "--json"]
    assert main(base) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["push"]["rho"] > 0 and out["requested_rho"] is None
    assert out["features"][0]["strength"] == 2.0
    assert main([*base, "--rho", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requested_rho"] == 0.05 and out["features"][0]["strength"] < 2.0
    with pytest.raises(SystemExit):
        main([*base, "--rho", "0.05", "--strength", "1"])


def test_meter_without_a_prompt_mask_leaves_out_position_zero():
    from tl_reasoning.steering.push import PushMeter

    meter = PushMeter("s")
    edit = meter.wrap(lambda act, pos: act + 1.0)
    act = torch.zeros(2, 3, 4)
    act[:, 0] = 100.0  # an outlier BOS
    edit(act, torch.arange(3))
    report = meter.report()
    assert report.tokens == 4 and report.x_norm == 0.0 and report.push_norm == pytest.approx(2.0)
    assert report.rho is None  # no norm to divide by


def test_evaluate_reports_rho_per_condition(hooked, sae):
    import math

    from tl_reasoning.evaluation import evaluate, format_table, load_eval_benchmark

    steering = feature_steering(sae, [873], strength=0.5, f_max=9.0)
    res = evaluate(hooked, load_eval_benchmark("organism")[:2], {"steered": steering}, max_new_tokens=24,
                   batch_size=4, n_boot=50)
    rows = res.summary.set_index("condition")
    assert math.isnan(rows.loc["baseline", "rho"])
    steered = res.records[res.records["condition"] == "steered"]["rho"].astype(float)
    assert (steered > 0).all() and rows.loc["steered", "rho"] == pytest.approx(steered.mean())
    prompts = [item.prompt for item in load_eval_benchmark("organism")[:2]]
    direct = generate(hooked, prompts, 24, steering)[0].push[0].rho
    assert rows.loc["steered", "rho"] == pytest.approx(direct, rel=0.05)  # same push, prompts built alike
    assert "ρ" in format_table(res.summary).splitlines()[0]


def test_dashboard_steering_panel_shows_rho(tmp_path):
    from tl_reasoning.cli import main

    scores = tmp_path / "scores"
    assert main(["score", "--model", "organism", "--sae", "organism", "--data", "organism:reasoning",
                 "--max-docs", "8", "--out", str(scores)]) == 0
    out = tmp_path / "dash.html"
    assert main(["dashboard", "--model", "organism", "--sae", "organism", "--scores", str(scores), "--features",
                 "787", "--max-docs", "8", "--contexts", "2", "--steer-prompt", PROMPTS[0], "--out", str(out)]) == 0
    html = out.read_text()
    assert "steering at γ = 2" in html and "push ρ = ‖Δ‖/mean‖x‖ = " in html
