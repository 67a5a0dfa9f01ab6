"""Intervention factories: each returns a plain-torch edit function for a backend site."""

from tl_reasoning.interventions.additive import additive

__all__ = ["additive"]
