"""The book's plotting API: ``Animator``, ``plot`` and friends, and upstream's §8.5 loop running on them.

``Animator`` runs here without a frontend: IPython's ``display`` and
``clear_output`` are replaced by recorders, and ``_in_kernel`` says yes. The
key test executes upstream d2l 0.17.6's own ``train_ch8`` (loaded from its
source, see ``upstream_d2l.py``) with ``d2l`` bound to ``d2l_helpers``: the
book's code with only the import line changed.
"""

import base64
import io
import math
import re
import subprocess
import sys
import types

import matplotlib
import numpy as np
import pytest
import torch
from fakes import FakeDisplay
from matplotlib.colors import to_hex
from PIL import Image
from torch import nn

import d2l_helpers as d2l
from d2l_helpers import dashboard, plotting

PLAIN_TEXT = "<d2l training plot>"


@pytest.fixture
def kernel(monkeypatch):
    """A pretend Jupyter kernel in widget mode: (recorded displays, recorded clear_output calls)."""
    import IPython.display

    fake, cleared = FakeDisplay(), []
    monkeypatch.setenv("D2L_PLOT", "widget")
    monkeypatch.setattr(dashboard, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake)
    monkeypatch.setattr(IPython.display, "clear_output", lambda *a, **k: cleared.append((a, k)))
    return fake, cleared


@pytest.fixture
def agg():
    """pyplot on the Agg backend, its figures closed afterwards."""
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    plt.switch_backend("agg")
    plt.close("all")
    yield plt
    plt.close("all")
    plt.switch_backend(backend)


def _pixels(bundle) -> np.ndarray:
    png = base64.b64decode(bundle["image/png"])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _line_data(animator):
    return [(list(line.get_xdata()), list(line.get_ydata())) for line in animator.axes[0].get_lines()]


# --------------------------------------------------------------------------
# Animator: the data, as upstream keeps them
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["widget", "text", "off"])
def test_one_line_keeps_the_points_as_upstream(kernel, monkeypatch, mode):
    monkeypatch.setenv("D2L_PLOT", mode)
    animator = d2l.Animator(xlabel="epoch", ylabel="perplexity", legend=["train"], xlim=[10, 30])
    assert animator.X is None and animator.Y is None
    for epoch, ppl in [(10, 12.5), (20, 8.25), (30, 5.0)]:
        animator.add(epoch, [ppl])
    animator.add(40, 4.0)  # a bare number is one line too
    assert animator.X == [[10, 20, 30, 40]]
    assert animator.Y == [[12.5, 8.25, 5.0, 4.0]]
    # The axes hold what upstream's would: one line, labelled and limited by set_axes.
    ax = animator.axes[0]
    assert _line_data(animator) == [([10, 20, 30, 40], [12.5, 8.25, 5.0, 4.0])]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xlim()) == ("epoch", "perplexity", (10.0, 30.0))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train"]
    assert len(animator.axes) == 1 and animator.fig.axes == [ax]


def test_several_lines_keep_upstream_semantics(kernel):
    # Upstream's train_ch3: animator.add(epoch + 1, (loss, acc, None)) during an
    # epoch, then animator.add(epoch + 1, (None, None, test_acc)); a list x gives
    # each line its own x; None (as x or y) skips a line.
    animator = d2l.Animator(xlabel="epoch", xlim=[1, 3], legend=["train loss", "train acc", "test acc"])
    animator.add(0.5, (0.9, 0.6, None))
    animator.add(1, (0.7, 0.7, None))
    animator.add(1, (None, None, 0.65))
    animator.add([1.5, None, 1.5], [0.5, 0.8, 0.7])
    assert animator.X == [[0.5, 1, 1.5], [0.5, 1], [1, 1.5]]
    assert animator.Y == [[0.9, 0.7, 0.5], [0.6, 0.7], [0.65, 0.7]]
    assert _line_data(animator) == [([0.5, 1, 1.5], [0.9, 0.7, 0.5]), ([0.5, 1], [0.6, 0.7]), ([1, 1.5], [0.65, 0.7])]
    # Upstream's formats, in order.
    styles = [(line.get_linestyle(), to_hex(line.get_color())) for line in animator.axes[0].get_lines()]
    assert styles == [("-", to_hex("C0")), ("--", to_hex("m")), ("-.", to_hex("g"))]


def test_zero_d_tensors_count_as_one_value(kernel):
    animator = d2l.Animator()
    animator.add(torch.tensor(1), torch.tensor(3.5))
    animator.add(np.int64(2), [np.float64(2.5)])
    assert [[float(v) for v in line] for line in animator.Y] == [[3.5, 2.5]]
    assert [[int(v) for v in line] for line in animator.X] == [[1, 2]]


def test_several_axes_like_upstream(kernel):
    animator = d2l.Animator(nrows=2, ncols=2)
    assert animator.axes.shape == (2, 2) and len(animator.fig.axes) == 4


# --------------------------------------------------------------------------
# Animator: how it shows
# --------------------------------------------------------------------------


def test_widget_mode_displays_once_then_updates_in_place_and_never_clears(kernel):
    fake, cleared = kernel
    animator = d2l.Animator(xlabel="epoch", ylabel="perplexity", legend=["train"], xlim=[1, 5], ylim=[0, 30])
    assert fake.bundles == []  # nothing shown before the first point
    for epoch, ppl in enumerate([25.0, 18.0, 12.0, 9.0, 7.0], start=1):
        animator.add(epoch, [ppl])
    assert len(fake.shown) == 1 and len(fake.updates) == 4  # one display, updated in place
    assert animator.handle.display is fake  # (the handle of the one display)
    assert cleared == []  # the cell's printed output stays
    for bundle in fake.bundles:
        assert set(bundle) == {"image/png", "text/plain"}
        assert bundle["text/plain"] == PLAIN_TEXT  # constant, for nbval
    first, last = _pixels(fake.shown[0]), _pixels(fake.updates[-1])
    assert first.shape == last.shape == (250, 350, 3)  # figsize (3.5, 2.5) at 100 dpi
    assert (first != last).any(), "the image must change as points are added"
    frames = [_pixels(b) for b in fake.bundles]
    assert all((a != b).any() for a, b in zip(frames, frames[1:]))


def test_widget_mode_makes_no_pyplot_figure(kernel, agg):
    animator = d2l.Animator(legend=["train"])
    animator.add(1, 3.0)
    assert agg.get_fignums() == []  # nothing for the inline backend to show again at the end of the cell
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert type(animator.fig.canvas) is FigureCanvasAgg


def test_fifty_adds_are_cheap(kernel):
    fake, _ = kernel
    animator = d2l.Animator(xlabel="epoch", ylabel="perplexity", legend=["train"], xlim=[1, 50])
    for epoch in range(1, 51):
        animator.add(epoch, [30 / epoch + 1])
    assert len(fake.bundles) == 50
    # cheap whatever the machine's load: the line is updated in place, never drawn again on top (upstream's pile up)
    assert [len(ax.lines) for ax in animator.fig.axes] == [1]


def test_widget_outside_a_kernel_prints_text_with_a_warning(monkeypatch, capsys):
    monkeypatch.setenv("D2L_PLOT", "widget")
    with pytest.warns(RuntimeWarning, match="needs a Jupyter kernel"):
        animator = d2l.Animator(xlabel="epoch", legend=["train"])
    animator.add(1, 2.0)
    assert capsys.readouterr().out == "epoch 1: train 2\n"


def test_text_mode_prints_one_line_per_add(kernel, monkeypatch, capsys):
    fake, cleared = kernel
    monkeypatch.setenv("D2L_PLOT", "text")
    animator = d2l.Animator(xlabel="epoch", ylabel="perplexity", legend=["train"])
    animator.add(10, [12.3456])
    animator.add(20, [8.0])
    many = d2l.Animator(xlabel="epoch", legend=["train loss", "train acc"])
    many.add(1.5, (0.52, None))
    unnamed = d2l.Animator(ylabel="loss")
    unnamed.add(3, 0.25)
    assert capsys.readouterr().out.splitlines() == [
        "epoch 10: train 12.35",
        "epoch 20: train 8",
        "epoch 1.5: train loss 0.52",
        "x 3: loss 0.25",
    ]
    assert fake.bundles == [] and cleared == []


def test_off_mode_shows_nothing_and_keeps_the_data(kernel, monkeypatch, capsys):
    fake, cleared = kernel
    monkeypatch.setenv("D2L_PLOT", "off")
    animator = d2l.Animator(xlabel="epoch", legend=["train", "test"])
    animator.add(1, [3.0, 4.0])
    animator.add(2, [2.0, 3.5])
    assert animator.X == [[1, 2], [1, 2]] and animator.Y == [[3.0, 2.0], [4.0, 3.5]]
    assert capsys.readouterr().out == ""
    assert fake.bundles == [] and cleared == []


# --------------------------------------------------------------------------
# The book's §8.5 code, with only the import line changed
# --------------------------------------------------------------------------


def _book_section_8_5(upstream):
    """Upstream's §8.5 functions, from its own source, in a namespace where ``d2l`` is ``d2l_helpers``.

    ``upstream_d2l.load()`` compiled them from d2l/torch.py; here the same code
    objects get a new global namespace: the one the book's notebook gives them
    after ``import d2l_helpers as d2l`` (plus what upstream's module imports).
    """
    namespace = {"d2l": d2l, "math": math, "torch": torch, "nn": nn}
    for name in ("predict_ch8", "grad_clipping", "train_epoch_ch8", "train_ch8"):
        fn = getattr(upstream, name)
        assert fn.__code__.co_filename.endswith("torch.py")  # upstream's own code
        namespace[name] = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    return types.SimpleNamespace(**namespace)


def _scratch_net(vocab):
    torch.manual_seed(0)
    return d2l.RNNModelScratch(len(vocab), 512, "cpu", d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn)


def test_book_train_ch8_runs_on_d2l_helpers(upstream, capsys):
    book = _book_section_8_5(upstream)
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    net = _scratch_net(vocab)
    book.train_ch8(net, train_iter, vocab, 1, 2, "cpu")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    match = re.fullmatch(r"perplexity (\d+\.\d), \d+\.\d tokens/sec on cpu", lines[0])
    assert match and 1 < float(match[1]) < len(vocab) + 1, lines[0]
    assert lines[1].startswith("time traveller") and len(lines[1]) == len("time traveller") + 50
    assert lines[2].startswith("traveller") and len(lines[2]) == len("traveller") + 50


def test_book_train_ch8_plots_every_ten_epochs_without_clearing_the_samples(upstream, kernel, capsys):
    # Eleven epochs on two batches, so that the loop reaches animator.add(10, [ppl])
    # (and xlim=[10, num_epochs] is not empty).
    fake, cleared = kernel
    book = _book_section_8_5(upstream)
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    batches = list(train_iter)[:2]
    book.train_ch8(_scratch_net(vocab), batches, vocab, 1, 11, "cpu")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("time traveller") and out[1].startswith("perplexity ")
    assert len(fake.shown) == 1 and fake.updates == [] and cleared == []
    assert fake.shown[0]["text/plain"] == PLAIN_TEXT


def test_book_train_ch8_in_text_mode_prints_the_plotted_point(upstream, monkeypatch, capsys):
    monkeypatch.setenv("D2L_PLOT", "text")
    book = _book_section_8_5(upstream)
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    book.train_ch8(_scratch_net(vocab), list(train_iter)[:2], vocab, 1, 11, "cpu")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[0].startswith("time traveller") and out[2].startswith("perplexity "), out
    assert re.fullmatch(r"epoch 10: train \d+(\.\d+)?", out[1]), out
    assert 1 < float(out[1].split()[-1]) < len(vocab) + 1  # a perplexity


# --------------------------------------------------------------------------
# plot, set_figsize, set_axes (pyplot, as upstream)
# --------------------------------------------------------------------------


def _freqs(n, power):
    return [int(1000 / (i + 1) ** power) + 1 for i in range(n)]


def test_plot_one_frequency_list_on_log_axes(agg):
    freqs = _freqs(50, 1.0)
    d2l.plot(freqs, xlabel="token: x", ylabel="frequency: n(x)", xscale="log", yscale="log")
    ax = agg.gca()
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("token: x", "frequency: n(x)")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == list(range(50)) and list(line.get_ydata()) == freqs
    assert ax.get_legend() is None
    assert tuple(agg.gcf().get_size_inches()) == (3.5, 2.5)


def test_plot_three_frequency_lists_with_a_legend(agg):
    freqs, bigram_freqs, trigram_freqs = _freqs(60, 1.0), _freqs(40, 0.8), _freqs(20, 0.6)
    d2l.plot(
        [freqs, bigram_freqs, trigram_freqs],
        xlabel="token: x",
        ylabel="frequency: n(x)",
        xscale="log",
        yscale="log",
        legend=["unigram", "bigram", "trigram"],
    )
    ax = agg.gca()
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [freqs, bigram_freqs, trigram_freqs]
    assert [line.get_linestyle() for line in ax.get_lines()] == ["-", "--", "-."]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["unigram", "bigram", "trigram"]


def test_plot_accepts_arrays_and_tensors_and_shares_one_x(agg):
    x = torch.arange(0, 3, 0.5)
    d2l.plot(x, [torch.sin(x), np.cos(x.numpy())], "x", "f(x)", legend=["sin", "cos"], figsize=(5, 2.5))
    ax = agg.gca()
    lines = ax.get_lines()
    assert len(lines) == 2 and all(np.allclose(line.get_xdata(), x.numpy()) for line in lines)
    assert np.allclose(lines[0].get_ydata(), np.sin(x.numpy()))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "f(x)")
    assert tuple(agg.rcParams["figure.figsize"]) == (5, 2.5)
    # Drawing again clears the axes first; a given axes is used instead of gca().
    d2l.plot(np.arange(4), np.arange(4) ** 2, axes=ax, xlim=[0, 3], ylim=[0, 9])
    assert len(ax.get_lines()) == 1 and ax.get_xlim() == (0, 3) and ax.get_ylim() == (0, 9)


def test_set_axes_turns_the_grid_on_like_upstream(agg):
    ax = agg.figure().add_subplot()
    d2l.set_axes(ax, "a", "b", [1, 2], [3, 4], "linear", "log", ["one"])
    ax.plot([1, 2], [3, 4])
    assert ax.xaxis.get_gridlines()[0].get_visible()
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("a", "b", "log")


def test_use_svg_display_outside_ipython_does_nothing():
    d2l.use_svg_display()  # no IPython shell here: nothing to configure, and none is created
    ipython = sys.modules.get("IPython")
    assert ipython is None or ipython.get_ipython() is None


# --------------------------------------------------------------------------
# Import cost
# --------------------------------------------------------------------------


def test_importing_the_package_does_not_import_matplotlib_and_plt_is_pyplot():
    code = (
        "import sys; import d2l_helpers as d2l\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "assert 'plt' in dir(d2l) and 'plt' not in d2l.__all__\n"
        "animator = d2l.Animator(legend=['train']); animator.add(1, 2.0); animator.fig.canvas.draw()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'the Animator imported pyplot'\n"
        "import matplotlib.pyplot\n"
        "assert d2l.plt is matplotlib.pyplot\n"
        "try:\n    d2l.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "module 'd2l_helpers' has no attribute 'no_such_name'"


def test_the_package_exports_the_plotting_api():
    for name in ("Animator", "plot", "set_axes", "set_figsize", "use_svg_display"):
        assert name in d2l.__all__ and getattr(d2l, name) is getattr(plotting, name)


def test_upstream_tensor_aliases_that_its_chapter_8_code_calls():
    # train_epoch_ch8 calls d2l.size(y); predict_ch8 calls d2l.reshape(d2l.tensor([...]), (1, 1)).
    y = torch.arange(6).reshape(2, 3)
    assert d2l.size(y) == 6
    assert d2l.reshape(d2l.tensor([3], device="cpu"), (1, 1)).tolist() == [[3]]


# --------------------------------------------------------------------------
# The figures of zh §8.1 and en §9.1, against upstream 0.17.6's and 1.0.3's plot
# --------------------------------------------------------------------------


def _series():
    """What the sections draw, made here: a noisy signal, 1-step predictions (2-D columns), k-step ones."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(1, 201, dtype=torch.float32)
    x = torch.sin(0.05 * t) + 0.2 * torch.randn(200, generator=gen)
    one = (0.9 * x[3:-1]).reshape(-1, 1).requires_grad_()  # a model's output, still in the graph
    return t, x, one


# Each: the arguments, as the sections pass them (several series, legend, xlim, figsize, axes).
PLOT_CALLS = {
    "one series, in a list": lambda t, x, one, d: ((t, [x], "time", "x"), {"xlim": [1, 200], "figsize": (6, 3)}),
    "two 1-D tensors": lambda t, x, one, d: ((t, x, "time", "x"), {"xlim": [1, 200], "figsize": (6, 3)}),
    "an x per series": lambda t, x, one, d: (
        ([t, t[4:]], [d.numpy(x), d.numpy(one)], "time", "x"),
        {"legend": ["data", "1-step preds"], "xlim": [1, 200], "figsize": (6, 3)},
    ),
    "one x, 2-D columns": lambda t, x, one, d: (
        (t[4:], [x[4:].reshape(-1, 1), d.numpy(one)], "time", "x"),
        {"legend": ["labels", "1-step preds"], "figsize": (6, 3)},
    ),
    "four series on one x": lambda t, x, one, d: (
        (t[10:], [d.numpy(x[10 - k :][:190]) * k for k in (1, 2, 4, 8)], "time", "x"),
        {"legend": [f"{k}-step preds" for k in (1, 2, 4, 8)], "xlim": [5, 200], "figsize": (6, 3)},
    ),
}


def _drawn(plt, axes):
    fig = axes.figure
    legend = axes.get_legend()
    return {
        "lines": [
            (
                line.get_xdata().tolist(),
                np.asarray(line.get_ydata()).tolist(),
                to_hex(line.get_color()),
                line.get_linestyle(),
                line.get_marker(),
            )
            for line in axes.get_lines()
        ],  # fmt: skip
        "labels": (axes.get_xlabel(), axes.get_ylabel()),
        "limits": (axes.get_xlim(), axes.get_ylim()),
        "scales": (axes.get_xscale(), axes.get_yscale()),
        "legend": [t.get_text() for t in legend.get_texts()] if legend else None,
        "grid": axes.xaxis.get_gridlines()[0].get_visible(),
        "figsize": tuple(fig.get_size_inches()),
        "rc_figsize": tuple(plt.rcParams["figure.figsize"]),
    }


def _draw_with(lib, plt, call, on_axes):
    plt.close("all")
    with matplotlib.rc_context():
        args, kwargs = call(*_series(), lib)
        if on_axes:  # into the second of two axes of a figure of one's own
            _, axes = plt.subplots(1, 2, figsize=(8, 3))
            lib.plot(*args, **kwargs, axes=axes[1])
            return _drawn(plt, axes[1]) | {"first axes": [line.get_xdata() for line in axes[0].get_lines()]}
        lib.plot(*args, **kwargs)
        return _drawn(plt, plt.gca())


@pytest.fixture(scope="module")
def upstream_en():
    import upstream_d2l_en

    return upstream_d2l_en.load()


@pytest.mark.parametrize("on_axes", [False, True], ids=["pyplot's axes", "axes="])
@pytest.mark.parametrize("name", list(PLOT_CALLS))
def test_plot_draws_the_sections_figures_as_upstream_does(agg, upstream, upstream_en, name, on_axes):
    ours = _draw_with(d2l, agg, PLOT_CALLS[name], on_axes)
    for theirs in (
        _draw_with(upstream, agg, PLOT_CALLS[name], on_axes),
        _draw_with(upstream_en, agg, PLOT_CALLS[name], on_axes),
    ):
        assert ours == theirs
    assert ours["lines"] and ours["grid"] and ours["rc_figsize"] == (6, 3)
    assert ours["figsize"] == ((8, 3) if on_axes else (6, 3))
