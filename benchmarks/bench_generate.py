"""Steered batched generation vs plain Hugging Face ``generate``: tokens/s and their ratio.

The demo's cost is steered generation (conditions × runs × problems × budget), so its speed is the
demo's speed. This benchmark loads the shipped organism twice — as a plain ``transformers`` model
from its HF weights and through ``tl_reasoning.load_model`` — and times, on the same batch of
benchmark prompts (left-padded), greedy, KV cache on, exactly ``--budget`` new tokens per row (EOS
ignored on both sides so every configuration does the same work):

* ``hf``: ``AutoModelForCausalLM.generate`` (the reference);

and for each backend of ``--backends`` (default ``auto``, the demo's, and ``nnsight``):

* ``<backend> plain``: :func:`tl_reasoning.generate` without steering (backend overhead alone);
* ``<backend> steered all``: one SAE feature added at every position (the demo's setting);
* ``<backend> steered thinking``: the same, only inside the thinking section (adds the token tracker).

The configurations are interleaved within each repeat (so background load hits all alike) and the
median over ``--repeats`` is reported. The ratio ``steered / hf`` is the number to watch (aim
≥ 0.8×). ``--profile`` prints where a steered run spends its time (cProfile, cumulative).
Works on any organism version (it reads sizes from the loaded model).

    python benchmarks/bench_generate.py [--problems 32] [--budget 128] [--repeats 5] [--threads N]
        [--backends auto,nnsight] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import tl_reasoning as tr


def _hf_model(name: str) -> tuple[Any, Any]:
    """The organism as a plain ``transformers`` model (eval mode, EOS never stops generation)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tl_reasoning.organism import model_dir

    path = model_dir(name)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    return model, tok


def _steering(sae: Any, positions: str) -> Any:
    from tl_reasoning.steering import feature_steering

    return feature_steering(sae, [0], strength=2.0, f_max=1.0, positions=positions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="organism")
    parser.add_argument("--problems", type=int, default=32, help="batch size (benchmark prompts)")
    parser.add_argument("--budget", type=int, default=128, help="new tokens per row")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--backends", default="auto,nnsight",
                        help="comma-separated tl_reasoning backends to time (auto = the demo's default)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one steered run of the first backend and print the top entries")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    prompts = [item["prompt"] for item in tr.load_benchmark("organism")[: args.problems]]
    sae = tr.load_sae(args.model)
    models = {name: tr.load_model(args.model, backend=name) for name in args.backends.split(",") if name}
    backends = {name: tr.backend_for(m) for name, m in models.items()}
    first = next(iter(backends.values()))
    batch = first.tokenize(prompts, padding_side="left")
    hf, _ = _hf_model(args.model)
    ids, mask = batch.input_ids.cpu(), batch.attention_mask.cpu()
    n_layers = getattr(hf.config, "num_hidden_layers", "?")
    d_model = getattr(hf.config, "hidden_size", "?")
    kinds = ", ".join(f"{name} → {b.kind}" for name, b in backends.items())
    print(f"{args.model}: {n_layers} layers, d_model {d_model}; backends {kinds}; batch {len(prompts)} "
          f"(prompt {ids.shape[1]} tokens, left-padded), {args.budget} new tokens per row, greedy, KV cache; "
          f"torch threads {torch.get_num_threads()}")

    def hf_run() -> torch.Tensor:
        with torch.no_grad():
            return hf.generate(ids, attention_mask=mask, max_new_tokens=args.budget, min_new_tokens=args.budget,
                               do_sample=False, pad_token_id=first.pad_token_id, use_cache=True)

    def tlr(model: Any, steering: Any) -> Callable[[], Any]:
        return lambda: tr.generate(model, prompts, max_new_tokens=args.budget, steering=steering, stop_at_eos=False)

    runs: dict[str, Callable[[], Any]] = {"hf": hf_run}
    for name, model in models.items():
        runs[f"{name} plain"] = tlr(model, None)
        runs[f"{name} steered all"] = tlr(model, _steering(sae, "all"))
        runs[f"{name} steered thinking"] = tlr(model, _steering(sae, "thinking"))
    for fn in runs.values():  # warm-up: first-call allocations and lazy imports
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    # the same greedy tokens as HF (unsteered) up to each row's first EOS (after it HF's
    # min_new_tokens forbids EOS, so the rows may differ there), so the comparison is on equal work
    reference = hf_run()[:, ids.shape[1]:].tolist()
    same = {}
    for name, backend in backends.items():
        eos = backend.eos_token_id
        ours = [g.tokens[: g.tokens.index(eos)] if eos in g.tokens else g.tokens for g in runs[f"{name} plain"]()]
        same[name] = ours == [row[: len(mine)] for row, mine in zip(reference, ours, strict=True)]
    n_tokens = len(prompts) * args.budget
    median = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'configuration':28s} {'median s':>9s} {'tokens/s':>9s} {'vs hf':>7s}   (all {args.repeats} runs, s)")
    for name, seconds in median.items():
        runs_text = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:28s} {seconds:9.2f} {n_tokens / seconds:9.0f} {median['hf'] / seconds:6.2f}×   {runs_text}")
    for name in models:
        ratio = median["hf"] / median[f"{name} steered all"]
        print(f"{name} ({backends[name].kind}): steered (all positions) / plain HF generate = {ratio:.2f}× "
              f"(aim ≥ 0.8×); greedy tokens identical to HF up to EOS: {same[name]}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        runs[f"{next(iter(models))} steered all"]()
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        print(text.getvalue())


if __name__ == "__main__":
    main()
