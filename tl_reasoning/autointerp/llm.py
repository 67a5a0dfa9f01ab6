"""The LLM client of automatic interpretation, for OpenAI-compatible endpoints (OpenAI, vLLM, `transformers
serve`): fails fast when the endpoint is down, counts every HTTP request against a budget, retries transient
failures, caches replies so reruns cost nothing, and keeps the API key out of reprs, errors and summaries."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_BASE_URL = "TL_REASONING_LLM_BASE_URL"
ENV_MODEL = "TL_REASONING_LLM_MODEL"
ENV_API_KEY = "TL_REASONING_LLM_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "EMPTY"  # what local servers get when no key is configured; they ignore it

_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 8.0
_CHECK_TIMEOUT_S = 5.0
_RETRY_STATUSES = frozenset({408, 409, 429})
_UNREACHABLE_FIX = ("start the server or pass --base-url / TL_REASONING_LLM_BASE_URL; "
                    "--evidence-only works without one")
_CACHED = ("text", "finish_reason", "prompt_tokens", "completion_tokens")  # what a cache line keeps

log = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """An LLM request or configuration failed; the message is one line naming the problem and the fix."""


class EndpointUnreachable(LLMError):
    """The endpoint refused the connection, its name did not resolve, or it did not answer in time."""


class EndpointAuthError(LLMError):
    """The endpoint answered 401/403: the API key is missing or wrong."""


class BudgetExceeded(LLMError):
    """Sending another request would exceed ``EndpointConfig.max_requests``; nothing was sent."""


class MalformedReply(LLMError):
    """The endpoint answered 200 with something that is not a chat completion."""


def _env(*names: str) -> str | None:
    return next((value.strip() for name in names if (value := os.environ.get(name, "")).strip()), None)


@dataclass
class EndpointConfig:
    """Where and how to ask the LLM; ``None`` fields are filled from the environment by :meth:`resolve`."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 3
    max_requests: int | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    price_in: float | None = None
    price_out: float | None = None

    def resolve(self) -> EndpointConfig:
        """A validated copy with base URL, model and key filled from arguments, then env, then defaults."""
        base_url = (self.base_url or _env(ENV_BASE_URL, "OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(f"LLM base URL {base_url!r} is not an http(s) URL: pass e.g. "
                           "--base-url http://127.0.0.1:8000/v1")
        model = self.model or _env(ENV_MODEL)
        if not model:
            raise LLMError(f"no LLM model named: pass --llm-model or set {ENV_MODEL}")
        checks = [("timeout_s", self.timeout_s > 0, "--timeout must be positive"),
                  ("max_retries", self.max_retries >= 0, "--max-retries must be >= 0"),
                  ("max_requests", self.max_requests is None or self.max_requests >= 0,
                   "--max-requests must be >= 0 (0 = answer from the cache only)"),
                  ("temperature", self.temperature >= 0, "--llm-temperature must be >= 0"),
                  ("max_tokens", self.max_tokens >= 1, "--llm-max-tokens must be >= 1"),
                  ("price_in", self.price_in is None or self.price_in >= 0, "--price-in must be >= 0"),
                  ("price_out", self.price_out is None or self.price_out >= 0, "--price-out must be >= 0")]
        for name, ok, fix in checks:
            if not ok:
                raise LLMError(f"invalid LLM setting {name}={getattr(self, name)!r}: {fix}")
        if (self.price_in is None) != (self.price_out is None):
            raise LLMError("only one LLM price is set: pass both --price-in and --price-out, or neither")
        api_key = self.api_key or _env(ENV_API_KEY, "OPENAI_API_KEY") or NO_KEY
        return dataclasses.replace(self, base_url=base_url, model=model, api_key=api_key,
                                   max_retries=int(self.max_retries))

    def public(self) -> dict[str, Any]:
        """All settings for logs and JSON reports, with the API key reduced to "set" / "not set"."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "api_key"}
        out["api_key"] = "set" if self.api_key and self.api_key != NO_KEY else "not set"
        return out


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


@dataclass
class Usage:
    """What a client spent: HTTP requests (retries included), cache hits, tokens, wall time, cost (None
    when prices are unknown); ``failed`` counts ``complete()`` calls that raised, ``missing_usage`` replies
    that came without token counts (counted as 0)."""

    requests: int = 0
    retries: int = 0
    failed: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float | None = None
    missing_usage: int = 0

    def summary(self) -> str:
        """One line for the console, e.g. "LLM: 12 requests (1 retry), 3 cached, ... cost $0.0081"."""
        retries = f" ({_plural(self.retries, 'retry', 'retries')})" if self.retries else ""
        failed = f", {self.failed:,} failed" if self.failed else ""
        missing = (f", {_plural(self.missing_usage, 'reply', 'replies')} without token counts"
                   if self.missing_usage else "")
        cost = "unknown (pass --price-in/--price-out)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (f"LLM: {_plural(self.requests, 'request')}{retries}{failed}, {self.cache_hits:,} cached, "
                f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens{missing}, "
                f"{self.seconds:.1f} s, cost {cost}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON reports."""
        return dataclasses.asdict(self)


@dataclass
class Reply:
    """One completion; a ``cached`` reply was read from the cache (``seconds`` 0, tokens as first paid)."""

    text: str
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    seconds: float


def backoff_s(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...): 0.5 s doubling, capped at 8 s."""
    return min(_BACKOFF_BASE_S * 2 ** (retry - 1), _BACKOFF_CAP_S)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(body: object) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or all."""
    if not isinstance(body, dict):
        return str(body) if body is not None else "no message"
    err = body.get("error")
    found = err.get("message") if isinstance(err, dict) else None
    return str(found or body.get("detail") or body.get("message") or err or body)


def _connect_reason(exc: BaseException) -> str:
    """Why a connection failed, from the innermost cause (refused, name not resolved, timed out...)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not resolved"
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return "no answer in time"
        if seen.__cause__ is None and seen.__context__ is None:
            return _one_line(f"{type(seen).__name__}: {seen}", 120)
        seen = seen.__cause__ or seen.__context__
    return "connection error"


class ChatClient:
    """Chat completions with budget, retries, an on-disk cache (JSON lines) and usage accounting. The
    ``openai`` client is created lazily with ``max_retries=0``: retries happen here so that every HTTP
    request counts against ``max_requests``. :meth:`check` is a pre-flight probe and is not counted.
    Non-JSON or choice-less 200 replies raise :class:`MalformedReply` at once, without retrying: a server
    that answers garbage usually does so deterministically, and retrying would only spend the budget.
    """

    def __init__(self, config: EndpointConfig, cache: str | os.PathLike | None = None) -> None:
        self.config = config.resolve()
        self.usage = Usage(cost_usd=0.0 if self.config.price_in is not None else None)
        self.cache_path = Path(cache) if cache is not None else None
        self.cache_skipped = 0  # corrupt lines ignored while reading the cache
        self._cache: dict[str, dict[str, Any]] = {}
        self._client: Any = None
        self._lock = threading.Lock()
        self._server_models: list[str] | None = None
        if self.cache_path is not None and self.cache_path.exists():
            self._load_cache(self.cache_path)

    def _openai(self) -> Any:
        import openai
        with self._lock:  # one client (and connection pool) even when threads race to create it
            if self._client is None:
                self._client = openai.OpenAI(base_url=self.config.base_url, api_key=self.config.api_key,
                                             timeout=self.config.timeout_s, max_retries=0)
        return self._client

    def _fail(self, cls: type[LLMError], message: str) -> LLMError:
        """An error of class ``cls``; the key is masked in case a server echoed it back."""
        key = self.config.api_key
        return cls(message.replace(key, "***") if key and key != NO_KEY and len(key) >= 4 else message)

    def _auth_error(self, status: int) -> LLMError:
        return self._fail(EndpointAuthError, f"the endpoint at {self.config.base_url} refused the API key "
                          f"({status}): set {ENV_API_KEY} (or pass --api-key-env VAR) to a key it accepts")

    def close(self) -> None:
        """Close the HTTP connection pool (the cache file is never held open)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_cache(self, path: Path) -> None:
        """Read earlier replies; a corrupt or partial line (a run killed mid-write) is skipped, not fatal."""
        for line in filter(str.strip, path.read_text(encoding="utf-8", errors="replace").splitlines()):
            try:
                entry = json.loads(line)
                if not isinstance(entry["text"], str):
                    raise TypeError("text is not a string")
                self._cache[str(entry["key"])] = {**{k: entry.get(k) for k in _CACHED}, **{
                    k: int(entry.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")}}
            except (ValueError, KeyError, TypeError):
                self.cache_skipped += 1
        if self.cache_skipped:
            log.warning("skipped %d corrupt line(s) in the LLM cache %s", self.cache_skipped, path)

    def _append_cache(self, path: Path, entry: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():  # a previous run may have died mid-line: never glue onto a partial line
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
            f.flush()

    def cache_key(self, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
        """sha256 over model, messages and sampling settings: what determines the reply."""
        blob = json.dumps({"model": self.config.model, "messages": messages, "temperature": temperature,
                           "max_tokens": max_tokens}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def check(self) -> None:
        """Fail fast before expensive work: GET /models; unreachable or 401/403 raise, all else passes."""
        import openai
        try:
            # its own short timeout: listing models is cheap even where one completion takes long
            raw = self._openai().models.with_raw_response.list(timeout=_CHECK_TIMEOUT_S)
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise self._fail(EndpointUnreachable, f"cannot reach the LLM endpoint at {self.config.base_url} "
                             f"({_connect_reason(exc)}): {_UNREACHABLE_FIX}") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise self._auth_error(exc.status_code) from None
            return  # reachable; a server without /models (404) or with a broken one is accepted
        with contextlib.suppress(ValueError, AttributeError, TypeError):  # named in "unknown model" errors
            data = json.loads(raw.text).get("data")
            self._server_models = [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    def _parse(self, text: str) -> tuple[str, str | None, int | None, int | None]:
        """(text, finish_reason, prompt_tokens, completion_tokens) of a 200 body; counts None if absent."""
        fix = f"({_one_line(text, 80)!r}): check that --base-url points at an OpenAI-compatible /v1 API"
        where = f"the endpoint at {self.config.base_url} answered"
        try:
            body = json.loads(text)
        except ValueError:
            raise self._fail(MalformedReply, f"{where} 200 with invalid JSON {fix}") from None
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._fail(MalformedReply, f"{where} 200 without choices {fix}")
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self._fail(MalformedReply, f"{where} a chat completion without text content: use a chat "
                             "model that answers in text")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt, completion = (n if isinstance(n := usage.get(k), int) else None for k in _CACHED[2:])
        return content, choices[0].get("finish_reason"), prompt, completion

    def complete(self, messages: list[dict[str, str]], *, temperature: float | None = None,
                 max_tokens: int | None = None) -> Reply:
        """The model's reply to ``messages``: from the cache if seen before, else one (retried) request."""
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and m.get("role")
                                                                     and isinstance(m.get("content"), str)
                                                                     for m in messages):
            raise ValueError("messages must be a non-empty list of {'role': ..., 'content': str} dicts")
        temperature = self.config.temperature if temperature is None else float(temperature)
        max_tokens = self.config.max_tokens if max_tokens is None else int(max_tokens)
        key = self.cache_key(messages, temperature, max_tokens)
        with self._lock:
            if key in self._cache:
                self.usage.cache_hits += 1
                return Reply(cached=True, seconds=0.0, **self._cache[key])
        start = time.perf_counter()
        try:
            body = self._request(messages, temperature, max_tokens)
            content, finish, prompt, completion = self._parse(body)
        except LLMError:
            with self._lock:
                self.usage.failed += 1
                self.usage.seconds += time.perf_counter() - start
            raise
        reply = Reply(content, cached=False, prompt_tokens=prompt or 0, completion_tokens=completion or 0,
                      finish_reason=finish, seconds=time.perf_counter() - start)
        with self._lock:
            u, cfg = self.usage, self.config
            u.prompt_tokens += reply.prompt_tokens
            u.completion_tokens += reply.completion_tokens
            u.missing_usage += prompt is None or completion is None
            u.seconds += reply.seconds
            if u.cost_usd is not None and cfg.price_in is not None and cfg.price_out is not None:
                u.cost_usd += (reply.prompt_tokens * cfg.price_in
                               + reply.completion_tokens * cfg.price_out) / 1e6
            self._cache[key] = {k: getattr(reply, k) for k in _CACHED}
            if self.cache_path is not None:
                self._append_cache(self.cache_path, {"key": key, "model": cfg.model, **self._cache[key],
                                                     "seconds": round(reply.seconds, 3)})
        return reply

    def _request(self, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
        """The raw 200 body, after retrying connection errors, timeouts, 408/409/429 and 5xx."""
        import openai
        url, cfg, last = self.config.base_url, self.config, ""
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                time.sleep(backoff_s(attempt))
            with self._lock:  # the budget counts every HTTP request, retries included
                if cfg.max_requests is not None and self.usage.requests >= cfg.max_requests:
                    raise self._fail(BudgetExceeded, f"LLM request budget spent: {self.usage.requests} of "
                                     f"max_requests={cfg.max_requests} sent; raise --max-requests "
                                     "(cached replies are free)")
                self.usage.requests += 1
                self.usage.retries += attempt > 0
            try:
                raw = self._openai().chat.completions.with_raw_response.create(
                    model=cfg.model, messages=messages, temperature=temperature, max_tokens=max_tokens)
                return raw.text
            except openai.APITimeoutError:
                last = "timeout"
            except openai.APIConnectionError as exc:
                last = _connect_reason(exc)
            except openai.APIStatusError as exc:
                status, detail = exc.status_code, _one_line(_server_message(exc.body))
                if status in (401, 403):
                    raise self._auth_error(status) from None
                if status in _RETRY_STATUSES or status >= 500:
                    last = f"HTTP {status}: {detail}"
                    continue
                fix = "check the request settings (--llm-max-tokens, --llm-temperature)"
                if status == 404 or "model" in detail.lower():
                    if self._server_models is None:
                        with contextlib.suppress(LLMError):
                            self.check()  # fills _server_models
                    listed = ", ".join(self._server_models or []) or "nothing"
                    fix = f"pass --llm-model; the server lists: {listed}"
                raise self._fail(LLMError, f"the LLM endpoint at {url} rejected the request (HTTP {status}: "
                                 f"{detail}): {fix}") from None
        tries = _plural(cfg.max_retries + 1, "attempt")
        if last == "timeout":
            raise self._fail(LLMError, f"the LLM endpoint at {url} timed out after {cfg.timeout_s:g} s "
                             f"({tries}): raise --timeout or use a faster server")
        if last in ("connection refused", "host name not resolved"):
            raise self._fail(EndpointUnreachable, f"cannot reach the LLM endpoint at {url} ({last}, "
                             f"{tries}): {_UNREACHABLE_FIX}")
        raise self._fail(LLMError, f"the LLM endpoint at {url} kept failing ({last}; {tries}): "
                         "retry later or raise --max-retries")
