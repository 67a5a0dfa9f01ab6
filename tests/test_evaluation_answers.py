"""Answer extraction and checking: boxed nesting, normalisation, integers, GPQA letters, the organism."""

from __future__ import annotations

import pytest

from tl_reasoning.evaluation.answers import (
    answer_key,
    answer_section,
    check_answer,
    extract_answer,
    extract_boxed,
    extract_choice,
    grade,
    math_equal,
    normalize_math_answer,
    parse_integer,
)
from tl_reasoning.evaluation.benchmarks import EvalItem


@pytest.mark.parametrize("text, expected", [
    (r"so \boxed{5}", "5"),
    (r"first \boxed{1} then \boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
    (r"\boxed{\left( 3, \frac{\pi}{2} \right)}.", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"\fbox{ {a}^{b} }", "{a}^{b}"),
    (r"answer \boxed 7.", "7"),
    (r"\boxed{2} and an unclosed \boxed{3", "2"),
    ("no box here", None),
])
def test_extract_boxed_last_and_nested(text, expected):
    assert extract_boxed(text) == expected


def test_only_the_text_after_think_is_used_when_present():
    text = "<think>\nmaybe \\boxed{1}\n</think>\nThe answer is \\boxed{2}"
    assert answer_section(text) == "\nThe answer is \\boxed{2}"
    assert extract_answer(text) == "2"
    # unclosed thinking: the whole text is searched
    assert extract_answer("<think>\nhmm \\boxed{4} still thinking") == "4"


def test_fallbacks_answer_line_and_final_answer():
    assert extract_answer("</think>\nAnswer: 1887", "integer") == "1887"
    assert extract_answer("We get it. The final answer is 3/4.", "math") == "3/4"
    assert extract_answer("Answer: $\\frac{1}{2}$", "math") == r"\frac{1}{2}"
    assert extract_answer("nothing to see", "integer") is None


@pytest.mark.parametrize("predicted, gold", [
    (r"\dfrac{1}{2}", "0.5"),
    ("1/2", r"\frac12"),
    (r"\tfrac{3}{4}", r"\frac{3}{4}"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
    (r"120^\circ", "120"),
    (r"120^{\circ}", "120"),
    (r"\text{(B)}", "(B)"),
    (r"5\text{ cm}", "5"),
    ("1,000", "1000"),
    ("12.0", "12"),
    ("$7$", "7"),
    ("x = 3", "3"),
    (r"-\frac{2}{6}", "-1/3"),
])
def test_math_equal_after_normalisation(predicted, gold):
    assert math_equal(predicted, gold), (normalize_math_answer(predicted), normalize_math_answer(gold))


@pytest.mark.parametrize("predicted, gold", [
    ("(1,2)", "(1,3)"), (r"\frac{1}{3}", "0.33"), ("12", "120"), ("", ""), (None, "1"),
    (r"\sqrt{2}", r"\sqrt{3}"),
])
def test_math_unequal(predicted, gold):
    assert not math_equal(predicted, gold)


def test_thousands_commas_do_not_merge_tuples():
    assert normalize_math_answer("1,000,000") == "1000000"
    assert normalize_math_answer("(1, 2)") == "(1,2)"


def test_integer_answers():
    assert parse_integer("042") == 42
    assert parse_integer("1,887") == 1887
    assert parse_integer("12.0") == 12
    assert parse_integer("1/2") is None
    assert check_answer("042", "42", "integer")
    assert check_answer(r"\boxed{7}"[7:-1], 7, "integer")
    assert not check_answer("43", "42", "integer")
    assert not check_answer(None, "42", "integer")
    assert extract_answer(r"</think> so the total is \boxed{033}", "integer") == "033"


@pytest.mark.parametrize("text, letter", [
    ("Let me think.\nAnswer: C", "C"),
    ("Answer: (B)", "B"),
    ("**Answer: D**", "D"),
    (r"Therefore \boxed{A}", "A"),
    (r"\boxed{\text{(C)}}", "C"),
    ("The answer is (D).", "D"),
    ("I think (B) fits best", "B"),
    ("Answer: A\nWait, no.\nAnswer: B", "B"),
    ("Answer: I am not sure", None),
    ("no letter", None),
])
def test_gpqa_letter_extraction(text, letter):
    assert extract_choice(text) == letter


def test_choice_letters_limited_to_the_options():
    assert extract_choice("Answer: E", "ABCD") is None
    assert extract_choice("Answer: E", "ABCDE") == "E"


def test_grade_uses_the_item_type():
    organism = EvalItem("o1", "What is 959 + 928?", "1887", "integer", "organism", "Question: What is 959 + 928?\n")
    assert grade("<think>\nLet me add.\n</think>\nAnswer: 1887", organism) == ("1887", True)
    assert grade("<think>\nLet me add.\n</think>\nAnswer: 1888", organism) == ("1888", False)
    assert grade("<think>\nLet me add. Answer: 1887 is what I expect", organism)[1]  # unclosed: whole text
    gpqa = EvalItem("g1", "Q\n\nA) x\nB) y\nC) z\nD) w", "C", "choice", "gpqa", None, ("x", "y", "z", "w"))
    assert grade("</think>\nAnswer: C", gpqa) == ("C", True)
    math = EvalItem("m1", "Simplify 2/4", r"\frac{1}{2}", "math", "math500")
    assert grade(r"<think>0.5?</think> \boxed{\dfrac{1}{2}}", math) == (r"\dfrac{1}{2}", True)


def test_answer_keys_group_equal_answers_for_voting():
    assert answer_key(r"\frac{1}{2}", "math") == answer_key("0.5", "math")
    assert answer_key("042", "integer") == answer_key("42", "integer")
    assert answer_key("c", "choice") == "C"
    assert answer_key(None, "math") is None


SYMBOLIC_PAIRS = [("\\frac{\\sqrt2}{2}", "\\sqrt{2}/2"), ("1+x^2", "x^2+1"), ("\\frac{\\pi}{3}", "\\pi/3"),
                  ("2\\sqrt{3}", "\\sqrt{12}")]


@pytest.mark.parametrize(("predicted", "gold"), SYMBOLIC_PAIRS)
def test_math_verify_decides_symbolic_equivalence_the_normaliser_misses(predicted, gold):
    pytest.importorskip("math_verify")
    assert math_equal(predicted, gold)
    assert not math_equal(predicted, gold, use_math_verify=False)  # the normaliser alone says "different"


@pytest.mark.parametrize(("predicted", "gold"), [("13", "12"), ("\\pi", "3.14159"), ("x^2", "x^3"),
                                                 ("\\frac{1}{3}", "0.33")])
def test_math_verify_keeps_different_answers_different(predicted, gold):
    assert not math_equal(predicted, gold)


def test_without_math_verify_the_normaliser_stands(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "math_verify", None)  # import fails as when it is not installed
    predicted, gold = SYMBOLIC_PAIRS[0]
    assert not math_equal(predicted, gold)
    assert math_equal("\\dfrac{1}{2}", "0.5")


def test_math_verify_works_off_the_main_thread():
    pytest.importorskip("math_verify")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(math_equal, *SYMBOLIC_PAIRS[1]).result()
