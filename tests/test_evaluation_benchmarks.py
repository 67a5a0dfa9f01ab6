"""Benchmark loaders on fixture files in the published formats, and think-format prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tl_reasoning.evaluation.benchmarks import EvalItem, detect_format, load_eval_benchmark
from tl_reasoning.evaluation.prompting import PROMPT_TEMPLATES, build_prompt, has_chat_template

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


def test_aime_published_format():
    items = load_eval_benchmark(FIXTURES / "aime_2024.jsonl")
    assert [i.id for i in items] == ["2024-I-1", "2024-I-2", "2024-II-3"]
    assert items[0].answer == "91" and items[0].answer_type == "integer" and items[0].benchmark == "aime"
    assert "rectangle" in items[0].question and items[0].meta["Solution"].startswith("The area")
    assert "Problem" not in items[0].meta and "Answer" not in items[0].meta


def test_aime_lowercase_columns_and_leading_zeros():
    items = load_eval_benchmark(FIXTURES / "aime_lowercase.json")
    assert [(i.id, i.answer) for i in items] == [("60", "55"), ("61", "144")]
    assert items[0].meta["url"].startswith("https://")


def test_math500_format():
    items = load_eval_benchmark(FIXTURES / "math500.jsonl")
    assert [i.id for i in items][:1] == ["test/prealgebra/1.json"]
    assert all(i.answer_type == "math" and i.benchmark == "math500" for i in items)
    assert items[1].answer == r"\left( 3, \frac{\pi}{2} \right)"
    assert items[2].meta["subject"] == "Geometry" and items[2].meta["level"] == 2


def test_gpqa_options_shuffled_deterministically_with_gold_letter():
    items = load_eval_benchmark(FIXTURES / "gpqa_diamond.csv")
    again = load_eval_benchmark(FIXTURES / "gpqa_diamond.csv")
    assert [i.choices for i in items] == [i.choices for i in again]
    for item in items:
        assert item.answer_type == "choice" and item.benchmark == "gpqa" and len(item.choices) == 4
        gold = item.choices["ABCD".index(item.answer)]
        assert gold == item.meta["correct_answer"]
        assert f"{item.answer}) {gold}" in item.question
        assert item.question.startswith(item.meta["Pre-Revision Question"][:10])
    assert items[1].choices.count("0, since it is neutral") == 1  # a quoted comma survives the CSV
    other_seed = load_eval_benchmark(FIXTURES / "gpqa_diamond.csv", seed=1)
    assert [i.choices for i in other_seed] != [i.choices for i in items]  # the seed is what fixes the order
    assert len({i.answer for i in load_eval_benchmark(FIXTURES / "gpqa_diamond.csv", seed=3)}) >= 1


def test_gpqa_parquet_and_directory(tmp_path):
    import pandas as pd

    frame = pd.read_csv(FIXTURES / "gpqa_diamond.csv")
    frame.to_parquet(tmp_path / "gpqa_diamond.parquet")
    from_parquet = load_eval_benchmark(tmp_path / "gpqa_diamond.parquet")
    from_csv = load_eval_benchmark(FIXTURES / "gpqa_diamond.csv")
    assert [i.to_json() for i in from_parquet] == [i.to_json() for i in from_csv]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jsonl").write_text((FIXTURES / "math500.jsonl").read_text())
    (folder / "notes.txt").write_text("ignored")
    assert len(load_eval_benchmark(folder, limit=2)) == 2


def test_json_object_with_rows_and_format_override(tmp_path):
    rows = [{"problem": "1+1?", "answer": "2", "id": "a"}]
    (tmp_path / "b.json").write_text(json.dumps({"data": rows}))
    assert load_eval_benchmark(tmp_path / "b.json")[0].answer_type == "integer"  # detected as AIME
    forced = load_eval_benchmark(tmp_path / "b.json", format="math500")[0]
    assert forced.answer_type == "math" and forced.benchmark == "math500"


def test_unknown_columns_error_lists_columns_and_formats():
    with pytest.raises(ValueError) as err:
        load_eval_benchmark(FIXTURES / "unknown_columns.jsonl")
    message = str(err.value)
    assert "['query', 'target']" in message
    for fmt in ("gpqa", "math500", "aime", "organism"):
        assert fmt in message
    assert "format=" in message


def test_bad_files_and_wrong_forced_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a registered name"):
        load_eval_benchmark(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_eval_benchmark(broken)
    with pytest.raises(ValueError, match="not in the gpqa format"):
        load_eval_benchmark(FIXTURES / "aime_2024.jsonl", format="gpqa")
    with pytest.raises(ValueError, match="limit"):
        load_eval_benchmark(FIXTURES / "aime_2024.jsonl", limit=0)


def test_registered_organism_benchmark():
    items = load_eval_benchmark("organism", limit=3)
    assert len(items) == 3 and len({i.id for i in items}) == 3
    for item in items:
        assert item.answer_type == "integer" and item.benchmark == "organism"
        assert item.prompt is not None and item.question in item.prompt
        int(item.answer)


def test_detect_format_and_records():
    assert detect_format(["ID", "Problem", "Solution", "Answer"]) == "aime"
    assert detect_format(["problem", "solution", "answer", "subject", "level", "unique_id"]) == "math500"
    assert detect_format(["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                          "Incorrect Answer 3", "Record ID"]) == "gpqa"
    items = load_eval_benchmark([{"question": "What is 2 + 2?", "answer": 4}], format="organism")
    assert items[0].answer == "4" and EvalItem.from_json(items[0].to_json()) == items[0]


# -- prompting ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def organism_tokenizer():
    from transformers import AutoTokenizer

    from tl_reasoning.organism import model_dir

    return AutoTokenizer.from_pretrained(model_dir("organism"))


def test_raw_prompt_without_chat_template(organism_tokenizer):
    item = load_eval_benchmark("organism", limit=1)[0]
    assert not has_chat_template(organism_tokenizer)
    assert build_prompt(item, organism_tokenizer) == item.prompt
    aime = load_eval_benchmark(FIXTURES / "aime_2024.jsonl", limit=1)[0]
    text = build_prompt(aime, organism_tokenizer)
    assert text.startswith("Please reason step by step, and put your final answer within \\boxed{}.")
    assert aime.question in text


def test_chat_template_think_format(organism_tokenizer):
    import copy

    tok = copy.deepcopy(organism_tokenizer)
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}")
    gpqa = load_eval_benchmark(FIXTURES / "gpqa_diamond.csv", limit=1)[0]
    text = build_prompt(gpqa, tok)
    assert text.startswith("<|user|>Answer the following multiple choice question.")
    assert "where LETTER is one of ABCD" in text and gpqa.question in text
    assert text.endswith("<|assistant|><think>\n")
    organism = load_eval_benchmark("organism", limit=1)[0]
    assert build_prompt(organism, tok, chat=False) == organism.prompt
    custom = build_prompt(organism, tok, templates={"integer": "Solve: {problem}"}, system="Be brief.")
    assert custom == f"<|system|>Be brief.<|user|>Solve: {organism.question}<|assistant|><think>\n"
    with pytest.raises(ValueError, match="no chat template"):
        build_prompt(organism, organism_tokenizer, chat=True)
    with pytest.raises(ValueError, match="placeholder"):
        build_prompt(organism, tok, templates={"integer": "no placeholder"})
    assert "{problem}" in PROMPT_TEMPLATES["math"]
