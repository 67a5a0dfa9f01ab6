"""Vocabulary: defaults, user forms, token-id expansion, matching with word boundaries, mining."""

from __future__ import annotations

import json

import pytest
import torch

from tl_reasoning.vocab import (
    DEFAULT_WORDS,
    ExpandedVocabulary,
    TokenEdges,
    Vocabulary,
    expand_vocabulary,
    load_vocabulary,
    match_words,
    mine_vocabulary,
    save_mined_vocabulary,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_default_vocabulary_is_the_papers_ten_words_with_variants():
    vocab = load_vocabulary(None)
    assert vocab.words == list(DEFAULT_WORDS) and len(vocab.words) == 10
    assert vocab.groups["let me"] == ["let me", " let me", "Let me", " Let me"]
    assert vocab.groups["but"] == ["but", " but", "But", " But"]  # the official code missed " But"


def test_user_vocabulary_forms(tmp_path):
    assert load_vocabulary("wait, Hmm ,let me").words == ["wait", "hmm", "let me"]
    assert load_vocabulary(["Wait", "wait"]).groups == {"wait": ["Wait", " Wait", "wait", " wait"]}
    assert load_vocabulary({"so": ["So", " so"]}).groups == {"so": ["So", " so"]}
    (tmp_path / "v.txt").write_text("# reasoning words\nwait\n\nlet me\n")
    assert load_vocabulary(str(tmp_path / "v.txt")).words == ["wait", "let me"]
    (tmp_path / "v.json").write_text(json.dumps(["hmm", "but"]))
    assert load_vocabulary(tmp_path / "v.json").words == ["hmm", "but"]
    (tmp_path / "g.json").write_text(json.dumps({"doubt": ["hmm", "Hmm"]}))
    assert load_vocabulary(str(tmp_path / "g.json")).groups == {"doubt": ["hmm", "Hmm"]}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vocabulary(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="names no words"):
        load_vocabulary(" , ")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_vocabulary(str(tmp_path / "bad.json"))


def test_expansion_tokenizes_each_variant_and_dedupes(tokenizer):
    expanded = expand_vocabulary({"but": ["but", "but", " but"], "let me": ["let me"]}, tokenizer)
    assert expanded.words == ["but", "let me"]
    but = expanded.for_group(0)
    assert [v.ids for v in but] == [tuple(tokenizer("but", add_special_tokens=False)["input_ids"]),
                                    tuple(tokenizer(" but", add_special_tokens=False)["input_ids"])]
    assert [v.leading_space for v in but] == [False, True]
    assert len(expanded.for_group(1)[0].ids) == 2  # a multi-token phrase
    assert ExpandedVocabulary.from_json(expanded.to_json()).variants == expanded.variants


def _marked_text(tokenizer, text, vocab, boundary):
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    marks = match_words(ids, torch.ones_like(ids, dtype=torch.bool), vocab,
                        TokenEdges(tokenizer) if boundary else None)
    return [tokenizer.decode(ids[0, marks[0, :, g]].tolist()) for g in range(vocab.n_groups)]


def test_word_boundary_rejects_matches_inside_words(tokenizer):
    vocab = expand_vocabulary(["but"], tokenizer)
    assert _marked_text(tokenizer, "butter but", vocab, boundary=True) == [" but"]
    assert _marked_text(tokenizer, "butter but", vocab, boundary=False) == ["but but"]  # 'but' inside 'butter'
    assert _marked_text(tokenizer, "abut", vocab, boundary=True) == [""]
    assert _marked_text(tokenizer, "abut", vocab, boundary=False) == ["but"]
    assert _marked_text(tokenizer, "but, then", vocab, boundary=True) == ["but"]  # punctuation is a boundary


def test_multi_token_phrase_marks_all_its_tokens(tokenizer):
    vocab = expand_vocabulary(["let me"], tokenizer)
    assert _marked_text(tokenizer, "wait, let me check", vocab, boundary=True) == [" let me"]


def test_matches_never_include_invalid_tokens(tokenizer):
    vocab = expand_vocabulary(["let me"], tokenizer)
    ids = torch.tensor([tokenizer("let me", add_special_tokens=False)["input_ids"]])
    valid = torch.tensor([[True, False]])
    assert not match_words(ids, valid, vocab, TokenEdges(tokenizer)).any()


def test_mining_ranks_reasoning_words_and_drops_common_ones(tmp_path):
    reasoning = ["wait let me see the answer", "hmm wait the sum is wrong", "let me check the sum again wait"] * 5
    plain = ["the cat sat on the mat", "the sum of two numbers is the answer", "a dog ran to the park"] * 5
    table = mine_vocabulary(reasoning, plain, top_k=3, max_plain_freq=0.05, min_count=3, max_ngram=2)
    chosen = table[table["selected"]]["word"].tolist()
    assert chosen[0] == "wait" and "let me" in chosen and len(chosen) == 3
    the = table[table["word"] == "the"].iloc[0]
    assert bool(the["common"]) and not bool(the["selected"])
    wait = table[table["word"] == "wait"].iloc[0]
    assert wait["p_reasoning"] == pytest.approx(15 / wait_total(reasoning)) and wait["p_plain"] == 0
    for suffix in ("csv", "json"):
        path = save_mined_vocabulary(table, tmp_path / f"mined.{suffix}")
        assert load_vocabulary(str(path)).words == chosen


def wait_total(texts):
    return sum(len(t.split()) for t in texts)


def test_vocabulary_rejects_empty_groups():
    with pytest.raises(ValueError, match="group 'x'"):
        Vocabulary({"x": []})
