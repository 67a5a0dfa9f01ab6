"""Issue #14 items 3-4: push-matched controls, the runs-and-problems bootstrap, repetition, the gates."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from tl_reasoning.evaluation import (
    ControlShortfallWarning,
    Criteria,
    gate_values,
    matched_random_features,
    paired_bootstrap,
    paired_bootstrap_runs,
    random_feature_conditions,
    repetition_rate,
)
from tl_reasoning.evaluation.summary import summarize


# -- repetition ---------------------------------------------------------------------------------
def test_repetition_rate_on_hand_made_sequences():
    assert repetition_rate(list(range(50))) == 0.0  # nothing repeats
    wait = [7] * 50  # "Wait Wait Wait ..." as one token repeated
    assert repetition_rate(wait) == pytest.approx((50 - 4) / (50 - 3))
    assert repetition_rate([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(1 / 5)  # abcd bcda cdab dabc abcd
    cycle = [1, 2, 3, 4] * 10
    assert repetition_rate(cycle) == pytest.approx((40 - 7) / (40 - 3))
    assert repetition_rate([5, 5, 5, 5]) == 0.0  # a single 4-gram cannot repeat
    assert repetition_rate([]) == 0.0
    # 3 repeated tokens inside otherwise new text: no repeated 4-gram
    assert repetition_rate([1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 3, 7]) == 0.0
    assert repetition_rate([1, 2, 1, 2, 1], n=2) == pytest.approx(2 / 4)


def test_wait_wait_text_through_the_organism_tokenizer_scores_high():
    from transformers import AutoTokenizer

    from tl_reasoning.organism import model_dir

    tok = AutoTokenizer.from_pretrained(model_dir("organism"))
    wait = tok("Wait" + " Wait" * 80, add_special_tokens=False)["input_ids"]
    prose = tok("First add the two numbers, then check the carry. So the sum is 12, and 12 minus 5 leaves 7; "
                "multiply by three to get 21, which is odd.", add_special_tokens=False)["input_ids"]
    assert repetition_rate(wait) > 0.9
    assert repetition_rate(prose) < 0.1


# -- bootstrap over runs and problems -----------------------------------------------------------
def test_runs_bootstrap_with_one_run_is_the_problems_bootstrap():
    rng = np.random.default_rng(0)
    base, treated = rng.normal(size=30), rng.normal(size=30) + 0.3
    one = paired_bootstrap_runs(treated[None, :], base, n_boot=500, seed=3)
    ref = paired_bootstrap(treated, base, n_boot=500, seed=3)
    assert (one.diff, one.diff_low, one.diff_high, one.rel_low) == (ref.diff, ref.diff_low, ref.diff_high, ref.rel_low)


def test_runs_bootstrap_reflects_the_spread_between_control_features():
    rng = np.random.default_rng(1)
    n = 60
    base = 100 + rng.normal(size=n)
    effects = np.array([-40.0, 40.0, -35.0, 35.0, -30.0, 30.0, -25.0, 25.0, 0.0, 0.0])  # features disagree
    cells = base[None, :] + effects[:, None] + rng.normal(size=(10, n))
    both = paired_bootstrap_runs(cells, base, n_boot=2000, seed=0)
    problems_only = paired_bootstrap(cells.mean(axis=0), base, n_boot=2000, seed=0)
    assert both.n_runs == 10 and both.diff == pytest.approx(problems_only.diff)
    assert problems_only.diff_high - problems_only.diff_low < 1.0  # averaging hides the features' spread
    assert both.diff_high - both.diff_low > 20.0  # resampling features shows it
    assert both.diff_low < 0 < both.diff_high


def test_runs_bootstrap_leaves_out_missing_cells():
    base = np.array([10.0, 20.0, 30.0, 40.0])
    cells = np.array([[11.0, np.nan, 31.0, np.nan], [np.nan, np.nan, 29.0, 41.0]])
    result = paired_bootstrap_runs(cells, base, n_boot=200, seed=0)
    assert result.n == 3  # problem 2 has no value in any run
    assert result.treated == pytest.approx(np.nanmean(cells))
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap([1.0, np.nan], [1.0, 2.0])


# -- push-matched controls ----------------------------------------------------------------------
def _tables(d: int = 200):
    rng = np.random.default_rng(0)
    freq = torch.tensor(10 ** rng.uniform(-4, -1, size=d))
    f_max = torch.tensor(rng.uniform(1, 20, size=d))
    norms = torch.tensor(rng.uniform(0.2, 1.5, size=d))
    return freq, f_max, norms


def test_controls_match_push_within_the_tolerance_and_frequency_nearby():
    freq, f_max, norms = _tables(2000)
    matches = matched_random_features(freq, [3, 70], 10, seed=0, f_max=f_max, norms=norms, pool=20)
    assert matches.requested == 10 and matches.found == {3: 10, 70: 10} and not matches.shortfall
    push = f_max * norms
    log_f = np.log(freq.numpy())
    for m in matches:
        assert m.push == pytest.approx(float(push[m.feature]))
        assert m.target_push == pytest.approx(float(push[m.matched_to]))
        assert abs(m.push / m.target_push - 1) <= 0.2 + 1e-9
        eligible = [j for j in range(2000) if j not in (3, 70) and abs(float(push[j] / push[m.matched_to]) - 1) <= 0.2]
        distances = sorted(abs(log_f[j] - log_f[m.matched_to]) for j in eligible)
        assert abs(log_f[m.feature] - log_f[m.matched_to]) <= distances[19] + 1e-12  # among the 20 nearest
    unmatched = matched_random_features(freq, [3, 70], 10, seed=0, f_max=f_max, push_tolerance=None)
    ratios = [abs(float(push[m.feature] / push[m.matched_to]) - 1) for m in unmatched]
    assert max(ratios) > 0.2  # frequency alone does not match the push: the rule matters


def test_too_few_push_matches_warn_and_count_never_fill_in():
    freq, f_max, norms = _tables(40)
    push = f_max * norms
    target = int(torch.argmax(push))  # the largest push: few features within ±5 %
    eligible = int(((push / push[target] - 1).abs() <= 0.05).sum()) - 1
    with pytest.warns(ControlShortfallWarning, match="instead of 10"):
        matches = matched_random_features(freq, [target], 10, f_max=f_max, norms=norms, push_tolerance=0.05)
    assert len(matches) == eligible < 10 and matches.shortfall == {target: eligible}
    with pytest.raises(ValueError, match="push"):
        matched_random_features(freq, [target], 10, f_max=f_max, norms=norms, push_tolerance=0.05, strict=True)
    with pytest.raises(ValueError, match="unit norms"):
        matched_random_features(freq, [target], 2, f_max=f_max)  # push matching needs ‖d_j‖


def test_control_conditions_record_requested_and_found():
    from tl_reasoning import load_sae
    from tl_reasoning.evaluation.controls import MatchedControls, MatchedFeature

    sae = load_sae("organism")
    empty = MatchedControls([], requested=10, found={5: 0}, push_tolerance=0.2)
    with pytest.raises(ValueError, match="no random control feature"):
        random_feature_conditions(sae, empty, 2.0)
    some = MatchedControls([MatchedFeature(1, 5, 0.1, 0.1, 2.0, 1.0, 1.1), MatchedFeature(2, 5, 0.1, 0.1, 3.0, 1.2, 1.1)],
                           requested=10, found={5: 2}, push_tolerance=0.2)
    (name, cond), = random_feature_conditions(sae, some, 2.0).items()
    assert len(cond.runs) == 2
    assert cond.info["n_requested"] == 10 and cond.info["features"] == [1, 2]
    assert cond.info["pushes"] == [1.0, 1.2] and cond.info["push_tolerance"] == 0.2


# -- the gates on synthetic records -------------------------------------------------------------
def _records() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for i in range(40):
        base_len = 100 + int(rng.integers(0, 20))
        rows.append(dict(condition="baseline", run=0, item_id=f"p{i}", sample=0, correct=i % 4 != 0,
                         thinking_tokens=base_len, word_rate=3.0, reasoning_words=3, finished=True, capped=False,
                         repetition=float(rng.uniform(0.0, 0.1)), answer_key="1"))
        # the "Wait Wait Wait ..." feature: never finishes, hits the cap, repeats everything
        rows.append(dict(condition="wait", run=0, item_id=f"p{i}", sample=0, correct=False, thinking_tokens=320,
                         word_rate=100.0, reasoning_words=320, finished=False, capped=True, repetition=0.99,
                         answer_key=None))
        rows.append(dict(condition="longer", run=0, item_id=f"p{i}", sample=0, correct=i % 4 != 0,
                         thinking_tokens=int(base_len * 1.3), word_rate=4.0, reasoning_words=5, finished=True,
                         capped=False, repetition=float(rng.uniform(0.0, 0.1)), answer_key="1"))
        for run, shift in enumerate((-30, 30)):
            rows.append(dict(condition="random", run=run, item_id=f"p{i}", sample=0, correct=i % 4 != 0,
                             thinking_tokens=base_len + shift, word_rate=3.0, reasoning_words=3, finished=True,
                             capped=False, repetition=0.05, answer_key="1"))
    return pd.DataFrame(rows)


INFOS = {"baseline": {"kind": "baseline"}, "wait": {"kind": "steering", "feature": 1},
         "longer": {"kind": "steering", "feature": 2},
         "random": {"kind": "random_features", "feature": "random~2", "features": [11, 12], "n_requested": 10}}


def test_summary_gates_stop_the_wait_wait_feature():
    summary = summarize(_records(), INFOS, baseline="baseline", n_samples=1, n_boot=300).set_index("condition")
    wait, longer = summary.loc["wait"], summary.loc["longer"]
    assert wait["capped"] == 1.0 and wait["finished"] == 0.0 and pd.isna(wait["thinking_tokens"])
    assert wait["thinking_tokens_all"] == 320
    assert not wait["gate_finishes"] and not wait["gate_repetition"] and not wait["gate_noninferior"]
    assert not wait["passes_gates"]
    assert longer["passes_gates"] and longer["thinking_tokens_rel"] == pytest.approx(30, abs=1.5)
    # each control feature has its own row; the averaged row's CI is wider than either feature's own
    rand = summary.loc["random"]
    assert rand["n_controls"] == 2 and rand["n_controls_requested"] == 10
    one, two = summary.loc["random · #11"], summary.loc["random · #12"]
    assert one["kind"] == "control_feature" and one["parent"] == "random"
    assert one["thinking_tokens_diff"] == pytest.approx(-30) and two["thinking_tokens_diff"] == pytest.approx(30)
    assert rand["thinking_tokens_diff_high"] - rand["thinking_tokens_diff_low"] > 30
    assert one["thinking_tokens_diff_high"] - one["thinking_tokens_diff_low"] < 1


def test_gate_values_thresholds():
    base = {"finished": 1.0, "repetition_q": 0.10}
    ok = {"accuracy_diff_low": -0.02, "finished": 0.95, "repetition_q": 0.15}
    assert gate_values(ok, base)["passes_gates"]
    assert not gate_values({**ok, "accuracy_diff_low": -0.021}, base)["gate_noninferior"]
    assert not gate_values({**ok, "finished": 0.94}, base)["gate_finishes"]
    assert not gate_values({**ok, "repetition_q": 0.151}, base)["gate_repetition"]
    assert not gate_values({}, base)["passes_gates"]  # no data: fails
    strict = Criteria(noninferiority_points=0.0)
    assert not gate_values(ok, base, strict)["gate_noninferior"]


def test_warnings_module_is_quiet_for_full_matches():
    freq, f_max, norms = _tables()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matched_random_features(freq, [3], 3, f_max=f_max, norms=norms)
