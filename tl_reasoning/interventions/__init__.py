"""Intervention factories: each returns a plain-torch edit function for a backend site.

``factory(weights, features, strength, f_max, **options) -> edit(act, positions) -> act``; see
:mod:`tl_reasoning.hookspecs`. Built-ins: ``add`` (paper Eq. 7), ``clamp`` (latent clamp keeping the
SAE error term), ``cap`` (projection clamp), ``ablate`` (latent or direction ablation).
"""

from tl_reasoning.interventions.ablate import ablate
from tl_reasoning.interventions.additive import additive
from tl_reasoning.interventions.cap import cap
from tl_reasoning.interventions.clamp import clamp
from tl_reasoning.interventions.common import preserve_norm
from tl_reasoning.interventions.latents import LatentReader

__all__ = ["LatentReader", "ablate", "additive", "cap", "clamp", "preserve_norm"]
