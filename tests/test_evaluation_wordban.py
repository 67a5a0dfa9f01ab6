"""Logits edits and the word ban on the three backends (tiny random model).

Tokens are *forced* by a first logits processor (a large bonus at chosen steps) so that the test
knows what the model would emit: a banned token forced while thinking must not appear, the same
token forced after ``</think>`` must.
"""

from __future__ import annotations

import pytest
import torch

from tl_reasoning import backend_for
from tl_reasoning.evaluation.logits import add_logits_processor, logits_processor
from tl_reasoning.evaluation.wordban import (
    WordBan,
    add_word_ban,
    ban_logits_fn,
    ban_sequences,
    random_word_bans,
    thinking_word_distribution,
    word_ban,
)

PROMPTS = ["the cat sat", "wait, let me check 12"]
STEPS = 14
WORDS = ["cat", "sat", "let me", "therefore"]


def _plan(backend):
    """Banned sequences, a single-token and a multi-token one, and a </think> id outside them."""
    sequences = ban_sequences(WORDS, backend.tokenizer, backend.special_token_ids)
    single = next(s for s in sequences if len(s) == 1)
    singles = {s[0] for s in sequences if len(s) == 1}
    multi = next(s for s in sequences if len(s) > 1 and not singles.intersection(s[:-1]))
    banned = {t for s in sequences for t in s}
    think_end = next(i for i in range(len(backend.tokenizer) - 1, 0, -1)
                     if i not in banned and i not in backend.special_token_ids)
    return sequences, single[0], multi, think_end


def _forcing(prompt_len, schedule):
    """A logits function adding +1e4 to ``schedule[step]`` at the logits choosing generated token ``step``."""

    def fn(logits, positions, input_ids):
        out = logits.clone()
        for step, token in schedule.items():
            hit = positions == prompt_len - 1 + step
            if bool(hit.any()):
                out[:, hit, token] += 1e4
        return out

    return fn


def _generate(backend, batch, steps=STEPS):
    out = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=steps)
    return out[:, batch.input_ids.shape[1]:]


def _run_forced(model, single, multi, think_end, ban=True):
    backend = backend_for(model)
    batch = backend.tokenize(PROMPTS, padding_side="left")
    schedule = {1: single}  # while thinking: banned
    for k, token in enumerate(multi):  # multi-token word while thinking: its last token is banned
        schedule[3 + k] = token
    schedule[3 + len(multi) + 1] = think_end
    after = 3 + len(multi) + 2
    schedule[after] = single  # after </think>: free again
    for k, token in enumerate(multi):
        schedule[after + 1 + k] = token
    with logits_processor(model, _forcing(batch.input_ids.shape[1], schedule)):
        if not ban:
            return _generate(backend, batch), schedule
        with word_ban(model, WordBan(WORDS), think_end=think_end):
            return _generate(backend, batch), schedule


def test_word_ban_thinking_only_on_every_backend(models):
    backend = backend_for(models["hooked"])
    sequences, single, multi, think_end = _plan(backend)
    outputs = {}
    for name, model in models.items():
        free, schedule = _run_forced(model, single, multi, think_end, ban=False)
        banned, _ = _run_forced(model, single, multi, think_end)
        after = 3 + len(multi) + 2
        for row in range(len(PROMPTS)):
            assert free[row, 1] == single and banned[row, 1] != single, name  # forced but banned while thinking
            assert free[row, 3 + len(multi) - 1] == multi[-1]
            assert banned[row, 3 + len(multi) - 1] != multi[-1]  # last token of the word right after its prefix
            tokens = banned[row].tolist()
            end = tokens.index(think_end)
            thinking = tokens[:end]
            for seq in sequences:
                n = len(seq)
                assert all(tuple(thinking[i:i + n]) != tuple(seq) for i in range(len(thinking) - n + 1)), (name, seq)
            assert tokens[after] == single  # after </think> the word is free again
            assert tokens[after + 1: after + 1 + len(multi)] == list(multi)
        outputs[name] = banned
        b = backend_for(model)
        assert not b.logits_edits and not b.token_observers
    assert torch.equal(outputs["hooked"], outputs["bridge"]) and torch.equal(outputs["hooked"], outputs["nnsight"])


def test_prefix_context_decides_multi_token_bans():
    fn = ban_logits_fn([(5,), (7, 8), (1, 2, 3)])
    logits = torch.zeros(2, 3, 10)
    ids = torch.tensor([[0, 7, 9, 1, 2], [7, 1, 2, 0, 0]])
    out = fn(logits, torch.tensor([1, 3, 4]), ids)
    assert torch.isinf(out[..., 5]).all()
    assert out[0, 0, 8] == float("-inf") and out[0, 1, 8] == 0 and out[1, 0, 8] == 0  # after 7 only
    assert out[0, 2, 3] == float("-inf") and out[1, 0, 3] == 0  # after 1, 2 only
    assert out[1, 2, 3] == 0 and out[1, 1, 3] == 0


def test_nothing_left_installed_after_an_exception(models):
    backend = backend_for(models["hooked"])
    _, _, _, think_end = _plan(backend)
    batch = backend.tokenize(PROMPTS, padding_side="left")
    reference = {name: _generate(backend_for(m), batch, 4) for name, m in models.items()}

    def boom(logits, positions, input_ids):
        raise RuntimeError("boom in a logits processor")

    for name, model in models.items():
        b = backend_for(model)
        with pytest.raises(RuntimeError, match="boom"), logits_processor(model, boom):
            _generate(b, batch, 4)
        with pytest.raises(KeyError), word_ban(model, WordBan(WORDS), think_end=think_end):
            raise KeyError("inside the block")
        assert not b.logits_edits and not b.token_observers and not b.edits, name
        if name != "nnsight":
            assert not b.model.hook_dict["unembed.hook_out"]._forward_hooks
            assert not b.model.embed._forward_pre_hooks
        assert torch.equal(_generate(b, batch, 4), reference[name]), name


def test_handles_remove_idempotently_and_all_positions(models):
    model = models["hooked"]
    b = backend_for(model)
    _, single, _, think_end = _plan(b)
    handle = add_word_ban(model, WordBan(WORDS, positions="all"), think_end=think_end)
    logits = b.forward(b.tokenize(PROMPTS[:1]).input_ids)
    assert torch.isinf(logits[..., single]).all()  # banned at every position under "all"
    handle.remove()
    handle.remove()
    assert not handle.active and not b.logits_edits
    with pytest.raises(ValueError, match="not a single token|tokens for this tokenizer"):
        add_logits_processor(model, lambda x, p, i: x, positions="thinking", think_end="</think>")
    assert not b.logits_edits and not b.token_observers


def test_random_word_bans_sample_from_thinking_text():
    texts = ["Question: what?\n<think>\nthe carry is one, so the sum is big; wait, maybe check the carry\n</think>\n"
             "Answer: 3"] * 3
    counts = thinking_word_distribution(texts)
    assert counts["carry"] == 6 and "answer" not in counts and "question" not in counts
    bans = random_word_bans(texts, n_words=3, n_runs=4, seed=0)
    assert len(bans) == 4 and all(len(b.words) == 3 and len(set(b.words)) == 3 for b in bans)
    for ban in bans:
        assert not {"wait", "maybe", "so", "is"} & set(ban.words)  # reasoning words and short words excluded
        assert ban.positions == "thinking"
    assert random_word_bans(texts, 3, 4, seed=0) == bans
    with pytest.raises(ValueError, match="eligible words"):
        random_word_bans(texts, n_words=50)
