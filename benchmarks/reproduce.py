"""Train every configuration the notebooks use at full book length; compare with the book (``make reproduce``).

Each configuration trains 500 epochs (batch 32, num_steps 35, the first
10,000 characters) with ``d2l_helpers.train_ch8`` on its default path, in a
process of its own (so that each run's peak memory is its own), and reports
held-out perplexity on the 10,000 characters that follow the training text
(``load_heldout_time_machine``). The scratch models are the book's own code
(benchmarks/book_models.py).

Writes ``docs/reproduction.md`` and ``docs/reproduction.png``, and exits with
status 1, saying which, when a final training perplexity is more than 0.2
above the book's. It takes about 20 minutes on a 2-core CPU; it is not part
of CI.

    python benchmarks/reproduce.py                 # everything, 500 epochs
    python benchmarks/reproduce.py --epochs 20 --configs gru_scratch    # a quick look (no verdict)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_models  # noqa: E402
from bench_train import machine  # noqa: E402

import d2l_helpers as d2l  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH, STEPS, EPOCHS, TOLERANCE = 32, 35, 500, 0.2

# name: (label, book section, book perplexity, lr, random sampling, model factory)
CONFIGS = {
    "rnn_sequential": ("scratch RNN h=512, sequential", "zh §8.5", 1.0, 1, False, "rnn"),
    "rnn_random": ("scratch RNN h=512, random sampling", "zh §8.5", 1.5, 1, True, "rnn"),
    "gru_scratch": ("scratch GRU h=256", "zh §9.1", 1.1, 1, False, "gru"),
    "gru_nn": ("nn.GRU h=256", "zh §9.1", 1.0, 1, False, "nn_gru"),
    "lstm_deep": ("nn.LSTM 2 layers h=256 (lr 2)", "zh §9.3", 1.0, 2, False, "nn_lstm"),
}
# What the book prints for these runs, where we have it (its speeds are on a GPU).
BOOK_SAMPLE = {
    "gru_scratch": "time travelleryou can show black is white by argument said filby",
    "gru_nn": "time travelleryou can show black is white by argument said filby",
}
BOOK_GPU_SPEED = {"gru_scratch": 24634, "gru_nn": 308866}


def make_model(kind, vocab_size, device):
    if kind == "rnn":
        params = (book_models.get_rnn_params, book_models.init_rnn_state, book_models.rnn)
        return d2l.RNNModelScratch(vocab_size, 512, device, *params)
    if kind == "gru":
        params = (book_models.get_gru_params, book_models.init_gru_state, book_models.gru)
        return d2l.RNNModelScratch(vocab_size, 256, device, *params)
    if kind == "nn_gru":
        return d2l.RNNModel(nn.GRU(vocab_size, 256), vocab_size).to(device)
    return d2l.RNNModel(nn.LSTM(vocab_size, 256, num_layers=2), vocab_size).to(device)


def _peak_rss_mb():
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_config(name, epochs, json_out):
    """In a child process: train one configuration and write what it gave as JSON."""
    _, _, _, lr, use_random_iter, kind = CONFIGS[name]
    device = d2l.try_gpu()
    d2l.set_seed(0)
    train_iter, vocab = d2l.load_data_time_machine(BATCH, STEPS, use_random_iter, seed=0)
    heldout_iter, _ = d2l.load_heldout_time_machine(BATCH, STEPS)
    net = make_model(kind, len(vocab), device)
    start = time.perf_counter()
    history = d2l.train_ch8(
        net, train_iter, vocab, lr, epochs, device, use_random_iter, heldout_iter=heldout_iter, plot="text"
    )
    wall = time.perf_counter() - start
    result = {
        "perplexity": history.perplexity,
        "tokens_per_sec": history.tokens_per_sec,
        "heldout_epochs": history.heldout_epochs,
        "heldout_perplexity": history.heldout_perplexity,
        "fast_path": history.fast_path,
        "wall_s": wall,
        "peak_rss_mb": _peak_rss_mb(),
        "samples": [d2l.predict_ch8(p, 50, net, vocab, device) for p in ("time traveller", "traveller")],
        "device": str(device),
    }
    Path(json_out).write_text(json.dumps(result))


def failures(results):
    """One line per configuration whose final training perplexity is more than TOLERANCE above the book's."""
    return [
        f"{CONFIGS[n][0]}: perplexity {r['perplexity'][-1]:.2f} > book {CONFIGS[n][2]:.1f} + {TOLERANCE}"
        for n, r in results.items()
        if r["perplexity"][-1] > CONFIGS[n][2] + TOLERANCE
    ]


def plot(results, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for i, (name, r) in enumerate(results.items()):
        color = f"C{i}"
        epochs = range(1, len(r["perplexity"]) + 1)
        ax.plot(epochs, r["perplexity"], "-", color=color, lw=1.2, label=f"{CONFIGS[name][0]}: training")
        ax.plot(r["heldout_epochs"], r["heldout_perplexity"], "--", color=color, lw=1, label="held-out")
        ax.axhline(CONFIGS[name][2], color=color, lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title("Training (solid) and held-out (dashed) perplexity; dotted: the book's final figure", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(results, epochs, threads, load, elapsed, png_name):
    full = epochs == EPOCHS
    lines = [
        "# Reproduction of the book's results",
        "",
        "Written by `make reproduce` (`benchmarks/reproduce.py`) on "
        f"{datetime.date.today().isoformat()}: every configuration the notebooks train, "
        f"{epochs} epochs{'' if full else ' (a shortened run: no verdict)'}, batch {BATCH}, num_steps {STEPS}, "
        "the first 10,000 characters, on the default training path. Held-out perplexity is measured on the "
        "10,000 characters that follow (`load_heldout_time_machine`). The scratch models are the book's own code.",
        "",
        f"Machine: {machine(d2l.try_gpu())}. Load average (1 min) at the start: {load:.2f}; "
        "the machine was shared with "
        "other work, so the tokens/s here are indicative only (see [performance.md](performance.md) for the "
        f"side-by-side benchmark). Total time: {elapsed / 60:.1f} minutes.",
        "",
        f"Verdict rule: the final training perplexity may be at most {TOLERANCE} above the book's.",
        "",
        "| configuration | book | book perplexity | our perplexity | held-out perplexity | lowest held-out (epoch) "
        "| tokens/s (median epoch) | time | peak RSS | training path | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in results.items():
        label, section, book, *_ = CONFIGS[name]
        ppl = r["perplexity"][-1]
        ok = ppl <= book + TOLERANCE
        speed = statistics.median(r["tokens_per_sec"])
        book_speed = f" (book, GPU: {BOOK_GPU_SPEED[name]:,})" if name in BOOK_GPU_SPEED else ""
        rss = f"{r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") else "n/a"
        verdict = ("ok" if ok else "**FAILED**") if full else "—"
        low, low_epoch = min(zip(r["heldout_perplexity"], r["heldout_epochs"]))
        lines.append(
            f"| {label} | {section} | {book:.1f} | {ppl:.2f} | {r['heldout_perplexity'][-1]:.1f} "
            f"| {low:.1f} ({low_epoch}) | {speed:,.0f}{book_speed} | {r['wall_s'] / 60:.1f} min | {rss} "
            f"| {r['fast_path'] or 'as written'} | {verdict} |"
        )
    lows = [min(zip(r["heldout_perplexity"], r["heldout_epochs"]))[1] for r in results.values()]
    lines += ["", f"![perplexity per epoch]({png_name})", "", "## Samples after training", ""]
    for name, r in results.items():
        lines.append(f"**{CONFIGS[name][0]}**")
        lines.append("")
        lines += [f"    {s}" for s in r["samples"]]
        if name in BOOK_SAMPLE:
            lines += ["", "the book:", "", f"    {BOOK_SAMPLE[name]}"]
        lines.append("")
    lines += [
        "Perplexity near 1.0 on the training text is memorisation of 10,000 characters; the held-out "
        "perplexity, on text the model never saw, is the honest measure of what it learned: it is lowest "
        f"after {min(lows)}–{max(lows)} epochs (the table's lowest held-out column) and rises as the models "
        "memorise.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reproduction.md"))
    parser.add_argument("--run", nargs=2, metavar=("CONFIG", "JSON_OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.pop("D2L_MAX_EPOCHS", None)  # full length, whatever the shell says
    if args.run:
        return run_config(args.run[0], args.epochs, args.run[1])

    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # not on Windows
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            print(f"=== {CONFIGS[name][0]}: {args.epochs} epochs", flush=True)
            json_out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, __file__, "--run", name, str(json_out), "--epochs", str(args.epochs)]
            cmd += ["--threads", str(torch.get_num_threads())]
            subprocess.run(cmd, check=True, env={**os.environ, "D2L_PLOT": "text"})
            results[name] = json.loads(json_out.read_text())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    plot(results, png)
    out.write_text(report(results, args.epochs, torch.get_num_threads(), load, time.perf_counter() - started, png.name))
    print(f"\nwrote {out} and {png}")

    failed = failures(results)
    if args.epochs != EPOCHS:
        print(f"(a {args.epochs}-epoch run: no verdict; the book's figures are for {EPOCHS} epochs)")
        return 0
    if failed:
        print("\nREPRODUCTION FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print("\nall configurations within", TOLERANCE, "of the book's perplexity")
    return 0


if __name__ == "__main__":
    sys.exit(main())
