"""The evaluation harness end to end on the organism (few problems, few tokens), results on disk."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import torch

from tl_reasoning.evaluation import (
    Averaged,
    EvaluationResult,
    RandomWordBans,
    WordBan,
    evaluate,
    load_eval_benchmark,
    steering_conditions,
)
from tl_reasoning.evaluation.wordban import ban_sequences

N_ITEMS = 4
TOKENS = 40


@pytest.fixture(scope="module")
def organism():
    from tl_reasoning import load_model, load_sae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model("organism", backend="hooked"), load_sae("organism")


@pytest.fixture(scope="module")
def items():
    return load_eval_benchmark("organism", limit=N_ITEMS)


@pytest.fixture(scope="module")
def result(organism, items):
    model, sae = organism
    feature = int(sae.cfg.d_sae) // 2
    conditions = {"again": None}
    conditions.update(steering_conditions(sae, [feature], [20.0], f_max=[10.0]))
    conditions["word ban"] = WordBan()
    conditions["random words"] = RandomWordBans(n_runs=2, seed=1)
    events = []
    res = evaluate(model, items, conditions, max_new_tokens=TOKENS, batch_size=N_ITEMS, n_boot=300,
                   progress=events.append)
    return res, events, feature


def test_records_and_summary_structure(result, items):
    res, _, feature = result
    records = res.records
    assert list(dict.fromkeys(records["condition"])) == ["baseline", "again", f"#{feature} γ=20", "word ban",
                                                         "random words"]
    assert len(records) == N_ITEMS * (4 + 2)  # random words: 2 runs
    assert set(records[records["condition"] == "random words"]["run"]) == {0, 1}
    for column in ("item_id", "sample", "correct", "extracted", "thinking_tokens", "reasoning_words", "word_rate",
                   "finished", "think_closed", "text", "tokens"):
        assert column in records.columns
    assert (records["thinking_tokens"] <= TOKENS).all() and (records["new_tokens"] <= TOKENS).all()
    assert set(records["item_id"]) == {i.id for i in items}
    summary = res.summary.set_index("condition")
    assert "maj_at_k" not in summary.columns  # one sample per problem
    row = summary.loc[f"#{feature} γ=20"]
    assert row["kind"] == "steering" and row["feature"] == feature and row["strength"] == 20.0
    assert summary.loc["random words", "n_runs"] == 2 and summary.loc["random words", "kind"] == "random_word_ban"
    assert len(res.conditions["random words"]["words"]) == 2
    assert pd.isna(summary.loc["baseline", "accuracy_diff"])
    base = records[records["condition"] == "baseline"]
    assert summary.loc["baseline", "accuracy"] == pytest.approx(base["correct"].mean())
    assert summary.loc["baseline", "thinking_tokens_all"] == pytest.approx(base["thinking_tokens"].mean())
    # 40 tokens never finish: no thinking length on finished generations, everything capped
    assert not base["finished"].any() and base["capped"].all()
    assert pd.isna(summary.loc["baseline", "thinking_tokens"]) and summary.loc["baseline", "capped"] == 1.0
    assert pd.isna(summary.loc["again", "thinking_tokens_diff"])
    assert ((records["repetition"] >= 0) & (records["repetition"] <= 1)).all()


def test_greedy_repeat_of_the_baseline_changes_nothing(result):
    res, _, _ = result
    records = res.records
    a = records[records["condition"] == "baseline"].reset_index(drop=True)
    b = records[records["condition"] == "again"].reset_index(drop=True)
    assert a["text"].tolist() == b["text"].tolist()
    row = res.summary.set_index("condition").loc["again"]
    assert row["repetition_q"] == res.summary.set_index("condition").loc["baseline", "repetition_q"]
    assert row["gate_noninferior"] and row["gate_repetition"]
    for metric in ("accuracy",):
        assert row[f"{metric}_diff"] == 0 and row[f"{metric}_diff_low"] == 0 and row[f"{metric}_diff_high"] == 0


def test_steering_is_applied_and_compared(result):
    res, _, feature = result
    records = res.records
    base = records[records["condition"] == "baseline"]["text"].tolist()
    steered = records[records["condition"] == f"#{feature} γ=20"]["text"].tolist()
    assert base != steered  # γ·f_max = 200 along a decoder direction changes generations
    cmp = res.compare(f"#{feature} γ=20", "accuracy")
    row = res.summary.set_index("condition").loc[f"#{feature} γ=20"]
    assert cmp.diff == pytest.approx(row["accuracy_diff"])
    assert cmp.diff_low <= cmp.diff <= cmp.diff_high
    between = res.compare("word ban", "thinking_tokens_all", baseline="again")  # any pair of conditions
    again = res.summary.set_index("condition").loc["again"]
    assert between.baseline == pytest.approx(again["thinking_tokens_all"]) and between.n == N_ITEMS


def test_word_ban_and_random_bans_hold_in_thinking(result, organism):
    res, _, _ = result
    model, _ = organism
    from tl_reasoning import backend_for

    backend = backend_for(model)
    end = backend.tokenizer("</think>", add_special_tokens=False)["input_ids"][0]
    protect = backend.special_token_ids | {end}
    checks = [("word ban", 0, ban_sequences(None, backend.tokenizer, protect))]
    for run, words in enumerate(res.conditions["random words"]["words"]):
        checks.append(("random words", run, ban_sequences(words, backend.tokenizer, protect)))
    records = res.records
    for condition, run, sequences in checks:
        rows = records[(records["condition"] == condition) & (records["run"] == run)]
        for tokens in rows["tokens"]:
            thinking = tokens[: tokens.index(end)] if end in tokens else tokens
            for seq in sequences:
                n = len(seq)
                assert all(tuple(thinking[i:i + n]) != seq for i in range(len(thinking) - n + 1)), (condition, seq)


def test_progress_reports_every_run(result):
    res, events, _ = result
    finals = [(e.condition, e.run) for e in events if e.done == e.total]
    assert finals == [("baseline", 0), ("again", 0), (res.records["condition"].unique()[2], 0), ("word ban", 0),
                      ("random words", 0), ("random words", 1)]
    assert all(e.n_conditions == 5 for e in events)


def test_save_and_load_round_trip(result, tmp_path):
    res, _, _ = result
    out = res.save(tmp_path / "eval")
    for name in ("summary.csv", "summary.json", "records.csv", "generations.jsonl", "items.jsonl", "config.json",
                 "table.txt"):
        assert (out / name).is_file(), name
    assert "text" not in pd.read_csv(out / "records.csv").columns
    loaded = EvaluationResult.load(out)
    pd.testing.assert_frame_equal(loaded.summary, res.summary, check_dtype=False)
    assert loaded.records["text"].tolist() == res.records["text"].tolist()
    assert loaded.records["tokens"].tolist() == res.records["tokens"].tolist()
    assert loaded.items == res.items and loaded.conditions == res.conditions
    assert loaded.table() == res.table()
    assert loaded.compare("word ban", "thinking_tokens_all") == res.compare("word ban", "thinking_tokens_all")
    with pytest.raises(FileNotFoundError, match="not an evaluation result"):
        EvaluationResult.load(tmp_path)


def test_sampling_majority_and_determinism(organism, items):
    model, sae = organism
    feature = int(sae.cfg.d_sae) // 3
    conditions = {"steer": Averaged([steering_conditions(sae, [feature], [8.0], f_max=[10.0]).popitem()[1]] * 2,
                                    {"kind": "test"})}
    kwargs = dict(n_samples=2, max_new_tokens=24, batch_size=3, seed=5, n_boot=200, temperature=3.0, top_p=None)
    first = evaluate(model, items[:2], conditions, **kwargs)
    again = evaluate(model, items[:2], conditions, **kwargs)
    assert first.config["do_sample"] and first.records["text"].tolist() == again.records["text"].tolist()
    summary = first.summary.set_index("condition")
    assert "maj_at_k" in summary.columns and "maj_at_k_diff" in summary.columns
    assert summary.loc["steer", "n_runs"] == 2 and summary.loc["steer", "kind"] == "test"
    base = first.records[first.records["condition"] == "baseline"]
    assert set(base["sample"]) == {0, 1}
    assert base.groupby("item_id")["text"].nunique().max() == 2  # the two samples of a problem differ
    other = evaluate(model, items[:2], None, **{**kwargs, "seed": 6})
    assert other.records["text"].tolist() != base["text"].tolist()
    assert "maj@2 %" in first.table()


def test_bad_conditions_fail_before_generating(organism, items):
    model, _ = organism
    calls = []
    with pytest.raises(TypeError, match="unsupported condition"):
        evaluate(model, items, {"bad": 3}, progress=lambda e: calls.append(e))
    with pytest.raises(TypeError, match="Steering and WordBan"):
        evaluate(model, items, {"bad": [torch.zeros(1)]})
    with pytest.raises(ValueError, match="duplicate ids"):
        evaluate(model, [items[0], items[0]], None)
    assert calls == []
