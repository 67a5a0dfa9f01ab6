"""Mining a reasoning vocabulary from a reasoning corpus and a plain corpus (paper §3.1, Fig. 2).

Words (and optionally word n-grams, to catch phrases like "let me") are ranked by the difference of
their relative frequencies, ``p_reasoning(w) − p_plain(w)``. The paper then drops words that are
frequent in general English (Google Books Ngram, threshold not published); here the plain corpus
plays that role: a word whose plain-corpus frequency is above ``max_plain_freq`` is marked
``common`` and left out of the top ``k``. The ranked list with all frequencies is kept so the choice
can be reviewed, as the paper's final vocabulary was chosen by hand.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["count_ngrams", "mine_vocabulary", "save_mined_vocabulary"]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def count_ngrams(texts: Iterable[str], max_ngram: int = 1) -> tuple[Counter, Counter]:
    """``(counts, totals)``: occurrences of each lower-cased word n-gram and the total per order n."""
    counts: Counter = Counter()
    totals: Counter = Counter()
    for text in texts:
        words = _WORD.findall(text.lower())
        for n in range(1, max_ngram + 1):
            grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
            counts.update(grams)
            totals[n] += len(grams)
    return counts, totals


def mine_vocabulary(
    reasoning: Iterable[str],
    plain: Iterable[str],
    *,
    top_k: int = 30,
    max_plain_freq: float = 0.01,
    min_count: int = 5,
    max_ngram: int = 1,
) -> pd.DataFrame:
    """Ranked candidate words, most reasoning-specific first.

    Columns: ``word, n, count_reasoning, count_plain, p_reasoning, p_plain, diff, common, selected,
    rank``. ``p`` is the count divided by the number of n-grams of the same order in that corpus;
    ``common``: ``p_plain > max_plain_freq`` (the rarity filter); ``selected``: among the ``top_k``
    highest ``diff`` of the words that are not common, seen at least ``min_count`` times in the
    reasoning corpus and more frequent there than in the plain corpus.
    """
    import pandas as pd

    if top_k < 1 or max_ngram < 1:
        raise ValueError(f"top_k and max_ngram must be >= 1, got {top_k} and {max_ngram}")
    count_r, total_r = count_ngrams(reasoning, max_ngram)
    count_p, total_p = count_ngrams(plain, max_ngram)
    if not total_r[1] or not total_p[1]:
        raise ValueError("vocabulary mining needs words in both corpora; one of them is empty")
    rows = []
    for gram, c_r in count_r.items():
        n = gram.count(" ") + 1
        c_p = count_p.get(gram, 0)
        p_r, p_p = c_r / total_r[n], c_p / max(total_p[n], 1)
        rows.append((gram, n, c_r, c_p, p_r, p_p, p_r - p_p))
    table = pd.DataFrame(rows, columns=["word", "n", "count_reasoning", "count_plain", "p_reasoning", "p_plain",
                                        "diff"])
    table = table.sort_values(["diff", "word"], ascending=[False, True], ignore_index=True)
    table["common"] = table["p_plain"] > max_plain_freq
    eligible = ~table["common"] & (table["count_reasoning"] >= min_count) & (table["diff"] > 0)
    table["selected"] = eligible & (eligible.cumsum() <= top_k)
    table["rank"] = range(1, len(table) + 1)
    return table


def save_mined_vocabulary(table: pd.DataFrame, path: str | Path, selected_only: bool = False) -> Path:
    """Write the ranked list as CSV or JSON (by suffix); both load back with ``--vocab FILE``.

    Loading keeps the ``selected`` rows (all rows if the file has no such column).
    """
    path = Path(path)
    rows = table[table["selected"]] if selected_only else table
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(rows.to_dict(orient="records"), indent=1, default=_py), encoding="utf-8")
    elif path.suffix == ".csv":
        rows.to_csv(path, index=False)
    else:
        raise ValueError(f"vocabulary output {path} must end in .csv or .json")
    return path


def _py(value: object) -> object:
    return value.item() if hasattr(value, "item") else str(value)
