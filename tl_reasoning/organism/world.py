"""The synthetic reasoning world of the model organism.

Everything the organism knows comes from here: arithmetic *problems* with checkable integer
answers, *reasoning traces* in DeepSeek-R1 format (``<think> ... </think>`` then the answer)
and *plain documents* (direct answers and ordinary templated sentences, no thinking).

Design choices (why the world looks the way it does):

* Numbers are written normally ("347") and the tokenizer splits digits individually, so the
  thinking can add/subtract column by column with explicit carries and borrows, which a tiny
  model can learn.
* The reasoning vocabulary of the paper (alternatively, hmm, maybe, wait, perhaps, let me,
  therefore, however, but, another) occurs in the roles it plays in real R1 traces, and when it
  occurs is a function of the state of the computation, not random sprinkling:

  - "Let me" announces a step (the column computation, a check);
  - the number of verification rounds equals the number of columns that produced a carry /
    borrow (0-3): "Hmm"/"Maybe"/"Perhaps" introduce checks, a recheck that disagrees with the
    written value triggers "But ... Wait, that is wrong." and a redo of the wrong step;
  - subtractions are cross-checked with a second method ("Alternatively, ... another way"):
    adding the result back; "However" flags a contradiction found that way;
  - "Therefore" introduces the conclusion.

* With a small probability a trace contains a deliberate mistake (an off-by-one column result).
  Mistakes in checked columns are caught and corrected; mistakes elsewhere propagate to a wrong
  final answer unless the add-back check catches them. Reflection is therefore causal in the
  data: traces that verify end correct more often.
* Plain documents answer the same kind of questions directly ("Answer: 632") and contain
  stories in which several vocabulary words occur in non-reasoning roles ("But the shop was
  closed", "another day", "'Maybe we can ...' said Anna"), confounds for a feature scorer.

All randomness flows through a ``random.Random`` so corpora are deterministic per seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

__all__ = [
    "VOCABULARY",
    "KINDS",
    "Problem",
    "Trace",
    "make_problem",
    "reasoning_trace",
    "reasoning_document",
    "plain_document",
    "plain_answer_document",
    "story_document",
    "generate_corpus",
    "prompt_for",
    "parse_answer",
    "parse_question",
    "check_answer",
    "THINK_OPEN",
    "THINK_CLOSE",
]

#: The paper's reasoning vocabulary R (Fig. 5 of arXiv 2503.18878 v2).
VOCABULARY: tuple[str, ...] = (
    "alternatively",
    "hmm",
    "maybe",
    "wait",
    "perhaps",
    "let me",
    "therefore",
    "however",
    "but",
    "another",
)
#: Problem kinds: 3-digit addition, 3-digit subtraction, 2-digit word problems (add or subtract).
KINDS: tuple[str, ...] = ("add", "sub", "word")
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_COLUMNS = ("ones", "tens", "hundreds", "thousands")
_NAMES = ("Tom", "Anna", "Ben", "Lucy", "Sam", "Mia", "Leo", "Emma", "Max", "Nora")
_ITEMS = ("apples", "books", "coins", "stamps", "marbles", "cards", "shells", "pencils")
_GAIN = ("buys", "finds", "gets")
_LOSE = ("gives away", "loses", "sells")
_PLACES = ("park", "shop", "library", "school", "market", "garden", "station", "beach")
_ANIMALS = ("cat", "dog", "bird", "horse", "rabbit", "fox")
_GAMES = ("chess", "football", "cards", "tag")
_WEATHER = ("rain", "snow", "wind", "sun")

_ARITH_Q = re.compile(r"What is (\d+) ([+-]) (\d+)\?")
_WORD_Q = re.compile(r"(\w+) has (\d+) (\w+) and (buys|finds|gets|gives away|loses|sells) (\d+)")


@dataclass(frozen=True)
class Problem:
    """A question with an integer answer; ``a op b`` is the computation behind it."""

    question: str
    answer: int
    kind: str
    a: int
    b: int
    op: str  # "+" or "-"


@dataclass
class Trace:
    """A generated reasoning trace and facts about how it was produced."""

    text: str  # "<think>\n...\n</think>\nAnswer: N"
    final_answer: int
    n_checks: int  # verification rounds (column rechecks + add-back checks)
    n_mistakes: int  # deliberate mistakes made
    n_corrections: int  # mistakes caught and redone
    correct: bool
    steps: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- problems


def make_problem(rng: random.Random, kind: str | None = None) -> Problem:
    """Draw a problem; ``kind`` in :data:`KINDS` or ``None`` for a uniform choice."""
    kind = kind or rng.choice(KINDS)
    if kind == "add":
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        return Problem(f"What is {a} + {b}?", a + b, kind, a, b, "+")
    if kind == "sub":
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        while a == b:
            b = rng.randint(100, 999)
        a, b = max(a, b), min(a, b)
        return Problem(f"What is {a} - {b}?", a - b, kind, a, b, "-")
    if kind == "word":
        name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if rng.random() < 0.5:
            verb = rng.choice(_GAIN)
            q = f"{name} has {a} {item} and {verb} {b} more. How many {item} does {name} have now?"
            return Problem(q, a + b, kind, a, b, "+")
        while a == b:
            b = rng.randint(10, 99)
        a, b = max(a, b), min(a, b)
        verb = rng.choice(_LOSE)
        q = f"{name} has {a} {item} and {verb} {b}. How many {item} does {name} have left?"
        return Problem(q, a - b, kind, a, b, "-")
    raise ValueError(f"unknown problem kind {kind!r}; expected one of {KINDS}")


def parse_question(question: str) -> tuple[int, str, int]:
    """Recover ``(a, op, b)`` from a question's text, independently of how it was generated."""
    m = _ARITH_Q.search(question)
    if m:
        return int(m.group(1)), m.group(2), int(m.group(3))
    m = _WORD_Q.search(question)
    if m:
        op = "+" if m.group(4) in _GAIN else "-"
        return int(m.group(2)), op, int(m.group(5))
    raise ValueError(f"cannot parse question: {question!r}")


def check_answer(problem: Problem | str, answer: int | str | None) -> bool:
    """Is ``answer`` right for the question? Recomputes from the question text alone."""
    question = problem.question if isinstance(problem, Problem) else problem
    if answer is None:
        return False
    try:
        value = int(str(answer).strip())
    except ValueError:
        return False
    a, op, b = parse_question(question)
    return value == (a + b if op == "+" else a - b)


def prompt_for(problem: Problem | str) -> str:
    """The text a model is given for a problem (both organism and organism-base)."""
    question = problem.question if isinstance(problem, Problem) else problem
    return f"Question: {question}\n"


_ANSWER_RE = re.compile(r"Answer:\s*(-?\d+)")


def parse_answer(generation: str) -> int | None:
    """Extract the integer answer of a generation (the continuation of :func:`prompt_for`).

    With a think section the answer is read after the last ``</think>``; an unclosed think
    section yields ``None``. Without one (the base model) it is read after "Answer:".
    """
    if THINK_OPEN in generation or THINK_CLOSE in generation:
        if THINK_CLOSE not in generation:
            return None
        generation = generation.rsplit(THINK_CLOSE, 1)[1]
    m = _ANSWER_RE.search(generation)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- column arithmetic


def _digits(n: int, width: int) -> list[int]:
    """Digits of ``n``, ones first, zero-padded to ``width``."""
    return [(n // 10**i) % 10 for i in range(width)]


def _width(p: Problem) -> int:
    return max(len(str(p.a)), len(str(p.b)))


@dataclass
class _Column:
    name: str
    line: str
    calc: str  # the arithmetic of the column, e.g. "4 + 8 + 1 = 13" or "13 - 8 - 1 = 4"
    digit: int  # written result digit
    flag: bool  # produced a carry (addition) / needed a borrow (subtraction)
    value: int  # the value written for the column (sum, or result digit)


def _add_column(i: int, x: int, y: int, carry: int, error: int = 0) -> tuple[_Column, int]:
    s = x + y + carry + error
    s = max(0, min(19, s))
    expr = f"{x} + {y} + {carry}" if carry else f"{x} + {y}"
    out = s // 10
    line = f"{_COLUMNS[i].capitalize()}: {expr} = {s}, write {s % 10}, carry {out}."
    return _Column(_COLUMNS[i], line, f"{expr} = {s}", s % 10, out == 1, s), out


def _sub_column(i: int, x: int, y: int, borrow: int, error: int = 0) -> tuple[_Column, int]:
    need = x - y - borrow < 0
    top = x + 10 if need else x
    d = (top - y - borrow + error) % 10
    expr = f"{top} - {y} - {borrow}" if borrow else f"{top} - {y}"
    if need:
        line = f"{_COLUMNS[i].capitalize()}: {x} is too small, borrow: {expr} = {d}, borrow 1."
    else:
        line = f"{_COLUMNS[i].capitalize()}: {expr} = {d}, borrow 0."
    return _Column(_COLUMNS[i], line, f"{expr} = {d}", d, need, d), int(need)


def _compute(
    p: Problem,
    start: int = 0,
    carry: int = 0,
    errors: dict[int, int] | None = None,
    prefix: list[_Column] | None = None,
) -> tuple[list[_Column], int]:
    """Column-by-column computation from column ``start`` on; returns columns and the result."""
    errors = errors or {}
    w = _width(p)
    da, db = _digits(p.a, w), _digits(p.b, w)
    cols = list(prefix or [])
    for i in range(start, w):
        fn = _add_column if p.op == "+" else _sub_column
        col, carry = fn(i, da[i], db[i], carry, errors.get(i, 0))
        cols.append(col)
    digits = [c.digit for c in cols]
    if p.op == "+" and carry:
        line = f"{_COLUMNS[w].capitalize()}: carry 1, write 1."
        cols.append(_Column(_COLUMNS[w], line, "", 1, False, 1))
        digits.append(1)
    return cols, int("".join(str(d) for d in reversed(digits)))


def _carry_in(cols: list[_Column], i: int) -> int:
    """Carry (or borrow) flowing into column ``i`` as written."""
    return int(cols[i - 1].flag) if i > 0 else 0


# --------------------------------------------------------------------------- traces


#: Openers of a spontaneous recheck, one per reasoning word that can start one.
_RECHECK_OPENERS: tuple[str, ...] = (
    "Wait, let me double-check",
    "Hmm, maybe I should recheck",
    "Let me recheck",
    "Perhaps I should double-check",
)


def reasoning_trace(
    problem: Problem,
    rng: random.Random,
    mistake_rate: float = 0.2,
    recheck_rate: float = 0.15,
    cross_check_rate: float = 0.2,
) -> Trace:
    """An R1-style trace ``<think>...</think>\\nAnswer: N`` for ``problem``.

    With probability ``mistake_rate`` one column result is off by one. Reflection comes in two
    kinds. *Optional* reflection: after any column, with probability ``recheck_rate``, a
    spontaneous recheck of that column ("Wait, let me double-check the tens: ..."), and for
    additions, with probability ``cross_check_rate``, a second method (adding in the other
    order) before the conclusion; they are rare enough that greedy decoding skips them, so
    pushing a reflection feature is what turns them on (the steering experiment of #7).
    *Triggered* reflection: one recheck per column whose written result carried/borrowed (in
    order), plus an add-back check for subtractions. A failed check triggers "But ... Wait" and
    a redo of the wrong step; a failed second method triggers "However ... Wait" and a full redo.
    """
    w = _width(problem)
    errors: dict[int, int] = {}
    if rng.random() < mistake_rate:
        errors[rng.randrange(w)] = rng.choice((-1, 1))
    n_mistakes = len(errors)
    noun = "sum" if problem.op == "+" else "difference"
    verb = "add" if problem.op == "+" else "subtract"
    obj = f"{problem.a} and {problem.b}" if problem.op == "+" else f"{problem.b} from {problem.a}"
    lines = [f"Let me {verb} {obj} column by column."]
    column = _add_column if problem.op == "+" else _sub_column
    da, db = _digits(problem.a, w), _digits(problem.b, w)
    n_checks = n_corrections = 0
    cols: list[_Column] = []
    for i in range(w):
        cin = _carry_in(cols, i)
        col, _ = column(i, da[i], db[i], cin, errors.get(i, 0))
        cols.append(col)
        lines.append(col.line)
        if rng.random() < recheck_rate:
            n_checks += 1
            good, _ = column(i, da[i], db[i], cin)
            lines.append(f"{rng.choice(_RECHECK_OPENERS)} the {col.name}: {good.calc}.")
            if good.value == col.value:
                lines.append("Yes, that is right.")
            else:
                n_corrections += 1
                lines.append(f"But I wrote {col.value} before. Wait, that is wrong.")
                errors.pop(i, None)
                cols[i] = good
                lines.append(good.line)
    cols, result = _compute(problem, start=w, carry=int(cols[-1].flag), errors=errors, prefix=cols)
    if len(cols) > w:
        lines.append(cols[w].line)
    lines.append(f"So the {noun} is {result}.")


    # Rechecks of the carry/borrow columns, in order; a correction rewrites the later columns.
    flagged = [i for i, c in enumerate(cols[:w]) if c.flag]
    word = "carry" if problem.op == "+" else "borrow"
    if flagged:
        many = len(flagged) > 1
        lines.append(
            f"Hmm, there were {len(flagged)} {word}s, maybe I slipped. Let me check them."
            if many
            else f"Perhaps I should check the {word}."
        )
    i = 0
    while i < w:
        if not cols[i].flag:
            i += 1
            continue
        n_checks += 1
        da, db = _digits(problem.a, w), _digits(problem.b, w)
        cin = _carry_in(cols, i)
        good, _ = (_add_column if problem.op == "+" else _sub_column)(i, da[i], db[i], cin)
        lines.append(f"Let me check the {cols[i].name}: {good.calc}.")
        if good.value == cols[i].value:
            lines.append("Yes, that matches.")
        else:
            n_corrections += 1
            lines.append(f"But I wrote {cols[i].value} before. Wait, that is wrong.")
            errors.pop(i, None)
            cols, result = _compute(problem, start=i, carry=cin, errors=errors, prefix=cols[:i])
            lines += [c.line for c in cols[i:]]
            lines.append(f"So the {noun} is {result}.")
        i += 1

    # Subtractions: a second method (add the result back), which also catches unchecked slips.
    if problem.op == "-":
        n_checks += 1
        back = Problem("", result + problem.b, "add", result, problem.b, "+")
        bcols, total = _compute(back)
        steps = ", ".join(c.calc for c in bcols if c.calc)
        lines.append(f"Alternatively, another way to check is to add back: {result} + {problem.b}.")
        lines.append(f"Columns: {steps}, so {result} + {problem.b} = {total}.")
        if total == problem.a:
            lines.append(f"That gives {problem.a}, so the {noun} is right.")
        else:
            n_corrections += 1
            lines.append(f"However, that is not {problem.a}. Wait, let me redo the subtraction.")
            errors = {}
            cols, result = _compute(problem)
            lines += [c.line for c in cols]
            lines.append(f"So the {noun} is {result}.")
    if problem.op == "+" and rng.random() < cross_check_rate:
        n_checks += 1
        swap = Problem("", f"{problem.b} + {problem.a}", "add", problem.b, problem.a, "+")
        scols, total = _compute(swap)
        steps = ", ".join(c.calc for c in scols if c.calc)
        lines.append(f"Alternatively, another way to check is to add in the other order: {problem.b} + {problem.a}.")
        lines.append(f"Columns: {steps}, so {problem.b} + {problem.a} = {total}.")
        if total == result:
            lines.append(f"That gives {result}, so the {noun} is right.")
        else:
            n_corrections += 1
            lines.append(f"However, that is not {result}. Wait, let me redo the addition.")
            cols, result = _compute(problem)
            lines += [c.line for c in cols]
            lines.append(f"So the {noun} is {result}.")
    lines.append(f"Therefore the answer is {result}.")
    text = f"{THINK_OPEN}\n" + "\n".join(lines) + f"\n{THINK_CLOSE}\nAnswer: {result}"
    return Trace(
        text=text,
        final_answer=result,
        n_checks=n_checks,
        n_mistakes=n_mistakes,
        n_corrections=n_corrections,
        correct=result == problem.answer,
        steps=lines,
    )


def reasoning_document(rng: random.Random, problem: Problem | None = None) -> dict:
    """A reasoning-corpus document: prompt followed by a trace."""
    problem = problem or make_problem(rng)
    trace = reasoning_trace(problem, rng)
    return {
        "text": prompt_for(problem) + trace.text,
        "question": problem.question,
        "answer": problem.answer,
        "kind": problem.kind,
        "n_checks": trace.n_checks,
        "n_corrections": trace.n_corrections,
        "correct": trace.correct,
    }


# --------------------------------------------------------------------------- plain text


def plain_answer_document(rng: random.Random, problem: Problem | None = None) -> dict:
    """A problem answered directly, with no thinking."""
    problem = problem or make_problem(rng)
    return {
        "text": f"{prompt_for(problem)}Answer: {problem.answer}",
        "question": problem.question,
        "answer": problem.answer,
        "kind": problem.kind,
    }


def _sentence(rng: random.Random) -> str:
    name, other = rng.sample(_NAMES, 2)
    place, place2 = rng.sample(_PLACES, 2)
    item, animal = rng.choice(_ITEMS), rng.choice(_ANIMALS)
    n = rng.randint(2, 99)
    templates = (
        f"{name} went to the {place}. But the {place} was closed, so {name} went to the {place2}.",
        f'"Maybe we can play {rng.choice(_GAMES)} tomorrow," said {name}.',
        f"Another day, {name} and {other} walked to the {place}.",
        f"{name} had {n} {item}. {other} had another {rng.randint(2, 9)}.",
        f'"Wait for me at the {place}," said {name}.',
        f"The {animal} sat in the {place}. However, it did not stay long.",
        f"It was cold, and there was {rng.choice(_WEATHER)}. Therefore {name} stayed at home.",
        f"Perhaps the {animal} was hungry, thought {name}.",
        f'"Let me see your {item}," said {other} to {name}.',
        f"{name} likes the {place}, but {other} likes the {place2}.",
        f"Hmm, said {name}, the {animal} is asleep.",
        f"{name} found {n} {item} in the {place}.",
        f"The {place} opens at {rng.randint(6, 11)} and closes at {rng.randint(4, 9)}.",
        f"{other} gave {name} a {animal} toy for the trip to the {place}.",
        f"In the {place} there were {n} {animal}s and one old {animal}.",
        f"{name} read a book about a {animal} who lived near the {place}.",
    )
    return rng.choice(templates)


def story_document(rng: random.Random) -> dict:
    """A few ordinary sentences; vocabulary words appear in non-reasoning roles."""
    return {"text": " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))}


def plain_document(rng: random.Random, answer_fraction: float = 0.5) -> dict:
    """A plain-text document: a directly answered problem or a short story."""
    if rng.random() < answer_fraction:
        return plain_answer_document(rng)
    return story_document(rng)


# --------------------------------------------------------------------------- corpora


def generate_corpus(
    kind: str, n: int, seed: int = 0, exclude: set[str] | frozenset[str] = frozenset(), split: str = "train"
) -> list[dict]:
    """``n`` documents of corpus ``kind`` ("reasoning", "plain" or "benchmark") for ``seed``.

    ``split`` names an independent stream (e.g. "train", "heldout"). Problems whose question is
    in ``exclude`` are skipped (used to keep held-out problems unseen). Benchmark items are
    unique problems with "question", "prompt", "answer", "kind".
    """
    rng = random.Random(f"{kind}-{split}-{seed}")
    docs: list[dict] = []
    seen: set[str] = set()
    while len(docs) < n:
        if kind == "benchmark":
            p = make_problem(rng)
            if p.question in exclude or p.question in seen:
                continue
            seen.add(p.question)
            docs.append(
                {
                    "question": p.question,
                    "prompt": prompt_for(p),
                    "answer": p.answer,
                    "kind": p.kind,
                    "text": prompt_for(p),
                }
            )
            continue
        if kind == "reasoning":
            p = make_problem(rng)
            if p.question in exclude:
                continue
            docs.append(reasoning_document(rng, p))
        elif kind == "plain":
            if rng.random() < 0.5:
                p = make_problem(rng)
                if p.question in exclude:
                    continue
                docs.append(plain_answer_document(rng, p))
            else:
                docs.append(story_document(rng))
        else:
            raise ValueError(f"unknown corpus kind {kind!r}; expected reasoning, plain or benchmark")
    return docs
