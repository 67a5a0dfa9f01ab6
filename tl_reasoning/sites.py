"""Activation sites named the TransformerLens way (``blocks.19.hook_resid_post``).

Every backend maps these names onto its own hook points or modules, so a statistic, an SAE or a
steering configuration written for one backend runs unchanged on the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SITE_KINDS", "Site"]

#: Supported hook kinds in forward order within one block.
SITE_KINDS: tuple[str, ...] = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")

_PATTERN = re.compile(r"^blocks\.(\d+)\.hook_(" + "|".join(SITE_KINDS) + r")$")


@dataclass(frozen=True, order=True)
class Site:
    """One residual-stream (or sublayer output) position in the model, ordered by execution."""

    layer: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in SITE_KINDS:
            raise ValueError(f"unknown site kind {self.kind!r}; use one of {', '.join(SITE_KINDS)}")
        if self.layer < 0:
            raise ValueError(f"site layer must be >= 0, got {self.layer}")

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.hook_{self.kind}"

    @property
    def order(self) -> tuple[int, int]:
        """Sort key in forward execution order."""
        return (self.layer, SITE_KINDS.index(self.kind))

    @classmethod
    def parse(cls, site: str | Site) -> Site:
        """Parse ``blocks.{i}.hook_{kind}``; a :class:`Site` is returned as is."""
        if isinstance(site, Site):
            return site
        match = _PATTERN.match(site.strip()) if isinstance(site, str) else None
        if match is None:
            raise ValueError(
                f"cannot parse site {site!r}; expected 'blocks.<layer>.hook_<kind>' with kind one of "
                f"{', '.join(SITE_KINDS)} (e.g. 'blocks.19.hook_resid_post')"
            )
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return self.name
