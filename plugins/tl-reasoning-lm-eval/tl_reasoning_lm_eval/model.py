"""``TLReasoningLM``: an lm-evaluation-harness model that runs on tl-reasoning backends, steered.

Every lm-eval request type is answered through a tl-reasoning :class:`~tl_reasoning.Backend`
(HookedTransformer, TransformerBridge or nnsight — whichever ``load_model`` returns, or a plugin's),
with the configured steering installed for the duration of each ``loglikelihood``,
``loglikelihood_rolling`` and ``generate_until`` call and removed afterwards, exceptions included:

* ``loglikelihood`` / ``loglikelihood_rolling``: one forward pass per right-padded batch, the
  log-probabilities of the continuation tokens summed (rolling windows as lm-eval defines them).
* ``generate_until``: left-padded batches through ``backend.generate`` (greedy unless
  ``do_sample``), cut at the first EOS and the first stop sequence.

Token ids are the ones tl-reasoning uses everywhere: the tokenizer without its own special tokens
and BOS prepended once, so a loglikelihood here equals the log-probabilities of
``backend.forward`` on ``backend.tokenize(context + continuation)``.

Position rules (``positions=``) follow tl-reasoning's semantics per forward call: a loglikelihood
request is one forward pass, so the whole scored text is the "prompt" there and ``generated`` /
``thinking`` select nothing (a warning says so); in ``generate_until`` they mean what they mean in
``tl_reasoning.generate``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from lm_eval.api.model import TemplateLM

__all__ = ["DEFAULT_MAX_LENGTH", "TLReasoningLM", "parse_number_list"]

log = logging.getLogger(__name__)

#: Context window used when the model does not state one (``max_length=`` overrides it).
DEFAULT_MAX_LENGTH = 2048
#: Generation arguments ``generate_until`` understands; anything else is an error, not silently ignored.
_GEN_KWARGS = frozenset({"until", "max_gen_toks", "do_sample", "temperature", "top_p", "seed"})
#: Harmless values of arguments we do not implement (greedy search and no truncation by default).
_NO_OP_GEN_KWARGS = {"num_beams": 1, "top_k": 0, "repetition_penalty": 1.0}
_ORGANISMS = ("organism", "organism-base")
_OPTION_PREFIX = "option_"


def parse_number_list(value: Any, what: str, cast: type = float) -> Any:
    """``2``, ``"2"``, ``"2;3"`` or ``[2, 3]`` as a number or a list (lm-eval ``model_args`` use ``,`` between args)."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(";") if p]
        if not parts:
            raise ValueError(f"{what} is empty; give a number or numbers separated by ';' (e.g. 12;34)")
        try:
            values = [cast(p) for p in parts]
        except ValueError:
            raise ValueError(f"cannot read {what}={value!r}: give a number or numbers separated by ';' "
                             "(e.g. 12;34)") from None
        return values[0] if len(values) == 1 else values
    if isinstance(value, Sequence):
        return [cast(v) for v in value]
    return cast(value)


def _available_device(device: str | None) -> str | None:
    """``device``, or ``cpu`` when it names CUDA on a machine without it (lm-eval's CLI defaults to ``cuda:0``)."""
    if device is not None and str(device).startswith("cuda") and not torch.cuda.is_available():
        log.warning("device %s requested but CUDA is not available; running on cpu", device)
        return "cpu"
    return device


class TLReasoningLM(TemplateLM):
    """An lm-eval ``LM`` over a tl-reasoning model, optionally steering SAE features.

    :param model: a registered name (``organism``), a local Hugging Face directory, a Hub id, or a
        model object already loaded (``tl_reasoning.load_model(...)`` or any model a backend handles).
        ``pretrained=`` is accepted as an alias.
    :param backend: ``hooked``, ``bridge``, ``nnsight`` or ``auto`` (the model's default).
    :param sae: SAE to steer with (registered name, directory, release, or a loaded sae-lens SAE).
    :param features: SAE feature indices: ``12``, ``"12;34"`` or a list.
    :param strength: γ — one value or one per feature (``"2;4"``).
    :param mode: a registered intervention (``add``, ``clamp``, ``cap``, ``ablate`` or a plugin's).
    :param f_max: maximum activation per feature; else from ``stats``; else estimated on
        ``f_max_corpus`` (``organism:reasoning`` by default for the organisms).
    :param positions: ``all``, ``prompt``, ``generated``, ``thinking`` or ``START:END``.
    :param steering: ready :class:`tl_reasoning.Steering` objects (Python use), instead of or besides
        ``sae``/``features``.
    :param spec: a saved steering spec (``tl-reasoning steer ... --save SPEC.json``), loaded with
        :func:`tl_reasoning.load_steering` (its SAE from the spec, or ``sae=`` without ``features=``;
        either way checked to be the SAE the spec was saved with), besides any other steering.
    :param batch_size: requests per forward pass; ``auto`` uses ``max_batch_size`` (no memory probing).
    :param max_length: context window (default: the model's ``n_ctx`` / ``max_position_embeddings``).
    :param max_gen_toks: new tokens per ``generate_until`` request unless the task says otherwise.
    :param add_bos_token: prepend BOS to every request (as tl-reasoning does everywhere; default true).
    :param option_<name>: passed to the intervention factory as ``<name>`` (e.g. ``option_only_above=true``
        for ``cap``); from Python ``options={...}`` works too.

    ``site``, ``preserve_norm`` and ``think_end`` are as in :func:`tl_reasoning.feature_steering` and
    :func:`tl_reasoning.add_steering`. The tl-reasoning adapter is ``self.tl_backend`` (``self.backend``
    is lm-eval's "causal" marker, which its tokenisation helpers read).
    """

    def __init__(
        self,
        model: Any = None,
        *,
        pretrained: Any = None,
        backend: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        sae: Any = None,
        sae_id: str | None = None,
        features: Any = None,
        strength: Any = 2.0,
        mode: str = "add",
        f_max: Any = None,
        stats: Any = None,
        f_max_corpus: str | None = None,
        f_max_docs: int = 64,
        positions: str = "all",
        site: str | None = None,
        preserve_norm: bool = False,
        think_end: int | str = "</think>",
        steering: Any = None,
        spec: Any = None,
        batch_size: int | str | None = 1,
        max_batch_size: int | None = 64,
        max_length: int | None = None,
        max_gen_toks: int = 256,
        add_bos_token: bool = True,
        options: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__()
        import tl_reasoning

        unknown = sorted(k for k in extra if not k.startswith(_OPTION_PREFIX))
        if unknown:
            raise TypeError(
                f"tl-reasoning model got unknown model_args {', '.join(unknown)}; known: model, backend, device, "
                "dtype, sae, sae_id, features, strength, mode, f_max, stats, f_max_corpus, f_max_docs, positions, "
                "site, preserve_norm, think_end, spec, batch_size, max_batch_size, max_length, max_gen_toks, "
                f"add_bos_token, and {_OPTION_PREFIX}<name> for intervention options"
            )
        if model is not None and pretrained is not None:
            raise ValueError("give the model once: model=... or pretrained=..., not both")
        model_spec = model if model is not None else pretrained
        if model_spec is None:
            raise ValueError("no model: pass model=<registered name, local directory or Hub id> "
                             "(e.g. model_args model=organism)")
        self._spec = model_spec if isinstance(model_spec, str | os.PathLike) else None
        device = _available_device(device)
        if self._spec is not None:
            self.model = tl_reasoning.load_model(model_spec, backend=backend, device=device, dtype=dtype)
        else:
            self.model = model_spec
        self.tl_backend = tl_reasoning.backend_for(self.model)
        self.tokenizer = self.tl_backend.tokenizer
        self._device = self.tl_backend.device
        self.add_bos_token = bool(add_bos_token)
        self.think_end = think_end
        self.max_gen_toks = int(max_gen_toks)
        self._max_length = int(max_length) if max_length is not None else None
        self.max_batch_size = int(max_batch_size or 64)
        self.batch_size = self._parse_batch_size(batch_size)
        factory_options = dict(options or {})
        factory_options.update({k[len(_OPTION_PREFIX):]: v for k, v in extra.items()})
        self.steerings = self._build_steerings(
            steering, spec=spec, sae=sae, sae_id=sae_id, features=features, strength=strength, mode=mode, f_max=f_max,
            stats=stats, f_max_corpus=f_max_corpus, f_max_docs=f_max_docs, positions=positions, site=site,
            preserve_norm=preserve_norm, device=device, options=factory_options,
        )
        self._warned_positions = False

    # -- construction ---------------------------------------------------------------------------
    def _parse_batch_size(self, batch_size: int | str | None) -> int:
        if batch_size is None:
            return 1
        text = str(batch_size).strip().lower()
        if text.startswith("auto"):
            log.info("batch_size=%s: using max_batch_size=%d (tl-reasoning does not probe memory)",
                     batch_size, self.max_batch_size)
            return self.max_batch_size
        try:
            size = int(text)
        except ValueError:
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}") from None
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}")
        return size

    def _build_steerings(self, steering: Any, *, spec: Any, sae: Any, sae_id: str | None, features: Any, strength: Any,
                         mode: str, f_max: Any, stats: Any, f_max_corpus: str | None, f_max_docs: int,
                         positions: str, site: str | None, preserve_norm: bool, device: str | None,
                         options: dict[str, Any]) -> list[Any]:
        import tl_reasoning
        from tl_reasoning.steering.spec import MODES_WITHOUT_F_MAX

        items: list[Any] = []
        if steering is not None:
            items.extend(steering if isinstance(steering, list | tuple) else [steering])
            for item in items:
                if not isinstance(item, tl_reasoning.Steering):
                    raise TypeError(f"steering= takes tl_reasoning.Steering objects, got {type(item).__name__}")
        if spec is not None:
            spec_sae = None
            if sae is not None and features is None:  # the spec's SAE given here (checked against the spec)
                spec_sae = (tl_reasoning.load_sae(sae, sae_id=sae_id, device=device)
                            if isinstance(sae, str | os.PathLike) else sae)
                sae = None
            items.extend(tl_reasoning.load_steering(spec, sae=spec_sae, model=self.model, device=device))
        if sae is None and features is None:
            if options:
                raise ValueError(f"intervention options {sorted(options)} were given but nothing is steered; "
                                 "pass sae= and features=")
            return items
        if sae is None or features is None:
            raise ValueError("steering needs both sae= (the SAE) and features= (its feature indices, e.g. 12;34)")
        sae_obj = (tl_reasoning.load_sae(sae, sae_id=sae_id, device=device) if isinstance(sae, str | os.PathLike)
                   else sae)
        site = tl_reasoning.check_sae_compatible(self.model, sae_obj, site)
        feats = parse_number_list(features, "features", int)
        feats = [feats] if isinstance(feats, int) else list(feats)
        f_max = parse_number_list(f_max, "f_max")
        strength = parse_number_list(strength, "strength")
        if f_max is None and stats is None and mode not in MODES_WITHOUT_F_MAX:
            corpus = f_max_corpus or ("organism:reasoning" if self._spec in _ORGANISMS else None)
            if corpus is not None:
                f_max = self._estimate_f_max(sae_obj, feats, corpus, f_max_docs, site)
        items.insert(0, tl_reasoning.feature_steering(
            sae_obj, feats, strength=strength, mode=mode, f_max=f_max, stats=stats, positions=positions, site=site,
            preserve_norm=bool(preserve_norm), **options,
        ))
        return items

    def _estimate_f_max(self, sae: Any, features: list[int], corpus: str, docs: int, site: str) -> torch.Tensor:
        from itertools import islice

        import tl_reasoning
        from tl_reasoning.corpora import iter_texts

        texts = list(islice(iter_texts(tl_reasoning.load_corpus(corpus)), int(docs)))
        if not texts:
            raise ValueError(f"f_max_corpus {corpus!r} has no documents; pass f_max= or stats=")
        log.info("estimating f_max of features %s on %d documents of %s", features, len(texts), corpus)
        return tl_reasoning.estimate_f_max(self.model, sae, texts, features, site=site, max_length=self.max_length)

    # -- facts lm-eval asks for -----------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        eos = self.tl_backend.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no EOS token, which lm-eval needs as end-of-text")
        return int(eos)

    @property
    def prefix_token_id(self) -> int:
        """The token an empty context is replaced by: BOS (what tl-reasoning prepends), else EOS."""
        bos = self.tl_backend.bos_token_id
        return int(bos) if bos is not None and self.add_bos_token else self.eot_token_id

    @property
    def max_length(self) -> int:
        if self._max_length is not None:
            return self._max_length
        cfg = getattr(self.model, "cfg", None)
        n_ctx = getattr(cfg, "n_ctx", None)
        if n_ctx:
            return int(n_ctx)
        hf = getattr(self.tl_backend, "_hf", None)
        n_pos = getattr(getattr(hf, "config", None), "max_position_embeddings", None)
        return int(n_pos) if n_pos else DEFAULT_MAX_LENGTH

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tokenizer, "name_or_path", "") or self.tl_backend.name).replace("/", "__")

    def get_model_info(self) -> dict[str, Any]:
        """Recorded by lm-eval in ``results["config"]``: the model, backend and steering used."""
        return {"tl_reasoning_model": self.tl_backend.name, "tl_reasoning_backend": self.tl_backend.kind,
                "tl_reasoning_steering": [{"site": s.site, **dict(s.info)} for s in self.steerings]}

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {self.tl_backend.name} has no chat template; run without "
                             "--apply_chat_template")
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    # -- tokens ---------------------------------------------------------------------------------
    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        """Ids without the tokenizer's own special tokens; BOS prepended once unless ``add_special_tokens=False``."""
        ids = [int(i) for i in self.tokenizer(string, add_special_tokens=False)["input_ids"]]
        bos = self.tl_backend.bos_token_id
        if add_special_tokens is not False and self.add_bos_token and bos is not None and (not ids or ids[0] != bos):
            ids = [int(bos), *ids]
        left = kwargs.get("left_truncate_len")
        return ids[-left:] if left else ids

    def tok_decode(self, tokens: Sequence[int]) -> str:
        special = self.tl_backend.special_token_ids
        return self.tl_backend.decode([int(t) for t in tokens if int(t) not in special])

    # -- steering lifecycle ---------------------------------------------------------------------
    @contextmanager
    def steering_installed(self) -> Iterator[Any]:
        """Install the configured steering for the block (nothing when there is none); always removed."""
        if not self.steerings:
            yield None
            return
        from tl_reasoning import add_steering

        handle = add_steering(self.model, steerings=self.steerings, think_end=self.think_end)
        try:
            yield handle
        finally:
            handle.remove()

    def _warn_forward_positions(self) -> None:
        if self._warned_positions:
            return
        rules = {s.positions.mode for s in self.steerings}
        if rules & {"generated", "thinking"}:
            self._warned_positions = True
            log.warning("positions=%s selects generated tokens, but loglikelihood requests are scored in one "
                        "forward pass with no generated tokens, so they are NOT steered; use positions=all, "
                        "prompt or a window for loglikelihood tasks", "/".join(sorted(rules)))

    # -- loglikelihood --------------------------------------------------------------------------
    def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str], list[int], list[int]]],
                              disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
        scores = self.score_tokens([(ctx, cont) for _, ctx, cont in requests], disable_tqdm=disable_tqdm)
        for (strings, _, _), answer in zip(requests, scores, strict=True):
            if strings is not None:
                self.cache_hook.add_partial("loglikelihood", strings, answer)
        return scores

    def score_tokens(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
                     disable_tqdm: bool = True) -> list[tuple[float, bool]]:
        """``(sum of log p(continuation | context), continuation is the greedy one)`` per (context, continuation) ids.

        Inputs longer than ``max_length + 1`` tokens lose context tokens from the left; a continuation
        longer than ``max_length`` is an error. Batches of
        ``batch_size``, longest first, right-padded; the steering is installed for the call.
        """
        from tqdm import tqdm

        prepared = []
        for ctx, cont in pairs:
            if not cont:
                raise ValueError("a loglikelihood request has an empty continuation; there is nothing to score")
            if not ctx:
                raise ValueError("a loglikelihood request has no context tokens; lm-eval gives at least the "
                                 "prefix token")
            if len(cont) > self.max_length:
                raise ValueError(f"a continuation of {len(cont)} tokens does not fit max_length={self.max_length}; "
                                 "raise max_length (if the model allows) or shorten the task's targets")
            whole = [*ctx, *cont][-(self.max_length + 1):]
            prepared.append((whole[:-1], [int(t) for t in cont]))
        order = sorted(range(len(prepared)), key=lambda i: -len(prepared[i][0]))
        results: list[tuple[float, bool] | None] = [None] * len(prepared)
        if self.steerings:
            self._warn_forward_positions()
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        with self.steering_installed():
            for batch in tqdm(batches, desc="tl-reasoning loglikelihood", disable=disable_tqdm):
                width = max(len(prepared[i][0]) for i in batch)
                ids = torch.full((len(batch), width), self.tl_backend.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    inp = prepared[i][0]
                    ids[row, :len(inp)] = torch.tensor(inp, dtype=torch.long)
                    mask[row, :len(inp)] = 1
                logits = self.tl_backend.forward(ids.to(self.device), mask.to(self.device))
                logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
                for row, i in enumerate(batch):
                    inp, cont = prepared[i]
                    n = len(cont)
                    window = logprobs[row, len(inp) - n:len(inp)]  # [n, vocab]
                    target = torch.tensor(cont, dtype=torch.long)
                    picked = window.gather(-1, target[:, None]).squeeze(-1)
                    greedy = bool((window.argmax(dim=-1) == target).all())
                    results[i] = (float(picked.sum()), greedy)
        return results  # type: ignore[return-value]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood of whole texts in disjoint rolling windows of ``max_length`` tokens (lm-eval's definition)."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        windows: list[tuple[list[int], list[int]]] = []
        owner: list[int] = []
        for index, request in enumerate(requests):
            (text,) = request.args
            tokens = self.tok_encode(text, add_special_tokens=False)
            for window in get_rolling_token_windows(tokens, self.prefix_token_id, self.max_length, context_len=1):
                windows.append(make_disjoint_window(window))
                owner.append(index)
        scores = self.score_tokens(windows, disable_tqdm=disable_tqdm) if windows else []
        totals = [0.0] * len(requests)
        for index, (logprob, _) in zip(owner, scores, strict=True):
            totals[index] += logprob
        for request, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    # -- generation -----------------------------------------------------------------------------
    def _generation_settings(self, gen_kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(gen_kwargs or {})
        for key, neutral in _NO_OP_GEN_KWARGS.items():
            if key in kwargs and kwargs[key] in (neutral, None):
                kwargs.pop(key)
        for key in ("max_new_tokens", "max_tokens"):
            if key in kwargs and "max_gen_toks" not in kwargs:
                kwargs["max_gen_toks"] = kwargs.pop(key)
        unsupported = sorted(set(kwargs) - _GEN_KWARGS)
        if unsupported:
            raise ValueError(
                f"generation arguments {', '.join(unsupported)} are not supported by the tl-reasoning model "
                f"(supported: {', '.join(sorted(_GEN_KWARGS))}); override them with --gen_kwargs or edit the task"
            )
        until = kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        if not all(isinstance(s, str) for s in until):
            raise ValueError(f"'until' must be a string or a list of strings, got {until!r}")
        max_gen = int(kwargs.get("max_gen_toks") or self.max_gen_toks)
        if max_gen < 1:
            raise ValueError(f"max_gen_toks must be >= 1, got {max_gen}")
        if max_gen >= self.max_length:
            raise ValueError(f"max_gen_toks={max_gen} leaves no room for the prompt in max_length={self.max_length}; "
                             "lower max_gen_toks or raise max_length")
        temperature = float(kwargs.get("temperature") or 0.0)
        do_sample = kwargs.get("do_sample")
        do_sample = temperature > 0.0 if do_sample is None else bool(do_sample)
        return {"until": [s for s in until if s], "max_gen_toks": max_gen, "do_sample": do_sample,
                "temperature": temperature if do_sample and temperature > 0 else 1.0,
                "top_p": kwargs.get("top_p"), "seed": kwargs.get("seed")}

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Generate for each ``(context, gen_kwargs)``; the text is cut at EOS and at the first stop sequence."""
        from tqdm import tqdm

        groups: dict[str, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            groups[json.dumps(request.args[1], sort_keys=True, default=str)].append(index)
        settings = {key: self._generation_settings(requests[idxs[0]].args[1]) for key, idxs in groups.items()}
        results: list[str | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc="tl-reasoning generate_until", disable=disable_tqdm)
        with self.steering_installed():
            for key, idxs in groups.items():
                cfg = settings[key]
                room = self.max_length - cfg["max_gen_toks"]
                encoded = {i: self.tok_encode(requests[i].args[0])[-room:] for i in idxs}
                ordered = sorted(idxs, key=lambda i: -len(encoded[i]))
                for start in range(0, len(ordered), self.batch_size):
                    batch = ordered[start:start + self.batch_size]
                    texts = self._generate_batch([encoded[i] for i in batch], cfg)
                    for i, text in zip(batch, texts, strict=True):
                        results[i] = text
                        self.cache_hook.add_partial("generate_until", requests[i].args, text)
                    bar.update(len(batch))
        bar.close()
        return results  # type: ignore[return-value]

    def _generate_batch(self, rows: list[list[int]], cfg: dict[str, Any]) -> list[str]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tl_backend.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        out = self.tl_backend.generate(ids.to(self.device), mask.to(self.device), max_new_tokens=cfg["max_gen_toks"],
                                    do_sample=cfg["do_sample"], temperature=cfg["temperature"], top_p=cfg["top_p"],
                                    seed=cfg["seed"], stop_at_eos=True)
        eos = self.tl_backend.eos_token_id
        texts = []
        for row in out[:, width:].tolist():
            if eos is not None and eos in row:
                row = row[:row.index(eos)]
            text = self.tok_decode(row)
            for stop in cfg["until"]:
                text = text.split(stop, 1)[0]
            texts.append(text)
        return texts
