"""Bad input and faults, one table (issue 16): what each case raises and what its message says.

Every row is ``Case(id, call, error, words)``: ``call()`` must raise ``error``
(an exception class, or a tuple of them) whose message contains every one of
``words`` (case-insensitive). A case that must *not* raise, or that checks what
was kept on disk, is a plain test function further down, next to its section.

The sections follow the issue: the sweep and its cache (§1–§4), training in
both editions (§5), models, vocabularies and devices (§6), the rest (§7) and
downloads (§8).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from fakes import FakeDisplay
from torch import nn
from torch.nn import functional as F

import d2l_helpers as d2l
from d2l_helpers import dashboard as db


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    error: type[BaseException] | tuple[type[BaseException], ...]
    words: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# §1–§4: the sweep and its cache
# ---------------------------------------------------------------------------------------------

SWEEP_CASES: list[Case] = [
]


# ---------------------------------------------------------------------------------------------
# §5–§8: training, models, vocabularies, devices, the rest, downloads
# ---------------------------------------------------------------------------------------------
#
# The data are small slices of the Time Machine (from $D2L_DATA_DIR), made once; every model is
# made afresh inside its case. Where a case needs a machine it is not on (a GPU, none, MPS), it
# patches torch's own answers (torch.cuda.is_available, device_count) for the length of the call.

NAN = float("nan")
TINY = {"batch_size": 64, "num_steps": 8, "num_train": 512, "num_val": 128}


@functools.cache
def _zh_data():
    """(train_iter, vocab) of the Chinese edition: 16 x 20 minibatches over 2,000 characters."""
    corpus, vocab = d2l.load_corpus_time_machine(10000)
    return d2l.SeqDataLoader(16, 20, False, 10000, seed=0, corpus=corpus[:2000], vocab=vocab), vocab


@functools.cache
def _en_data():
    """The English edition's TimeMachine, tiny: 8 training and 2 validation minibatches."""
    return d2l.TimeMachine(**TINY)


def _gru(vocab_size=28, hidden=8, device="cpu"):
    torch.manual_seed(0)
    return d2l.RNNModelScratch(vocab_size, hidden, device, d2l.get_gru_params, d2l.init_gru_state, d2l.gru)


def _train(net=None, vocab=None, train_iter=None, lr=1, num_epochs=1, device="cpu", *args, **kwargs):
    """train_ch8 on the small data, fast path off (so that every case runs the code as written)."""
    zh_iter, zh_vocab = _zh_data()
    net = _gru() if net is None else net
    kwargs.setdefault("fast", False)
    return d2l.train_ch8(
        net, zh_iter if train_iter is None else train_iter, zh_vocab if vocab is None else vocab, lr, num_epochs,
        device, *args, **kwargs,
    )  # fmt: skip


def _lm(vocab_size=28, lr=1, cell=None):
    torch.manual_seed(0)
    return d2l.RNNLMScratch(cell or d2l.RNNScratch(vocab_size, 8), vocab_size, lr=lr)


def _fit(model=None, data=None, max_epochs=2, **kwargs):
    trainer = d2l.Trainer(max_epochs=max_epochs, **kwargs)
    trainer.fit(_lm() if model is None else model, _en_data() if data is None else data)
    return trainer


@contextlib.contextmanager
def _patched(available, count, mps=None):
    """This machine as one with ``count`` GPUs (``available``: torch.cuda.is_available()) and MPS or not."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.cuda, "is_available", lambda: available))
        stack.enter_context(mock.patch.object(torch.cuda, "device_count", lambda: count))
        if mps is not None:
            stack.enter_context(mock.patch.object(torch.backends.mps, "is_available", lambda: mps))
        yield


def _on(machine, call):
    """``call`` run on a patched ``machine``: (cuda available, GPU count)."""

    def run():
        with _patched(*machine):
            return call()

    return run


def _trained_zh():
    """A scratch GRU trained one epoch with the Chinese edition's vocabulary (sorted by frequency)."""
    net = _gru()
    _train(net, plot="off")
    return net


def _en_vocab_of_the_same_tokens():
    """The English edition's vocabulary of the same text: the same 28 tokens, sorted alphabetically."""
    return _en_data().vocab


def _trained_en():
    model = _lm()
    _fit(model, max_epochs=1)
    return model


class _NoBeginState(nn.Module):
    """A model that trains with d2l.Trainer, not with train_ch8: no begin_state."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(28, 28)

    def forward(self, X, state):
        return self.linear(F.one_hot(X.T.reshape(-1), 28).float()), state


class _NoParameters:
    """begin_state and a call, but nothing to train."""

    vocab_size = 28

    def begin_state(self, batch_size, device):
        return torch.zeros(batch_size, 4)

    def __call__(self, X, state):
        return torch.zeros(X.numel(), 28), state

    def parameters(self):
        return iter([])


class _Regression(d2l.Module):
    """w * x, squared loss: a d2l.Module of the learner's own, configured by the arguments."""

    def __init__(self, lr=None, with_params=True):
        super().__init__()
        if lr is not None:
            self.lr = lr
        if with_params:
            self.w = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        return X * self.w

    def loss(self, y_hat, y):
        return ((y_hat - y) ** 2).mean()


class _NoOptimizer(_Regression):
    def configure_optimizers(self):
        torch.optim.SGD(self.parameters(), lr=0.1)  # forgot the return


class _Line(d2l.DataModule):
    """y = 3x; ``get_dataloader`` returns None when ``broken``."""

    def __init__(self, broken=False):
        super().__init__()
        self.broken, self.batch_size = broken, 8
        self.x = torch.arange(32.0).reshape(-1, 1) / 32
        self.y = 3 * self.x

    def get_dataloader(self, train):
        if self.broken:
            return None  # forgot the return value
        return self.get_tensorloader([self.x, self.y], train)


class _BytesTimeMachine(d2l.TimeMachine):
    """A TimeMachine whose _download reads the file in binary mode."""

    def _download(self):
        with open(d2l.download(), "rb") as f:
            return f.read()


def _download_offline(name, *args, **kwargs):
    """download with no server reachable (a closed port on 127.0.0.1) and no offline folder."""
    with mock.patch.dict(os.environ, {"D2L_DATA_URL": "http://127.0.0.1:9/"}), tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("D2L_DATA_DIR", None)
        return d2l.download(name, *args, folder=tmp, **kwargs)


SHA1_OF_NOTHING = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


TRAIN_CASES: list[Case] = [
    # §5 training stops, and reports, the same way in both editions
    *[
        Case(
            f"fit-diverges-lr-{lr:g}-clip-{clip}",
            lambda lr=lr, clip=clip: _fit(_lm(lr=lr), max_epochs=5, gradient_clip_val=clip),
            d2l.TrainingDiverged,
            ("in epoch 1", "diverged", "smaller learning rate"),
        )
        for lr in (1e6, 1e10, 1e30)
        for clip in (0, 1)
    ],
    Case("rnnlm-lr-nan", lambda: _lm(lr=NAN), ValueError, ("lr", "positive and finite")),
    Case("rnnlm-lr-negative", lambda: _lm(lr=-1), ValueError, ("lr", "positive")),
    Case("rnnlm-lr-str", lambda: _lm(lr="0.1"), TypeError, ("lr must be a number", "'0.1'")),
    Case("sgd-lr-nan", lambda: d2l.SGD([nn.Parameter(torch.zeros(1))], NAN), ValueError, ("lr", "finite")),
    Case("module-lr-negative-at-fit", lambda: _fit(_Regression(lr=-1), _Line()), ValueError, ("lr", "positive")),
    Case("train-ch8-heldout-is-vocab", lambda: _train(heldout_iter=_zh_data()[1]), TypeError, ("heldout_iter",)),
    Case("train-ch8-heldout-is-text", lambda: _train(heldout_iter="a text"), TypeError, ("heldout_iter", "str")),
    Case(
        "train-ch8-heldout-is-a-corpus",
        lambda: _train(heldout_iter=list(range(100))),
        TypeError,
        ("heldout_iter", "(X, Y)", "int"),
    ),
    Case(
        "train-ch8-heldout-is-one-pass",
        lambda: _train(heldout_iter=iter(list(_zh_data()[0])), num_epochs=2, log_every=1),
        TypeError,
        ("heldout_iter", "one-pass"),
    ),
    Case("train-ch8-vocab-is-a-list", lambda: _train(vocab=list("abc")), TypeError, ("vocab", "vocabulary", "list")),
    Case(
        "train-ch8-vocab-and-iter-swapped",
        lambda: _train(vocab=_zh_data()[0], train_iter=_zh_data()[1]),
        TypeError,
        ("train_iter", "got vocab"),
    ),
    # §6 models, vocabularies and devices are checked against each other
    Case("train-ch8-model-for-33-tokens", lambda: _train(_gru(33)), ValueError, ("33 tokens", "28", "len(vocab)")),
    Case("train-ch8-model-for-20-tokens", lambda: _train(_gru(20)), ValueError, ("20 tokens", "28")),
    Case(
        "train-ch8-nn-model-for-33-tokens",
        lambda: _train(d2l.RNNModel(nn.GRU(33, 8), 33)),
        ValueError,
        ("33 tokens", "28"),
    ),
    Case(
        "predict-ch8-model-for-33-tokens",
        lambda: d2l.predict_ch8("time", 10, _gru(33), _zh_data()[1], "cpu"),
        ValueError,
        ("33 tokens", "28"),
    ),
    Case("fit-model-for-33-tokens", lambda: _fit(_lm(33)), ValueError, ("33 tokens", "data.vocab has 28")),
    Case(
        "predict-en-model-for-20-tokens",
        lambda: _lm(20).predict("time", 10, _en_data().vocab),
        ValueError,
        ("20 tokens", "28"),
    ),
    Case(
        "predict-ch8-with-the-english-vocab",
        lambda: d2l.predict_ch8("time", 10, _trained_zh(), _en_vocab_of_the_same_tokens(), "cpu"),
        ValueError,
        ("same 28 tokens", "other edition", "d2l.Vocab", "alphabetically"),
    ),
    Case(
        "train-ch8-again-with-the-english-vocab",
        lambda: _train(_trained_zh(), vocab=_en_vocab_of_the_same_tokens()),
        ValueError,
        ("same 28 tokens", "other edition"),
    ),
    Case(
        "predict-en-with-the-chinese-vocab",
        lambda: _trained_en().predict("time", 10, _zh_data()[1]),
        ValueError,
        ("same 28 tokens", "other edition", "frequency"),
    ),
    Case(
        "train-ch8-device-gpu",
        lambda: _train(device="gpu"),
        ValueError,
        ("device='gpu'", "'cuda'", "this machine has", "d2l.try_gpu()"),
    ),
    Case(
        "train-ch8-device-cuda-without-gpu",
        _on((False, 0), lambda: _train(device="cuda")),
        ValueError,
        ("device='cuda'", "no gpu", "d2l.try_gpu()"),
    ),
    Case(
        "train-ch8-device-cuda-1-with-one-gpu",
        _on((True, 1), lambda: _train(device="cuda:1")),
        ValueError,
        ("device='cuda:1'", "1 gpu (cuda:0)", "d2l.try_gpu()"),
    ),
    Case("train-ch8-device-cuda-minus-1", lambda: _train(device="cuda:-1"), ValueError, ("cuda:-1", "try_gpu")),
    Case(
        "train-ch8-device-mps-unsupported",
        _on((False, 0, False), lambda: _train(device="mps")),
        ValueError,
        ("device='mps'", "mps", "d2l.try_gpu()"),
    ),
    Case("train-ch8-device-none", lambda: _train(device=None), TypeError, ("device", "none", "d2l.try_gpu()")),
    Case(
        "predict-ch8-device-gpu",
        lambda: d2l.predict_ch8("time", 5, _gru(), _zh_data()[1], "gpu"),
        ValueError,
        ("device='gpu'", "try_gpu"),
    ),
    Case(
        "rnn-model-scratch-device-cuda-without-gpu",
        _on((False, 0), lambda: _gru(device="cuda")),
        ValueError,
        ("device='cuda'", "no gpu", "try_gpu"),
    ),
    Case(
        "get-params-device-cuda-without-gpu",
        _on((False, 0), lambda: d2l.get_rnn_params(28, 8, "cuda")),
        ValueError,
        ("device='cuda'", "try_gpu"),
    ),
    Case(
        "predict-en-device-gpu",
        lambda: _lm().predict("time", 5, _en_data().vocab, "gpu"),
        ValueError,
        ("device='gpu'", "try_gpu"),
    ),
    # §7 the rest of the raw and silent inputs
    Case("max-tokens-0", lambda: d2l.load_corpus_time_machine(0), ValueError, ("max_tokens", "-1 for the whole")),
    Case("max-tokens-minus-5", lambda: d2l.load_corpus_time_machine(-5), ValueError, ("max_tokens", "-1")),
    Case(
        "load-data-max-tokens-0",
        lambda: d2l.load_data_time_machine(32, 35, max_tokens=0),
        ValueError,
        ("max_tokens",),
    ),
    Case(
        "seq-data-loader-use-random-iter-no",
        lambda: d2l.SeqDataLoader(2, 5, "no", 10000),
        TypeError,
        ("use_random_iter", "true or false", "'no'"),
    ),
    Case(
        "load-data-use-random-iter-no",
        lambda: d2l.load_data_time_machine(32, 35, "no"),
        TypeError,
        ("use_random_iter",),
    ),
    Case("train-ch8-use-random-iter-no", lambda: _train(use_random_iter="no"), TypeError, ("use_random_iter",)),
    Case("vocab-min-freq-str", lambda: d2l.Vocab(list("aab"), min_freq="2"), TypeError, ("min_freq", "'2'")),
    Case("vocab-tokens-int", lambda: d2l.Vocab(123), TypeError, ("tokens", "list of tokens", "int")),
    Case(
        "vocab-reserved-holds-unk",
        lambda: d2l.Vocab(list("ab"), reserved_tokens=["<unk>"]),
        ValueError,
        ("reserved_tokens", "<unk>"),
    ),
    Case(
        "vocab-reserved-twice",
        lambda: d2l.Vocab(list("ab"), reserved_tokens=["<pad>", "<pad>"]),
        ValueError,
        ("reserved_tokens", "<pad>", "more than once"),
    ),
    Case(
        "vocab-reserved-a-string",
        lambda: d2l.Vocab(list("ab"), reserved_tokens="<pad>"),
        TypeError,
        ("reserved_tokens", "list of tokens", "'<pad>'"),
    ),
    Case(
        "alphabetical-vocab-min-freq-str",
        lambda: d2l.AlphabeticalVocab(list("aab"), min_freq="2"),
        TypeError,
        ("min_freq",),
    ),
    Case("alphabetical-vocab-tokens-int", lambda: d2l.AlphabeticalVocab(123), TypeError, ("tokens", "int")),
    Case(
        "alphabetical-vocab-mixed-types",
        lambda: d2l.AlphabeticalVocab(["a", 1, "b"]),
        TypeError,
        ("tokens", "strings", "int"),
    ),
    Case(
        "seq-data-loader-str-corpus",
        lambda: d2l.SeqDataLoader(2, 3, False, -1, corpus="the time machine by h g wells", vocab=None),
        TypeError,
        ("corpus", "token indices", "str"),
    ),
    Case(
        "seq-data-loader-corpus-beyond-vocab",
        lambda: d2l.SeqDataLoader(2, 3, False, -1, corpus=list(range(40)), vocab=_zh_data()[1]),
        ValueError,
        ("corpus", "39", "28 tokens"),
    ),
    Case("train-ch8-net-without-begin-state", lambda: _train(_NoBeginState()), TypeError, ("begin_state", "Trainer")),
    Case("train-ch8-english-model", lambda: _train(_lm()), TypeError, ("begin_state", "Trainer")),
    Case("train-ch8-net-without-parameters", lambda: _train(_NoParameters()), ValueError, ("no trainable parameters",)),
    Case(
        "sgd-batch-size-0",
        lambda: d2l.sgd([torch.zeros(2, requires_grad=True)], 0.1, 0),
        ValueError,
        ("batch_size", "positive"),
    ),
    Case("get-rnn-params-num-hiddens-0", lambda: d2l.get_rnn_params(28, 0, "cpu"), ValueError, ("num_hiddens",)),
    Case("get-gru-params-num-hiddens-0", lambda: d2l.get_gru_params(28, 0, "cpu"), ValueError, ("num_hiddens",)),
    *[
        Case(f"{cell.__name__}-num-hiddens-{value!r}", lambda cell=cell, value=value: cell(28, value), error, words)
        for cell in (d2l.RNNScratch, d2l.GRUScratch, d2l.LSTMScratch, d2l.RNN, d2l.GRU, d2l.LSTM)
        for value, error, words in (
            (0, ValueError, ("num_hiddens", "positive")),
            ("32", TypeError, ("num_hiddens", "int", "'32'")),
            (32.0, TypeError, ("num_hiddens", "int", "32.0")),
        )
    ],
    Case("stacked-rnn-num-hiddens-0", lambda: d2l.StackedRNNScratch(28, 0, 2), ValueError, ("num_hiddens",)),
    Case("rnn-scratch-num-inputs-str", lambda: d2l.RNNScratch("28", 8), TypeError, ("num_inputs", "int")),
    Case(
        "module-without-lr-or-optimizer",
        lambda: _fit(_Regression(), _Line()),
        TypeError,
        ("lr", "configure_optimizers"),
    ),
    Case(
        "module-configure-optimizers-returns-none",
        lambda: _fit(_NoOptimizer(lr=0.1), _Line()),
        TypeError,
        ("configure_optimizers()", "returned nonetype", "return"),
    ),
    Case(
        "module-without-parameters",
        lambda: _fit(_Regression(lr=0.1, with_params=False), _Line()),
        ValueError,
        ("no parameters",),
    ),
    Case(
        "data-module-get-dataloader-returns-none",
        lambda: _fit(_Regression(lr=0.1), _Line(broken=True)),
        TypeError,
        ("get_dataloader(train=true)", "returned nonetype"),
    ),
    Case("time-machine-bytes", lambda: _BytesTimeMachine(**TINY), TypeError, ("raw_text", "str", "decode")),
    # §8 downloads stay in their folder
    *[
        Case(
            f"download-name-{label}",
            lambda name=name: _download_offline(name, SHA1_OF_NOTHING),
            ValueError,
            ("path separator", "'..'", repr(name)),
        )
        for label, name in (
            ("dotdot-escape", "../escape.txt"),
            ("dotdot", ".."),
            ("subfolder", "sub/escape.txt"),
            ("absolute", "/tmp/escape.txt"),
            ("backslash", "..\\escape.txt"),
        )
    ],
    Case(
        "download-url-ending-in-dotdot",
        lambda: _download_offline("http://127.0.0.1:9/a/..", SHA1_OF_NOTHING),
        ValueError,
        ("path separator",),
    ),
    Case(
        "download-deadline-0",
        lambda: _download_offline("x.txt", SHA1_OF_NOTHING, deadline=0),
        ValueError,
        ("deadline",),
    ),
]


# §5: stops and reports, the same way in both editions (what a raised message cannot show)


class _BatchCounter:
    """A loader that counts the minibatches drawn from it."""

    def __init__(self, loader):
        self.loader, self.drawn = loader, 0

    def __iter__(self):
        for batch in self.loader:
            self.drawn += 1
            yield batch


@pytest.mark.parametrize("bad", ["heldout_iter", "vocab"])
def test_a_wrong_heldout_iter_or_vocab_fails_before_the_first_epoch(bad):
    train_iter, vocab = _zh_data()
    counted = _BatchCounter(train_iter)
    kwargs = {"heldout_iter": vocab} if bad == "heldout_iter" else {"vocab": "abcdefghijklmnopqrstuvwxyz "}
    with pytest.raises(TypeError, match=bad):
        _train(train_iter=counted, num_epochs=3, **kwargs)
    assert counted.drawn == 0


def _catch(call):
    """Run ``call``; return what it raised (KeyboardInterrupt included, which pytest would take as a stop)."""
    try:
        call()
    except BaseException as err:  # noqa: B036 - a bare KeyboardInterrupt escaping is what the tests look for
        return err
    return None


def test_last_history_is_the_latest_run_of_either_edition_also_an_interrupted_fit(monkeypatch):
    monkeypatch.setattr(d2l.train, "_LAST", [None])
    first = _train(plot="off")  # the Chinese edition's run ...
    assert d2l.last_history() is first
    trainer = d2l.Trainer(max_epochs=20, gradient_clip_val=1)
    err = _catch(lambda: trainer.fit(_lm(), _SigintAt(_en_data(), epoch=2, batch=3)))  # ... then an interrupted fit
    assert isinstance(err, d2l.TrainingInterrupted), err
    assert d2l.last_history() is trainer.history and err.result is trainer.history
    assert len(trainer.history.perplexity) == 2 and trainer.history.interrupted
    monkeypatch.setattr(d2l.train, "_LAST", [None])
    _catch(lambda: d2l.Trainer(max_epochs=20).fit(_lm(), _SigintAt(_en_data(), epoch=1, batch=1)))
    assert d2l.last_history().perplexity  # the only run, although interrupted in its first epoch


class _SigintAt(d2l.DataModule):
    """The tiny TimeMachine; its training loader sends this process SIGINT at one (epoch, batch)."""

    def __init__(self, data, epoch, batch):
        super().__init__()
        self.data, self.at, self.epoch, self.vocab = data, (epoch, batch), 0, data.vocab

    def train_dataloader(self):
        outer, loader = self, self.data.train_dataloader()

        class Loader:
            def __len__(self):
                return len(loader)

            def __iter__(self):
                outer.epoch += 1
                for i, batch in enumerate(loader, 1):
                    if (outer.epoch, i) == outer.at:
                        os.kill(os.getpid(), signal.SIGINT)
                    yield batch

        return Loader()

    def val_dataloader(self):
        return self.data.val_dataloader()


class _SigintAtBatch:
    """A train_ch8 loader that sends this process SIGINT at one (epoch, batch)."""

    def __init__(self, loader, epoch, batch):
        self.loader, self.at, self.epoch = loader, (epoch, batch), 0

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.loader, 1):
            if (self.epoch, i) == self.at:
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


class _SigintInPrediction(d2l.RNNModelScratch):
    """A scratch GRU that sends this process SIGINT at its n-th prediction step (batch size 1)."""

    def __init__(self, vocab_size, at_step):
        torch.manual_seed(0)
        super().__init__(vocab_size, 8, "cpu", d2l.get_gru_params, d2l.init_gru_state, d2l.gru)
        self.at_step, self.steps = at_step, 0

    def __call__(self, X, state):
        if X.shape[0] == 1:
            self.steps += 1
            if self.steps == self.at_step:
                os.kill(os.getpid(), signal.SIGINT)
        return super().__call__(X, state)


class _Panel:
    """The widget panel without a frontend: records the PNG it ends as; ``sigint`` interrupts its closing."""

    def __init__(self, monkeypatch, sigint=False):
        self.pngs, self.sigint = [], sigint
        monkeypatch.setattr(db, "_in_kernel", lambda: True)
        monkeypatch.setattr(db, "show_panel", lambda box, display=None: FakeDisplay())
        monkeypatch.setattr(db, "finish_panel", self.finish)

    def finish(self, handle, png, widgets, images=()):
        if self.sigint:  # a second Ctrl-C while the panel turns into its PNG
            os.kill(os.getpid(), signal.SIGINT)
        self.pngs.append(png)
        for widget in widgets:
            widget.close()


# Where the second Ctrl-C comes (the first: during epoch 1's second minibatch). Epoch 1 then ends and
# logs its sample, predict('time traveller'): prediction steps 1-63 (13 of the prefix, 50 predicted);
# the panel closes; the closing lines predict 'time traveller' (steps 64-126) and 'traveller' (127-184).
SECOND_CTRL_C = {
    "in-the-epochs-sample": 5,
    "while-the-panel-closes": None,
    "in-the-first-closing-prediction": 70,
    "in-the-second-closing-prediction": 130,
}


@pytest.mark.parametrize("where", sorted(SECOND_CTRL_C))
def test_a_second_ctrl_c_during_the_closing_lines_still_ends_as_training_interrupted(monkeypatch, capsys, where):
    train_iter, vocab = _zh_data()
    at_step = SECOND_CTRL_C[where]
    panel = _Panel(monkeypatch, sigint=at_step is None)
    net = _SigintInPrediction(len(vocab), at_step or -1)
    handler = signal.getsignal(signal.SIGINT)
    err = _catch(lambda: _train(net, train_iter=_SigintAtBatch(train_iter, 1, 2), num_epochs=5, plot="widget"))
    assert isinstance(err, d2l.TrainingInterrupted), f"{type(err).__name__}: {err}"
    assert "Interrupted in epoch 1 of 5" in str(err) and err.result.interrupted
    assert len(panel.pngs) == 1 and panel.pngs[0].startswith(b"\x89PNG")  # the panel became its PNG
    assert signal.getsignal(signal.SIGINT) is handler
    assert net.steps >= (at_step or 0)  # the second Ctrl-C was sent where this case says
    assert "Interrupted in epoch 1 of 5" in capsys.readouterr().out


def test_a_ctrl_c_after_the_last_epoch_stops_the_cell_too(monkeypatch):
    """The run has finished; a first Ctrl-C during its closing predictions still stops the cell (and a loop)."""
    train_iter, vocab = _zh_data()
    net = _SigintInPrediction(len(vocab), 70)  # in the first closing prediction (one epoch, logged at its end)
    err = _catch(lambda: _train(net, num_epochs=1, plot="off"))
    assert isinstance(err, d2l.TrainingInterrupted), err
    assert "after epoch 1 of 1" in str(err) and len(err.result.perplexity) == 1


@pytest.mark.parametrize("where", ["in-the-epochs-sample", "while-the-panel-closes"])
def test_a_second_ctrl_c_in_fit_still_ends_as_training_interrupted(monkeypatch, where):
    data = _en_data()
    panel = _Panel(monkeypatch, sigint=where == "while-the-panel-closes")
    model, steps = _lm(), []
    if where == "in-the-epochs-sample":  # the panel's sample after the interrupted epoch
        predict = model.predict

        def sigint_in_predict(*args, **kwargs):
            steps.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            return predict(*args, **kwargs)

        monkeypatch.setattr(model, "predict", sigint_in_predict)
    trainer = d2l.Trainer(max_epochs=5, gradient_clip_val=1, plot="widget")
    err = _catch(lambda: trainer.fit(model, _SigintAt(data, epoch=1, batch=2)))
    assert isinstance(err, d2l.TrainingInterrupted), f"{type(err).__name__}: {err}"
    assert where != "in-the-epochs-sample" or steps  # the second Ctrl-C came from the sample
    assert err.result is trainer.history and d2l.last_history() is trainer.history
    assert len(panel.pngs) == 1 and panel.pngs[0].startswith(b"\x89PNG")


# §6: the vocabulary is remembered, not only checked


def test_the_model_remembers_its_vocabulary_and_accepts_an_equal_one():
    net = _trained_zh()
    _, vocab = _zh_data()
    same = d2l.Vocab(d2l.tokenize(d2l.read_time_machine(), "char"))  # another object, the same order
    assert d2l.predict_ch8("time", 5, net, same, "cpu").startswith("time")
    model = _trained_en()
    assert model.predict("time", 5, d2l.AlphabeticalVocab(list(_en_data().vocab.idx_to_token))).startswith("time")


def test_check_device_accepts_what_the_machine_has():
    from d2l_helpers.checks import check_device

    assert check_device("cpu") == torch.device("cpu") and check_device(torch.device("cpu")).type == "cpu"
    with _patched(True, 2):
        assert check_device("cuda") == torch.device("cuda") and check_device("cuda:1").index == 1
        assert check_device(np.int64(1)) == torch.device("cuda:1")
        with pytest.raises(ValueError, match=r"2 GPUs \(cuda:0, cuda:1\)"):
            check_device("cuda:2")
    with _patched(False, 0, mps=True):
        assert check_device("mps").type == "mps"


# §7: what must keep working


def test_max_tokens_minus_1_is_still_the_whole_book():
    whole, _ = d2l.load_corpus_time_machine(-1)
    assert len(whole) == len(d2l.load_corpus_time_machine(10**9)[0]) > 100_000
    assert len(d2l.load_corpus_time_machine(np.int64(500))[0]) == 500


def test_numpy_numbers_and_bools_are_accepted_like_pythons():
    corpus, vocab = d2l.load_corpus_time_machine(2000)
    loader = d2l.SeqDataLoader(np.int64(4), np.int32(5), np.bool_(True), np.int64(2000), corpus=corpus, vocab=vocab)
    assert loader.use_random_iter is True
    assert len(d2l.Vocab(list("aab"), min_freq=np.int64(2))) == 2
    assert d2l.RNNScratch(np.int64(28), np.int64(8)).num_hiddens == 8
    assert _lm(lr=np.float32(0.5)).lr == np.float32(0.5)
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    d2l.sgd([p], np.float64(0.1), np.int64(2))
    assert torch.allclose(p.detach(), torch.full((2,), -0.05))


def test_reserved_tokens_still_work_as_the_book_uses_them():
    vocab = d2l.Vocab([["a", "b"], ["b"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    assert vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"] and vocab["<unk>"] == vocab.unk == 0
    en = d2l.AlphabeticalVocab(list("ba"), reserved_tokens=["<unk>", "<pad>", "<pad>"])  # 1.0: a set, harmless
    assert en.idx_to_token == ["<pad>", "<unk>", "a", "b"]


# §8 downloads have a deadline and stay in their folder


class _Dripping(http.server.BaseHTTPRequestHandler):
    """Serves GOOD (50 bytes) at one byte every 0.2 s while ``drip``, so that a download takes 10 s; else at once."""

    GOOD = b"the time traveller was expounding a recondite matter"[:50]
    drip = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.GOOD)))
        self.end_headers()
        try:
            if not type(self).drip:
                self.wfile.write(self.GOOD)
                return
            for byte in self.GOOD:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline), or was killed
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def dripping(monkeypatch, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    monkeypatch.setattr(_Dripping, "drip", True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setenv("D2L_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"
    httpd.shutdown()
    httpd.server_close()


DRIP_SHA1 = hashlib.sha1(_Dripping.GOOD).hexdigest()


def test_a_dripping_server_meets_the_deadline_not_25_hours(dripping):
    start = time.monotonic()
    with pytest.raises(d2l.DataError, match=r"did not finish within deadline=1 seconds.*bytes received") as info:
        d2l.download("drip.txt", DRIP_SHA1, timeout=2, deadline=1)
    took = time.monotonic() - start
    assert 1 <= took < 5, took  # every byte came within timeout=2; the 10 s download stopped at its deadline
    assert "D2L_DATA_DIR" in str(info.value)
    assert os.listdir(dripping) == []  # nothing left behind, not even the part file


def test_the_default_deadline_bounds_what_time_machine_uses(dripping, monkeypatch):
    monkeypatch.setattr(d2l.data, "DOWNLOAD_DEADLINE", 0.6)
    start = time.monotonic()
    with pytest.raises(d2l.DataError, match="deadline=0.6"):
        d2l.download("drip.txt", DRIP_SHA1)  # no deadline= given, as d2l.TimeMachine() calls it
    assert time.monotonic() - start < 5


def test_a_name_that_climbs_out_writes_nothing_outside(dripping, tmp_path):
    with pytest.raises(ValueError, match="path separator"):
        d2l.download("../escape.txt", DRIP_SHA1)
    assert not (tmp_path / "escape.txt").exists() and not dripping.exists()


def _part_of(cache, name, pid, host=None, age=0.0):
    """A part file as a download writes it (``pid`` None: the older form, without one), ``age`` seconds old."""
    host = d2l.partfiles._HOST if host is None else host
    middle = "" if pid is None else f"{pid}-{host}."
    _part_of.made += 1
    part = cache / f".{name}.{middle}part{_part_of.made:04d}.part"  # (mkstemp's 8 random characters)
    part.write_bytes(b"half a download")
    if age:
        os.utime(part, (time.time() - age, time.time() - age))
    return part


_part_of.made = 0


def test_stale_part_files_are_cleaned_up_and_live_ones_kept(dripping):
    dripping.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    stale = [
        _part_of(dripping, "book.txt", dead.pid),  # its writer is dead
        _part_of(dripping, "book.txt", None, age=2 * 3600),  # untouched for two hours
        _part_of(dripping, "book.txt", os.getpid(), age=2 * 3600),  # alive, but untouched for two hours
    ]
    kept = [
        _part_of(dripping, "book.txt", os.getpid()),  # a download in progress in this process
        _part_of(dripping, "book.txt", None),  # no pid, recent
        _part_of(dripping, "book.txt", dead.pid, host="0" * 8),  # another machine's: its pid means nothing here
        _part_of(dripping, "other.txt", dead.pid),  # another file's
    ]
    _Dripping.drip = False
    d2l.download("book.txt", DRIP_SHA1)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert (dripping / "book.txt").read_bytes() == _Dripping.GOOD
    assert sorted(p.name for p in dripping.iterdir()) == sorted(["book.txt", *(p.name for p in kept)])


def test_on_windows_only_the_age_counts_and_no_pid_is_probed(tmp_path, monkeypatch):
    """os.kill(pid, 0) would end the process on Windows: there, a part file is stale only by its age."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    young, old = _part_of(tmp_path, "book.txt", dead.pid), _part_of(tmp_path, "book.txt", dead.pid, age=2 * 3600)
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("os.kill was called on 'Windows'"))
    assert d2l.partfiles.remove_stale_parts(tmp_path, "book.txt") == [old.name]
    assert young.exists() and not old.exists()


def test_the_part_file_of_a_sigkilled_download_is_removed_by_the_next_one(dripping):
    code = f"import d2l_helpers as d2l; d2l.download('drip.txt', {DRIP_SHA1!r}, deadline=60)"
    package = os.path.dirname(os.path.dirname(d2l.__file__))  # the d2l_helpers these tests import
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {"PYTHONPATH": package})
    try:
        deadline = time.monotonic() + 60
        while not list(dripping.glob(".drip.txt.*.part")) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        parts = list(dripping.glob(".drip.txt.*.part"))
        assert parts, "the child never started its download"
    finally:
        child.kill()  # SIGKILL: no finally clause of the child runs
        child.wait()
    assert all(p.exists() for p in parts)  # left behind, as the issue saw
    _Dripping.drip = False
    d2l.download("drip.txt", DRIP_SHA1)  # the next download of that file
    assert not any(p.exists() for p in parts)
    assert os.listdir(dripping) == ["drip.txt"]


# ---------------------------------------------------------------------------------------------
# The table's test
# ---------------------------------------------------------------------------------------------

CASES = SWEEP_CASES + TRAIN_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error(case):
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value).lower()
    missing = [w for w in case.words if w.lower() not in message]
    assert not missing, f"{case.id}: the message {str(info.value)!r} lacks {missing}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
