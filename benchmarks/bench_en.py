"""The English edition's ``Trainer.fit``: upstream d2l 1.0.3 and d2l_helpers side by side (``make bench``).

What a learner of d2l.ai runs, in the setting a learner runs it: a Jupyter
kernel (started here with nbclient), the board on for both sides (upstream:
its pyplot ``ProgressBoard``, which redraws every series and calls
``display`` + ``clear_output`` at every plotted point; ours: the live panel),
the English edition's settings (``TimeMachine(batch_size=1024, num_steps=32)``,
32 hidden units, ``gradient_clip_val=1``) for:

* ``RNNLMScratch(RNNScratch)`` (§9.5, lr 1),
* ``RNNLMScratch(GRUScratch)`` (§10.2, lr 4; the GRU typed in on each side's
  ``d2l.Module``, benchmarks/book_models.py),
* ``RNNLM(GRU)`` (§10.2's concise GRU, lr 4).

Both sides start from the same seed, so they train the same weights on the
same batches: the table shows the largest relative difference between their
plotted perplexities (the "same losses" column). The runs alternate (A B,
B A, ...) so that a busy machine slows both alike, after one unreported epoch
of each side (one-time imports). Time is the wall time of
``trainer.fit(model, data)``, board included, and the kernel's CPU time.

Usage::

    python benchmarks/bench_en.py                  # 50 epochs (§10.2's), 1 run per side
    python benchmarks/bench_en.py --epochs 10 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH_EN_RESULT "
TARGET = 1.5  # ours / upstream, from the issue
MODELS = {  # name: lr
    "RNNLMScratch(RNNScratch)": 1,
    "RNNLMScratch(GRUScratch)": 4,
    "RNNLM(GRU)": 4,
}
_UPSTREAM = {}


# --------------------------------------------------------------------------
# Inside the kernel
# --------------------------------------------------------------------------


def _lib(side):
    import d2l_helpers as d2l

    if side == "ours":
        return d2l
    if "module" not in _UPSTREAM:
        sys.path.insert(0, str(ROOT / "tests"))
        import upstream_d2l_en

        _UPSTREAM["module"] = upstream_d2l_en.load(draw=True)
    return _UPSTREAM["module"]


def build(lib, name, vocab_size, lr):
    """The model ``name`` as the chapter builds it, on ``lib`` (d2l_helpers or upstream 1.0.3)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from book_models import gru_scratch_class

    if name == "RNNLMScratch(RNNScratch)":
        return lib.RNNLMScratch(lib.RNNScratch(num_inputs=vocab_size, num_hiddens=32), vocab_size=vocab_size, lr=lr)
    if name == "RNNLMScratch(GRUScratch)":
        gru = gru_scratch_class(lib)(num_inputs=vocab_size, num_hiddens=32)
        return lib.RNNLMScratch(gru, vocab_size=vocab_size, lr=lr)
    if name == "RNNLM(GRU)":
        return lib.RNNLM(lib.GRU(num_inputs=vocab_size, num_hiddens=32, num_layers=1), vocab_size=vocab_size, lr=lr)
    raise ValueError(f"unknown model {name!r}; one of {sorted(MODELS)}")


def warm_up(threads=None):
    """One epoch of each side, unreported: one-time imports (torch.optim, pyplot, ipywidgets) stay out of the rows."""
    for side in ("upstream", "ours"):
        run_one(side, "RNNLMScratch(RNNScratch)", 1, threads=threads, report=False)


def run_one(side, name, epochs, seed=0, threads=None, report=True):
    """Train ``name`` on ``side`` ('upstream' or 'ours') in this kernel; print one result line."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    lib = _lib(side)
    torch.manual_seed(seed)
    data = lib.TimeMachine(batch_size=1024, num_steps=32)
    model = build(lib, name, len(data.vocab), MODELS[name])
    trainer = lib.Trainer(max_epochs=epochs, gradient_clip_val=1)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit(model, data)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    points = {k: [float(p.y) for p in v] for k, v in model.board.data.items()}
    if report:
        print(MARK + json.dumps({"side": side, "model": name, "seconds": seconds, "cpu": cpu, "points": points}))


# --------------------------------------------------------------------------
# The table (tests/test_benchmarks.py checks this arithmetic)
# --------------------------------------------------------------------------


def max_relative_difference(a, b):
    """The largest |a_i - b_i| / |a_i| over every series both sides plotted (inf if they differ in shape)."""
    if a.keys() != b.keys() or any(len(a[k]) != len(b[k]) for k in a):
        return float("inf")
    diffs = [abs(x - y) / abs(x) for k in a for x, y in zip(a[k], b[k])]
    return max(diffs, default=0.0)


def summarise(results):
    """Rows ``(model, upstream s, ours s, speed-up, CPU speed-up, same-losses difference, meets target)``.

    Times are medians over the runs of each side; the speed-up is upstream's
    time over ours (wall time, the board included), the CPU speed-up the same
    for the kernel's CPU time, which a busy machine disturbs less.
    """
    rows = []
    for name in MODELS:
        runs = {side: [r for r in results if r["model"] == name and r["side"] == side] for side in ("upstream", "ours")}
        if not runs["upstream"] or not runs["ours"]:
            continue
        up = statistics.median(r["seconds"] for r in runs["upstream"])
        ours = statistics.median(r["seconds"] for r in runs["ours"])
        cpu = statistics.median(r["cpu"] for r in runs["upstream"]) / statistics.median(r["cpu"] for r in runs["ours"])
        diff = max(max_relative_difference(u["points"], o["points"]) for u in runs["upstream"] for o in runs["ours"])
        rows.append((name, up, ours, up / ours, cpu, diff, up / ours >= TARGET))
    return rows


def table(rows, epochs, repeats, threads):
    lines = [
        f"d2l.ai Trainer.fit in a Jupyter kernel, board on, batch 1024, num_steps 32, hidden 32, {epochs} epochs, "
        f"median of {repeats} run(s) per side, torch threads: {threads or 'default'}",
        "",
        "| model | upstream 1.0.3 | d2l_helpers | speed-up | CPU-time speed-up | target "
        "| same losses (max rel. diff) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, up, ours, ratio, cpu, diff, ok in rows:
        verdict = "met" if ok else "MISSED"
        lines.append(
            f"| {name} | {up:.1f} s | {ours:.1f} s | {ratio:.2f}x | {cpu:.2f}x | >= {TARGET}x {verdict} | {diff:.1e} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Outside: one kernel for every run
# --------------------------------------------------------------------------


def main(argv=None):
    import nbformat
    from nbclient import NotebookClient

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0: torch's default)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be positive")

    os.environ.pop("D2L_MAX_EPOCHS", None)  # full length
    os.environ.pop("D2L_PLOT", None)  # as learners run it: the widget panel in a kernel
    setup = f"import sys\nsys.path.insert(0, {str(ROOT / 'benchmarks')!r})\nimport bench_en\n"
    cells = [setup + f"bench_en.warm_up(threads={args.threads})"]
    for name in args.models:
        for i in range(args.repeats):
            order = ("upstream", "ours") if i % 2 == 0 else ("ours", "upstream")
            cells += [f"bench_en.run_one({side!r}, {name!r}, {args.epochs}, threads={args.threads})" for side in order]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    print(f"running {len(cells) - 1} trainings of {args.epochs} epochs in one kernel...", flush=True)
    start = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    results = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(MARK):
                    results.append(json.loads(line[len(MARK) :]))
    print(table(summarise(results), args.epochs, args.repeats, args.threads))
    print(f"\n({time.perf_counter() - start:.0f} s in all; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
