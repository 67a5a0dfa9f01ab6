"""``tl-reasoning plugins``: every plugin, what it registered, and the ones that failed."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

KIND_LABELS = (("scorer", "scorers"), ("intervention", "interventions"), ("visualization", "visualizations"),
               ("explainer", "explainers"),
               ("model", "models"), ("sae", "SAEs"), ("corpus", "corpora"), ("benchmark", "benchmarks"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "plugins", help="list plugins and what they register",
        description="List every tl-reasoning plugin (built-in and installed): distribution, version, what it "
        "registered by kind, and plugins that failed to load with their error. Environment: "
        "TL_REASONING_LOAD_PLUGINS (allowlist), TL_REASONING_BLOCK_PLUGINS (blocklist).",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.plugins import plugin_report

    infos, failures = plugin_report()
    if args.json:
        print(json.dumps({"plugins": [asdict(i) for i in infos], "failed": [asdict(f) for f in failures]}, indent=2))
        return 0
    for info in infos:
        origin = "built-in" if info.builtin else "third-party"
        print(f"{info.name}  ({info.distribution} {info.version}, {origin})")
        shown = False
        for kind, label in KIND_LABELS:
            names = info.registered.get(kind)
            if names:
                print(f"    {label}: {', '.join(names)}")
                shown = True
        if "tl_reasoning_backend" in info.hooks:
            print("    backend adapters (tl_reasoning_backend)")
            shown = True
        if not shown:
            print(f"    hooks: {', '.join(info.hooks) or 'none'} (registered no names)")
    if failures:
        print("\nfailed plugins:")
        for failure in failures:
            print(f"  {failure.name}  ({failure.distribution}) at {failure.stage}: {failure.error}")
    return 0
