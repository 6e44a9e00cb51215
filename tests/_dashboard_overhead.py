"""Measure what the live dashboard costs: the share of train_ch8's time spent in its calls.

Runs a notebook in a real kernel (nbclient; the panel's widget messages go out
as in JupyterLab) that trains the book's GRU (256 hidden units, batch 32, 35
steps, the first 10,000 characters) and times every ``make_progress``,
``update`` and ``close`` call. Not part of the test suite (it takes a minute)::

    D2L_DATA_DIR=... .venv/bin/python tests/_dashboard_overhead.py [epochs] [log_every ...]
"""

import os
import sys

import nbformat
from nbclient import NotebookClient

SETUP = """\
import time
from torch import nn
import d2l_helpers as d2l
from d2l_helpers import train

spent = {"dashboard": 0.0, "calls": 0, "each": []}

def timed(f):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent["dashboard"] += time.perf_counter() - t
            spent["calls"] += 1
            spent["each"].append(round(1000 * (time.perf_counter() - t)))
    return wrapper

class Timed:
    def __init__(self, progress):
        self.progress = progress
        self.update, self.close = timed(progress.update), timed(progress.close)

make_progress = train.make_progress
train.make_progress = timed(lambda *a, **k: Timed(make_progress(*a, **k)))
train_iter, vocab = d2l.load_data_time_machine(32, 35)
"""

RUN = """\
spent.update(dashboard=0.0, calls=0, each=[])
d2l.set_seed(0)
net = d2l.RNNModel(nn.GRU(len(vocab), 256), len(vocab))
t = time.perf_counter()
with open("/dev/null", "w") as sink:  # keep the book's printed samples out of the measurement's output
    import contextlib
    with contextlib.redirect_stdout(sink):
        history = d2l.train_ch8(net, train_iter, vocab, 1, {epochs}, "cpu", log_every={log_every})
total = time.perf_counter() - t
print(f"RESULT log_every={log_every}: {epochs} epochs in {{total:.1f}} s, dashboard {{spent['dashboard']:.3f}} s "
      f"in {{spent['calls']}} calls = {{100 * spent['dashboard'] / total:.2f}} % of training time, "
      f"{{history.tokens_per_sec[-1]:,.0f}} tokens/s; each call (ms): {{spent['each']}}")
"""


def main(epochs=40, log_every=(1, 10)):
    env_plot = os.environ.pop("D2L_PLOT", None)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    nb.cells += [nbformat.v4.new_code_cell(RUN.format(epochs=epochs, log_every=n)) for n in log_every]
    NotebookClient(nb, timeout=1800, kernel_name="python3", store_widget_state=False).execute()
    for cell in nb.cells[1:]:
        for out in cell.outputs:
            if out.output_type == "stream":
                print(out.text.strip())
    if env_plot is not None:
        os.environ["D2L_PLOT"] = env_plot


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args[:1], *([tuple(args[1:])] if len(args) > 1 else []))
