"""An order-free fingerprint of the documents a statistics run has counted.

The fingerprint is the number of documents and the sum, modulo 2**128, of the first 16 bytes of
each document's SHA-256. It is cheap (no model), mergeable (shards add up to the fingerprint of a
single run over all their documents) and lets a resumed run verify that the documents it skips
are the ones the checkpoint counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["DataFingerprint"]

_MOD = 1 << 128


@dataclass(frozen=True)
class DataFingerprint:
    """``n_docs`` documents whose hashes sum to ``digest`` (mod 2**128)."""

    n_docs: int = 0
    digest: int = 0

    def add(self, text: str) -> DataFingerprint:
        h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "big")
        return DataFingerprint(self.n_docs + 1, (self.digest + h) % _MOD)

    def merge(self, other: DataFingerprint) -> DataFingerprint:
        return DataFingerprint(self.n_docs + other.n_docs, (self.digest + other.digest) % _MOD)

    def __str__(self) -> str:
        return f"{self.n_docs}:{self.digest:032x}"

    @classmethod
    def parse(cls, text: str | None) -> DataFingerprint:
        """Inverse of ``str()``; ``None`` or ``""`` is the empty fingerprint."""
        if not text:
            return cls()
        try:
            n, digest = text.split(":")
            return cls(int(n), int(digest, 16))
        except ValueError:
            raise ValueError(f"malformed data fingerprint {text!r}; the statistics metadata is corrupted") from None
