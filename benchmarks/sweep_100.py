"""Time the issue's 100-configuration grid of notebook 05's exercise 2, on local processes or a Dask LocalCluster.

The grid (5 x 5 x 4 = 100 configurations, as in published answers to the exercise)::

    {"num_steps": [8, 16, 32, 64, 128], "num_hiddens": [8, 16, 32, 64, 128], "lr": [0.01, 0.1, 1, 10]}

Each configuration is what the notebook's exercise 2 runs for one setting:
``nn.GRU`` on the first 10,000 characters, batch 32, ``--epochs`` epochs of
``train_ch8`` (100, as the notebook's grid), held-out perplexity every 10
epochs on the next 10,000 characters, and a 50-character sample.

Usage::

    python benchmarks/sweep_100.py --executor local            # loky, one worker per core
    python benchmarks/sweep_100.py --executor dask             # LocalCluster(n_workers=2, threads_per_worker=1)
    python benchmarks/sweep_100.py --executor local --cache sweep100.jsonl
    python benchmarks/sweep_100.py --executor local --out docs/sweep_100.json

``--out`` records the run in a small JSON file (``docs/sweep_100.json`` is the
committed one): under the executor's name, the wall time, the worker time and
each configuration's final, held-out and best held-out perplexity with its
time. Each executor's run replaces only its own entry, so running ``local``
and then ``dask`` leaves both, and a ``comparison`` entry then says whether
the final perplexities agree (and by how much at most).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

from torch import nn

import d2l_helpers as d2l

GRID = {"num_steps": [8, 16, 32, 64, 128], "num_hiddens": [8, 16, 32, 64, 128], "lr": [0.01, 0.1, 1, 10]}


def experiment(num_steps, num_hiddens, lr, num_epochs=100):
    """One setting, as notebook 05 trains it: final and held-out perplexity, speed, a sample."""
    d2l.set_seed(0)
    train_iter, vocab = d2l.load_data_time_machine(32, num_steps)
    heldout_iter, _ = d2l.load_heldout_time_machine(32, num_steps)
    net = d2l.RNNModel(nn.GRU(len(vocab), num_hiddens), len(vocab))
    with contextlib.redirect_stdout(io.StringIO()):
        history = d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, "cpu", heldout_iter=heldout_iter, plot="off")
    return {
        "perplexity": history.perplexity[-1],
        "held-out": history.heldout_perplexity[-1],
        "best held-out": min(history.heldout_perplexity),
        "tokens/s": sum(history.tokens_per_sec) / len(history.tokens_per_sec),
        "sample": d2l.predict_ch8("time traveller", 50, net, vocab, "cpu"),
    }


def run_record(results, executor, epochs, wall, load_before):
    """What one executor's run leaves in the results file: timings and each configuration's perplexities."""
    keep = ("perplexity", "held-out", "best held-out", "tokens/s")
    return {
        "epochs": epochs,
        "wall_s": round(wall, 1),
        # 1-minute load average when the run started and when it ended: a busy machine explains slow timings
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "worker_s": round(sum(r.seconds or 0 for r in results), 1),
        "failed": len(results.failed),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "configurations": [
            {
                **r.params,
                **{k: r.metrics.get(k) for k in keep},
                "seconds": None if r.seconds is None else round(r.seconds, 2),
                "status": r.status,
            }
            for r in results
        ],
    }


def compare(runs):
    """Whether two executors' runs gave the same final perplexities: the largest relative difference.

    Configurations are matched by their parameters; the difference is relative to the larger of the two values.
    """
    names = sorted(k for k in runs if k in ("local", "dask", "serial"))
    if len(names) < 2:
        return None
    a, b = (runs[n]["configurations"] for n in names[:2])
    key = ("num_steps", "num_hiddens", "lr", "num_epochs")
    by_params = {tuple(c[k] for k in key): c["perplexity"] for c in b}
    diffs = []
    for c in a:
        other = by_params.get(tuple(c[k] for k in key))
        if other is None or c["perplexity"] is None or not math.isfinite(c["perplexity"] or math.nan):
            continue
        diffs.append(abs(c["perplexity"] - other) / max(abs(c["perplexity"]), abs(other)))
    return {
        "executors": names[:2],
        "configurations_compared": len(diffs),
        "max_relative_difference": max(diffs) if diffs else None,
        "identical": bool(diffs) and max(diffs) == 0.0,
    }


def write_out(path, record, executor):
    """Replace this executor's entry in the JSON file at ``path`` (kept as data: only json.load reads it)."""
    path = Path(path)
    runs = {}
    if path.is_file():
        runs = json.loads(path.read_text())
        if not isinstance(runs, dict):
            raise SystemExit(f"--out {path}: not a results file written by this script (expected a JSON object)")
    runs[executor] = record
    runs["comparison"] = compare(runs)
    tmp = path.with_suffix(path.suffix + ".tmp")  # write whole, then rename: never a half-written file
    tmp.write_text(json.dumps(runs, indent=1) + "\n")
    tmp.replace(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=["local", "dask", "serial"], default="local")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--cache", default=None)
    parser.add_argument("--out", default=None, help="JSON file to record this run in (e.g. docs/sweep_100.json)")
    args = parser.parse_args(argv)
    if args.out is not None and not Path(args.out).resolve().parent.is_dir():
        parser.error(f"--out {args.out}: its folder does not exist; create it or name a file in an existing folder")
    grid = {**GRID, "num_epochs": [args.epochs]}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    if args.executor == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
            ) as cluster,
            Client(cluster) as client,
        ):
            results = d2l.sweep(experiment, grid, executor=client, cache=args.cache, plot="text")
    else:
        executor = "serial" if args.executor == "serial" else None
        results = d2l.sweep(experiment, grid, executor=executor, cache=args.cache, plot="text")
    wall = time.perf_counter() - start
    busy = sum(r.seconds or 0 for r in results)
    print(results)
    print(
        f"\n{args.executor}: {len(results)} configurations, {args.epochs} epochs each, "
        f"{len(results.failed)} failed: {wall:.0f} s wall ({wall / 60:.1f} min), "
        f"{busy:.0f} s of configuration time in the workers"
    )
    for r in results.failed:
        print("  failed:", r.params, r.error.splitlines()[0])
    if args.out is not None:
        write_out(args.out, run_record(results, args.executor, args.epochs, wall, load_before), args.executor)
        print(f"recorded in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
