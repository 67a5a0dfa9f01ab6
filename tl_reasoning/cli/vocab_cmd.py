"""``tl-reasoning vocab``: mine a reasoning vocabulary from two corpora, or show a vocabulary's token ids.

``vocab mine`` ranks words by p_reasoning − p_plain (paper §3.1) and writes the ranked list with
frequencies (CSV or JSON, loadable with ``--vocab FILE``); ``vocab show`` prints how each word's
variants tokenize for a model, so multi-token words and missing variants are visible.
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import Any

from tl_reasoning.cli.argtypes import positive_int, probability


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("vocab", help="mine or show a reasoning vocabulary",
                            description="Mine a reasoning vocabulary from corpora, or show its token-id expansion.")
    vsub = parser.add_subparsers(dest="vocab_command", metavar="SUBCOMMAND", required=True)

    mine = vsub.add_parser("mine", help="rank words by p_reasoning − p_plain",
                           description="Rank words (and n-grams) by their frequency in --reasoning minus their "
                           "frequency in --plain, drop words frequent in --plain (rarity filter), keep the top K.")
    mine.add_argument("--reasoning", required=True, help="reasoning corpus (organism:reasoning, a file, a dir)")
    mine.add_argument("--plain", required=True, help="plain corpus to contrast with (organism:plain, a file, a dir)")
    mine.add_argument("--top", type=positive_int, default=30, help="words selected (default 30)")
    mine.add_argument("--max-plain-freq", type=probability, default=0.01,
                      help="rarity filter: drop words above this relative frequency in --plain (default 0.01)")
    mine.add_argument("--min-count", type=positive_int, default=5, help="minimum count in --reasoning (default 5)")
    mine.add_argument("--max-ngram", type=positive_int, default=2, help="longest word n-gram, e.g. 2 for 'let me' (default 2)")
    mine.add_argument("--max-docs", type=positive_int, help="documents read per corpus")
    mine.add_argument("--text-field", default="text", help="text field of JSONL/parquet/datasets rows")
    mine.add_argument("--all", action="store_true", help="write every ranked word, not only the selected ones")
    mine.add_argument("--out", required=True, help="output .csv or .json")
    mine.set_defaults(run=run_mine)

    show = vsub.add_parser("show", help="show how a vocabulary tokenizes for a model",
                           description="Print every word group's variants and their token ids for --model's tokenizer.")
    show.add_argument("--model", required=True, help="registered name, local HF directory or Hub id")
    show.add_argument("--vocab", help="comma-separated words or a file; default: the paper's 10 words")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(run=run_show)


def run_mine(args: argparse.Namespace) -> int:
    from tl_reasoning.scoring.collect import texts_of
    from tl_reasoning.vocab.mining import mine_vocabulary, save_mined_vocabulary

    def texts(spec: str) -> Any:
        return itertools.islice(texts_of(spec, args.text_field), args.max_docs)

    table = mine_vocabulary(texts(args.reasoning), texts(args.plain), top_k=args.top,
                            max_plain_freq=args.max_plain_freq, min_count=args.min_count, max_ngram=args.max_ngram)
    path = save_mined_vocabulary(table, args.out, selected_only=not args.all)
    chosen = table[table["selected"]]
    cols = ["rank", "word", "p_reasoning", "p_plain", "diff", "count_reasoning", "count_plain"]
    print(chosen[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\n{len(chosen)} words selected of {len(table)} candidates ({int(table['common'].sum())} dropped as "
          f"common in the plain corpus); wrote {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tl_reasoning.vocab.expand import expand_vocabulary

    tokenizer = _tokenizer(args.model)
    expanded = expand_vocabulary(args.vocab, tokenizer)
    if args.json:
        print(json.dumps(expanded.to_json(), indent=2))
        return 0
    for group, word in enumerate(expanded.words):
        print(f"{word}")
        for v in expanded.for_group(group):
            pieces = " ".join(repr(tokenizer.decode([i])) for i in v.ids)
            print(f"    {v.text!r:>18} -> {list(v.ids)}  {pieces}")
    n_multi = sum(len(v.ids) > 1 for v in expanded.variants)
    print(f"\n{len(expanded.words)} groups, {len(expanded.variants)} distinct id sequences ({n_multi} multi-token)")
    return 0


def _tokenizer(spec: str) -> Any:
    """The model's tokenizer, without loading the weights when the spec is a directory or Hub id."""
    import warnings

    from tl_reasoning.plugins import backend_for, get_registry

    if spec not in get_registry("model"):
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(spec)
        except (OSError, ValueError):
            pass
    from tl_reasoning.loading.models import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return backend_for(load_model(spec)).tokenizer
