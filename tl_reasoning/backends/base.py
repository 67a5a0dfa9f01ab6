"""The backend contract: what tl-reasoning needs from a model, whatever library wraps it.

A backend tokenizes text, captures activations at named sites (stopping the forward pass early),
installs edits of activations at sites for forward passes and KV-cached generation, and generates.
Edits are functions ``edit(act, positions) -> act`` on ``[batch, seq, d_model]`` activations with
the absolute positions ``[seq]`` of those tokens in the (padded) sequence; under a KV cache the
positions keep counting past the prompt. Every edit is an :class:`EditHandle` that is removed by
``remove()`` or by leaving its ``with`` block, exceptions included.

Backends may also let callers *observe* the token ids of every forward call (before the first
layer) with :meth:`Backend.add_token_observer`; position rules such as "inside the thinking section"
need them. Observers follow the same lifecycle as edits.

Logits edits (:meth:`Backend.add_logits_edit`) change the output logits of every forward call —
:meth:`Backend.forward` and every decoding step of :meth:`Backend.generate` — before the next token
is chosen: ``edit(logits [batch, seq, vocab], positions [seq]) -> logits``, where ``positions`` are
the absolute positions of the tokens the logits were computed *at* (the logits at position ``p``
choose the token at ``p + 1``). A call may compute logits for only its last positions (Hugging Face
generation keeps only the last one), so ``seq`` can be smaller than the call's token count; the
positions always say which ones. This is how tokens are banned or biased during generation (e.g.
the paper's word-ban experiment); see :mod:`tl_reasoning.evaluation.logits` for position rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch

from tl_reasoning.sites import Site
from tl_reasoning.validation import check_sampling

__all__ = ["Backend", "EditFn", "EditHandle", "LogitsEditHandle", "TokenBatch", "TokenFn", "TokenObserverHandle"]

EditFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``edit(act [batch, seq, d], positions [seq]) -> new act`` (plain torch; may run remotely)."""

TokenFn = Callable[[torch.Tensor, torch.Tensor], None]
"""``observe(input_ids [batch, seq], positions [seq]) -> None``: sees the ids of each forward call."""


class TokenBatch(NamedTuple):
    """Token ids and the mask of real (non-padding) tokens, both ``[batch, seq]``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class _PositionedHandle:
    """Something installed on a model that follows absolute positions and can be removed."""

    def __init__(self, remover: Callable[[Any], None]) -> None:
        self._remover = remover
        self.active = True
        self._next_position: int | None = None

    def positions_for(self, seq_len: int, device: torch.device) -> torch.Tensor:
        """Absolute positions of a call with ``seq_len`` tokens, tracking KV-cached generation.

        A call with several tokens starts a new sequence at 0; a one-token call that follows
        continues where the previous call stopped (a KV-cached decoding step).
        """
        start = self._next_position if (seq_len == 1 and self._next_position is not None) else 0
        self._next_position = start + seq_len
        return torch.arange(start, start + seq_len, device=device)

    def reset(self) -> None:
        """Forget the position state (called before each new forward pass or generation)."""
        self._next_position = None

    def remove(self) -> None:
        if self.active:
            self.active = False
            self._remover(self)

    def __enter__(self) -> _PositionedHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class EditHandle(_PositionedHandle):
    """An installed edit; ``remove()`` (idempotent) or use as a context manager to undo it."""

    def __init__(self, site: Site, fn: EditFn, remover: Callable[[EditHandle], None]) -> None:
        super().__init__(remover)
        self.site = site
        self.fn = fn

    def __enter__(self) -> EditHandle:
        return self


class LogitsEditHandle(_PositionedHandle):
    """An installed logits edit (see :meth:`Backend.add_logits_edit`); removable like an edit."""

    def __init__(self, fn: EditFn, remover: Callable[[LogitsEditHandle], None]) -> None:
        super().__init__(remover)
        self.fn = fn

    def __enter__(self) -> LogitsEditHandle:
        return self


class TokenObserverHandle(_PositionedHandle):
    """An installed token observer (see :meth:`Backend.add_token_observer`); removable like an edit."""

    def __init__(self, fn: TokenFn, remover: Callable[[TokenObserverHandle], None],
                 on_reset: Callable[[], None] | None = None) -> None:
        super().__init__(remover)
        self.fn = fn
        self._on_reset = on_reset

    def reset(self) -> None:
        super().reset()
        if self._on_reset is not None:
            self._on_reset()

    def __enter__(self) -> TokenObserverHandle:
        return self


class Backend(ABC):
    """Adapter over one model object. Subclasses implement the abstract methods."""

    #: Short name used in messages and ``--backend`` (``hooked``, ``bridge``, ``nnsight``).
    kind: str = "abstract"

    def __init__(self, model: Any) -> None:
        self.model = model
        self._edits: list[EditHandle] = []
        self._observers: list[TokenObserverHandle] = []
        self._logits_edits: list[LogitsEditHandle] = []

    # -- facts ----------------------------------------------------------------------------------
    @property
    @abstractmethod
    def tokenizer(self) -> Any: ...

    @property
    @abstractmethod
    def n_layers(self) -> int: ...

    @property
    @abstractmethod
    def d_model(self) -> int: ...

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    def name(self) -> str:
        """A model identifier for metadata (path or hub id when known)."""
        return str(getattr(self.tokenizer, "name_or_path", "") or type(self.model).__name__)

    @property
    def bos_token_id(self) -> int | None:
        return self.tokenizer.bos_token_id

    @property
    def eos_token_id(self) -> int | None:
        return self.tokenizer.eos_token_id

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, tok.eos_token_id, 0):
            if candidate is not None:
                return int(candidate)
        return 0

    @property
    def special_token_ids(self) -> set[int]:
        """BOS, EOS and padding ids: never counted as text by statistics."""
        ids = {self.bos_token_id, self.eos_token_id, self.tokenizer.pad_token_id}
        return {int(i) for i in ids if i is not None}

    # -- sites ----------------------------------------------------------------------------------
    def check_site(self, site: str | Site) -> Site:
        """Parse ``site`` and check that this model has it; raise ``ValueError`` naming valid ones."""
        parsed = Site.parse(site)
        if parsed.layer >= self.n_layers:
            raise ValueError(
                f"site {parsed.name} does not exist: the model has {self.n_layers} layers "
                f"(blocks.0 … blocks.{self.n_layers - 1})"
            )
        self._check_site_kind(parsed)
        return parsed

    def _check_site_kind(self, site: Site) -> None:
        """Raise ``ValueError`` if this backend cannot reach ``site.kind`` (default: all kinds)."""
        return None

    # -- text -----------------------------------------------------------------------------------
    def tokenize(
        self,
        texts: str | Sequence[str],
        *,
        prepend_bos: bool = True,
        max_length: int | None = None,
        padding_side: str = "right",
    ) -> TokenBatch:
        """Tokenize each text on its own, prepend BOS once (never twice), truncate, pad.

        The same ids on every backend: the Hugging Face tokenizer is used without its own special
        tokens and BOS is added here, so whether a tokenizer's post-processor adds BOS does not
        matter. Padding uses the pad id (else EOS) and is marked 0 in ``attention_mask``.
        """
        if isinstance(texts, str):
            texts = [texts]
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        rows: list[list[int]] = []
        for text in texts:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if prepend_bos and self.bos_token_id is not None and (not ids or ids[0] != self.bos_token_id):
                ids = [int(self.bos_token_id), *ids]
            if max_length is not None:
                ids = ids[:max_length]
            rows.append(ids)
        width = max((len(r) for r in rows), default=0)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            sl = slice(width - len(row), width) if padding_side == "left" else slice(0, len(row))
            input_ids[i, sl] = torch.tensor(row, dtype=torch.long)
            mask[i, sl] = 1
        return TokenBatch(input_ids.to(self.device), mask.to(self.device))

    def decode(self, ids: torch.Tensor | Sequence[int], skip_special_tokens: bool = False) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def to_str_tokens(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """One display string per token id (byte-level BPE markers decoded)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return [self.tokenizer.decode([i]) for i in ids]

    # -- running --------------------------------------------------------------------------------
    @abstractmethod
    def capture(
        self, input_ids: torch.Tensor, sites: Sequence[str | Site], attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Activations ``[batch, seq, d]`` at each site, stopping after the last one.

        Active edits apply. Inputs are expected right-padded (causal models: padding after the
        text does not change the text's activations).
        """

    @abstractmethod
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[batch, seq, vocab]`` with active edits applied."""

    @abstractmethod
    def _generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, do_sample: bool,
        temperature: float, top_p: float | None, use_cache: bool, stop_early: bool = False,
    ) -> torch.Tensor:
        """Generate up to ``max_new_tokens`` tokens per row with edits applied.

        With ``stop_early`` an implementation may stop once every row has produced an EOS (the
        caller pads the result to full length and blanks everything after each row's first EOS);
        without it, exactly ``max_new_tokens`` tokens.
        """

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float | None = None,
        seed: int | None = None,
        use_cache: bool = True,
        stop_at_eos: bool = True,
    ) -> torch.Tensor:
        """Prompt plus ``max_new_tokens`` new tokens ``[batch, prompt + new]``; greedy by default.

        Prompts are expected left-padded when their lengths differ. With ``stop_at_eos``, every
        token after a row's first EOS is replaced by the pad id, the same on every backend.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        check_sampling(do_sample, temperature, top_p)
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if max_new_tokens == 0:
            return input_ids.clone()
        if seed is not None:
            torch.manual_seed(seed)
        for handle in [*self._edits, *self._observers, *self._logits_edits]:
            handle.reset()
        stop_early = stop_at_eos and self.eos_token_id is not None
        out = self._generate(
            input_ids, attention_mask.to(self.device), max_new_tokens, do_sample, temperature, top_p, use_cache,
            stop_early=stop_early,
        )
        full = input_ids.shape[1] + max_new_tokens
        if out.shape[1] < full:  # stopped early: every row has its EOS; pad to the promised shape
            out = torch.cat([out, out.new_full((out.shape[0], full - out.shape[1]), self.pad_token_id)], dim=1)
        if stop_early:
            out = self._blank_after_eos(out, input_ids.shape[1])
        return out

    def _blank_after_eos(self, out: torch.Tensor, prompt_len: int) -> torch.Tensor:
        new = out[:, prompt_len:]
        is_eos = new == self.eos_token_id
        after = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
        new = new.masked_fill(after, self.pad_token_id)
        return torch.cat([out[:, :prompt_len], new], dim=1)

    # -- edits ----------------------------------------------------------------------------------
    def add_edit(self, site: str | Site, fn: EditFn) -> EditHandle:
        """Install ``fn`` at ``site`` until the returned handle is removed."""
        parsed = self.check_site(site)
        self._check_editable(parsed)
        handle = EditHandle(parsed, fn, self._remove_edit)
        self._install_edit(handle)
        self._edits.append(handle)
        return handle

    @contextmanager
    def edit(self, site: str | Site, fn: EditFn) -> Iterator[EditHandle]:
        """``with backend.edit(site, fn):`` — the edit is active inside the block only."""
        handle = self.add_edit(site, fn)
        try:
            yield handle
        finally:
            handle.remove()

    @property
    def edits(self) -> list[EditHandle]:
        """The edits currently installed through this backend."""
        return list(self._edits)

    def _check_editable(self, site: Site) -> None:
        """Raise ``ValueError`` if ``site`` can be read but not edited on this backend (default: never)."""
        return None

    @abstractmethod
    def _install_edit(self, handle: EditHandle) -> None: ...

    def _remove_edit(self, handle: EditHandle) -> None:
        self._uninstall_edit(handle)
        self._edits = [h for h in self._edits if h is not handle]

    @abstractmethod
    def _uninstall_edit(self, handle: EditHandle) -> None: ...

    # -- token observers ------------------------------------------------------------------------
    def add_token_observer(self, fn: TokenFn, *, on_reset: Callable[[], None] | None = None) -> TokenObserverHandle:
        """Call ``fn(input_ids [batch, seq], positions [seq])`` at every forward, before the first layer.

        Under the KV cache each decoding step shows only its new token, with its absolute
        position (as for edits). ``on_reset`` is called whenever the backend starts a new forward
        pass or generation of its own. Remove the returned handle (or leave its ``with`` block)
        to stop observing. Backends that cannot see token ids raise ``NotImplementedError``.
        """
        handle = TokenObserverHandle(fn, self._remove_observer, on_reset)
        self._install_observer(handle)
        self._observers.append(handle)
        return handle

    @contextmanager
    def observe_tokens(self, fn: TokenFn) -> Iterator[TokenObserverHandle]:
        """``with backend.observe_tokens(fn):`` — ``fn`` sees the token ids inside the block only."""
        handle = self.add_token_observer(fn)
        try:
            yield handle
        finally:
            handle.remove()

    @property
    def token_observers(self) -> list[TokenObserverHandle]:
        """The token observers currently installed through this backend."""
        return list(self._observers)

    def _install_observer(self, handle: TokenObserverHandle) -> None:
        raise NotImplementedError(
            f"the {self.kind} backend cannot observe token ids, which position rules other than 'all' "
            "need; steer at all positions or use the hooked, bridge or nnsight backend"
        )

    def _uninstall_observer(self, handle: TokenObserverHandle) -> None:
        return None

    def _remove_observer(self, handle: TokenObserverHandle) -> None:
        self._uninstall_observer(handle)
        self._observers = [h for h in self._observers if h is not handle]

    # -- logits edits ---------------------------------------------------------------------------
    def add_logits_edit(self, fn: EditFn) -> LogitsEditHandle:
        """Call ``fn(logits [batch, seq, vocab], positions [seq]) -> logits`` on every forward's logits.

        Applies to :meth:`forward` and to every step of :meth:`generate` (the returned logits choose
        the next token, greedy or sampled), until the returned handle is removed (or its ``with``
        block ends). ``positions`` are the absolute positions the logits were computed at (logits at
        ``p`` choose token ``p + 1``); under the KV cache they keep counting past the prompt, as for
        activation edits. Several logits edits run in the order they were added. Backends that
        cannot reach the logits raise ``NotImplementedError``.
        """
        handle = LogitsEditHandle(fn, self._remove_logits_edit)
        self._install_logits_edit(handle)
        self._logits_edits.append(handle)
        return handle

    @contextmanager
    def logits_edit(self, fn: EditFn) -> Iterator[LogitsEditHandle]:
        """``with backend.logits_edit(fn):`` — ``fn`` edits the logits inside the block only."""
        handle = self.add_logits_edit(fn)
        try:
            yield handle
        finally:
            handle.remove()

    @property
    def logits_edits(self) -> list[LogitsEditHandle]:
        """The logits edits currently installed through this backend."""
        return list(self._logits_edits)

    def _install_logits_edit(self, handle: LogitsEditHandle) -> None:
        raise NotImplementedError(
            f"the {self.kind} backend cannot edit output logits (needed to ban or bias tokens during generation); "
            "use the hooked, bridge or nnsight backend"
        )

    def _uninstall_logits_edit(self, handle: LogitsEditHandle) -> None:
        return None

    def _remove_logits_edit(self, handle: LogitsEditHandle) -> None:
        self._uninstall_logits_edit(handle)
        self._logits_edits = [h for h in self._logits_edits if h is not handle]
