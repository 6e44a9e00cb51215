"""Against upstream d2l 0.17.6, loaded from its own source (see upstream_d2l.py).

Same vocabulary, same batches for the same seed, same predictions for the same
weights, and the same per-epoch perplexities from the same initial weights.
"""

import copy
import random
import re

import pytest
import torch
from torch import nn

import d2l_helpers as d2l


def test_vocab_and_corpus_identical(upstream):
    up_corpus, up_vocab = upstream.load_corpus_time_machine(10000)
    corpus, vocab = d2l.load_corpus_time_machine(10000)
    assert vocab.idx_to_token == up_vocab.idx_to_token
    assert vocab.token_to_idx == up_vocab.token_to_idx
    assert vocab.token_freqs == up_vocab.token_freqs
    assert corpus == up_corpus
    full, _ = d2l.load_corpus_time_machine()
    assert full == upstream.load_corpus_time_machine()[0]


def test_word_vocab_identical(upstream):
    lines = d2l.read_time_machine()
    assert lines == upstream.read_time_machine()
    up = upstream.Vocab(upstream.tokenize(lines), min_freq=2, reserved_tokens=["<pad>"])
    ours = d2l.Vocab(d2l.tokenize(lines), min_freq=2, reserved_tokens=["<pad>"])
    assert ours.idx_to_token == up.idx_to_token


def _batches(it):
    return [(X.tolist(), Y.tolist()) for X, Y in it]


@pytest.mark.parametrize("kind", ["random", "sequential"])
@pytest.mark.parametrize("seed", [0, 1, 2020])
@pytest.mark.parametrize("batch_size, num_steps", [(2, 5), (32, 35)])
def test_batches_identical_given_the_same_seed(upstream, time_machine, kind, seed, batch_size, num_steps):
    corpus, _ = time_machine
    corpus = corpus if batch_size > 2 else list(range(35))
    random.seed(seed)
    up = _batches(getattr(upstream, f"seq_data_iter_{kind}")(corpus, batch_size, num_steps))
    ours = _batches(getattr(d2l, f"seq_data_iter_{kind}")(corpus, batch_size, num_steps, rng=seed))
    assert ours == up and ours


@pytest.mark.parametrize("use_random_iter", [False, True])
def test_loader_epochs_identical(upstream, use_random_iter):
    random.seed(11)
    up_iter, _ = upstream.load_data_time_machine(32, 35, use_random_iter)
    up = [_batches(up_iter) for _ in range(3)]
    ours_iter, _ = d2l.load_data_time_machine(32, 35, use_random_iter, seed=11)
    assert [_batches(ours_iter) for _ in range(3)] == up


def _randomize(net, std):
    """Redraw every weight from N(0, std): varied predictions need weights far from 0."""
    if std is not None:
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0, std)


def _scratch_pair(upstream, vocab, get_params, init_state, fn, hidden, std):
    torch.manual_seed(0)
    ours = d2l.RNNModelScratch(len(vocab), hidden, "cpu", get_params, init_state, fn)
    _randomize(ours, std)
    same = [p.detach().clone().requires_grad_(True) for p in ours.params]
    up = upstream.RNNModelScratch(len(vocab), hidden, "cpu", lambda *a: same, init_state, fn)
    return ours, up


def _concise_pair(upstream, vocab, layer, std):
    torch.manual_seed(0)
    ours = d2l.RNNModel(layer, len(vocab))
    _randomize(ours, std)
    up = upstream.RNNModel(copy.deepcopy(layer), len(vocab))
    up.load_state_dict(ours.state_dict())
    return ours, up


MODELS = {
    "scratch_gru": lambda up, v, std: _scratch_pair(up, v, d2l.get_gru_params, d2l.init_gru_state, d2l.gru, 64, std),
    "scratch_rnn": lambda up, v, std: _scratch_pair(up, v, d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn, 64, std),
    "nn_gru": lambda up, v, std: _concise_pair(up, v, nn.GRU(len(v), 64), std),
    "nn_lstm_2": lambda up, v, std: _concise_pair(up, v, nn.LSTM(len(v), 32, num_layers=2), std),
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_predict_identical_for_identical_weights(upstream, time_machine, model):
    _, vocab = time_machine
    ours, up = MODELS[model](upstream, vocab, 0.5)
    outputs = []
    for prefix in ["time traveller", "the", "x"]:
        expected = upstream.predict_ch8(prefix, 50, up, vocab, "cpu")
        assert d2l.predict_ch8(prefix, 50, ours, vocab, "cpu") == expected
        outputs.append(expected)
    assert len(set("".join(outputs))) > 5  # not a degenerate constant prediction


@pytest.mark.parametrize(
    "model, use_random_iter, std",
    [
        ("scratch_gru", False, None),
        ("nn_gru", False, None),
        ("scratch_rnn", True, None),
        ("nn_lstm_2", False, None),
        # Larger initial weights make gradient norms exceed 1, so clipping acts
        # (about a quarter of the steps): the threshold and formula must match too.
        ("scratch_gru", False, 0.3),
    ],
)
def test_train_ch8_perplexities_match_upstream(upstream, model, use_random_iter, std, capsys, monkeypatch):
    num_epochs = 4
    _, vocab = upstream.load_corpus_time_machine(10000)
    ours_net, up_net = MODELS[model](upstream, vocab, std)

    # Record upstream's per-epoch perplexity: train_ch8 looks train_epoch_ch8 up in its module.
    recorded = []
    original = upstream.train_epoch_ch8

    def recording(*args, **kwargs):
        ppl, speed = original(*args, **kwargs)
        recorded.append(ppl)
        return ppl, speed

    monkeypatch.setattr(upstream, "train_epoch_ch8", recording)
    random.seed(5)
    up_iter, _ = upstream.load_data_time_machine(32, 35, use_random_iter)
    upstream.train_ch8(up_net, up_iter, vocab, 1, num_epochs, "cpu", use_random_iter)
    up_out = capsys.readouterr().out

    ours_iter, _ = d2l.load_data_time_machine(32, 35, use_random_iter, seed=5)
    hist = d2l.train_ch8(ours_net, ours_iter, vocab, 1, num_epochs, "cpu", use_random_iter)
    ours_out = capsys.readouterr().out

    assert len(recorded) == num_epochs
    assert hist.perplexity == pytest.approx(recorded, rel=1e-4)
    assert recorded[-1] < recorded[0]  # it did train

    def summary(out):  # the printed lines, tokens/sec masked
        return [re.sub(r"[\d.]+ tokens/sec", "N tokens/sec", line) for line in out.splitlines()]

    # the book's lines, after the one line ours adds first when its fast path trains
    ours_lines = summary(ours_out)
    if ours_lines and ours_lines[0].startswith("Training with a faster equivalent of this "):
        ours_lines = ours_lines[1:]
    assert ours_lines == summary(up_out)
