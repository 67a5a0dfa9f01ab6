"""Why small models run on one thread: organism generation time on 1 vs N torch threads, in one run.

Greedy generation of ``--problems`` organism prompts x ``--tokens`` new tokens (one batch, HookedTransformer),
timed alternately on one thread and on ``--threads`` threads (default: torch's default, one per core),
best and mean of ``--repeats``. On a 2-core machine that also runs another job, 4 x 64 tokens took 65 s on 2
threads and 3 s on one; on an idle machine the two are close. This is the measurement behind
:mod:`tl_reasoning.threads`; it is a benchmark, not a test (timings depend on the machine's load).

    python benchmarks/bench_threads.py [--problems 4] [--tokens 64] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

import tl_reasoning as tr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads to compare with one (default: torch's default here)")
    args = parser.parse_args()
    model = tr.load_model("organism", backend="hooked")
    prompts = [item["prompt"] for item in tr.load_benchmark("organism")[: args.problems]]
    times: dict[int, list[float]] = {1: [], args.threads: []}
    for _ in range(args.repeats):
        for threads, seen in times.items():  # alternate, so a change of the machine's load hits both alike
            torch.set_num_threads(threads)
            start = time.perf_counter()
            tr.generate(model, prompts, args.tokens, stop_at_eos=False)
            seen.append(time.perf_counter() - start)
    print(f"organism, {args.problems} x {args.tokens} new tokens, {args.repeats} repeats (stalls show in the mean):")
    for threads, seen in times.items():
        print(f"  {threads} thread(s): best {min(seen):.2f} s, mean {sum(seen) / len(seen):.2f} s")
    ratio = sum(times[args.threads]) / sum(times[1])
    print(f"  {args.threads} threads / 1 thread (mean) = {ratio:.2f}x")


if __name__ == "__main__":
    main()
