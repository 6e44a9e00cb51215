"""The fast training path (d2l_helpers.fast): same values and gradients, recognition, off switch, fallback.

Nothing here depends on timing: speed is measured by benchmarks/bench_train.py.
"""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2l_helpers as d2l
from d2l_helpers import fast, kernels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from book_models import gru as book_gru  # noqa: E402  (the book's own code, as a learner types it in)
from book_models import rnn as book_rnn  # noqa: E402

V, H = 28, 16


# --------------------------------------------------------------------------
# Variants of the book's code (the book's own rnn and gru come from benchmarks/book_models.py)
# --------------------------------------------------------------------------


def swapped_gru(inputs, state, params):
    """The other gate convention, H = (1 - Z) H + Z H~: a different model."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
        R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
        H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
        H = (1 - Z) * H + Z * H_tilda
        outputs.append(H @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H,)


RECORDED = []


def recording_gru(inputs, state, params):
    """The book's GRU that also records its update gate: a side effect the fast path must not skip."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
        RECORDED.append(Z)
        R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
        H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        outputs.append(H @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H,)


def printing_rnn(inputs, state, params):
    print("step")
    return d2l.rnn(inputs, state, params)


class BookRNNModelScratch:
    """The book's own RNNModelScratch (zh §8.5), as a learner types it in before using d2l.train_ch8."""

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, device):
        return self.init_state(batch_size, self.num_hiddens, device)


class PrintingModelScratch(BookRNNModelScratch):
    def __call__(self, X, state):
        print("called")
        return super().__call__(X, state)


def _scratch(fn, get_params=None, hidden=H):
    get_params = get_params or (d2l.get_gru_params if "gru" in fn.__name__ else d2l.get_rnn_params)
    return d2l.RNNModelScratch(V, hidden, "cpu", get_params, d2l.init_gru_state, fn)


# --------------------------------------------------------------------------
# The hand-written backward passes
# --------------------------------------------------------------------------


def _random(*shape):
    return (torch.randn(*shape, dtype=torch.float64) * 0.5).requires_grad_(True)


@pytest.mark.parametrize("kernel", ["rnn", "gru_book", "gru_torch"])
def test_backward_passes_gradcheck(kernel):
    torch.manual_seed(0)
    T, B, h = 4, 3, 5
    ids = torch.randint(0, V, (T, B))
    H0 = _random(B, h)
    weights = {
        "rnn": (kernels.RNNSeq, (_random(V, h), _random(h, h), _random(h))),
        "gru_book": (kernels.GRUBookSeq, (_random(V, 3 * h), _random(h, 2 * h), _random(h, h), _random(3 * h))),
        "gru_torch": (kernels.GRUTorchSeq, (_random(V, 3 * h), _random(3 * h, h), _random(3 * h), _random(3 * h))),
    }
    fn, cell = weights[kernel]
    output_layer = (_random(h, V), _random(V))
    # gradcheck differentiates both outputs (the logits and the last state) w.r.t. H0 and every weight
    assert torch.autograd.gradcheck(fn.apply, (ids, H0, *cell, *output_layer))
    # with a workspace reused from one call to the next
    ws = kernels.Workspace()
    assert torch.autograd.gradcheck(lambda *args: fn.apply(*args, ws), (ids, H0, *cell, *output_layer))


def test_gradcheck_would_catch_a_wrong_backward(monkeypatch):
    """The test above can fail: a backward that forgets the reset gate's term is caught."""
    torch.manual_seed(0)
    T, B, h = 3, 2, 4
    ids = torch.randint(0, V, (T, B))
    cell = (_random(V, 3 * h), _random(h, 2 * h), _random(h, h), _random(3 * h))
    args = (ids, _random(B, h), *cell, _random(h, V), _random(V))
    assert torch.autograd.gradcheck(kernels.GRUBookSeq.apply, args)

    def forgetful(self, a, b, value=1):  # drops dLoss/dH_{t-1} through R * H
        return self

    monkeypatch.setattr(torch.Tensor, "addcmul_", forgetful)
    assert not torch.autograd.gradcheck(kernels.GRUBookSeq.apply, args, raise_exception=False)


def test_a_workspace_is_never_shared_by_two_live_graphs():
    torch.manual_seed(0)
    T, B, h = 3, 2, 4
    ids = torch.randint(0, V, (T, B))
    weights = [_random(V, h), _random(h, h), _random(h), _random(h, V), _random(V)]
    ws = kernels.Workspace()
    H0a, H0b = _random(B, h), _random(B, h)
    Ya, _ = kernels.RNNSeq.apply(ids, H0a, *weights, ws)
    Yb, _ = kernels.RNNSeq.apply(ids, H0b, *weights, ws)  # the first graph is alive: a one-off workspace
    ga = torch.autograd.grad(Ya.sum(), H0a)
    gb = torch.autograd.grad(Yb.sum(), H0b)
    ref_a = torch.autograd.grad(kernels.RNNSeq.apply(ids, H0a, *weights)[0].sum(), H0a)
    ref_b = torch.autograd.grad(kernels.RNNSeq.apply(ids, H0b, *weights)[0].sum(), H0b)
    torch.testing.assert_close(ga, ref_a)
    torch.testing.assert_close(gb, ref_b)
    # back-propagating twice through a graph whose buffers were reused is an error, not a wrong gradient
    Y1, _ = kernels.RNNSeq.apply(ids, H0a, *weights, ws)
    Y1.sum().backward(retain_graph=True)
    Y2, _ = kernels.RNNSeq.apply(ids, H0b, *weights, ws)
    with pytest.raises(RuntimeError, match="buffers were reused"):
        Y1.sum().backward()


def _values_and_grads(forward, params, X, state):
    Y, (H_T,) = forward(X, state)
    g = torch.Generator().manual_seed(3)
    loss = (Y * torch.randn(Y.shape, generator=g, dtype=Y.dtype)).sum() + (H_T * H_T).sum()
    return [Y, H_T, *torch.autograd.grad(loss, list(params) + [state[0]])]


@pytest.mark.parametrize("fn", [book_rnn, book_gru, d2l.rnn, d2l.gru])
def test_fast_path_equals_the_books_function(fn):
    torch.manual_seed(0)
    net = _scratch(fn)
    with torch.no_grad():  # weights far from zero, so that every nonlinearity matters
        for p in net.params:
            p.normal_(0, 0.5)
    forward, name = fast.accelerate(net)
    assert forward is not None and name.startswith("scratch")
    X = torch.randint(0, V, (4, 7))
    state = (torch.randn(4, H, requires_grad=True),)
    plain = _values_and_grads(net, net.params, X, state)
    ours = _values_and_grads(forward, net.params, X, state)
    for a, b in zip(ours, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make_layer", [lambda: nn.GRU(V, H), lambda: nn.RNN(V, H)], ids=["nn.GRU", "nn.RNN"])
def test_fast_path_equals_pytorchs_layer(make_layer):
    torch.manual_seed(0)
    layer = make_layer()
    net = d2l.RNNModel(layer, V)
    forward, name = fast.accelerate(net)
    assert name == f"nn.{type(layer).__name__} kernel"
    X = torch.randint(0, V, (4, 7))
    state = net.begin_state("cpu", batch_size=4) + torch.randn(1, 4, H)
    state.requires_grad_(True)

    def run(f):
        Y, S = f(X, state)
        loss = (Y * Y).sum() + (S * torch.arange(H)).sum()
        return [Y, S, *torch.autograd.grad(loss, [*net.parameters(), state])]

    for a, b in zip(run(forward), run(net)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------
# What is recognised, and what runs as written
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_net",
    [
        lambda: _scratch(d2l.gru_pytorch_form, d2l.get_gru_params_pytorch_form),  # 12 tensors: another layout
        lambda: d2l.RNNModelScratch(V, [H, H], "cpu", d2l.get_deep_params, d2l.init_deep_state, d2l.deep_rnn),
        lambda: _scratch(swapped_gru, d2l.get_gru_params),  # right layout, different mathematics
        lambda: _scratch(recording_gru, d2l.get_gru_params),  # a side effect
        lambda: _scratch(printing_rnn, d2l.get_rnn_params),  # a side effect
        lambda: d2l.RNNModel(nn.LSTM(V, H), V),
        lambda: d2l.RNNModel(nn.GRU(V, H, num_layers=2), V),
        lambda: d2l.RNNModel(nn.RNN(V, H, nonlinearity="relu"), V),
    ],
    ids=["pytorch-form", "deep", "swapped-gates", "recording", "printing", "lstm", "gru-2-layers", "relu-rnn"],
)
def test_other_models_train_as_written(make_net):
    net = make_net()
    assert fast.accelerate(net) == (None, None)


def test_a_learners_own_rnnmodelscratch_class_is_recognised():
    book_class = BookRNNModelScratch(V, H, "cpu", d2l.get_gru_params, d2l.init_gru_state, book_gru)
    assert fast.accelerate(book_class)[1] == "scratch GRU kernel"
    printing = PrintingModelScratch(V, H, "cpu", d2l.get_gru_params, d2l.init_gru_state, book_gru)
    assert fast.accelerate(printing) == (None, None)


def test_the_check_leaves_random_numbers_and_weights_alone():
    torch.manual_seed(0)
    net = _scratch(book_gru)
    weights = [p.detach().clone() for p in net.params]
    rng = torch.get_rng_state()
    assert fast.accelerate(net)[0] is not None
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(a, b) for a, b in zip(weights, net.params)) and all(p.grad is None for p in net.params)


def test_new_parameters_or_function_are_checked_again():
    net = _scratch(d2l.gru)
    assert fast.accelerate(net)[0] is not None
    net.forward_fn = swapped_gru
    assert fast.accelerate(net)[0] is None
    net.forward_fn = d2l.gru
    net.params = d2l.get_rnn_params(V, H, "cpu")  # an RNN's weights under a GRU's function
    assert fast.accelerate(net)[0] is None


# --------------------------------------------------------------------------
# Training: fast and plain agree; the off switch; the fallback
# --------------------------------------------------------------------------


@pytest.fixture
def small_data(time_machine):
    corpus, vocab = time_machine
    return (lambda: d2l.SeqDataLoader(8, 12, False, 10000, seed=0, corpus=corpus[:2000], vocab=vocab)), vocab


MODELS = {
    "book_gru": lambda v: _scratch(book_gru, hidden=32),
    "book_rnn": lambda v: _scratch(book_rnn, hidden=32),
    "book_class_rnn": lambda v: BookRNNModelScratch(
        len(v), 32, "cpu", d2l.get_rnn_params, d2l.init_rnn_state, book_rnn
    ),
    "nn_gru": lambda v: d2l.RNNModel(nn.GRU(len(v), 32), len(v)),
    "nn_rnn": lambda v: d2l.RNNModel(nn.RNN(len(v), 32), len(v)),
}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("use_random_iter", [False, True])
def test_fast_and_plain_training_agree(small_data, model, use_random_iter, capsys):
    loader, vocab = small_data
    runs = []
    for use_fast in (True, False):
        torch.manual_seed(0)
        net = MODELS[model](vocab)
        hist = d2l.train_ch8(net, loader(), vocab, 1, 6, "cpu", use_random_iter, fast=use_fast, log_every=3)
        weights = net.params if hasattr(net, "params") else list(net.parameters())
        runs.append((hist, [p.detach().clone() for p in weights], capsys.readouterr().out))
    (fast_hist, fast_w, fast_out), (plain_hist, plain_w, plain_out) = runs
    assert fast_hist.fast_path is not None and plain_hist.fast_path is None
    assert fast_hist.perplexity == pytest.approx(plain_hist.perplexity, rel=1e-5)
    for a, b in zip(fast_w, plain_w):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the fast run says once that the fast path trains; then the same samples are printed
    note = d2l.dashboard.fast_path_note(fast_hist.fast_path)
    assert fast_out.startswith(note + "\n") and note not in plain_out and fast_out.count(note) == 1
    assert [line for line in fast_out.splitlines()[1:] if "tokens/sec" not in line] == [
        line for line in plain_out.splitlines() if "tokens/sec" not in line
    ]


def test_environment_variable_turns_the_fast_path_off(small_data, monkeypatch):
    loader, vocab = small_data

    def broken(*args):
        raise AssertionError("the fast kernel ran although D2L_FAST=0")

    monkeypatch.setattr(kernels.GRUBookSeq, "apply", broken)
    monkeypatch.setenv("D2L_FAST", "0")
    hist = d2l.train_ch8(_scratch(book_gru), loader(), vocab, 1, 2, "cpu")
    assert hist.fast_path is None
    monkeypatch.setenv("D2L_FAST", "1")
    assert d2l.train_ch8(_scratch(book_gru), loader(), vocab, 1, 1, "cpu", fast=False).fast_path is None
    monkeypatch.setenv("D2L_FAST", "maybe")
    with pytest.raises(ValueError, match=r"\$D2L_FAST must be 1/on/true/yes or 0/off/false/no, got 'maybe'"):
        d2l.train_ch8(_scratch(book_gru), loader(), vocab, 1, 1, "cpu")
    monkeypatch.delenv("D2L_FAST")
    assert fast.fast_enabled() and not fast.fast_enabled(False)


def test_a_failing_fast_path_falls_back_with_one_note(small_data, capsys, monkeypatch):
    loader, vocab = small_data
    torch.manual_seed(0)
    reference = d2l.train_ch8(_scratch(book_gru), loader(), vocab, 1, 3, "cpu", fast=False).perplexity
    capsys.readouterr()

    calls = []
    original = kernels.GRUBookSeq.apply

    def fails_in_training(*args):
        calls.append(1)
        if len(calls) > 1:  # the check before training passes; training then fails
            raise RuntimeError("simulated kernel failure")
        return original(*args)

    monkeypatch.setattr(kernels.GRUBookSeq, "apply", fails_in_training)
    torch.manual_seed(0)
    net = _scratch(book_gru)
    hist = d2l.train_ch8(net, loader(), vocab, 1, 3, "cpu")
    out = capsys.readouterr().out
    assert out.count("Note: the fast training path stopped (RuntimeError: simulated kernel failure)") == 1
    assert "D2L_FAST=0" in out
    assert hist.fast_path is None and len(hist.perplexity) == 3
    assert hist.perplexity == pytest.approx(reference, rel=1e-5)  # no batch lost or trained twice
    assert fast.accelerate(net) == (None, None)  # and it stays off for this model


def test_an_error_of_the_model_itself_is_raised_as_written(small_data, capsys):
    """Tokens outside the vocabulary fail both paths: the plain path's error is raised, with no note."""
    _, vocab = small_data
    bad_batches = [(torch.full((8, 12), V), torch.zeros(8, 12, dtype=torch.long))]
    with pytest.raises(RuntimeError, match="num_classes"):  # F.one_hot's error, as without the fast path
        d2l.train_ch8(_scratch(book_gru), bad_batches, vocab, 1, 1, "cpu")
    assert "Note:" not in capsys.readouterr().out


def test_train_epoch_ch8_uses_the_fast_path_with_the_books_updater(small_data, monkeypatch):
    loader, vocab = small_data
    train_iter = loader()
    torch.manual_seed(0)
    net = _scratch(book_gru)
    calls = []
    original = kernels.GRUBookSeq.apply
    monkeypatch.setattr(kernels.GRUBookSeq, "apply", lambda *a: calls.append(1) or original(*a))
    loss = nn.CrossEntropyLoss()
    ppl, _ = d2l.train_epoch_ch8(
        net, train_iter, loss, lambda batch_size: d2l.sgd(net.params, 1, batch_size), "cpu", False
    )
    assert len(calls) > len(list(train_iter)) and 1 < ppl < 30
