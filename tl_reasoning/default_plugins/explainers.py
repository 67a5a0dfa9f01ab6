"""Built-in explainers: an LLM behind any OpenAI-compatible endpoint, and a rule-based baseline."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_explainers(register: Any) -> None:
    from tl_reasoning.autointerp.explainers import LLMExplainer, TemplateExplainer

    register("llm", LLMExplainer,
             "a chat model behind any OpenAI-compatible endpoint (OpenAI, vLLM, ollama, transformers serve); "
             "options base_url, model, api_key, timeout_s, max_retries, max_requests, cache, price_in/out")
    register("template", TemplateExplainer,
             "no LLM: a description assembled from the evidence (top token, logit lens, steering counts); "
             "groups by the dominant reasoning word")
