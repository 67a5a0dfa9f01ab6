"""Early stopping of batched generation: time with ``stop_at_eos`` vs the full ``max_new_tokens``.

Evaluation cost is conditions × runs × budget; stopping once every row has produced EOS saves the
tail of the budget. Prints both timings on the organism benchmark (greedy, one batch, TL backend and
nnsight backend without edits), their ratio, and checks that the returned tokens are identical.

    python benchmarks/bench_generate.py [--problems 32] [--budget 400] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

import tl_reasoning as tr


def _best(fn, repeats: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = [item["prompt"] for item in tr.load_benchmark("organism")[: args.problems]]
    for backend_name in ("hooked", "nnsight"):
        model = tr.load_model("organism", backend=backend_name)
        backend = tr.backend_for(model)
        batch = backend.tokenize(prompts, padding_side="left")

        def run(stop: bool, backend=backend, batch=batch) -> torch.Tensor:
            out = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=args.budget,
                                   stop_at_eos=stop)
            return backend._blank_after_eos(out, batch.input_ids.shape[1]) if not stop else out

        full_s, full = _best(lambda run=run: run(False), args.repeats)
        early_s, early = _best(lambda run=run: run(True), args.repeats)
        new = early[:, batch.input_ids.shape[1]:]
        used = int((new != backend.pad_token_id).sum(dim=1).max())
        print(f"{backend_name:8s} {args.problems} prompts, budget {args.budget} (longest row {used} tokens): "
              f"full {full_s:.2f} s, early stop {early_s:.2f} s, speed-up ×{full_s / early_s:.2f}, "
              f"identical tokens: {torch.equal(full, early)}")


if __name__ == "__main__":
    main()
