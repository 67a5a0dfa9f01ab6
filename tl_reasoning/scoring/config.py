"""Settings of a statistics run, and what of them must match to merge or resume statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["StatsConfig"]


@dataclass(frozen=True)
class StatsConfig:
    """How statistics are collected.

    ``window``: tokens (before, after) every matched token; the official code's ``(1, 2)`` by
    default, the paper's text says ``(2, 3)``. ``decoder_norm``: multiply each activation by
    ‖d_i‖, ``d_i = decode(e_i) − decode(0)`` (exactly what sae-lens's ``fold_W_dec_norm`` gives; the
    official code folds). ``word_boundary``: reject
    matches inside longer words. ``context_size``: tokens per document, BOS included (longer
    documents are truncated and counted in the statistics' ``truncated`` metadata); ``None``: the
    model's context (``n_ctx`` / ``max_position_embeddings``). ``hist``: ``(low, high, bins per decade)`` of the per-feature log
    histogram, ``None`` to skip it. ``batch_size`` documents per forward pass; ``chunk_tokens``
    tokens per SAE encode (``None``: about 2**26 activations per chunk) bound the memory.
    ``max_tokens`` / ``max_docs`` stop the run (counted tokens exclude BOS/EOS/padding).
    """

    window: tuple[int, int] = (1, 2)
    decoder_norm: bool = True
    word_boundary: bool = True
    context_size: int | None = None
    hist: tuple[float, float, int] | None = (1e-3, 1e4, 16)
    batch_size: int = 8
    chunk_tokens: int | None = None
    max_tokens: int | None = None
    max_docs: int | None = None

    def __post_init__(self) -> None:
        before, after = self.window
        if before < 0 or after < 0:
            raise ValueError(f"--window needs two non-negative integers B,A, got {self.window}")
        for name in ("context_size", "batch_size", "chunk_tokens", "max_tokens", "max_docs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.context_size is not None and self.context_size < 2:
            raise ValueError(f"--context-size {self.context_size} leaves no token after BOS; pass at least 2 "
                             "(default: the model's context)")

    def identity(self) -> dict[str, Any]:
        """Settings that change what is counted: statistics merge only when these agree."""
        return {"window": list(self.window), "decoder_norm": self.decoder_norm, "word_boundary": self.word_boundary,
                "context_size": self.context_size, "hist": None if self.hist is None else list(self.hist)}

    def run_settings(self) -> dict[str, Any]:
        """Settings a resumed run must also keep to reproduce the interrupted one bit for bit."""
        return {"batch_size": self.batch_size}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
