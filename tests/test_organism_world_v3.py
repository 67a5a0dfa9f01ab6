"""World v3 (issue 15 item 1): difficulty-driven slips and reflection, with ground truth."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import pytest

from tl_reasoning.organism import world as w
from tl_reasoning.organism import world_v3 as v

CFG = v.WorldConfig()
N = 2000


@pytest.fixture(scope="module")
def corpus() -> list[tuple[w.Problem, v.TraceV3]]:
    rng = random.Random(1234)
    out = []
    for _ in range(N):
        p = w.make_problem(rng)
        out.append((p, v.reasoning_trace(p, rng)))
    return out


def _within(k: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(k / n - p) <= z * math.sqrt(p * (1 - p) / n) + 1e-9


def test_determinism():
    a = v.generate_corpus_v3("reasoning", 50, seed=7)
    assert a == v.generate_corpus_v3("reasoning", 50, seed=7)
    assert a != v.generate_corpus_v3("reasoning", 50, seed=8)
    assert v.generate_corpus_v3("plain", 30, seed=7) == v.generate_corpus_v3("plain", 30, seed=7)


@pytest.mark.parametrize(
    ("op", "x", "y", "c", "hard"),
    [
        ("+", 8, 7, 0, True),  # 15: confusable range
        ("+", 4, 9, 0, True),  # 13
        ("+", 9, 8, 0, True),  # 17
        ("+", 6, 6, 0, False),  # 12
        ("+", 9, 9, 0, False),  # 18, no carry in
        ("+", 9, 8, 1, True),  # 18 but carry in with a digit >= 7
        ("+", 7, 0, 1, True),  # carry in with a 7
        ("+", 6, 5, 1, False),  # 12, digits < 7
        ("+", 6, 6, 1, True),  # 13
        ("+", 2, 3, 1, False),
        ("-", 3, 7, 0, True),  # 13 - 7
        ("-", 3, 4, 0, False),  # borrow, but only 4 taken
        ("-", 2, 5, 1, True),  # borrow, 6 taken
        ("-", 5, 5, 1, True),  # borrow, 6 taken
        ("-", 9, 7, 0, False),  # no borrow
        ("-", 8, 7, 1, False),  # no borrow (8 - 8)
        ("-", 0, 5, 1, True),
    ],
)
def test_difficulty_rule(op, x, y, c, hard):
    assert v.is_hard(op, x, y, c) is hard


def test_rates_match_config(corpus):
    n, slip, ref = Counter(), Counter(), Counter()
    ref_by_slip = Counter()
    for _, t in corpus:
        for s in t.truth:
            h = int(s["hard"])
            n[h] += 1
            slip[h] += s["slip"]
            ref[h] += s["reflected"]
            ref_by_slip[h, s["slip"]] += s["reflected"]
    for h in (0, 1):
        assert n[h] > 500
        assert _within(slip[h], n[h], CFG.p_slip[h]), (h, slip[h] / n[h])
        assert _within(ref[h], n[h], CFG.p_recheck[h]), (h, ref[h] / n[h])
    # reflection does not depend on the (invisible) slip: hard steps with and without a slip
    n_slip = slip[1]
    assert _within(ref_by_slip[1, True], n_slip, CFG.p_recheck[1])
    assert _within(ref_by_slip[1, False], n[1] - n_slip, CFG.p_recheck[1])


def test_uncertainty_and_exploration_are_difficulty_driven(corpus):
    unc, exp, n = Counter(), Counter(), Counter()
    for _, t in corpus:
        for s in t.steps:
            if s.recheck:
                head = t.text[s.recheck[0] : s.recheck[1]].split("\n")[0]
                h = int(s.hard)
                n[h] += 1
                unc[h] += head.startswith(v.UNCERTAIN)
                exp[h] += "Alternatively, another way" in head
    for h in (0, 1):
        assert _within(unc[h], n[h], CFG.p_uncertain[h])
        assert _within(exp[h], n[h], CFG.p_explore[h])
    # uncertainty words appear only at rechecks
    for _, t in corpus:
        for line in t.text.split("\n"):
            if re.search(r"\b(Hmm|Maybe|Perhaps|Alternatively)\b", line):
                assert "recheck the" in line or "another way to get the" in line


def test_recheck_fixes_slips_and_slips_propagate(corpus):
    n_rescued = n_unrescued = 0
    for p, t in corpus:
        for s in t.steps:
            x, y = s.x, s.y
            good, _ = v._column(p.op, s.index, x, y, s.carry_in)
            if s.recheck:
                block = t.text[s.recheck[0] : s.recheck[1]]
                # the easier route always lands on the right value
                assert block.split("\n")[0].endswith(f"= {good.value}.")
                if s.slip:
                    assert "Wait, that is wrong" in block and block.endswith(good.line)
                    assert s.corrected
                    n_rescued += 1
                else:
                    assert "Wait" not in block and f"Yes, {good.value} is right." in block
            assert s.corrected == (s.slip and s.reflected)
        unrescued = any(s.slip and not s.reflected for s in t.steps)
        n_unrescued += unrescued
        assert t.correct == (not unrescued)
        assert t.correct == w.check_answer(p, w.parse_answer(t.text))
    assert n_rescued > 100 and n_unrescued > 100


def test_accuracy_in_target_range(corpus):
    acc = sum(t.correct for _, t in corpus) / N
    expected = sum(v.p_correct(p) for p, _ in corpus) / N
    assert 0.75 <= expected <= 0.90
    assert abs(acc - expected) <= 4 * math.sqrt(expected * (1 - expected) / N)
    sampled = v.sampled_config(CFG, 0.6, 0.95)
    expected_sampled = sum(v.p_correct(p, sampled) for p, _ in corpus) / N
    assert 0.75 <= expected_sampled <= 0.90
    # under sampling, reflection is even more a function of difficulty than in the traces
    assert sampled.p_recheck[0] < 0.01 < 0.3 < sampled.p_recheck[1]
    assert sampled.p_slip[0] < 0.01 < 0.3 < sampled.p_slip[1]
    print(f"accuracy: traces {acc:.3f} (expected {expected:.3f}), T0.6/top-p 0.95 {expected_sampled:.3f}")


def test_sampled_config_identity_at_t1():
    s = v.sampled_config(CFG, 1.0, 1.0)
    assert all(abs(a - b) < 1e-12 for a, b in zip(s.p_slip + s.p_recheck, CFG.p_slip + CFG.p_recheck, strict=True))


def test_degenerate_configs_are_consistent():
    rng = random.Random(0)
    never = v.WorldConfig(p_slip=(0.0, 0.0))
    always = v.WorldConfig(p_slip=(1.0, 1.0), p_recheck=(1.0, 1.0))
    for _ in range(100):
        p = w.make_problem(rng)
        assert v.reasoning_trace(p, rng, never).correct
        t = v.reasoning_trace(p, rng, always)
        assert t.correct and t.text.count("Wait, that is wrong") == len(t.steps)
        assert v.p_correct(p, never) == 1.0 == v.p_correct(p, always)
        bad = v.reasoning_trace(p, rng, v.WorldConfig(p_slip=(1.0, 1.0), p_recheck=(0.0, 0.0)))
        assert not bad.correct and "Wait" not in bad.text


def test_annotations_align_with_text(corpus):
    for p, t in corpus[:500]:
        assert [(s.hard, s.slip, s.reflected) for s in t.steps] == [
            (r["hard"], r["slip"], r["reflected"]) for r in t.truth
        ]
        assert [s.index for s in t.steps] == list(range(len(v.step_digits(p))))
        for s in t.steps:
            line = t.text[s.attempt[0] : s.attempt[1]]
            assert line.startswith(s.column.capitalize() + ": ") and line.endswith(".")
            assert t.text[s.decision] == "\n" and s.decision == s.attempt[1]
            if s.recheck:
                assert s.recheck[0] == s.attempt[1] + 1
                block = t.text[s.recheck[0] : s.recheck[1]]
                assert f"the {s.column}:" in block
                assert block.split("\n")[-1].startswith(("Yes,", s.column.capitalize()))
        labels = v.char_labels(t.text, t.steps)
        assert all(len(x) == len(t.text) for x in labels.values())
        for k, s in enumerate(t.steps):
            assert labels["region"][s.decision] == 3 and labels["step"][s.decision] == k
            assert labels["hard"][s.attempt[0]] == int(s.hard)
        assert labels["step"][0] == -1 and labels["region"][-1] == 0


def test_document_offsets_include_prompt():
    doc = v.generate_corpus_v3("reasoning", 20, seed=3)
    for d in doc:
        for s in d["steps"]:
            assert d["text"][s["attempt"][0] :].startswith(s["column"].capitalize())
            assert d["text"][s["decision"]] == "\n"


def test_annotate_tolerates_model_generations():
    q = "What is 458 + 367?"
    assert v.annotate(q, "<think>\nblah blah\nTens: 5 + 6\n") == []
    gen = "<think>\nOnes: 8 + 7 = 16, write 6, carry 1.\nmaybe\nTens: 5 + 6 + 1 = 12, write 2, carry 1."
    steps = v.annotate(q, gen)
    assert [(s.hard, s.slip, s.reflected) for s in steps] == [(True, True, False), (False, False, False)]


def test_plain_world_keeps_decoys():
    docs = v.generate_corpus_v3("plain", 400, seed=0)
    text = " ".join(d["text"] for d in docs)
    assert "<think>" not in text
    for word in (
        "Alternatively",
        "another",
        "Wait",
        "Hmm",
        "Maybe",
        "Perhaps",
        "Let me",
        "Therefore",
        "However",
    ):
        assert word in text, word
    assert any("Answer:" in d["text"] for d in docs)
