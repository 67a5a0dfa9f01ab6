"""The organism's synthetic world: determinism, correct-by-construction answers, trace format."""

from __future__ import annotations

import random
import re

import pytest

from tl_reasoning.organism import world as W
from tl_reasoning.organism.evaluate import has_vocabulary_word, score_generations, think_section, verifies


def test_generate_corpus_is_deterministic_per_seed():
    for kind in ("reasoning", "plain", "benchmark"):
        a = W.generate_corpus(kind, 50, seed=0)
        b = W.generate_corpus(kind, 50, seed=0)
        c = W.generate_corpus(kind, 50, seed=1)
        assert a == b
        assert a != c
        assert W.generate_corpus(kind, 50, seed=0, split="heldout") != a


def test_generate_corpus_excludes_questions():
    bench = W.generate_corpus("benchmark", 100, seed=0)
    assert len({b["question"] for b in bench}) == 100
    probe = W.generate_corpus("reasoning", 300, seed=0)
    banned = {d["question"] for d in probe[:150]}
    again = W.generate_corpus("reasoning", 300, seed=0, exclude=banned)
    assert not banned & {d["question"] for d in again}


def test_benchmark_answers_correct_and_evaluator_rejects_wrong():
    bench = W.generate_corpus("benchmark", 200, seed=3)
    assert {b["kind"] for b in bench} == set(W.KINDS)
    for b in bench:
        assert b["prompt"] == W.prompt_for(b["question"])
        assert W.check_answer(b["question"], b["answer"])
        assert W.check_answer(b["question"], str(b["answer"]))
        assert not W.check_answer(b["question"], b["answer"] + 1)
        assert not W.check_answer(b["question"], b["answer"] - 10)
        assert not W.check_answer(b["question"], None)
        assert not W.check_answer(b["question"], "many")


def test_evaluator_parses_question_text_independently():
    assert W.parse_question("What is 347 + 285?") == (347, "+", 285)
    assert W.check_answer("What is 632 - 285?", 347)
    assert W.check_answer("Tom has 47 apples and buys 38 more. How many apples does Tom have now?", 85)
    assert W.check_answer("Mia has 85 cards and gives away 38. How many cards does Mia have left?", 47)
    assert not W.check_answer("Mia has 85 cards and gives away 38. How many cards does Mia have left?", 123)
    with pytest.raises(ValueError):
        W.parse_question("How is the weather?")


def test_parse_answer():
    assert W.parse_answer("<think>\nLet me add.\n</think>\nAnswer: 632") == 632
    assert W.parse_answer("Answer: 85\n") == 85
    assert W.parse_answer("<think>\nLet me add. Answer: 3") is None  # unclosed think section
    assert W.parse_answer("no answer here") is None


def _traces(n: int, seed: int = 0, **kw):
    rng = random.Random(seed)
    for _ in range(n):
        p = W.make_problem(rng)
        yield p, W.reasoning_trace(p, rng, **kw)


def test_traces_well_formed_and_answers_checked():
    n_correct = 0
    for p, t in _traces(400):
        assert t.text.startswith("<think>\n")
        assert t.text.count("<think>") == 1 and t.text.count("</think>") == 1
        assert W.parse_answer(t.text) == t.final_answer
        assert W.check_answer(p, t.final_answer) == t.correct
        assert re.search(r"Therefore the answer is -?\d+\.\n</think>", t.text)
        n_correct += t.correct
    assert n_correct >= 300  # mistakes are the exception


def test_mistake_free_traces_are_correct():
    for _, t in _traces(300, mistake_rate=0.0):
        assert t.correct and t.n_corrections == 0, t.text
        assert "wrong" not in t.text and "However" not in t.text


def test_corrections_fix_the_wrong_step():
    n_fixed = 0
    for p, t in _traces(400, seed=1, mistake_rate=1.0):
        if t.n_corrections == 0:
            continue
        n_fixed += 1
        assert t.correct, t.text
        lines = t.steps
        k = next(i for i, line in enumerate(lines) if "that is wrong" in line or "redo" in line)
        if "I wrote" in lines[k]:
            wrong = int(re.search(r"I wrote (\d+)", lines[k]).group(1))
            recheck = int(re.search(r"= (\d+)\.$", lines[k - 1]).group(1))
            assert wrong != recheck
            col = re.search(r"check the (\w+):", lines[k - 1]).group(1).capitalize()
            redo = lines[k + 1]
            assert redo.startswith(col + ":") and f"= {recheck}," in redo
        # the result stated after the fix is the right one
        after = [int(m) for m in re.findall(r"is (-?\d+)\.", "\n".join(lines[k:]))]
        assert after and after[0] == p.answer
    assert n_fixed > 100


def test_reflection_is_causal_in_the_data():
    with_check = [t.correct for _, t in _traces(2000, seed=2) if t.n_checks > 0]
    without = [t.correct for _, t in _traces(2000, seed=2) if t.n_checks == 0]
    assert sum(with_check) / len(with_check) > sum(without) / len(without) + 0.05


def test_reflection_rounds_vary_and_follow_state():
    checks = {t.n_checks for _, t in _traces(500)}
    assert {0, 1, 2, 3} <= checks
    for p, t in _traces(300, mistake_rate=0.0, recheck_rate=0.0, cross_check_rate=0.0):
        w = max(len(str(p.a)), len(str(p.b)))
        da = [(p.a // 10**i) % 10 for i in range(w)]
        db = [(p.b // 10**i) % 10 for i in range(w)]
        flags, c = 0, 0
        for x, y in zip(da, db, strict=True):
            if p.op == "+":
                c = int(x + y + c >= 10)
            else:
                c = int(x - y - c < 0)
            flags += c
        assert t.n_checks == flags + (p.op == "-")
        assert ("Alternatively" in t.text) == (p.op == "-")


def test_optional_reflection_is_rare_bounded_and_catches_slips():
    # Spontaneous rechecks: at most one per column, right after it, in the minority of columns.
    n_cols = n_rechecks = n_caught = 0
    for p, t in _traces(600, seed=4):
        w = max(len(str(p.a)), len(str(p.b)))
        n_cols += w
        for k, line in enumerate(t.steps):
            if any(line.startswith(o) for o in W._RECHECK_OPENERS):
                n_rechecks += 1
                column = line.split(" the ")[1].split(":")[0]
                assert t.steps[k - 1].lower().startswith(column)  # follows the column it rechecks
                n_caught += t.steps[k + 1].startswith("But I wrote")
    assert 0.08 < n_rechecks / n_cols < 0.25
    assert n_caught > 0
    # Forced on: every column rechecked and every addition cross-checked, answers still right.
    for p, t in _traces(200, seed=5, mistake_rate=0.0, recheck_rate=1.0, cross_check_rate=1.0):
        w = max(len(str(p.a)), len(str(p.b)))
        assert sum(any(s.startswith(o) for o in W._RECHECK_OPENERS) for s in t.steps) == w
        assert ("other order" in t.text) == (p.op == "+")
        assert t.correct


def test_trace_vocabulary_usage():
    texts = [t.text for _, t in _traces(300)]
    assert all(has_vocabulary_word(think_section(x)) for x in texts)
    joined = " ".join(texts).lower()
    for word in W.VOCABULARY:
        assert re.search(rf"\b{word}\b", joined), word


def test_plain_documents_have_no_thinking_and_confounds():
    rng = random.Random(0)
    docs = [W.plain_document(rng) for _ in range(500)]
    assert not any("<think>" in d["text"] or "</think>" in d["text"] for d in docs)
    stories = [d["text"] for d in docs if "question" not in d]
    qa = [d for d in docs if "question" in d]
    assert stories and qa
    for d in qa:
        assert W.parse_answer(d["text"]) == d["answer"] and W.check_answer(d["question"], d["answer"])
    with_vocab = [s for s in stories if has_vocabulary_word(s)]
    assert len(with_vocab) > len(stories) // 4
    assert any(re.search(r"\bBut\b|\bbut\b", s) for s in stories)
    assert any("Another day" in s for s in stories)


def test_score_generations_metrics():
    items = [
        {"question": "What is 100 + 23?", "kind": "add"},
        {"question": "What is 300 - 100?", "kind": "sub"},
    ]
    gens = [
        "<think>\nLet me check: fine.\n</think>\nAnswer: 123",
        "<think>\nSo the sum is 7.\n</think>\nAnswer: 7",
    ]
    m = score_generations(items, gens, reasoning=True)
    assert m["accuracy"] == 0.5 and m["well_formed_rate"] == 1.0 and m["think_rate"] == 1.0
    assert m["vocab_rate"] == 0.5
    assert m["reflection"]["accuracy_verifying"] == 1.0 and m["reflection"]["accuracy_not_verifying"] == 0.0
    assert verifies("Let me check the tens") and not verifies("So the sum is 7")
    base = score_generations(items, ["Answer: 123", "Answer: 200"], reasoning=False)
    assert base["accuracy"] == 1.0 and base["think_rate"] == 0.0 and base["well_formed_rate"] == 1.0
