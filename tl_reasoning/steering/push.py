"""How hard steering pushes: ρ = ‖Δ‖ / mean‖x‖ at the edited site, measured on the run's own tokens.

A strength γ means nothing across models and layers (the paper's γ = 2 moves its layer-19 residual by
about 0.1–0.2 of its norm; the same γ moves the organism's by 0.5–1.1), so every steering run reports
ρ and steering can be asked for by ρ instead of γ.

:class:`PushMeter` wraps an edit and accumulates, over every forward call the edit sees, the norms of
the activations arriving at the site and of the change the edit made, over real tokens: not BOS (whose
residual norm is an outlier in real models) and not padding. :func:`~tl_reasoning.steering.generate`
gives the meter its prompts' mask; otherwise the token at position 0 is left out. ``ρ = mean‖Δ‖ over
changed tokens / mean‖x‖ over all real tokens``. It keeps Python state, so it is only installed for local runs, never inside a remote
NDIF trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from tl_reasoning.backends.base import EditFn

__all__ = ["PushMeter", "PushReport", "real_token_mask", "strength_for_rho"]


@dataclass(frozen=True)
class PushReport:
    """What one steering did at its site during a run."""

    site: str
    rho: float | None
    """mean‖Δ‖ / mean‖x‖ (``None`` when no token was changed)."""
    push_norm: float | None
    """mean‖Δ‖ over the changed tokens."""
    x_norm: float | None
    """mean‖x‖ over every token that reached the site."""
    changed_tokens: int
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PushMeter:
    """Measures the push of one edit at one site (see the module docstring)."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.reset()

    def reset(self) -> None:
        self.prompt_mask: torch.Tensor | None = None
        self._x_sum = 0.0
        self._tokens = 0
        self._delta_sum = 0.0
        self._changed = 0

    def wrap(self, edit: EditFn) -> EditFn:
        """``edit`` that also records ‖x‖ and ‖Δ‖ of every call (returns what ``edit`` returns)."""

        def measured(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            new = edit(act, positions)
            with torch.no_grad():
                real = self._real(positions, act.shape[0]).to(act.device)
                x = act.detach().float().norm(dim=-1)[real]
                delta = (new.detach().float() - act.detach().float()).norm(dim=-1)[real]
                changed = delta > 0
                self._x_sum += float(x.sum())
                self._tokens += x.numel()
                self._delta_sum += float(delta[changed].sum())
                self._changed += int(changed.sum())
            return new

        return measured

    def _real(self, positions: torch.Tensor, batch: int) -> torch.Tensor:
        """``[batch, seq]``: the tokens that count (prompt mask where known, else all but position 0)."""
        pos = positions.cpu()
        mask = self.prompt_mask
        if mask is None or mask.shape[0] != batch:
            return (pos != 0)[None, :].expand(batch, -1)
        real = torch.ones(batch, pos.numel(), dtype=torch.bool)
        inside = pos < mask.shape[1]
        real[:, inside] = mask[:, pos[inside]]
        return real

    def report(self) -> PushReport:
        x_norm = self._x_sum / self._tokens if self._tokens else None
        push = self._delta_sum / self._changed if self._changed else None
        rho = push / x_norm if push is not None and x_norm else None
        return PushReport(self.site, rho, push, x_norm, self._changed, self._tokens)


def real_token_mask(backend: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, seq]`` booleans: the tokens that are neither padding nor BOS."""
    mask = attention_mask.bool().cpu()
    if backend.bos_token_id is not None:
        mask &= input_ids.cpu() != backend.bos_token_id
    return mask


def strength_for_rho(model: Any, make_steering: Callable[[float], Any], prompts: str | Sequence[str],
                     rho: float) -> float:
    """γ at which ``make_steering(γ)`` pushes by ``rho`` · mean‖x‖ on ``prompts`` (one forward pass each).

    The push is measured at γ = 1 and γ = 2 on the prompts' own tokens; a steering whose push does not
    grow linearly with γ (clamp, cap: the push depends on the token) is refused with a clear error.
    """
    import math

    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering.session import add_steering

    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a finite number > 0, got {rho}")
    backend = backend_for(model)
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    batch = backend.tokenize(texts, padding_side="left")
    measured = []
    for gamma in (1.0, 2.0):
        with add_steering(model, steerings=make_steering(gamma)) as handle:
            handle.set_prompt_mask(real_token_mask(backend, batch.input_ids, batch.attention_mask))
            backend.forward(batch.input_ids, batch.attention_mask)
            reports = handle.push()
        if len(reports) != 1 or reports[0].rho is None:
            raise ValueError("the steering changed no token of the prompts, so its push cannot be measured for --rho")
        measured.append(reports[0].rho)
    if not math.isclose(measured[1], 2 * measured[0], rel_tol=1e-3):
        raise ValueError(f"the push of this steering does not grow linearly with the strength (rho {measured[0]:.4g} "
                         f"at 1, {measured[1]:.4g} at 2), so no strength means a fixed rho; use mode add, or give "
                         "--strength and read the reported rho")
    return rho / measured[0]
