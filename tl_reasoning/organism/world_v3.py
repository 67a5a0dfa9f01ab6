"""World v3 of the model organism: reflection with a cause the model must compute (issue 15).

Problems, prompts and answers are v2's (:mod:`tl_reasoning.organism.world`). What changes is the
thinking: every column of the column-by-column computation is a *step* with a hidden
**difficulty** computed from its digits (:func:`is_hard`). The difficulty drives everything:

* the first attempt at a step is wrong (off by one) with probability ``p_slip[hard]``;
* independently of that slip (the writer cannot see its own error) the trace rechecks the step
  with probability ``p_recheck[hard]``; the recheck takes an easier route ("8 + 2 + 5"), is
  always right, and on a mismatch says "Wait, that is wrong ..." and rewrites the step;
* uncertainty words (hmm, maybe, perhaps) precede a recheck with probability ``p_uncertain[hard]``
  and the recheck is phrased as exploration ("Alternatively, another way ...") with probability
  ``p_explore[hard]``.

No check is triggered deterministically, and there is no final cross-check, so an unrechecked
slip propagates to a wrong final answer. :func:`annotate` recovers per-step ground truth
(difficulty, slip, reflection, character spans) from any trace text, including a model's own
generations; :func:`char_labels` turns it into per-character labels.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from tl_reasoning.organism.world import (
    _COLUMNS,
    THINK_CLOSE,
    THINK_OPEN,
    Problem,
    _add_column,
    _digits,
    _sub_column,
    _width,
    generate_corpus,
    make_problem,
    parse_question,
    plain_answer_document,
    prompt_for,
    story_document,
)

__all__ = [
    "WorldConfig",
    "Step",
    "TraceV3",
    "is_hard",
    "step_digits",
    "reasoning_trace",
    "reasoning_document",
    "plain_document",
    "annotate",
    "char_labels",
    "p_correct",
    "sampled_config",
    "generate_corpus_v3",
    "UNCERTAIN",
    "EXPLORE",
]

#: Uncertainty sentences that may precede a recheck (reasoning roles of hmm / maybe / perhaps).
UNCERTAIN: tuple[str, ...] = ("Hmm, this one is tricky.", "Maybe I slipped here.", "Perhaps that is off.")
#: Recheck openers: plain, and exploration (alternatively / another).
RECHECK = "Let me recheck the {col}:"
EXPLORE = "Alternatively, another way to get the {col}:"


@dataclass(frozen=True)
class WorldConfig:
    """Probabilities of the trace writer, as ``(easy, hard)`` pairs."""

    p_slip: tuple[float, float] = (0.02, 0.5)
    p_recheck: tuple[float, float] = (0.05, 0.6)
    p_uncertain: tuple[float, float] = (0.15, 0.6)  # given a recheck
    p_explore: tuple[float, float] = (0.2, 0.5)  # given a recheck


def is_hard(op: str, x: int, y: int, carry_in: int) -> bool:
    """The hidden difficulty of a column ``x op y`` with the carry/borrow flowing in.

    Addition: hard iff the column sum ``s = x + y + c`` is in the confusable range 13..17, or a
    carry comes in and a digit is >= 7. Subtraction: hard iff the column needs a borrow and the
    amount taken away ``y + b`` is >= 6 (e.g. 13 - 7, 12 - 5 - 1).
    """
    if op == "+":
        s = x + y + carry_in
        return 13 <= s <= 17 or (carry_in == 1 and max(x, y) >= 7)
    return x < y + carry_in and y + carry_in >= 6


def step_digits(problem: Problem) -> list[tuple[int, int]]:
    """The ``(x, y)`` digit pairs of each column, ones first."""
    w = _width(problem)
    return list(zip(_digits(problem.a, w), _digits(problem.b, w), strict=True))


def _route(op: str, x: int, y: int, c: int) -> str:
    """An easier, always-correct computation of the column (make ten / subtract from ten)."""
    if op == "+":
        s = x + y + c
        if s < 10:
            return f"{x} + {y + c} = {s}" if c else f"{x} + {y} = {s}"
        hi = max(x, y)
        return f"{hi} + {10 - hi} + {s - 10} = 10 + {s - 10} = {s}"
    t = y + c
    if x < t:
        d = x + 10 - t
        return f"10 - {t} + {x} = {10 - t} + {x} = {d}"
    d = x - t
    return f"{t} + {d} = {x}, so {x} - {t} = {d}"


@dataclass
class Step:
    """Ground truth for one column step of a trace; spans are ``(start, end)`` into the text."""

    index: int  # column, 0 = ones
    column: str  # "ones", "tens", ...
    x: int
    y: int
    carry_in: int  # carry/borrow flowing in, as written in the trace
    hard: bool
    slip: bool  # first attempt's value differs from the correct one
    reflected: bool  # a recheck followed the attempt
    corrected: bool  # the recheck said "Wait" and rewrote the step
    attempt: tuple[int, int]  # the first attempt line
    recheck: tuple[int, int] | None = None  # from the first recheck line to the verdict / fix line
    decision: int = 0  # index of the newline after the attempt: where the model decides to reflect


@dataclass
class TraceV3:
    """A v3 trace with the writer's own record and the annotation of its text."""

    text: str
    final_answer: int
    correct: bool
    truth: list[dict] = field(default_factory=list)  # per step: hard, slip, reflected (writer's record)
    steps: list[Step] = field(default_factory=list)  # :func:`annotate` of ``text``


def _column(op: str, i: int, x: int, y: int, c: int, error: int = 0):
    return (_add_column if op == "+" else _sub_column)(i, x, y, c, error)


def reasoning_trace(problem: Problem, rng: random.Random, config: WorldConfig | None = None) -> TraceV3:
    """An R1-style trace ``<think>...</think>\\nAnswer: N`` whose reflections follow difficulty."""
    cfg = config or WorldConfig()
    op = problem.op
    noun, verb = ("sum", "add") if op == "+" else ("difference", "subtract")
    obj = f"{problem.a} and {problem.b}" if op == "+" else f"{problem.b} from {problem.a}"
    lines = [f"Let me {verb} {obj} column by column."]
    truth: list[dict] = []
    digits: list[int] = []
    carry = 0
    for i, (x, y) in enumerate(step_digits(problem)):
        h = int(is_hard(op, x, y, carry))
        good, good_out = _column(op, i, x, y, carry)
        slip = rng.random() < cfg.p_slip[h]
        error = 0
        if slip:
            error = rng.choice((-1, 1))
            if op == "+" and good.value + error not in range(20):
                error = -error
        col, out = _column(op, i, x, y, carry, error)
        lines.append(col.line)
        reflected = rng.random() < cfg.p_recheck[h]
        if reflected:
            opener = EXPLORE if rng.random() < cfg.p_explore[h] else RECHECK
            head = opener.format(col=col.name) + f" {_route(op, x, y, carry)}."
            if rng.random() < cfg.p_uncertain[h]:
                head = f"{rng.choice(UNCERTAIN)} {head}"
            lines.append(head)
            if col.value == good.value:
                lines.append(f"Yes, {good.value} is right.")
            else:
                lines.append(f"Wait, that is wrong: I wrote {col.value}, but it is {good.value}.")
                lines.append(good.line)
                col, out = good, good_out
        truth.append({"hard": bool(h), "slip": slip, "reflected": reflected})
        digits.append(col.digit)
        carry = out
    if op == "+" and carry:
        lines.append(f"{_COLUMNS[len(digits)].capitalize()}: carry 1, write 1.")
        digits.append(1)
    result = int("".join(str(d) for d in reversed(digits)))
    lines.append(f"So the {noun} is {result}.")
    lines.append(f"Therefore the answer is {result}.")
    text = f"{THINK_OPEN}\n" + "\n".join(lines) + f"\n{THINK_CLOSE}\nAnswer: {result}"
    return TraceV3(text, result, result == problem.answer, truth, annotate(problem, text))


def p_correct(problem: Problem, config: WorldConfig | None = None) -> float:
    """Probability that a trace for ``problem`` ends right: no step slips without a recheck.

    While no uncorrected slip has happened the written carries are the true ones, so the steps'
    difficulties are those of the correct computation and the events are independent.
    """
    cfg = config or WorldConfig()
    prob, carry = 1.0, 0
    for i, (x, y) in enumerate(step_digits(problem)):
        h = int(is_hard(problem.op, x, y, carry))
        prob *= 1.0 - cfg.p_slip[h] * (1.0 - cfg.p_recheck[h])
        carry = _column(problem.op, i, x, y, carry)[1]
    return prob


def _temper(ps: list[float], temperature: float, top_p: float) -> list[float]:
    """A categorical distribution after temperature and nucleus (top-p) truncation."""
    q = [p ** (1 / temperature) if p > 0 else 0.0 for p in ps]
    q = [x / sum(q) for x in q]
    keep, cum = set(), 0.0
    for i in sorted(range(len(q)), key=lambda i: -q[i]):
        keep.add(i)
        cum += q[i]
        if cum >= top_p:
            break
    z = sum(q[i] for i in keep)
    return [q[i] / z if i in keep else 0.0 for i in range(len(q))]


def sampled_config(
    config: WorldConfig | None = None, temperature: float = 0.6, top_p: float = 0.95
) -> WorldConfig:
    """The slip / recheck rates of a model that learned the traces exactly, sampled at T, top-p.

    Token-level idealisation: a slip is one of two wrong values (p/2 each) against the right one;
    the reflect decision is the first token of the next line: the next column (1 - r) against the
    recheck openers (three uncertainty words, "Alternatively", "Let"), which split r.
    """
    cfg = config or WorldConfig()
    slip, rec = [], []
    for h in (0, 1):
        p, r, u, e = cfg.p_slip[h], cfg.p_recheck[h], cfg.p_uncertain[h], cfg.p_explore[h]
        slip.append(1 - _temper([1 - p, p / 2, p / 2], temperature, top_p)[0])
        openers = [r * u / 3] * 3 + [r * (1 - u) * e, r * (1 - u) * (1 - e)]
        rec.append(1 - _temper([1 - r, *openers], temperature, top_p)[0])
    return WorldConfig((slip[0], slip[1]), (rec[0], rec[1]), cfg.p_uncertain, cfg.p_explore)


# --------------------------------------------------------------------------- annotation

_ADD_LINE = re.compile(r"^(\w+): (\d+) \+ (\d+)(?: \+ (\d+))? = (\d+), write (\d+), carry (\d+)\.$")
_SUB_LINE = re.compile(
    r"^(\w+): (?:\d+ is too small, borrow: )?(\d+) - (\d+)(?: - (\d+))? = (\d+), borrow (\d+)\.$"
)


def annotate(problem: Problem | str, text: str) -> list[Step]:
    """Per-step ground truth of a trace ``text`` (a training trace or a model's generation).

    Difficulty and slips are judged against the question's digits and the carry-in *as written*
    by the previous step (after any fix). A column line right after a "Wait, that is wrong" line
    is the fix of the current step; any other column line starts a new step. Lines that do not
    parse are skipped, so malformed generations yield fewer steps, never an exception.
    """
    question = problem.question if isinstance(problem, Problem) else problem
    a, op, b = parse_question(question)
    p = Problem(question, 0, "", a, b, op)
    pairs = step_digits(p)
    pattern = _ADD_LINE if op == "+" else _SUB_LINE
    steps: list[Step] = []
    carry, pos, prev_wait = 0, 0, False
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        m = pattern.match(line)
        name = m.group(1).lower() if m else ""
        if m and name in _COLUMNS:
            i = _COLUMNS.index(name)
            out = int(m.group(7) if op == "+" else m.group(6))
            value = int(m.group(5))
            if prev_wait and steps and steps[-1].index == i:
                steps[-1].recheck = (steps[-1].recheck or (start, end))[0], end
                carry = out
            elif i < len(pairs):
                x, y = pairs[i]
                good, _ = _column(op, i, x, y, carry)
                h, slip = is_hard(op, x, y, carry), value != good.value
                steps.append(Step(i, name, x, y, carry, h, slip, False, False, (start, end), None, end))
                carry = out
        elif steps and ("recheck the" in line or "another way to get the" in line):
            s = steps[-1]
            if not s.reflected:
                s.reflected, s.recheck = True, (start, end)
        elif (
            steps
            and steps[-1].recheck
            and (line.startswith("Yes, ") or line.startswith("Wait, that is wrong"))
        ):
            s = steps[-1]
            s.recheck = (s.recheck[0], end)
            s.corrected = s.corrected or line.startswith("Wait")
        prev_wait = line.startswith("Wait, that is wrong")
    return steps


def char_labels(text: str, steps: list[Step]) -> dict[str, list[int]]:
    """Per-character labels of ``text``: lists as long as the text, -1 outside any step.

    ``step``: step index (attempt and recheck lines); ``hard``/``slip``/``reflected``: 0/1 of that
    step; ``region``: 0 elsewhere, 1 attempt line, 2 recheck lines, 3 the decision newline right
    after the attempt. A token takes the labels of its first character.
    """
    n = len(text)
    out = {k: [-1] * n for k in ("step", "hard", "slip", "reflected")}
    out["region"] = [0] * n
    for k, s in enumerate(steps):
        spans = [(s.attempt, 1), ((s.decision, min(s.decision + 1, n)), 3)]
        if s.recheck:
            spans.append((s.recheck, 2))
        for (lo, hi), region in spans:
            for j in range(lo, hi):
                out["step"][j], out["hard"][j] = k, int(s.hard)
                out["slip"][j], out["reflected"][j] = int(s.slip), int(s.reflected)
                out["region"][j] = region
    return out


# --------------------------------------------------------------------------- documents and corpora

#: Extra decoys: the v3 reflection phrases in ordinary story roles.
_V3_DECOYS: tuple[str, ...] = (
    '"Alternatively, we could take the bus," said {name}.',
    "{name} found another way to the {place}.",
    '"Wait, that is wrong," said {name}, "the {place} is to the left."',
    "Hmm, this one is tricky, thought {name} about the puzzle.",
    "Let me recheck the map, said {name}.",
    "Maybe the {place} is open today. Perhaps not.",
)


def plain_document(rng: random.Random, answer_fraction: float = 0.5) -> dict:
    """A v2 plain document (direct answer or story), stories salted with v3 decoy sentences."""
    if rng.random() < answer_fraction:
        return plain_answer_document(rng)
    doc = story_document(rng)
    names, places = ("Tom", "Anna", "Ben", "Lucy", "Sam"), ("park", "shop", "library", "market")
    extra = rng.choice(_V3_DECOYS).format(name=rng.choice(names), place=rng.choice(places))
    return {"text": f"{doc['text']} {extra}" if rng.random() < 0.5 else f"{extra} {doc['text']}"}


def reasoning_document(
    rng: random.Random, problem: Problem | None = None, config: WorldConfig | None = None
) -> dict:
    """Prompt + v3 trace, with per-step ground truth as plain dicts (offsets into ``text``)."""
    problem = problem or make_problem(rng)
    trace = reasoning_trace(problem, rng, config)
    offset = len(prompt_for(problem))
    steps = []
    for s in trace.steps:
        d = {k: getattr(s, k) for k in ("index", "column", "hard", "slip", "reflected", "corrected")}
        d["attempt"] = [s.attempt[0] + offset, s.attempt[1] + offset]
        d["recheck"] = [s.recheck[0] + offset, s.recheck[1] + offset] if s.recheck else None
        d["decision"] = s.decision + offset
        steps.append(d)
    return {
        "text": prompt_for(problem) + trace.text,
        "question": problem.question,
        "answer": problem.answer,
        "kind": problem.kind,
        "correct": trace.correct,
        "steps": steps,
    }


def generate_corpus_v3(
    kind: str,
    n: int,
    seed: int = 0,
    exclude: set[str] | frozenset[str] = frozenset(),
    split: str = "train",
    config: WorldConfig | None = None,
) -> list[dict]:
    """``n`` documents of ``kind`` ("reasoning", "plain", "benchmark"); benchmark is v2's."""
    if kind == "benchmark":
        return generate_corpus("benchmark", n, seed=seed, exclude=exclude, split=split)
    rng = random.Random(f"v3-{kind}-{split}-{seed}")
    docs: list[dict] = []
    while len(docs) < n:
        if kind == "reasoning":
            p = make_problem(rng)
            if p.question not in exclude:
                docs.append(reasoning_document(rng, p, config))
        elif kind == "plain":
            doc = plain_document(rng)
            if doc.get("question") not in exclude:
                docs.append(doc)
        else:
            raise ValueError(f"unknown corpus kind {kind!r}; expected reasoning, plain or benchmark")
    return docs
