"""Per-generation metrics, maj@k, paired bootstrap and frequency-matched random features on constructed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tl_reasoning.evaluation.bootstrap import paired_bootstrap
from tl_reasoning.evaluation.controls import activation_frequencies, matched_random_features
from tl_reasoning.evaluation.metrics import (
    WordCounter,
    generation_metrics,
    maj_at_k,
    majority_vote,
    per_problem,
    thinking_ids,
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from tl_reasoning.organism import model_dir

    return AutoTokenizer.from_pretrained(model_dir("organism"))


def _ids(tok, text):
    return list(tok(text, add_special_tokens=False)["input_ids"])


def test_thinking_length_with_and_without_think_end(tokenizer):
    end = _ids(tokenizer, "</think>")[0]
    eos = tokenizer.eos_token_id
    body = _ids(tokenizer, "<think>\nLet me add 1 and 2.\n")
    answer = _ids(tokenizer, "\nAnswer: 3")
    counter = WordCounter(tokenizer)
    closed = generation_metrics(body + [end] + answer + [eos], counter, think_end_id=end, eos_id=eos, skip={eos})
    assert closed.thinking_tokens == len(body) and closed.think_closed and closed.eos and closed.finished
    unclosed = generation_metrics(body + answer, counter, think_end_id=end, eos_id=eos, skip={eos})
    assert unclosed.thinking_tokens == len(body) + len(answer)  # all tokens when </think> is absent
    assert not unclosed.think_closed and not unclosed.eos and not unclosed.finished
    assert thinking_ids([5, 6, eos], None, {eos}) == ([5, 6], False)


def test_degenerate_repetitions_are_counted(tokenizer):
    counter = WordCounter(tokenizer)
    ids = _ids(tokenizer, "Let meLet meLet me")
    assert counter.count_ids(ids)["let me"] == 3
    m = generation_metrics(ids, counter, think_end_id=None)
    assert m.reasoning_words == 3 and m.word_rate == pytest.approx(300.0 / len(ids))


def test_word_boundaries_and_case(tokenizer):
    counter = WordCounter(tokenizer)
    counts = counter.count_text("Hmm, maybe. HOWEVER therefore let  me; But alternatively another")
    assert {w: c for w, c in counts.items() if c} == {
        "hmm": 1, "maybe": 1, "however": 1, "therefore": 1, "let me": 1, "but": 1, "alternatively": 1, "another": 1}
    assert counter.count_text("butter, awaits, Waited")["but"] == 0
    assert sum(counter.count_text("butter awaits waited").values()) == 0
    assert counter.count_text("wait", token_edges=[0, 4])["wait"] == 1
    assert counter.count_text("xwaity", token_edges=[1, 5])["wait"] == 1  # token edges are boundaries
    custom = WordCounter(tokenizer, ["so"])
    assert custom.count_text("So so, also so")["so"] == 3
    assert generation_metrics([], counter, think_end_id=None).word_rate == 0.0


def test_majority_vote_ties_go_to_first_seen():
    assert majority_vote(["1", "2", "2", "1"]) == 0
    assert majority_vote(["3", "2", "2"]) == 1
    assert majority_vote([None, None, "7"]) == 2
    assert majority_vote([None, None]) is None


def test_maj_at_k_and_per_problem():
    rows = []
    for item, keys, correct_key in (("p1", ["5", "5", "6", None], "5"), ("p2", ["1", "2", "2", "1"], "2"),
                                    ("p3", [None, None, None, None], "0")):
        for sample, key in enumerate(keys):
            rows.append({"item_id": item, "sample": sample, "run": 0, "answer_key": key,
                         "correct": key == correct_key, "thinking_tokens": 10 * (sample + 1)})
    frame = pd.DataFrame(rows)
    maj = maj_at_k(frame)
    assert maj.to_dict() == {"p1": 1.0, "p2": 0.0, "p3": 0.0}  # p2: tie 1 vs 2, "1" seen first -> wrong
    acc = per_problem(frame.assign(correct=frame["correct"].astype(float)), "correct")
    assert acc.to_dict() == {"p1": 0.5, "p2": 0.5, "p3": 0.0}
    assert per_problem(frame, "thinking_tokens").tolist() == [25.0, 25.0, 25.0]
    runs = pd.concat([frame, frame.assign(run=1, answer_key="0", correct=True)])  # maj@k averaged over runs
    assert maj_at_k(runs).to_dict() == {"p1": 1.0, "p2": 0.5, "p3": 0.5}


# -- bootstrap ----------------------------------------------------------------------------------
def test_bootstrap_known_difference_inside_ci():
    rng = np.random.default_rng(1)
    base = rng.normal(100.0, 10.0, size=200)
    treated = base + 20.0 + rng.normal(0.0, 5.0, size=200)
    r = paired_bootstrap(treated, base, n_boot=2000, seed=0)
    assert r.diff == pytest.approx(treated.mean() - base.mean())
    assert r.diff_low < 20.0 < r.diff_high
    assert r.diff_low > 15.0 and r.diff_high < 25.0
    assert r.rel_change == pytest.approx(100 * (treated.mean() / base.mean() - 1))
    assert r.rel_low < r.rel_change < r.rel_high
    assert r.n == 200 and r.n_boot == 2000


def test_bootstrap_zero_difference_covers_zero_and_is_seeded():
    rng = np.random.default_rng(2)
    base = rng.normal(5.0, 1.0, size=50)
    treated = base + rng.normal(0.0, 1.0, size=50)
    treated -= treated.mean() - base.mean()  # exactly no mean difference
    r = paired_bootstrap(treated, base, seed=3)
    assert r.diff_low <= 0.0 <= r.diff_high and r.rel_low <= 0.0 <= r.rel_high
    assert paired_bootstrap(treated, base, seed=3) == r
    assert paired_bootstrap(treated, base, seed=4) != r
    same = paired_bootstrap(base, base)
    assert (same.diff, same.diff_low, same.diff_high) == (0.0, 0.0, 0.0)


def test_bootstrap_ci_shrinks_with_more_problems():
    rng = np.random.default_rng(5)
    widths = []
    for n in (20, 200, 2000):
        base = rng.normal(10.0, 3.0, size=n)
        treated = base + rng.normal(1.0, 3.0, size=n)
        r = paired_bootstrap(treated, base, n_boot=1000, seed=0)
        widths.append(r.diff_high - r.diff_low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] > 5  # ~ sqrt(100) = 10


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="same problems"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap([], [])
    r = paired_bootstrap([1.0, 2.0], [0.0, 0.0])
    assert np.isnan(r.rel_change) and r.to_json()["rel_change"] is None


# -- matched random features --------------------------------------------------------------------
def test_matched_random_features_on_constructed_frequencies():
    freq = torch.tensor([0.0] * 10 + [10.0 ** (-k / 10) for k in range(60)], dtype=torch.float64)
    f_max = torch.arange(70, dtype=torch.float64) + 0.5
    candidates = [20, 50]
    picked = matched_random_features(freq, candidates, n_per_feature=3, seed=0, exclude=[21], pool=6, f_max=f_max,
                                     push_tolerance=None)
    assert [m.matched_to for m in picked] == [20, 20, 20, 50, 50, 50]
    chosen = [m.feature for m in picked]
    assert len(set(chosen)) == 6
    assert not set(chosen) & {20, 50, 21} and all(c >= 10 for c in chosen)  # no candidates, exclusions, dead
    for m in picked:
        assert abs(np.log10(m.frequency) - np.log10(m.target_frequency)) <= 0.45  # among the 6 nearest
        assert m.f_max == float(f_max[m.feature])  # each control keeps its own f_max
    again = matched_random_features(freq, candidates, n_per_feature=3, seed=0, exclude=[21], pool=6, f_max=f_max,
                                     push_tolerance=None)
    assert again == picked
    other = matched_random_features(freq, candidates, n_per_feature=3, seed=1, exclude=[21], pool=6, f_max=f_max,
                                     push_tolerance=None)
    assert [m.feature for m in other] != chosen


def test_matched_random_features_from_stats_and_errors():
    from tl_reasoning.stats import FeatureStats

    stats = FeatureStats.empty(["wait"], 8, hist_edges=torch.tensor([0.5, 1.0]))
    stats.hist[:, 1] = torch.tensor([0, 4, 8, 16, 32, 64, 0, 2])
    stats.count_other += 100
    stats.max_activation[:] = torch.arange(8, dtype=torch.float64)
    assert activation_frequencies(stats)[3] == pytest.approx(0.16)
    match = matched_random_features(stats, [3], 1, pool=1, push_tolerance=None)[0]
    assert match.feature in (2, 4) and match.f_max == float(match.feature)
    with pytest.raises(ValueError, match="out of range"):
        matched_random_features(stats, [8], push_tolerance=None)
    with pytest.raises(ValueError, match="live features"):
        matched_random_features(stats, [3], 6, push_tolerance=None)
    no_hist = FeatureStats.empty(["wait"], 8)
    with pytest.raises(ValueError, match="histogram"):
        matched_random_features(no_hist, [1], push_tolerance=None)
