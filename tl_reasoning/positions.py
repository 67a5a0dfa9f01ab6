"""Which token positions a steering edit touches: all, prompt, generated, thinking, or a window.

The paper steers every position (prompt prefill and every decoded token). This module adds the
other rules, defined by the token that sits at a position:

``all``
    every position (no token tracking needed; remote-safe).
``prompt``
    positions holding prompt tokens: the tokens of the first (multi-token) call of a sequence.
``generated``
    positions holding generated tokens (everything after the prompt). The first new token is
    predicted from the last prompt position, so it is not itself steered under this rule.
``thinking``
    generated positions up to, not including, the first ``</think>`` the row emits (per row; rows
    that have closed their thinking section are no longer edited).
``window`` (``"START:END"`` or ``(start, end)``)
    positions ``start <= i < end`` counted in the row's own sequence: ``0`` is the row's first
    non-padding token (its BOS), so left padding of a batch does not shift the window. ``END`` may
    be left open (``"10:"``).

:class:`PositionTracker` follows the token ids of every forward call (through a backend token
observer) and gives the ``[batch, seq]`` mask for the absolute positions an edit is called with. It
works the same with and without the KV cache (see :class:`PositionTracker`). Left padding is
recognised as leading pad ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from tl_reasoning.backends.base import EditFn

__all__ = ["POSITION_MODES", "PositionTracker", "Positions", "masked_edit"]

#: Named position rules; a window is written ``"START:END"``.
POSITION_MODES: tuple[str, ...] = ("all", "prompt", "generated", "thinking")


@dataclass(frozen=True)
class Positions:
    """A parsed position rule (see the module docstring)."""

    mode: str = "all"
    start: int = 0
    end: int | None = None

    @classmethod
    def parse(cls, spec: str | tuple[int, int | None] | Positions | None) -> Positions:
        """``"all" | "prompt" | "generated" | "thinking" | "START:END" | (start, end)`` → :class:`Positions`."""
        if spec is None:
            return cls()
        if isinstance(spec, Positions):
            return spec
        if isinstance(spec, tuple | list):
            if len(spec) != 2:
                raise ValueError(f"a position window is (start, end), got {spec!r}")
            return cls._window(spec[0], spec[1], spec)
        if not isinstance(spec, str):
            raise ValueError(f"positions must be a string or a (start, end) pair, got {type(spec).__name__}")
        text = spec.strip().lower()
        if text in POSITION_MODES:
            return cls(text)
        if ":" in text:
            head, _, tail = text.partition(":")
            try:
                start = int(head) if head.strip() else 0
                end = int(tail) if tail.strip() else None
            except ValueError:
                raise ValueError(f"cannot parse position window {spec!r}; write START:END, e.g. 0:64") from None
            return cls._window(start, end, spec)
        raise ValueError(
            f"unknown positions {spec!r}; use one of {', '.join(POSITION_MODES)} or a window START:END (e.g. 5:40)"
        )

    @classmethod
    def _window(cls, start: Any, end: Any, spec: Any) -> Positions:
        start = 0 if start is None else int(start)
        end = None if end is None else int(end)
        if start < 0 or (end is not None and end <= start):
            raise ValueError(f"position window {spec!r} needs 0 <= start < end")
        return cls("window", start, end)

    @property
    def needs_tokens(self) -> bool:
        """Whether the rule needs the token ids of each call (everything except ``all``)."""
        return self.mode != "all"

    def __str__(self) -> str:
        if self.mode == "window":
            return f"{self.start}:{'' if self.end is None else self.end}"
        return self.mode


class PositionTracker:
    """Keeps the token ids of the sequence being processed and answers "which positions does a rule select".

    Install :meth:`observe` as a backend token observer (and :meth:`reset` as its ``on_reset``);
    edits wrapped with :func:`masked_edit` then ask :meth:`mask` for the absolute positions they
    were called with. A call at positions ``0..T-1`` starts a new sequence unless its ids extend the
    sequence so far by exactly one token (an uncached decoding step); a call at later positions
    (cached decoding, or TransformerLens embedding each sampled token) appends to it. Local state:
    it runs in the local process, not inside a remote nnsight job.
    """

    def __init__(self, pad_token_id: int | None, bos_token_id: int | None = None,
                 think_end_id: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.think_end_id = think_end_id
        self.reset()

    def reset(self) -> None:
        """Forget the current sequence (the next call starts a new one)."""
        self._history: torch.Tensor | None = None  # [batch, tokens so far]
        self._closed: torch.Tensor | None = None  # [batch, tokens so far]: </think> emitted at or before
        self._prompt_len = 0
        self._pad_offset: torch.Tensor | None = None  # [batch] leading pad tokens of each row

    @property
    def prompt_len(self) -> int:
        """Length of the current sequence's prompt (its first call), padding included."""
        return self._prompt_len

    # -- observing ------------------------------------------------------------------------------
    def observe(self, input_ids: torch.Tensor, positions: torch.Tensor) -> None:
        """Record the ids ``[batch, seq]`` of one forward call at absolute ``positions`` ``[seq]``."""
        ids = input_ids.detach()
        start = int(positions[0]) if positions.numel() else 0
        hist = self._history
        if hist is not None and hist.shape[0] != ids.shape[0]:
            hist = None
        if start == 0:
            if (hist is not None and ids.shape[1] == hist.shape[1] + 1
                    and torch.equal(ids[:, :-1].to(hist.device), hist)):
                self._append(ids[:, -1:])  # uncached decoding step: the same sequence, one token longer
            else:
                self._begin(ids)
        elif hist is None or start > hist.shape[1]:
            raise RuntimeError(
                f"tokens arrived at position {start} but the tracked sequence has "
                f"{0 if hist is None else hist.shape[1]} tokens: a one-token prompt right after another "
                "generation looks like a continuation; generate with tl_reasoning.generate or backend.generate "
                "(they reset positions), or give the prompt more than one token"
            )
        else:
            self._history = hist[:, :start]
            self._closed = None if self._closed is None else self._closed[:, :start]
            self._append(ids)

    def _begin(self, ids: torch.Tensor) -> None:
        self._history = ids[:, :0].clone()
        self._closed = torch.zeros(ids.shape[0], 0, dtype=torch.bool, device=ids.device)
        self._prompt_len = ids.shape[1]
        if self.pad_token_id is None:
            self._pad_offset = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
        else:
            leading = (ids == self.pad_token_id).long().cumprod(dim=1).sum(dim=1)
            if self.bos_token_id is not None and self.bos_token_id == self.pad_token_id:
                leading = (leading - 1).clamp(min=0)  # the last of the run is the row's BOS
            self._pad_offset = leading
        self._append(ids)

    def _append(self, ids: torch.Tensor) -> None:
        assert self._history is not None and self._closed is not None
        start = self._history.shape[1]
        ids = ids.to(self._history.device)
        self._history = torch.cat([self._history, ids], dim=1)
        if self.think_end_id is not None:
            pos = torch.arange(start, start + ids.shape[1], device=ids.device)
            is_end = (ids == self.think_end_id) & (pos >= self._prompt_len)[None, :]
            before = self._closed[:, -1:] if start > 0 else torch.zeros_like(is_end[:, :1])
            closed = before | (is_end.long().cumsum(dim=1) > 0)
            self._closed = torch.cat([self._closed, closed], dim=1)

    # -- masks ----------------------------------------------------------------------------------
    def mask(self, rule: Positions, positions: torch.Tensor) -> torch.Tensor:
        """``[batch, seq]`` booleans: which of the absolute ``positions`` ``rule`` selects."""
        hist = self._history
        if hist is None or self._pad_offset is None:
            raise RuntimeError(
                "no token ids were observed for this forward call; install the tracker with "
                "backend.add_token_observer(tracker.observe, on_reset=tracker.reset) (tl_reasoning.steer does this)"
            )
        pos = positions.to(hist.device)
        batch = hist.shape[0]
        if pos.numel() and int(pos.max()) >= hist.shape[1]:
            raise RuntimeError(f"an edit ran at position {int(pos.max())} but only {hist.shape[1]} tokens were "
                               "observed: the token observer and the edits disagree about this forward call")
        if rule.mode == "all":
            return torch.ones(batch, pos.numel(), dtype=torch.bool, device=hist.device)
        if rule.mode == "prompt":
            return (pos < self._prompt_len).expand(batch, -1)
        if rule.mode == "generated":
            return (pos >= self._prompt_len).expand(batch, -1)
        if rule.mode == "window":
            rel = pos[None, :] - self._pad_offset[:, None]
            inside = rel >= rule.start
            if rule.end is not None:
                inside &= rel < rule.end
            return inside
        if rule.mode == "thinking":
            if self.think_end_id is None or self._closed is None:
                raise ValueError("positions='thinking' needs the id of the </think> token; pass think_end=")
            return (pos >= self._prompt_len)[None, :] & ~self._closed.index_select(1, pos)
        raise ValueError(f"unknown position mode {rule.mode!r}")


def masked_edit(edit: EditFn, tracker: PositionTracker, rule: Positions) -> EditFn:
    """Wrap ``edit`` so that it changes only the positions ``rule`` selects (others stay bit-identical)."""
    if not rule.needs_tokens:
        return edit

    def masked(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        mask = tracker.mask(rule, positions)
        if mask.shape != act.shape[:2]:
            raise RuntimeError(
                f"position mask {tuple(mask.shape)} does not fit activations {tuple(act.shape[:2])}: the "
                "token observer saw a different call than the edit"
            )
        if not bool(mask.any()):
            return act
        new = edit(act, positions)
        return torch.where(mask[..., None].to(act.device), new, act)

    return masked
