"""Training and prediction: behaviour, bad input, divergence, interruption, reproducibility."""

import math
import os
import re
import signal

import pytest
import torch
from torch import nn

import d2l_helpers as d2l

H = 32


def _scratch_gru(vocab, hidden=H):
    return d2l.RNNModelScratch(len(vocab), hidden, "cpu", d2l.get_gru_params, d2l.init_gru_state, d2l.gru)


@pytest.fixture
def small_data(time_machine):
    corpus, vocab = time_machine
    return d2l.SeqDataLoader(16, 20, False, 10000, seed=0, corpus=corpus[:4000], vocab=vocab), vocab


def test_training_lowers_perplexity_well_below_untrained(small_data):
    train_iter, vocab = small_data
    torch.manual_seed(0)
    net = d2l.RNNModel(nn.GRU(len(vocab), 64), len(vocab))
    untrained = d2l.evaluate_perplexity(net, train_iter, "cpu")
    hist = d2l.train_ch8(net, train_iter, vocab, 1, 30, "cpu")
    assert untrained > 20  # close to uniform over 28 characters
    assert hist.perplexity[-1] < 0.6 * untrained
    assert hist.perplexity[-1] < hist.perplexity[0]
    assert d2l.evaluate_perplexity(net, train_iter, "cpu") < 0.6 * untrained


def test_train_ch8_prints_the_books_lines_and_returns_history(small_data, capsys):
    train_iter, vocab = small_data
    torch.manual_seed(0)
    hist = d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, 1, 20, "cpu")
    lines = capsys.readouterr().out.splitlines()
    # one line naming the fast path that trains, then the book's lines:
    # two samples (epochs 10 and 20), the summary, then the two final predictions
    fast, *lines = lines
    assert fast == "Training with a faster equivalent of this scratch GRU (fast=False turns it off)"
    assert hist.fast_path == "scratch GRU kernel"
    assert len(lines) == 5
    assert all(line.startswith("time traveller") for line in lines[:2] + lines[3:4])
    assert lines[2].startswith("perplexity ") and lines[2].endswith(" tokens/sec on cpu")
    assert f"perplexity {hist.perplexity[-1]:.1f}, {hist.tokens_per_sec[-1]:.1f} tokens/sec" in lines[2]
    assert lines[4].startswith("traveller")
    assert hist.epochs == list(range(1, 21)) and len(hist.tokens_per_sec) == 20
    assert not hist.interrupted and hist.heldout_perplexity == []
    assert "20 epochs, perplexity" in repr(hist)


def test_heldout_perplexity_is_reported(small_data, capsys):
    train_iter, vocab = small_data
    corpus, _ = d2l.load_corpus_time_machine()
    held = d2l.data._HeldOut(corpus[10000:12000], 16, 20)
    torch.manual_seed(0)
    net = _scratch_gru(vocab)
    hist = d2l.train_ch8(net, train_iter, vocab, 1, 12, "cpu", heldout_iter=held, log_every=5)
    assert hist.heldout_epochs == [5, 10, 12]
    assert hist.heldout_perplexity[-1] == pytest.approx(d2l.evaluate_perplexity(net, held, "cpu"))
    assert f"held-out perplexity {hist.heldout_perplexity[-1]:.1f}" in capsys.readouterr().out


def test_epoch_cap_from_environment_is_announced(small_data, capsys, monkeypatch):
    train_iter, vocab = small_data
    monkeypatch.setenv("D2L_MAX_EPOCHS", "3")
    hist = d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, 1, 500, "cpu")
    assert len(hist.perplexity) == 3 and hist.num_epochs == 3
    assert "D2L_MAX_EPOCHS=3: training 3 of 500 epochs" in capsys.readouterr().out


def test_epoch_cap_above_num_epochs_is_silent(small_data, capsys, monkeypatch):
    train_iter, vocab = small_data
    monkeypatch.setenv("D2L_MAX_EPOCHS", "50")
    hist = d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, 1, 2, "cpu")
    assert len(hist.perplexity) == 2
    assert "D2L_MAX_EPOCHS" not in capsys.readouterr().out


def test_bad_epoch_cap_is_an_error(small_data, monkeypatch):
    train_iter, vocab = small_data
    monkeypatch.setenv("D2L_MAX_EPOCHS", "ten")
    with pytest.raises(ValueError, match="D2L_MAX_EPOCHS must be a positive integer"):
        d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, 1, 2, "cpu")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(lr=0), ValueError, "lr must be positive"),
        (dict(lr=-1.0), ValueError, "lr must be positive"),
        (dict(lr=float("nan")), ValueError, "lr must be positive"),
        (dict(lr="1"), TypeError, "lr must be a number"),
        (dict(num_epochs=0), ValueError, "num_epochs must be positive"),
        (dict(num_epochs=2.5), TypeError, "num_epochs must be an int"),
        (dict(num_epochs="500"), TypeError, "num_epochs must be an int"),
        (dict(grad_clip=0), ValueError, "grad_clip must be positive"),
        (dict(log_every=0), ValueError, "log_every must be positive"),
        (dict(plot="fancy"), ValueError, "plot must be one of"),
    ],
)
def test_train_ch8_rejects_bad_arguments(small_data, kwargs, error, match):
    train_iter, vocab = small_data
    args = dict(lr=1, num_epochs=1) | kwargs
    lr, num_epochs = args.pop("lr"), args.pop("num_epochs")
    with pytest.raises(error, match=match):
        d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, lr, num_epochs, "cpu", **args)


def test_divergence_stops_with_epoch_and_advice(small_data):
    train_iter, vocab = small_data
    torch.manual_seed(0)
    net = d2l.RNNModel(nn.RNN(len(vocab), H), len(vocab))
    with torch.no_grad():
        net.linear.weight.fill_(float("inf"))
    with pytest.raises(d2l.TrainingDiverged, match="in epoch 1.*smaller learning rate") as info:
        d2l.train_ch8(net, train_iter, vocab, 1, 5, "cpu")
    assert isinstance(info.value, FloatingPointError)


class _InterruptAt:
    """Wraps a loader; sends this process SIGINT at a given (epoch, batch)."""

    def __init__(self, loader, epoch, batch):
        self.loader, self.at, self.epoch = loader, (epoch, batch), 0

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.loader, start=1):
            if (self.epoch, i) == self.at:
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


def test_ctrl_c_stops_after_the_current_batch_keeps_everything_and_stops_the_cell(small_data, capsys):
    train_iter, vocab = small_data
    torch.manual_seed(0)
    net = _scratch_gru(vocab)
    before = [p.detach().clone() for p in net.parameters()]
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(d2l.TrainingInterrupted) as info:  # a KeyboardInterrupt: the cell (and any loop) stops
        d2l.train_ch8(net, _InterruptAt(train_iter, 3, 2), vocab, 1, 50, "cpu")
    assert isinstance(info.value, KeyboardInterrupt)
    hist = info.value.result
    assert hist is d2l.last_history()  # how a notebook gets the interrupted run's History back
    assert hist.interrupted
    assert len(hist.perplexity) == len(hist.tokens_per_sec) == 2  # the two full epochs: not the interrupted one
    assert all(math.isfinite(p) for p in hist.perplexity)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(torch.isfinite(p).all() for p in net.parameters())
    out = capsys.readouterr().out
    assert "perplexity" in out  # the book's last lines, then the exception says where it stopped
    assert str(info.value).startswith("Interrupted in epoch 3 of 50;") and "d2l.last_history()" in str(info.value)
    assert signal.getsignal(signal.SIGINT) is handler  # the user's handler is back


def test_a_loop_over_runs_stops_at_the_first_interrupt(small_data):
    """One Kernel > Interrupt ends the whole loop, not just the run in progress."""
    train_iter, vocab = small_data
    started = []
    with pytest.raises(d2l.TrainingInterrupted):
        for lr in (1, 2, 3):
            started.append(lr)
            loader = _InterruptAt(train_iter, 1, 2) if lr == 1 else train_iter
            d2l.train_ch8(_scratch_gru(vocab), loader, vocab, lr, 3, "cpu")
    assert started == [1]


def test_last_history_is_the_latest_run(small_data):
    train_iter, vocab = small_data
    hist = d2l.train_ch8(_scratch_gru(vocab), train_iter, vocab, 1, 2, "cpu")
    assert d2l.last_history() is hist and not hist.interrupted


def test_set_seed_makes_a_cpu_run_repeat_bit_for_bit():
    def run():
        d2l.set_seed(123)
        train_iter, vocab = d2l.load_data_time_machine(8, 10, use_random_iter=True, max_tokens=2000)
        net = _scratch_gru(vocab, 16)
        hist = d2l.train_ch8(net, train_iter, vocab, 1, 3, "cpu", use_random_iter=True)
        return hist.perplexity, [p.detach().clone() for p in net.parameters()]

    (ppl_a, w_a), (ppl_b, w_b) = run(), run()
    assert ppl_a == ppl_b
    assert all(torch.equal(a, b) for a, b in zip(w_a, w_b))


def test_grad_clipping_scales_to_theta_and_leaves_small_gradients():
    net = d2l.RNNModel(nn.RNN(4, 3), 4)
    for p in net.parameters():
        p.grad = torch.full_like(p, 10.0)
    d2l.grad_clipping(net, 1)
    norm = torch.sqrt(sum((p.grad**2).sum() for p in net.parameters()))
    assert norm.item() == pytest.approx(1.0, rel=1e-6)
    small = [p.grad.clone() for p in net.parameters()]
    d2l.grad_clipping(net, 5)
    assert all(torch.equal(a, p.grad) for a, p in zip(small, net.parameters()))
    with pytest.raises(ValueError, match="theta must be positive"):
        d2l.grad_clipping(net, 0)


def test_sgd_updates_in_place_and_zeroes_gradients():
    w = torch.ones(3, requires_grad=True)
    (2 * w).sum().backward()
    d2l.sgd([w], 0.5, 2)
    assert torch.equal(w.detach(), torch.full((3,), 0.5)) and torch.equal(w.grad, torch.zeros(3))


def test_train_epoch_ch8_accepts_the_books_updater(small_data):
    train_iter, vocab = small_data
    net = _scratch_gru(vocab)
    ppl, speed = d2l.train_epoch_ch8(
        net, train_iter, nn.CrossEntropyLoss(), lambda batch_size: d2l.sgd(net.params, 1, batch_size), "cpu", False
    )
    assert 1 < ppl < 30 and speed > 0


@pytest.mark.parametrize(
    "prefix, num_preds, match",
    [
        ("", 5, "non-empty string"),
        (None, 5, "non-empty string"),
        ("Time Traveller", 5, r"does not know: \['T'\].*lower"),
        ("time!", 5, r"does not know: \['!'\]"),
        ("time", -1, "num_preds must be >= 0"),
    ],
)
def test_predict_rejects_bad_input(small_data, prefix, num_preds, match):
    _, vocab = small_data
    with pytest.raises(ValueError, match=match):
        d2l.predict_ch8(prefix, num_preds, _scratch_gru(vocab), vocab, "cpu")


def test_predict_keeps_prefix_and_adds_num_preds(small_data):
    _, vocab = small_data
    out = d2l.predict_ch8("time traveller", 10, _scratch_gru(vocab), vocab, "cpu")
    assert out.startswith("time traveller")
    assert len(re.findall(r"<unk>|.", out[len("time traveller") :])) == 10  # ten tokens


def test_try_gpu_and_timer_and_accumulator():
    assert d2l.try_gpu(99) == torch.device("cpu") or torch.cuda.device_count() > 99
    assert d2l.try_all_gpus()
    acc = d2l.Accumulator(2)
    acc.add(1, torch.tensor(2.5))
    acc.add(1, 0.5)
    assert acc.data == [2.0, 3.0]
    acc.reset()
    assert acc[1] == 0.0
    t = d2l.Timer()
    t.stop()
    t.start()
    t.stop()
    assert len(t.times) == 2 and t.sum() >= 0 and t.cumsum()[-1] == pytest.approx(t.sum())
    with pytest.raises(TypeError, match="seed must be an int"):
        d2l.set_seed(1.5)


def test_numpy_numbers_are_accepted_like_python_ones(small_data, capsys):
    """Hyper-parameter loops over np.arange/np.linspace hand NumPy scalars to every function."""
    np = pytest.importorskip("numpy")
    train_iter, vocab = small_data
    torch.manual_seed(0)
    net = _scratch_gru(vocab)
    hist = d2l.train_ch8(net, train_iter, vocab, np.float32(1.0), np.int64(2), "cpu", log_every=np.int64(1))
    assert len(hist.perplexity) == 2
    assert len(d2l.predict_ch8("time", np.int64(3), net, vocab, "cpu")) == len("time") + 3
    loader, _ = d2l.load_data_time_machine(np.int64(4), np.int64(5), max_tokens=np.int64(500))
    X, Y = next(iter(loader))
    assert X.shape == Y.shape == (4, 5)


def test_model_on_another_device_is_a_clear_error(small_data):
    train_iter, vocab = small_data
    net = _scratch_gru(vocab)  # on the CPU
    for call in (
        lambda: d2l.train_ch8(net, train_iter, vocab, 1, 1, "meta"),
        lambda: d2l.predict_ch8("time", 3, net, vocab, torch.device("meta")),
        lambda: d2l.train_epoch_ch8(net, train_iter, nn.CrossEntropyLoss(), 1, "meta", False),
    ):
        with pytest.raises(ValueError, match=r"parameters are on cpu, but device is meta.*net = net.to\(device\)"):
            call()


def test_a_finite_loss_too_large_for_exp_is_divergence_not_overflow(small_data):
    train_iter, vocab = small_data
    net = _scratch_gru(vocab)

    def huge_loss(y_hat, y):  # finite, but exp(800) does not fit in a float
        return y_hat.sum() * 0 + 800.0

    with pytest.raises(d2l.TrainingDiverged, match="mean training loss reached 800 in epoch 1.*smaller learning rate"):
        d2l.train_epoch_ch8(
            net, train_iter, huge_loss, lambda batch_size: d2l.sgd(net.params, 1, batch_size), "cpu", False
        )


def test_a_list_state_works_as_in_the_book(small_data):
    """The book only iterates over the state, so a learner's init_state may return a list."""
    train_iter, vocab = small_data

    def init_list_state(batch_size, num_hiddens, device):
        return [torch.zeros((batch_size, num_hiddens), device=device)]

    torch.manual_seed(0)
    net = d2l.RNNModelScratch(len(vocab), H, "cpu", d2l.get_rnn_params, init_list_state, d2l.rnn)
    hist = d2l.train_ch8(net, train_iter, vocab, 1, 2, "cpu", fast=False)
    assert len(hist.perplexity) == 2 and all(math.isfinite(p) for p in hist.perplexity)
    assert d2l.predict_ch8("time", 5, net, vocab, "cpu").startswith("time")
