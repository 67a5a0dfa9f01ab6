"""``tl-reasoning figures``: the paper's figures as PNG files, for whatever data is given."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tl_reasoning.cli.argtypes import positive_int


def add_parser(sub: Any) -> None:
    p = sub.add_parser("figures", help="write the paper's figures (PNG) for the data given",
                       description="score_distribution.png from --scores, vocab_frequency.png from "
                                   "--reasoning/--plain, steering.png from --steering CSV, "
                                   "diff_presence.png from --presence CSV (stage,fraction).")
    p.add_argument("--scores", default=None, help="directory written by `tl-reasoning score`")
    p.add_argument("--reasoning", default=None, help="reasoning corpus for the vocabulary figure")
    p.add_argument("--plain", default=None, help="plain corpus for the vocabulary figure")
    p.add_argument("--max-docs", type=positive_int, default=2000, help="documents per corpus for the vocabulary")
    p.add_argument("--steering", default=None, help="CSV: strength, accuracy, thinking_tokens[, feature]")
    p.add_argument("--presence", default=None, help="CSV: stage, fraction")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import itertools

    import pandas as pd

    from tl_reasoning import figures
    from tl_reasoning.scoring.outputs import check_output_dir

    out = check_output_dir(args.out)  # before any compute
    written: list[Path] = []
    if args.scores:
        from tl_reasoning.dashboard import load_scores

        table, meta, _ = load_scores(args.scores)
        q = float(meta.get("scoring", {}).get("quantile", 0.997))
        written.append(figures.save_png(figures.score_distribution_plot(table, q), out / "score_distribution.png"))
    if bool(args.reasoning) != bool(args.plain):
        raise ValueError("the vocabulary figure needs both --reasoning and --plain")
    if args.reasoning:
        from tl_reasoning.corpora import iter_texts, load_corpus
        from tl_reasoning.vocab import mine_vocabulary

        def texts(spec: str) -> list[str]:
            return list(itertools.islice(iter_texts(load_corpus(spec)), args.max_docs))

        mined = mine_vocabulary(texts(args.reasoning), texts(args.plain), top_k=40)
        written.append(figures.save_png(figures.vocab_frequency_plot(mined), out / "vocab_frequency.png"))
    if args.steering:
        written.append(figures.save_png(figures.steering_results_plot(pd.read_csv(args.steering)),
                                        out / "steering.png"))
    if args.presence:
        frame = pd.read_csv(args.presence)
        fractions = dict(zip(frame.iloc[:, 0].astype(str), frame.iloc[:, 1], strict=True))
        written.append(figures.save_png(figures.diff_presence_plot(fractions), out / "diff_presence.png"))
    if not written:
        raise ValueError("no data given: pass --scores, --reasoning/--plain, --steering or --presence")
    for path in written:
        print(path)
    print(f"wrote {len(written)} figures to {out}", file=sys.stderr)
    return 0
