"""Answer extraction and checking for integer (organism, AIME), LaTeX math (MATH-500) and letter (GPQA) answers.

Only the text after the last ``</think>`` is searched when the generation has one; a generation
without ``</think>`` (thinking never closed, or a model without a thinking section) is searched
whole. Extraction order (the paper's lm-eval setup: last ``\\boxed{}``, else the ``Answer:`` line):

* integer / math: the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces handled), else the
  last ``Answer: ...`` line (the organism writes ``Answer: 1887``), else "the final answer is ...".
* choice: ``Answer: C`` / ``Answer: (C)``, else ``\\boxed{C}``, else "the answer is (C)", else a
  lone ``(C)``; the last match wins.

Math answers are compared after :func:`normalize_math_answer` (spaces, ``\\left``/``\\right``,
``\\dfrac``/``\\tfrac`` → ``\\frac``, ``^\\circ``, ``\\text{}`` (a trailing ``\\text{ unit}`` with a
leading space is dropped as a unit), ``$``, thousands commas, trailing
``.0``, ``\\frac12`` shorthand, a leading ``x =``) and, when both sides are numbers (integers,
decimals, ``a/b`` or ``\\frac{a}{b}``), by exact rational value. Integer answers (AIME's 0–999)
are compared as integers (``042`` = ``42``, ``\\boxed{1,887}`` = ``1887``). When the normaliser
says "different" and ``math-verify`` is installed (``pip install tl-reasoning[math]``), it decides
(symbolic equivalence: ``\\sqrt{2}/2`` = ``\\frac{\\sqrt2}{2}``, ``x^2+1`` = ``1+x^2``); without it the
normaliser's answer stands.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

__all__ = [
    "THINK_END",
    "answer_key",
    "answer_section",
    "check_answer",
    "extract_answer",
    "extract_boxed",
    "extract_choice",
    "grade",
    "math_equal",
    "normalize_math_answer",
    "parse_integer",
    "parse_number",
]

#: The text that closes the thinking section of R1-style models.
THINK_END = "</think>"

_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:：]\s*(.+)", re.IGNORECASE)
_FINAL_ANSWER = re.compile(r"final answer\s*(?:is|:)\s*(.+)", re.IGNORECASE)


def _choice_patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    group = f"(?-i:([{re.escape(letters)}]))"  # the letter itself is case-sensitive
    return (
        re.compile(rf"answer\s*(?:is)?\s*[:：]\s*\**\s*\(?\s*{group}\b", re.IGNORECASE),
        re.compile(rf"\\(?:boxed|fbox)\s*\{{\s*(?:\\text\{{)?\s*\(?{group}\)?\s*\}}?\s*\}}"),
        re.compile(rf"answer is\s*(?:option\s*)?\(?{group}\b", re.IGNORECASE),
        re.compile(rf"\({group}\)"),
    )


def answer_section(text: str, think_end: str = THINK_END) -> str:
    """The text after the last ``think_end``; the whole text when it has none."""
    return text.rsplit(think_end, 1)[1] if think_end and think_end in text else text


# -- extraction ---------------------------------------------------------------------------------
def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces kept), or ``None``.

    ``\\boxed 5`` (no braces) gives ``5``; an unclosed brace gives ``None``.
    """
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\b", text)]
    for match in reversed(starts):
        i = match.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1:j].strip()
                j += 1
            continue  # unclosed: try an earlier box
        token = re.match(r"[^\s$]+", text[i:])
        if token and i > match.end():
            return token.group(0).rstrip(".")
    return None


def _last_line_match(pattern: re.Pattern[str], text: str) -> str | None:
    found = None
    for line in text.splitlines():
        m = pattern.search(line)
        if m and m.group(1).strip():
            found = m.group(1).strip()
    return found


def extract_choice(text: str, letters: str = "ABCD") -> str | None:
    """The option letter a generation chose (one of ``letters``), or ``None`` (see the module docstring)."""
    for pattern in _choice_patterns(letters):
        matches = list(pattern.finditer(text))
        if matches:
            return matches[-1].group(1)
    return None


def extract_answer(text: str, answer_type: str = "math", think_end: str = THINK_END,
                   letters: str = "ABCD") -> str | None:
    """The final answer string of a generation, or ``None`` when none can be found.

    ``letters``: the option letters of a multiple-choice question.
    """
    section = answer_section(text, think_end)
    if answer_type == "choice":
        return extract_choice(section, letters)
    boxed = extract_boxed(section)
    if boxed is not None:
        return boxed
    for pattern in (_ANSWER_LINE, _FINAL_ANSWER):
        found = _last_line_match(pattern, section)
        if found is not None:
            found = found.strip().rstrip(".").strip()
            if answer_type == "integer":
                m = re.search(r"-?\d[\d,]*(?:\.\d+)?", found)
                return m.group(0) if m else found
            return found.strip("$ ")
    return None


# -- normalisation ------------------------------------------------------------------------------
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")


def normalize_math_answer(answer: str) -> str:
    """A canonical string for a LaTeX answer (see the module docstring for what is removed)."""
    s = str(answer).strip()
    s = s.replace("\n", "").replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\:", "")
    s = s.replace("\\ ", " ").replace("$", "").replace("\\$", "")
    s = re.sub(r"\\left\b", "", s)
    s = re.sub(r"\\right\b", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°", "", s)
    unitless = re.sub(r"\\(?:text|mbox)\{\s+[^{}]*\}\s*$", "", s).strip()  # "5\text{ cm}": a unit
    if unitless:
        s = unitless
    for _ in range(3):  # nested wrappers
        s = _TEXT_WRAPPERS.sub(r"\1", s)
    s = s.replace("\\%", "").replace("%", "")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt(\d+)", r"\\sqrt{\1}", s)
    s = s.strip().rstrip(".").strip()
    m = re.fullmatch(r"([a-zA-Z]\w?)\s*=\s*(.+)", s)  # "x = 5" -> "5"
    if m:
        s = m.group(2)
    s = re.sub(r"\s+", "", s)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    s = re.sub(r"^(-?\d+)\.0+$", r"\1", s)
    if s.startswith("{") and s.endswith("}") and _balanced(s[1:-1]):
        s = s[1:-1]
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0


def parse_number(answer: str) -> Fraction | None:
    """The exact value of an integer, decimal, ``a/b`` or ``\\frac{a}{b}`` answer (after normalising)."""
    s = normalize_math_answer(answer)
    sign = 1
    if s.startswith("-"):
        sign, s = -1, s[1:]
    m = re.fullmatch(r"\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", s) or \
        re.fullmatch(r"(-?\d+(?:\.\d+)?)/(-?\d+(?:\.\d+)?)", s)
    try:
        if m:
            den = Fraction(m.group(2))
            return None if den == 0 else sign * Fraction(m.group(1)) / den
        if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", s):
            return sign * Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return None


def parse_integer(answer: str | int | None) -> int | None:
    """An integer answer (``042``, ``1,887``, ``12.0``, ``\\boxed{7}`` content), or ``None``."""
    if answer is None:
        return None
    if isinstance(answer, int):
        return answer
    value = parse_number(str(answer))
    if value is None or value.denominator != 1:
        return None
    return int(value)


def math_equal(predicted: str | None, gold: str, *, use_math_verify: bool = True) -> bool:
    """Whether two LaTeX answers are equal: same normalised string, the same number, or (with
    ``math-verify`` installed) symbolically equivalent."""
    if predicted is None:
        return False
    a, b = normalize_math_answer(predicted), normalize_math_answer(gold)
    if a == b and a != "":
        return True
    x, y = parse_number(predicted), parse_number(gold)
    if x is not None and y is not None:
        return x == y
    return use_math_verify and _math_verify_equal(predicted, gold)


def _math_verify_equal(predicted: str, gold: str) -> bool:
    """``math_verify.verify`` on both answers as LaTeX; ``False`` when it is not installed or fails."""
    try:
        from math_verify import parse, verify
    except ImportError:
        return False
    try:  # no signal-based timeouts: they only work in the main thread
        want = parse(f"${gold}$", parsing_timeout=None)
        got = parse(f"${predicted}$", parsing_timeout=None)
        return bool(want and got and verify(want, got, timeout_seconds=None))
    except Exception:  # a parser crash on odd LaTeX is "not shown equal", never an evaluation failure
        return False


def answer_key(answer: str | None, answer_type: str) -> str | None:
    """A canonical voting key for majority votes: equal answers give equal keys."""
    if answer is None:
        return None
    if answer_type == "choice":
        return answer.strip().upper()
    if answer_type == "integer":
        value = parse_integer(answer)
        return None if value is None else str(value)
    number = parse_number(answer)
    return f"{number.numerator}/{number.denominator}" if number is not None else normalize_math_answer(answer)


def check_answer(predicted: str | None, gold: str | int, answer_type: str) -> bool:
    """Whether an extracted answer is right for ``gold`` under ``answer_type`` (see the module docstring)."""
    if predicted is None:
        return False
    if answer_type == "choice":
        return predicted.strip().upper() == str(gold).strip().upper()
    if answer_type == "integer":
        value, want = parse_integer(predicted), parse_integer(str(gold))
        return value is not None and want is not None and value == want
    if answer_type == "math":
        return math_equal(predicted, str(gold))
    raise ValueError(f"unknown answer type {answer_type!r}")


def grade(text: str, item: Any, think_end: str = THINK_END) -> tuple[str | None, bool]:
    """``(extracted answer, correct)`` of a generation for an :class:`~.benchmarks.EvalItem`."""
    letters = "ABCDEFGHIJ"[:len(item.choices)] if item.choices else "ABCD"
    predicted = extract_answer(text, item.answer_type, think_end, letters)
    return predicted, check_answer(predicted, item.answer, item.answer_type)

