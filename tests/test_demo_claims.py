"""The demo's ``claims`` object: fixed keys, values copied from the measured rows, None when missing."""

from __future__ import annotations

import math

import pandas as pd

from tl_reasoning.demo.claims import build_claims

KEYS = {"verdict", "candidates", "controls", "oracle", "ground_truth"}


def _summary() -> pd.DataFrame:
    rows = [
        {"condition": "baseline", "kind": "baseline", "feature": None},
        {"condition": "#7 γ=2", "kind": "steering", "feature": 7, "rho": 0.31, "thinking_tokens_rel": 25.0,
         "word_rate_rel": 40.0, "accuracy_diff": 0.03, "finished": 0.97},
        {"condition": "#9 γ=2", "kind": "steering", "feature": 9, "rho": 0.2, "thinking_tokens_rel": math.nan,
         "word_rate_rel": -1.0, "accuracy_diff": -0.1, "finished": 0.5},
        {"condition": "random", "kind": "random_features", "feature": "random"},
        *[{"condition": f"c{i}", "kind": "control_feature", "feature": 100 + i} for i in range(3)],
        {"condition": "oracle direction ρ=0.2", "kind": "direction", "feature": 0, "rho": 0.2,
         "thinking_tokens_rel": 30.0, "word_rate_rel": 50.0, "accuracy_diff": 0.05, "finished": 1.0},
    ]
    return pd.DataFrame(rows)


def _outcome(reproduced):
    return {"reproduced": reproduced, "text": "t",
            "checks": {"thinking_tokens": {"controls_mean_abs_percent": 2.5},
                       "word_rate": {"controls_mean_abs_percent": 1.25}}}


def test_claims_copy_the_measured_rows():
    validation = {"n_true": 4, "selectors": {
        "reason_score": {"precision": 0.5, "recall": 0.25, "average_precision": 0.3},
        "separability": {"precision": 0.1, "recall": 0.1, "average_precision": 0.6},
        "random": {"precision": 0.0, "recall": 0.0, "average_precision": 0.01}}}
    claims = build_claims(_summary(), _outcome(False), validation, oracle_condition="oracle direction ρ=0.2")
    assert KEYS <= set(claims) and claims["verdict"] == "NOT REPRODUCED"
    first, second = claims["candidates"]
    assert first == {"feature": 7, "rho": 0.31, "delta_thinking_pct": 25.0, "delta_word_rate_pct": 40.0,
                     "delta_accuracy_pts": 3.0, "finished_pct": 97.0}
    assert second["delta_thinking_pct"] is None and second["delta_accuracy_pts"] == -10.0
    assert claims["controls"] == {"n": 3, "mean_abs_delta_thinking_pct": 2.5, "mean_abs_delta_word_rate_pct": 1.25}
    assert claims["oracle"]["delta_thinking_pct"] == 30.0 and claims["oracle"]["finished_pct"] == 100.0
    gt = claims["ground_truth"]
    assert gt["n_true"] == 4 and gt["average_precision"] == 0.3 and gt["recall"] == 0.25
    assert gt["baselines"] == {"separability": {"average_precision": 0.6, "mean_auc_hard": None},
                               "random": {"average_precision": 0.01, "mean_auc_hard": None}}


def test_claims_verdicts_and_missing_parts():
    assert build_claims(_summary(), _outcome(True))["verdict"] == "REPRODUCED"
    smoke = build_claims(_summary(), _outcome(None))
    assert smoke["verdict"] == "NOT REPRODUCED" and smoke["no_verdict_reason"] == "t"
    assert smoke["oracle"] is None and smoke["ground_truth"] is None


def test_claims_read_a_validation_result_json():
    validation = {"meta": {"n_ground_truth": 3}, "selection": [
        {"selector": "reason_score", "precision": 1 / 3, "recall": 1.0, "average_precision": 0.5},
        {"selector": "output_score", "precision": 0.0, "recall": 0.0, "average_precision": 0.125,
         "mean_auc_hard": 0.61}]}
    gt = build_claims(_summary(), _outcome(False), validation)["ground_truth"]
    assert gt["n_true"] == 3 and gt["precision"] == 0.3333 and gt["average_precision"] == 0.5
    assert gt["baselines"] == {"output_score": {"average_precision": 0.125, "mean_auc_hard": 0.61}}
