"""Training speed of upstream d2l 0.17.6 and of d2l_helpers, side by side (``make bench``).

Both sides run their own ``train_ch8`` on the book's settings (batch 32,
num_steps 35, the first 10,000 characters), in this one process, interleaved
(A B, B A, A B, ...) so that a busy machine slows both alike:

* the scratch RNN (h=512) and the scratch GRU (h=256), built from the book's
  own ``get_params`` / ``init_state`` / ``rnn`` / ``gru`` (benchmarks/book_models.py)
  passed to each side's ``RNNModelScratch``;
* ``nn.GRU`` (h=256) and a two-layer ``nn.LSTM`` (2 x 256) in each side's ``RNNModel``.

Reported per model (median of --repeats runs of --epochs epochs, range in brackets):

* tokens/s after the first epoch ("steady"), as train_ch8 itself measures it;
* tokens/s of the whole train_ch8 call including the first epoch, the model
  check of the fast path and the final predictions ("incl. warm-up");
* the matmul-bound limit: matmul FLOPs per token (forward + backward, the
  one-hot inputs counted as the book computes them, as dense matmuls) divided
  into the rate this machine reaches, measured in this run, on the recurrent
  matmul of one step (batch x h) @ (h x h); and the share of it each side reaches;
* peak memory: on a CPU the peak RSS of a separate process per side (both
  import the same modules, so the difference is training), on a GPU
  ``torch.cuda.max_memory_allocated``.

Usage::

    python benchmarks/bench_train.py                     # print the table
    python benchmarks/bench_train.py --threads 1         # both sides on one thread
    python benchmarks/bench_train.py --markdown docs/performance.md   # also write it there

Upstream d2l is read from its installed source (``pip install --no-deps
d2l==0.17.6``), as the tests do (tests/upstream_d2l.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # upstream_d2l
sys.path.insert(0, str(Path(__file__).resolve().parent))  # book_models

import book_models  # noqa: E402
import upstream_d2l  # noqa: E402

import d2l_helpers as d2l  # noqa: E402

BATCH, STEPS, MAX_TOKENS = 32, 35, 10000
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# name: (kind, cell or layer factory, hidden size, gates, layers)
MODELS = {
    "scratch RNN h=512": ("scratch", "rnn", 512, 1, 1),
    "scratch GRU h=256": ("scratch", "gru", 256, 3, 1),
    "nn.GRU h=256": ("nn", lambda V: nn.GRU(V, 256), 256, 3, 1),
    "nn.LSTM 2x256": ("nn", lambda V: nn.LSTM(V, 256, num_layers=2), 256, 4, 2),
}
SCRATCH = {
    "rnn": (book_models.get_rnn_params, book_models.init_rnn_state, book_models.rnn),
    "gru": (book_models.get_gru_params, book_models.init_gru_state, book_models.gru),
}
TARGETS = {"scratch GRU h=256": 1.4, "nn.GRU h=256": 1.2}  # ours/upstream, from the issue; others: >= 1


# --------------------------------------------------------------------------
# Building and training one side
# --------------------------------------------------------------------------


def load_upstream():
    return upstream_d2l.load()


def build(lib, side, model, device, vocab_size):
    """A fresh model with the same initial weights on either side."""
    kind, cell, hidden, _, _ = MODELS[model]
    torch.manual_seed(0)
    if kind == "scratch":
        return lib.RNNModelScratch(vocab_size, hidden, device, *SCRATCH[cell])
    return lib.RNNModel(cell(vocab_size), vocab_size).to(device)


def data(lib, side):
    if side == "upstream":
        random.seed(0)  # upstream's iterators draw from the global random module
        return lib.load_data_time_machine(BATCH, STEPS, False, MAX_TOKENS)
    return lib.load_data_time_machine(BATCH, STEPS, False, MAX_TOKENS, seed=0)


def train(up, side, model, epochs, device):
    """Train once; return (steady tokens/s, tokens/s incl. warm-up, fast path name)."""
    lib = up if side == "upstream" else d2l
    train_iter, vocab = data(lib, side)
    tokens_per_epoch = sum(X.numel() for X, _ in train_iter)
    net = build(lib, side, model, device, len(vocab))
    speeds, fast_path = [], None
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        if side == "upstream":
            original = up.train_epoch_ch8  # train_ch8 looks it up in its module: record each epoch's speed

            def recording(*args, **kwargs):
                ppl, speed = original(*args, **kwargs)
                speeds.append(speed)
                return ppl, speed

            up.train_epoch_ch8 = recording
            try:
                up.train_ch8(net, train_iter, vocab, 1, epochs, device)
            finally:
                up.train_epoch_ch8 = original
        else:
            history = d2l.train_ch8(net, train_iter, vocab, 1, epochs, device, plot="off")
            speeds, fast_path = history.tokens_per_sec, history.fast_path
        _sync(device)
        wall = time.perf_counter() - start
    later = speeds[1:] or speeds
    steady = len(later) * tokens_per_epoch / sum(tokens_per_epoch / s for s in later)  # tokens / time
    return steady, epochs * tokens_per_epoch / wall, fast_path


def _load_average():
    """The 1-minute load average, where the OS reports one (not on Windows)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# --------------------------------------------------------------------------
# FLOPs and the machine's matmul rate
# --------------------------------------------------------------------------


def flops_per_token(model, vocab_size):
    """Matmul FLOPs per token of one training step, as the book computes it.

    Forward: every layer's (inputs + hidden) x gates * hidden products and the
    output layer. Backward: twice the forward (the gradients of both factors),
    less the gradient of the one-hot input, which is data.
    """
    _, _, h, gates, layers = MODELS[model]
    forward, inputs = 0, vocab_size
    for _ in range(layers):
        forward += 2 * gates * h * (inputs + h)
        inputs = h
    forward += 2 * h * vocab_size
    return 3 * forward - 2 * gates * h * vocab_size


def matmul_rate(hidden, device, seconds=0.3):
    """GFLOP/s of the per-step recurrent matmul (batch x h) @ (h x h), median of many timings."""
    A = torch.randn(BATCH, hidden, device=device)
    W = torch.randn(hidden, hidden, device=device)
    for _ in range(20):
        A @ W
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 50:
        _sync(device)
        t = time.perf_counter()
        for _ in range(10):
            A @ W
        _sync(device)
        times.append((time.perf_counter() - t) / 10)
    return 2 * BATCH * hidden * hidden / statistics.median(times) / 1e9


# --------------------------------------------------------------------------
# Peak memory
# --------------------------------------------------------------------------


def _status_mb(field):
    """VmRSS (now) or VmHWM (peak) of this process, from /proc/self/status.

    Not ru_maxrss: Linux keeps that across exec, so a child would report its parent's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(side, model, epochs, threads):
    """Run in a fresh process: train one side, print its peak RSS (MB) as JSON."""
    torch.set_num_threads(threads)
    up = load_upstream()  # both sides import the same modules, so the baselines match
    lib = up if side == "upstream" else d2l
    train_iter, vocab = data(lib, side)
    net = build(lib, side, model, "cpu", len(vocab))
    before = _status_mb("VmRSS")
    with contextlib.redirect_stdout(io.StringIO()):
        if side == "upstream":
            up.train_ch8(net, train_iter, vocab, 1, epochs, "cpu")
        else:
            d2l.train_ch8(net, train_iter, vocab, 1, epochs, "cpu", plot="off")
    print(json.dumps({"peak_mb": _status_mb("VmHWM"), "before_mb": before}))


def peak_memory(up, side, model, epochs, device, threads):
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        train(up, side, model, epochs, device)
        return {"peak_mb": torch.cuda.max_memory_allocated() / 2**20, "before_mb": 0.0}
    if not Path("/proc/self/status").exists():
        return None
    cmd = [sys.executable, __file__, "--child", side, model, "--epochs", str(epochs), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------


def machine(device):
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    desc = (
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}"
    )
    if torch.device(device).type == "cuda":
        desc += f", GPU {torch.cuda.get_device_name()}"
    return desc


def _med(values):
    return statistics.median(values)


def _fmt_range(values, digits=0):
    m = _med(values)
    return f"{m:,.{digits}f} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"


def table(results, device, args, load_before, load_after, elapsed):
    mem_unit = "GPU MB" if torch.device(device).type == "cuda" else "peak RSS MB"
    lines = [
        f"Measured on: {machine(device)}; device `{device}`.",
        f"Load average (1 min) {load_before:.2f} before, {load_after:.2f} after; "
        f"{args.repeats} interleaved repeats of {args.epochs} epochs each side; {elapsed:.0f} s in all.",
        "",
        f"| model | upstream tokens/s | ours tokens/s | ours / upstream | incl. warm-up: upstream, ours (ratio) "
        f"| FLOPs/token | matmul-bound limit tokens/s | share of limit: upstream, ours | {mem_unit}: upstream, ours "
        "| training path (ours) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for model, r in results.items():
        up_s, ours_s = r["upstream"]["steady"], r["ours"]["steady"]
        up_w, ours_w = _med(r["upstream"]["warm"]), _med(r["ours"]["warm"])
        limit = r["rate"] * 1e9 / r["flops"]
        mem = r.get("memory")
        mem_cell = f"{mem['upstream']['peak_mb']:.0f}, {mem['ours']['peak_mb']:.0f}" if mem else "n/a"
        lines.append(
            f"| {model} | {_fmt_range(up_s)} | {_fmt_range(ours_s)} | **{_med(ours_s) / _med(up_s):.2f}×** "
            f"| {up_w:,.0f}, {ours_w:,.0f} ({ours_w / up_w:.2f}×) | {r['flops'] / 1e6:.2f} M "
            f"| {limit:,.0f} ({r['rate']:.0f} GFLOP/s) | {_med(up_s) / limit:.0%}, {_med(ours_s) / limit:.0%} "
            f"| {mem_cell} | {r['path'] or 'as written'} |"
        )
    lines += [
        "",
        "Tokens/s: median over the repeats, [min–max]; 'steady' = epochs 2.. as train_ch8 times them. "
        "Incl. warm-up = the whole train_ch8 call (first epoch, model check, final predictions). "
        "Peak RSS: a separate process per side training "
        f"{args.memory_epochs} epochs, both with the same modules imported before training "
        "(upstream's torch.optim.SGD then imports torch._dynamo for the nn models).",
    ]
    return "\n".join(lines)


def write_markdown(path, text):
    path = Path(path)
    section = f"{BEGIN}\n{text}\n{END}"
    if path.exists() and BEGIN in (old := path.read_text()) and END in old:
        new = old[: old.index(BEGIN)] + section + old[old.index(END) + len(END) :]
    else:
        new = f"# Performance\n\n{section}\n"
    path.write_text(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved runs per side and model")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is warm-up)")
    parser.add_argument("--memory-epochs", type=int, default=3, help="epochs of the peak-memory runs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads, both sides (default: torch's)")
    parser.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--markdown", help="also write the table into this file (between bench markers)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target ratio is missed")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        return child(*args.child, args.epochs, torch.get_num_threads())
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    up = load_upstream()
    started, load_before = time.perf_counter(), _load_average()
    print(f"{machine(device)}; device {device}", flush=True)
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"Note: the load average is {load_before:.1f} on {os.cpu_count()} cores: other work shares the CPU, "
            "so timings will be noisy (and several torch threads then slow both sides down; try --threads 1).",
            flush=True,
        )
    for side in ("upstream", "ours"):  # one-time costs of a process (imports, allocator) before any timing
        train(up, side, "scratch GRU h=256", 1, device)
        train(up, side, "nn.GRU h=256", 1, device)

    results = {}
    vocab_size = len(d2l.load_data_time_machine(BATCH, STEPS, seed=0)[1])
    for model in args.models:
        r = {"flops": flops_per_token(model, vocab_size), "upstream": {}, "ours": {}}
        rates = [matmul_rate(MODELS[model][2], device)]
        for side in r["upstream"], r["ours"]:
            side.update(steady=[], warm=[])
        for i in range(args.repeats):
            for side in ("upstream", "ours") if i % 2 == 0 else ("ours", "upstream"):
                steady, warm, path = train(up, side, model, args.epochs, device)
                r[side]["steady"].append(steady)
                r[side]["warm"].append(warm)
                if side == "ours":
                    r["path"] = path
        rates.append(matmul_rate(MODELS[model][2], device))
        r["rate"] = _med(rates)
        if not args.no_memory:
            r["memory"] = {
                side: peak_memory(up, side, model, args.memory_epochs, device, torch.get_num_threads())
                for side in ("upstream", "ours")
            }
            if r["memory"]["upstream"] is None:
                del r["memory"]
        ratio = _med(r["ours"]["steady"]) / _med(r["upstream"]["steady"])
        print(f"  {model}: ours / upstream = {ratio:.2f}", flush=True)
        results[model] = r

    text = table(results, device, args, load_before, _load_average(), time.perf_counter() - started)
    print()
    print(text)
    if args.markdown:
        write_markdown(args.markdown, text)
        print(f"\nwritten to {args.markdown}")

    missed = []
    for model, r in results.items():
        ratio = _med(r["ours"]["steady"]) / _med(r["upstream"]["steady"])
        if ratio < TARGETS.get(model, 1.0):
            missed.append(f"{model}: {ratio:.2f}x < {TARGETS.get(model, 1.0)}x")
    if missed:
        print("\nTargets missed (timings on a busy machine are noisy):", "; ".join(missed))
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
