"""Rough run times of long commands on the model organism, said up front so nobody waits blind.

The constants were measured on a 2-core machine that was running another job at the same time (load
average 2-3), the organism on one torch thread (see :mod:`tl_reasoning.threads`): one generated token
costs about 1 ms whatever the batch size (8 to 50), a corpus document about 30 ms to score or to
search for the dashboard, loading the model and SAEs about 10 s. Unsteered generations of the organism
stop after about 180 tokens; steered ones often run to ``max_new_tokens``.
"""

from __future__ import annotations

__all__ = ["ORGANISMS", "generation_seconds", "minutes_text", "organism_demo_seconds"]

#: Model names the estimates hold for.
ORGANISMS = ("organism", "organism-base")
_SECONDS_PER_TOKEN = 0.001
_SECONDS_PER_DOC = 0.03
_STARTUP_SECONDS = 10.0
_UNSTEERED_TOKENS = 180
_STEERED_FILL = 0.85


def generation_seconds(problems: int, max_new_tokens: int, unsteered_runs: int, steered_runs: int) -> float:
    """Seconds the organism takes for ``problems`` generations per run, over the runs given."""
    tokens = problems * (unsteered_runs * min(max_new_tokens, _UNSTEERED_TOKENS)
                         + steered_runs * _STEERED_FILL * max_new_tokens)
    return tokens * _SECONDS_PER_TOKEN


def organism_demo_seconds(*, score_docs: int, dashboard_docs: int, problems: int, max_new_tokens: int,
                          candidates: int, random_per_feature: int, word_ban: bool, random_word_bans: int) -> float:
    """The whole demo on the organism: load, score, dashboard, every evaluation run, diffing, report."""
    steered = candidates * (1 + random_per_feature) + (1 + random_word_bans if word_ban else 0)
    return (_STARTUP_SECONDS + _SECONDS_PER_DOC * (score_docs + dashboard_docs)
            + generation_seconds(problems, max_new_tokens, 1, steered) + 3.0)


def minutes_text(seconds: float) -> str:
    """``"about 5 min"`` or ``"about 40 s"``."""
    return f"about {seconds / 60:.0f} min" if seconds >= 90 else f"about {max(seconds, 1):.0f} s"
