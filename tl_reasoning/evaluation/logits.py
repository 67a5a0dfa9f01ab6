"""Logits processors during generation on any backend, restricted by a position rule.

:func:`add_logits_processor` installs ``fn(logits [batch, seq, vocab], positions [seq], input_ids
[batch, seen]) -> logits`` on a model through its backend's logits edit
(:meth:`~tl_reasoning.backends.base.Backend.add_logits_edit`), plus one token observer that keeps
the ids seen so far (``input_ids``, prompt included, like a Hugging Face ``LogitsProcessor``) and a
:class:`~tl_reasoning.positions.PositionTracker` for the rule. Positions refer to the token being
*chosen*: the logits at position ``p`` choose the token at ``p + 1``, and the rule is applied to
``p + 1``. So ``thinking`` covers every choice from the first generated token until the row has
emitted ``</think>`` (the ``</think>`` token itself can still be chosen; everything after it is
free), ``generated`` every generated token, ``prompt`` none of them, a window ``START:END`` the
tokens at ``START <= p + 1 < END`` (counted from the row's first real token). Outside the rule the
logits are returned unchanged. Everything installed is removed by ``remove()`` / leaving the
``with`` block, also on exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tl_reasoning.positions import Positions, PositionTracker

__all__ = ["LogitsFn", "LogitsProcessorHandle", "TokenHistory", "add_logits_processor", "chosen_token_mask",
           "logits_processor"]

LogitsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``fn(logits [batch, seq, vocab], positions [seq], input_ids [batch, seen]) -> logits``."""


class TokenHistory:
    """The token ids of the sequence being generated, fed by a backend token observer."""

    def __init__(self) -> None:
        self.ids: torch.Tensor | None = None

    def reset(self) -> None:
        self.ids = None

    def observe(self, input_ids: torch.Tensor, positions: torch.Tensor) -> None:
        """Record the ids ``[batch, seq]`` of one forward call at absolute ``positions``."""
        ids = input_ids.detach()
        start = int(positions[0]) if positions.numel() else 0
        if start == 0 or self.ids is None or self.ids.shape[0] != ids.shape[0]:
            if start != 0:
                raise RuntimeError(f"tokens arrived at position {start} before any prompt was observed; generate "
                                   "with tl_reasoning.generate or backend.generate (they reset positions)")
            self.ids = ids.clone()
        else:
            self.ids = torch.cat([self.ids[:, :start], ids.to(self.ids.device)], dim=1)


def chosen_token_mask(tracker: PositionTracker, rule: Positions, positions: torch.Tensor) -> torch.Tensor:
    """``[batch, seq]``: do the logits at ``positions`` choose a token that ``rule`` selects (``p + 1``)?"""
    everything = tracker.mask(Positions("all"), positions)
    pos = positions.to(everything.device)[None, :]
    prompt_len = tracker.prompt_len
    if rule.mode == "all":
        return everything
    if rule.mode == "prompt":
        return everything & (pos + 1 < prompt_len)
    if rule.mode == "generated":
        return everything & (pos + 1 >= prompt_len)
    if rule.mode == "thinking":
        return tracker.mask(Positions("thinking"), positions) | (everything & (pos == prompt_len - 1))
    if rule.mode == "window":
        shifted = Positions("window", rule.start - 1, None if rule.end is None else rule.end - 1)
        return tracker.mask(shifted, positions)
    raise ValueError(f"unknown position mode {rule.mode!r}")


class LogitsProcessorHandle:
    """An installed logits processor; ``remove()`` (idempotent) or use as a context manager."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.handles: list[Any] = []

    @property
    def active(self) -> bool:
        return any(h.active for h in self.handles)

    def remove(self) -> None:
        """Remove the logits edit and the token observer (each removal attempted even if one fails)."""
        errors: list[BaseException] = []
        for handle in self.handles:
            try:
                handle.remove()
            except Exception as exc:  # keep removing the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> LogitsProcessorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_logits_processor(model: Any, fn: LogitsFn, *, positions: str | Positions = "all",
                         think_end: int | str = "</think>") -> LogitsProcessorHandle:
    """Install ``fn`` on ``model``'s logits for the tokens ``positions`` selects, until removed.

    :param fn: ``fn(logits, positions, input_ids) -> logits`` (see the module docstring).
    :param positions: ``all``, ``prompt``, ``generated``, ``thinking`` or a window ``START:END``.
    :param think_end: the token (id or single-token string) closing the thinking section.
    """
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering.session import resolve_token_id

    backend = backend_for(model)
    rule = Positions.parse(positions)
    end_id = resolve_token_id(backend, think_end) if rule.mode == "thinking" else None
    history = TokenHistory()
    tracker = PositionTracker(backend.pad_token_id, backend.bos_token_id, end_id)

    def observe(ids: torch.Tensor, pos: torch.Tensor) -> None:
        history.observe(ids, pos)
        tracker.observe(ids, pos)

    def reset() -> None:
        history.reset()
        tracker.reset()

    def edit(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        if history.ids is None:
            raise RuntimeError("a logits processor ran before any token ids were observed for this call")
        if rule.mode == "all":
            return fn(logits, pos, history.ids)
        mask = chosen_token_mask(tracker, rule, pos)
        if not bool(mask.any()):
            return logits
        new = fn(logits, pos, history.ids)
        return torch.where(mask[..., None].to(logits.device), new, logits)

    handle = LogitsProcessorHandle(backend)
    try:
        handle.handles.append(backend.add_token_observer(observe, on_reset=reset))
        handle.handles.append(backend.add_logits_edit(edit))
    except BaseException:
        handle.remove()
        raise
    return handle


@contextmanager
def logits_processor(model: Any, fn: LogitsFn, **options: Any) -> Iterator[LogitsProcessorHandle]:
    """``with logits_processor(model, fn, positions="thinking"):`` — arguments as :func:`add_logits_processor`."""
    handle = add_logits_processor(model, fn, **options)
    try:
        yield handle
    finally:
        handle.remove()
