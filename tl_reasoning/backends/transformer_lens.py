"""Backend for TransformerLens models: ``HookedTransformer`` and TransformerLens 3 ``TransformerBridge``.

Both expose ``hook_dict`` with TransformerLens names (the Bridge resolves aliases such as
``blocks.1.hook_resid_post`` to its canonical hook points), so captures, edits and logits edits are
installed through TransformerLens's own ``HookPoint.add_hook(fn, dir="fwd")``: they are listed in
``hook_point.fwd_hooks`` (as ``tl_reasoning edit at <site>``), and ``model.reset_hooks()`` removes
them like any TransformerLens hook (our handle's ``remove()`` stays safe to call afterwards). Edits
stay installed on the model until removed, so a user's own ``model.generate(...)`` inside
``with steer(...)`` is steered too. Token observers need token ids, which no ``HookPoint`` sees, so
they are forward pre-hooks on the token embedding module (``model.embed`` on both classes); they only
read ids (never change an output) and are removed by their handle, not by ``reset_hooks``. Logits
edits are on the ``unembed.hook_out`` hook point, whose output is the logits both classes return and
sample from (every position of every call). Note that
``HookedTransformer.generate`` embeds the prompt once and then each sampled token once, with or
without the KV cache, so observers see the sequence grow token by token even when the uncached
forward passes rerun the whole sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from tl_reasoning.backends.base import Backend, EditHandle, LogitsEditHandle, TokenObserverHandle
from tl_reasoning.sites import Site

__all__ = ["BridgeBackend", "HookedTransformerBackend", "TransformerLensBackend"]


class _StopForward(Exception):
    """Raised by the last capture hook to end the forward pass early."""


class _LensHook:
    """A TransformerLens hook function ``fn(activation, hook) -> activation`` with a readable repr."""

    def __init__(self, label: str, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> None:
        self.label = label
        self.fn = fn

    def __call__(self, activation: torch.Tensor, hook: Any = None) -> torch.Tensor | None:
        return self.fn(activation)

    def __repr__(self) -> str:
        return self.label


class _LensRemover:
    """Removes one hook added with ``HookPoint.add_hook``; idempotent, also after ``reset_hooks``."""

    def __init__(self, point: Any, lens_handle: Any) -> None:
        self.point = point
        self.lens_handle = lens_handle

    def remove(self) -> None:
        self.lens_handle.hook.remove()  # torch's RemovableHandle.remove is idempotent
        hooks = self.point.fwd_hooks
        hooks[:] = [h for h in hooks if h is not self.lens_handle]


def add_lens_hook(point: Any, label: str, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> _LensRemover:
    """Add ``fn`` to a TransformerLens ``HookPoint`` through its own API; returns a remover."""
    point.add_hook(_LensHook(label, fn), dir="fwd")
    return _LensRemover(point, point.fwd_hooks[-1])


class TransformerLensBackend(Backend):
    """Shared implementation for HookedTransformer and TransformerBridge."""

    kind = "transformer_lens"

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self._torch_handles: dict[int, Any] = {}

    @property
    def tokenizer(self) -> Any:
        if self.model.tokenizer is None:
            raise ValueError("this TransformerLens model has no tokenizer; pass tokenizer= when building it")
        return self.model.tokenizer

    @property
    def n_layers(self) -> int:
        return int(self.model.cfg.n_layers)

    @property
    def d_model(self) -> int:
        return int(self.model.cfg.d_model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def name(self) -> str:
        return str(getattr(self.model.cfg, "model_name", None) or super().name)

    def _hook_point(self, site: Site) -> Any:
        try:
            return self.model.hook_dict[site.name]
        except KeyError:
            raise ValueError(f"site {site.name} is not a hook point of this {type(self.model).__name__}") from None

    def _check_site_kind(self, site: Site) -> None:
        self._hook_point(site)

    # -- running --------------------------------------------------------------------------------
    def capture(
        self, input_ids: torch.Tensor, sites: Sequence[str | Site], attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        parsed = sorted({self.check_site(s) for s in sites}, key=lambda s: s.order)
        if not parsed:
            raise ValueError("capture needs at least one site")
        last = parsed[-1]
        store: dict[str, torch.Tensor] = {}
        handles = []

        def make_hook(site: Site) -> Any:
            def hook(output: torch.Tensor) -> None:
                store[site.name] = output.detach()
                if site == last:
                    raise _StopForward

            return hook

        self._reset_positions()
        try:
            for site in parsed:
                handles.append(add_lens_hook(self._hook_point(site), f"tl_reasoning capture at {site.name}",
                                             make_hook(site)))
            with torch.no_grad():
                try:
                    self.model(input_ids.to(self.device), return_type=None)
                except _StopForward:
                    pass
        finally:
            for handle in handles:
                handle.remove()
        return {site.name: store[site.name] for site in parsed}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        self._reset_positions()
        with torch.no_grad():
            return self.model(input_ids.to(self.device), return_type="logits")

    def _generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, do_sample: bool,
        temperature: float, top_p: float | None, use_cache: bool, stop_early: bool = False,
    ) -> torch.Tensor:
        n_ctx = getattr(self.model.cfg, "n_ctx", None)  # a hard limit of HookedTransformer (positional tables)
        if self.kind == "hooked" and isinstance(n_ctx, int) and input_ids.shape[1] + max_new_tokens > n_ctx:
            room = n_ctx - input_ids.shape[1]
            fix = f"lower max_new_tokens to at most {room}" if room > 0 else "shorten the prompt"
            raise ValueError(f"prompt ({input_ids.shape[1]} tokens) + max_new_tokens ({max_new_tokens}) exceeds the "
                             f"model's context of {n_ctx} tokens; {fix}")
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new_tokens, do_sample=do_sample, use_past_kv_cache=use_cache,
            stop_at_eos=stop_early, verbose=False, return_type="tokens",
        )
        if stop_early:
            kwargs["eos_token_id"] = self.eos_token_id
        if do_sample:
            kwargs["temperature"] = temperature
            if top_p is not None:
                kwargs["top_p"] = top_p
        padded = bool((attention_mask == 0).any())
        if padded:
            kwargs["padding_side"] = "left"
        with torch.no_grad():
            return self.model.generate(input_ids, **kwargs)

    # -- edits ----------------------------------------------------------------------------------
    def _reset_positions(self) -> None:
        for handle in [*self._edits, *self._observers, *self._logits_edits]:
            handle.reset()

    def _install_edit(self, handle: EditHandle) -> None:
        def hook(output: torch.Tensor) -> torch.Tensor:
            positions = handle.positions_for(output.shape[1], output.device)
            return handle.fn(output, positions)

        point = self._hook_point(handle.site)
        self._torch_handles[id(handle)] = add_lens_hook(point, f"tl_reasoning edit at {handle.site.name}", hook)

    def _uninstall_edit(self, handle: EditHandle) -> None:
        torch_handle = self._torch_handles.pop(id(handle), None)
        if torch_handle is not None:
            torch_handle.remove()

    # -- logits edits ---------------------------------------------------------------------------
    def _install_logits_edit(self, handle: LogitsEditHandle) -> None:
        point = self.model.hook_dict.get("unembed.hook_out")
        if point is None:
            raise NotImplementedError(
                f"this {type(self.model).__name__} has no 'unembed.hook_out' hook point, so its logits cannot be "
                "edited; use the nnsight backend"
            )

        def hook(output: torch.Tensor) -> torch.Tensor:
            positions = handle.positions_for(output.shape[1], output.device)
            return handle.fn(output, positions)

        self._torch_handles[id(handle)] = add_lens_hook(point, "tl_reasoning logits edit", hook)

    def _uninstall_logits_edit(self, handle: LogitsEditHandle) -> None:
        torch_handle = self._torch_handles.pop(id(handle), None)
        if torch_handle is not None:
            torch_handle.remove()

    # -- token observers ------------------------------------------------------------------------
    def _embed_module(self) -> torch.nn.Module:
        embed = getattr(self.model, "embed", None)
        if not isinstance(embed, torch.nn.Module):
            raise NotImplementedError(
                f"this {type(self.model).__name__} has no token embedding module 'embed', so token ids cannot "
                "be observed; steer at all positions instead"
            )
        return embed

    def _install_observer(self, handle: TokenObserverHandle) -> None:
        def pre_hook(module: Any, args: tuple, kwargs: dict) -> None:
            ids = args[0] if args else kwargs.get("input_ids", kwargs.get("tokens"))
            if isinstance(ids, torch.Tensor) and ids.ndim == 2 and not ids.is_floating_point():
                handle.fn(ids, handle.positions_for(ids.shape[1], ids.device))

        module = self._embed_module()
        self._torch_handles[id(handle)] = module.register_forward_pre_hook(pre_hook, with_kwargs=True)

    def _uninstall_observer(self, handle: TokenObserverHandle) -> None:
        torch_handle = self._torch_handles.pop(id(handle), None)
        if torch_handle is not None:
            torch_handle.remove()


class HookedTransformerBackend(TransformerLensBackend):
    """``transformer_lens.HookedTransformer`` (and subclasses such as ``HookedSAETransformer``)."""

    kind = "hooked"


class BridgeBackend(TransformerLensBackend):
    """``transformer_lens.model_bridge.TransformerBridge``.

    Wrapping a Bridge repairs its KV cache on transformers >= 5.24 (see
    :mod:`tl_reasoning.backends.bridge_compat`), so cached generation, ours or the user's own
    ``model.generate``, gives the same tokens as uncached generation.
    """

    kind = "bridge"

    def __init__(self, model: Any) -> None:
        from tl_reasoning.backends.bridge_compat import repair_bridge_kv_cache

        super().__init__(model)
        repair_bridge_kv_cache(model)
