"""load_corpus on local files; clear errors for bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tl_reasoning import load_corpus
from tl_reasoning.corpora import iter_texts


def test_text_file_one_document_per_line(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("first doc\n\nsecond, but plain\n")
    docs = list(load_corpus(path))
    assert [d["text"] for d in docs] == ["first doc", "second, but plain"]
    assert list(load_corpus(path)) == docs  # re-iterable


def test_jsonl_with_text_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"doc {i}", "id": i}) for i in range(3)))
    docs = list(load_corpus(path, text_field="body"))
    assert [d["text"] for d in docs] == ["doc 0", "doc 1", "doc 2"] and docs[1]["id"] == 1
    with pytest.raises(KeyError, match="no 'text' field"):
        list(load_corpus(path))


def test_bad_json_line_is_located(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(load_corpus(path))


def test_parquet_and_datasets_dir(tmp_path):
    from datasets import Dataset

    pd.DataFrame({"text": ["a", "b"]}).to_parquet(tmp_path / "d.parquet")
    assert [d["text"] for d in load_corpus(tmp_path / "d.parquet")] == ["a", "b"]
    Dataset.from_dict({"text": ["x", "y", "z"]}).save_to_disk(str(tmp_path / "ds"))
    assert list(iter_texts(load_corpus(tmp_path / "ds"))) == ["x", "y", "z"]


def test_unknown_corpus_lists_registered():
    with pytest.raises(FileNotFoundError, match="organism:reasoning"):
        load_corpus("nowhere.txt")
