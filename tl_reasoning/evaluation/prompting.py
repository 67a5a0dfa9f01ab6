"""Prompts in the think format: the chat template when the tokenizer has one, else the raw prompt.

With a chat template (R1-style reasoning models), the problem is put into the instruction template
of its answer type (:data:`PROMPT_TEMPLATES`, the paper's lm-eval prompts: the ``\\boxed{}``
instruction for math, the simple-evals ``Answer: $LETTER`` instruction for GPQA), sent as the user
message, and the generation prompt is added — R1 templates end it with ``<think>\\n``, so the model
starts inside its thinking section. Without a chat template (the organism, base models) the item's
own raw ``prompt`` is used when it has one, else the filled instruction template. Templates are
plain strings with ``{problem}`` (and ``{letters}`` for multiple choice) placeholders, filled by
text replacement (LaTeX braces need no escaping); pass ``templates={"math": ...}`` to change them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tl_reasoning.evaluation.benchmarks import CHOICE_LETTERS, EvalItem

__all__ = ["PROMPT_TEMPLATES", "build_prompt", "build_prompts", "fill_template", "has_chat_template"]

#: Instruction templates per answer type (keys may also be a benchmark name, which wins).
PROMPT_TEMPLATES: dict[str, str] = {
    "math": "Please reason step by step, and put your final answer within \\boxed{}.\nProblem: {problem}\nAnswer:",
    "integer": "Please reason step by step, and put your final answer within \\boxed{}.\nProblem: {problem}\n"
               "Answer:",
    "choice": "Answer the following multiple choice question. The last line of your response should be of the "
              "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. Think step "
              "by step before answering.\n\n{problem}",
}


def has_chat_template(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` (or a backend's) has a chat template."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    return bool(getattr(tokenizer, "chat_template", None))


def fill_template(template: str, item: EvalItem) -> str:
    """``template`` with ``{problem}`` and ``{letters}`` replaced for ``item``."""
    if "{problem}" not in template:
        raise ValueError(f"a prompt template needs a {{problem}} placeholder, got {template!r}")
    letters = CHOICE_LETTERS[:len(item.choices)] if item.choices else "ABCD"
    return template.replace("{letters}", letters).replace("{problem}", item.question)


def build_prompt(
    item: EvalItem,
    tokenizer: Any = None,
    *,
    templates: Mapping[str, str] | None = None,
    chat: bool | None = None,
    system: str | None = None,
    think_start: str | None = None,
) -> str:
    """The text given to the model for ``item``.

    :param tokenizer: a Hugging Face tokenizer or a backend (for its chat template).
    :param templates: overrides of :data:`PROMPT_TEMPLATES` (by benchmark name or answer type).
    :param chat: force (``True``) or skip (``False``) the chat template; default: use it if present.
    :param system: an optional system message (chat only).
    :param think_start: appended to a chat prompt that does not already end with it (e.g.
        ``"<think>\\n"`` for templates that do not open the thinking section themselves).
    """
    merged = {**PROMPT_TEMPLATES, **(templates or {})}
    template = merged.get(item.benchmark) or merged.get(item.answer_type)
    if template is None:
        raise ValueError(f"no prompt template for answer type {item.answer_type!r}; pass templates=")
    use_chat = has_chat_template(tokenizer) if chat is None else chat
    if not use_chat:
        return item.prompt if item.prompt is not None else fill_template(template, item)
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    if not has_chat_template(tok):
        raise ValueError("chat=True but the tokenizer has no chat template; pass chat=False (raw prompts)")
    messages = ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": fill_template(template, item)}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if think_start and not text.endswith(think_start):
        text += think_start
    return str(text)


def build_prompts(items: Sequence[EvalItem], tokenizer: Any = None, **options: Any) -> list[str]:
    """:func:`build_prompt` for every item (same options)."""
    return [build_prompt(item, tokenizer, **options) for item in items]
