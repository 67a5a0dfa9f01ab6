"""Backend for nnsight models (``TransformersModel`` / ``LanguageModel``) wrapping a Hugging Face LM.

Sites map onto the decoder-layer modules: ``hook_resid_post`` = layer output, ``hook_resid_pre``
= layer input, ``hook_attn_out`` = attention output, ``hook_mlp_out`` = MLP output,
``hook_resid_mid`` = input of the post-attention norm (read-only). Edits are kept on the backend
and applied inside the traces the backend opens (``trace`` for forward passes, ``generate`` with a
bounded ``tracer.iter`` for decoding), so the same code can later run remotely: everything done
inside a trace is plain torch on tensors. Token observers read the input of the token embedding
module inside the same traces, before the layers run. Logits edits replace the output of the output
embedding module (``lm_head``) in the same traces; during generation Hugging Face computes logits
for the last position only, and the edits see exactly those (with their absolute positions).
Logits edits run locally only: remote generation with a logits edit installed is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from tl_reasoning.backends.base import Backend, EditHandle, LogitsEditHandle, TokenObserverHandle
from tl_reasoning.sites import Site

__all__ = ["NNsightBackend", "apply_site_edits", "find_layers_path", "read_site", "write_site"]

_LAYER_PATHS = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers", "layers")


def _walk(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def find_layers_path(hf_model: Any) -> str:
    """Dotted path of the decoder-layer ``ModuleList`` inside a Hugging Face causal LM."""
    for path in _LAYER_PATHS:
        try:
            layers = _walk(hf_model, path)
        except AttributeError:
            continue
        if isinstance(layers, torch.nn.ModuleList):
            return path
    raise ValueError(
        f"cannot find the decoder layers of {type(hf_model).__name__}; looked for {', '.join(_LAYER_PATHS)}"
    )


def _first(value: Any) -> torch.Tensor:
    """Layer outputs are tensors in transformers 5, tuples in older versions."""
    return value[0] if isinstance(value, tuple) else value


def read_site(model: Any, layers_path: str, site: Site) -> torch.Tensor:
    """The activation at ``site`` inside a trace of ``model`` (an nnsight envoy; plain code, runs remotely)."""
    layer = _walk(model, layers_path)[site.layer]
    if site.kind == "resid_post":
        return _first(layer.output)
    if site.kind == "resid_pre":
        return layer.input
    if site.kind == "resid_mid":
        return layer.post_attention_layernorm.input
    if site.kind == "attn_out":
        return _first(NNsightBackend._attn(layer).output)
    return _first(layer.mlp.output)


def write_site(model: Any, layers_path: str, site: Site, value: torch.Tensor) -> None:
    """Replace the activation at ``site`` inside a trace of ``model`` by ``value``."""
    layer = _walk(model, layers_path)[site.layer]
    if site.kind == "resid_post":
        if isinstance(layer.output, tuple):
            layer.output = (value, *layer.output[1:])
        else:
            layer.output = value
    elif site.kind == "resid_pre":
        layer.input = value
    elif site.kind == "attn_out":
        attn = NNsightBackend._attn(layer)
        attn.output = (value, *attn.output[1:]) if isinstance(attn.output, tuple) else value
    elif site.kind == "mlp_out":
        layer.mlp.output = value


def apply_site_edits(
    model: Any, layers_path: str, embed_path: str | None, edits: Sequence[tuple[Site, Any]],
    observers: Sequence[Any], positions_start: int | None, logits_edits: Sequence[Any] = (),
    logits_path: str | None = None,
) -> Any:
    """Show the token ids to ``observers``, apply ``edits`` (``(site, fn)`` in forward order), in a trace.

    Then apply ``logits_edits`` (functions ``fn(logits, positions)``, in order) to the output of the
    module at ``logits_path`` and return the edited logits (``None`` without logits edits); they
    need ``embed_path`` to count the call's tokens. The module-level twin of
    :meth:`NNsightBackend._apply_edits`: it references only the model envoy, plain values and the
    edit functions, so a trace calling it can be shipped to a server.
    """
    start = 0 if positions_start is None else positions_start
    n_tokens = None
    if (observers or logits_edits) and embed_path is not None:
        ids = _walk(model, embed_path).input
        n_tokens = ids.shape[1]
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        for fn in observers:
            fn(ids, positions)
    for site, fn in edits:
        act = read_site(model, layers_path, site)
        positions = torch.arange(start, start + act.shape[1], device=act.device)
        write_site(model, layers_path, site, fn(act, positions))
    if not logits_edits:
        return None
    if logits_path is None or n_tokens is None:
        raise ValueError("logits edits need logits_path and embed_path")
    head = _walk(model, logits_path)
    logits = _first(head.output)
    end = start + n_tokens
    positions = torch.arange(end - logits.shape[1], end, device=logits.device)
    for fn in logits_edits:
        logits = fn(logits, positions)
    head.output = logits
    return logits


class NNsightBackend(Backend):
    """Adapter over an nnsight model of a Hugging Face causal LM."""

    kind = "nnsight"

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.remote: Any = None
        """A :class:`~tl_reasoning.remote.RemoteTarget` while :meth:`remote_execution` is active."""
        self._hf = model._module  # the wrapped Hugging Face model (nnsight keeps it on the Envoy)
        self._layers_path = find_layers_path(self._hf)

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def n_layers(self) -> int:
        return len(_walk(self._hf, self._layers_path))

    @property
    def d_model(self) -> int:
        return int(self._hf.config.hidden_size)

    @property
    def device(self) -> torch.device:
        device = next(self._hf.parameters()).device
        # a model built for remote use only (nnsight's meta device): inputs stay on the CPU
        return torch.device("cpu") if device.type == "meta" else device

    @property
    def name(self) -> str:
        return str(getattr(self._hf.config, "_name_or_path", "") or super().name)

    def _check_site_kind(self, site: Site) -> None:
        layer = _walk(self._hf, self._layers_path)[site.layer]
        needed = {"attn_out": ("self_attn", "attn", "attention"), "mlp_out": ("mlp",),
                  "resid_mid": ("post_attention_layernorm",)}.get(site.kind)
        if needed and not any(hasattr(layer, n) for n in needed):
            raise ValueError(f"site {site.name}: {type(layer).__name__} has no {needed[0]} module")

    def _check_editable(self, site: Site) -> None:
        if site.kind == "resid_mid":
            raise ValueError(
                f"site {site.name} can be read but not edited on nnsight (the mid-block residual is not a "
                "module output); edit blocks.N.hook_attn_out or blocks.N.hook_resid_pre instead"
            )

    # -- envoys ---------------------------------------------------------------------------------
    def _layer_envoy(self, layer: int) -> Any:
        return _walk(self.model, self._layers_path)[layer]

    def _read(self, site: Site) -> torch.Tensor:
        return read_site(self.model, self._layers_path, site)

    def _write(self, site: Site, value: torch.Tensor) -> None:
        write_site(self.model, self._layers_path, site, value)

    @staticmethod
    def _attn(layer: Any) -> Any:
        for name in ("self_attn", "attn", "attention"):
            if hasattr(layer, name):
                return getattr(layer, name)
        raise ValueError(f"{layer} has no attention module")

    def _embed_path(self) -> str:
        """Dotted path of the token embedding module inside the Hugging Face model (found once)."""
        cached = self.__dict__.get("_embed_path_cache")
        if cached is not None:
            return cached
        embed = self._hf.get_input_embeddings()
        for name, module in self._hf.named_modules():
            if module is embed and name:
                self._embed_path_cache = name
                return name
        raise NotImplementedError(f"cannot locate the token embedding module of {type(self._hf).__name__}")

    def _observe(self, positions_start: int | None) -> None:
        """Show the token ids of this forward call to every observer (inside a trace, before layers)."""
        if not self._observers:
            return
        ids = _walk(self.model, self._embed_path()).input
        start = 0 if positions_start is None else positions_start
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        for handle in self._observers:
            handle.fn(ids, positions)

    def _logits_path(self) -> str:
        """Dotted path of the output embedding (``lm_head``) inside the Hugging Face model (found once)."""
        cached = self.__dict__.get("_logits_path_cache")
        if cached is not None:
            return cached
        head = self._hf.get_output_embeddings()
        for name, module in self._hf.named_modules():
            if head is not None and module is head and name:
                self._logits_path_cache = name
                return name
        raise NotImplementedError(f"cannot locate the output embedding (lm_head) of {type(self._hf).__name__}, so "
                                  "its logits cannot be edited")

    def _apply_edits(self, positions_start: int | None) -> Any:
        """Apply every active edit in forward order (inside a trace). ``None``: a full sequence.

        Returns the edited logits when logits edits are installed, else ``None``.
        """
        edits = [(h.site, h.fn) for h in sorted(self._edits, key=lambda h: h.site.order)]
        observers = [h.fn for h in self._observers]
        logits_edits = [h.fn for h in self._logits_edits]
        embed = self._embed_path() if (observers or logits_edits) else None
        head = self._logits_path() if logits_edits else None
        return apply_site_edits(self.model, self._layers_path, embed, edits, observers, positions_start,
                                logits_edits, head)

    # -- running --------------------------------------------------------------------------------
    def capture(
        self, input_ids: torch.Tensor, sites: Sequence[str | Site], attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        parsed = sorted({self.check_site(s) for s in sites}, key=lambda s: s.order)
        if not parsed:
            raise ValueError("capture needs at least one site")
        inputs = self._inputs(input_ids, attention_mask)
        edits = sorted(self._edits, key=lambda h: h.site.order)
        saved: dict[str, Any] = {}
        for observer in self._observers:
            observer.reset()
        with torch.no_grad(), self.model.trace(inputs) as tracer:
            self._observe(None)
            # interleave reads and edits in forward order (nnsight requires execution order)
            events = sorted([(s.order, 1, s, None) for s in parsed] + [(h.site.order, 0, h.site, h) for h in edits],
                            key=lambda e: (e[0], e[1]))
            for _, is_read, site, handle in events:
                if is_read:
                    saved[site.name] = self._read(site).save()
                else:
                    act = self._read(site)
                    positions = torch.arange(act.shape[1], device=act.device)
                    self._write(site, handle.fn(act, positions))
            tracer.stop()
        return {s.name: saved[s.name].detach() for s in parsed}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs = self._inputs(input_ids, attention_mask)
        for observer in self._observers:
            observer.reset()
        with torch.no_grad(), self.model.trace(inputs):
            edited = self._apply_edits(None)
            logits = (self.model.lm_head.output if edited is None else edited).save()
        return logits.detach()

    def _generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, do_sample: bool,
        temperature: float, top_p: float | None, use_cache: bool, stop_early: bool = False,
    ) -> torch.Tensor:
        # Early stopping only without per-step interventions: ``tracer.iter`` expects every step to run.
        early = stop_early and self.remote is None and not (self._edits or self._observers or self._logits_edits)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new_tokens, do_sample=do_sample, use_cache=use_cache,
            eos_token_id=self.eos_token_id if early else None, pad_token_id=self.pad_token_id,
        )
        if do_sample:
            kwargs["temperature"] = temperature
            kwargs["top_p"] = top_p if top_p is not None else 1.0
            kwargs["top_k"] = 0
        inputs = self._inputs(input_ids, attention_mask)
        prompt_len = input_ids.shape[1]
        if self.remote is not None:
            if self._logits_edits:
                raise NotImplementedError(
                    "logits edits (token bans such as the word-ban experiment) run locally only; remove them or "
                    "generate without remote="
                )
            from tl_reasoning.remote.steering import generate_remote

            return generate_remote(self, self.remote, inputs, kwargs, max_new_tokens, prompt_len, use_cache)
        with torch.no_grad(), self.model.generate(inputs, **kwargs) as tracer:
            if self._edits or self._observers or self._logits_edits:
                for step in tracer.iter[:max_new_tokens]:
                    if not use_cache:
                        self._apply_edits(None)
                    else:
                        self._apply_edits(None if step == 0 else prompt_len + step - 1)
            out = tracer.result.save()
        return out.detach()

    def _inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        input_ids = input_ids.to(self.device)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(self.device)
        return {"input_ids": input_ids, "attention_mask": mask}

    @contextmanager
    def remote_execution(self, target: Any) -> Iterator[None]:
        """Run this backend's generation on ``target`` (a ``RemoteTarget``; ``None``: locally) in the block."""
        previous, self.remote = self.remote, target
        try:
            yield
        finally:
            self.remote = previous

    # -- edits are applied inside the backend's own traces --------------------------------------
    def _install_edit(self, handle: EditHandle) -> None:
        return None

    def _uninstall_edit(self, handle: EditHandle) -> None:
        return None

    def _install_observer(self, handle: TokenObserverHandle) -> None:
        self._embed_path()  # fail now, not inside a trace, if there is no embedding module

    def _install_logits_edit(self, handle: LogitsEditHandle) -> None:
        self._embed_path()  # fail now, not inside a trace: the token count and the lm_head are needed
        self._logits_path()

    def _uninstall_logits_edit(self, handle: LogitsEditHandle) -> None:
        return None

    def _uninstall_observer(self, handle: TokenObserverHandle) -> None:
        return None
