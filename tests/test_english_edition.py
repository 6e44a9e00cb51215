"""The English edition's API (d2l 1.0) against upstream d2l 1.0.3 loaded from source.

Same vocabulary and corpus, same windows and minibatches for a torch seed,
same initial weights for a seed, same ``predict`` for the same weights, and
the same plotted per-epoch losses and final weights after a few epochs of
``Trainer.fit`` (with the fast path and without it).
"""

import sys
from pathlib import Path

import pytest
import torch

import d2l_helpers as d2l

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from book_models import gru_scratch_class  # noqa: E402  (the §10.2 GRU as a learner types it)


@pytest.fixture(scope="module")
def up():
    import upstream_d2l_en

    return upstream_d2l_en.load()


# Small but real: the Time Machine, fewer windows than the book's 10,000 so that the tests stay quick.
SMALL = {"batch_size": 128, "num_steps": 8, "num_train": 1024, "num_val": 256}


def _typed_in_gru(lib, V):
    return gru_scratch_class(lib)(V, 32)


MODELS = {  # name -> (build(lib, vocab_size), lr, fast kernel expected on our side)
    "RNNLMScratch(RNNScratch)": (lambda lib, V: lib.RNNLMScratch(lib.RNNScratch(V, 32), V, lr=1), "scratch RNN kernel"),
    "RNNLMScratch(GRUScratch)": (
        lambda lib, V: lib.RNNLMScratch(_typed_in_gru(lib, V) if lib is not d2l else d2l.GRUScratch(V, 32), V, lr=4),
        "scratch GRU kernel",
    ),
    "RNNLMScratch(typed-in GRUScratch)": (
        lambda lib, V: lib.RNNLMScratch(_typed_in_gru(lib, V), V, lr=4), "scratch GRU kernel"
    ),
    "RNNLM(RNN)": (lambda lib, V: lib.RNNLM(lib.RNN(V, 32), V, lr=1), "nn.RNN kernel"),
    "RNNLM(GRU)": (lambda lib, V: lib.RNNLM(lib.GRU(V, 32, 1), V, lr=4), "nn.GRU kernel"),
    "RNNLM(GRU(num_layers=2))": (lambda lib, V: lib.RNNLM(lib.GRU(V, 32, 2), V, lr=2), None),
}  # fmt: skip


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both_data(up):
    return up.TimeMachine(batch_size=2, num_steps=10), d2l.TimeMachine(batch_size=2, num_steps=10)


def test_vocabulary_is_alphabetical_and_the_same_as_upstream(both_data):
    theirs, ours = both_data
    assert ours.vocab.idx_to_token == theirs.vocab.idx_to_token
    assert ours.vocab.idx_to_token[:3] == [" ", "<unk>", "a"]  # 1.0 sorts alphabetically
    assert ours.vocab.token_to_idx == theirs.vocab.token_to_idx
    assert ours.vocab.token_freqs == theirs.vocab.token_freqs
    assert ours.vocab.unk == theirs.vocab.unk == 1


def test_word_vocabulary_with_min_freq_and_reserved_tokens_matches_upstream(up, both_data):
    text = both_data[1]._preprocess(both_data[1]._download())
    words = text.split()
    for kwargs in ({}, {"min_freq": 5}, {"min_freq": 3, "reserved_tokens": ["<pad>", "<bos>"]}):
        theirs, ours = up.Vocab(words, **kwargs), d2l.AlphabeticalVocab(words, **kwargs)
        assert ours.idx_to_token == theirs.idx_to_token
        assert ours[words[:50]] == theirs[words[:50]]
        assert ours.to_tokens([3, 1, 4]) == theirs.to_tokens([3, 1, 4])
        assert ours.to_tokens(torch.tensor([3, 1, 4])) == theirs.to_tokens(torch.tensor([3, 1, 4]))
        assert ours.to_tokens(5) == theirs.to_tokens(5)


def test_the_chinese_editions_vocab_still_sorts_by_frequency():
    tokens = list("hello world")
    assert d2l.Vocab(tokens).idx_to_token[:3] == ["<unk>", "l", "o"]  # 0.17: <unk>, then most frequent
    assert d2l.AlphabeticalVocab(tokens).idx_to_token[:3] == [" ", "<unk>", "d"]  # 1.0: alphabetical


def test_corpus_and_every_window_match_upstream(both_data):
    theirs, ours = both_data
    raw = ours._download()
    assert raw == theirs._download()
    assert ours.build(raw)[0] == theirs.build(raw)[0]  # the token order
    assert torch.equal(ours.X, theirs.X) and torch.equal(ours.Y, theirs.Y)
    assert torch.equal(ours.Y[:, :-1], ours.X[:, 1:])  # Y is X one character ahead


@pytest.mark.parametrize("seed", [0, 7])
def test_minibatches_match_upstream_for_a_torch_seed(up, seed):
    theirs, ours = up.TimeMachine(**SMALL), d2l.TimeMachine(**SMALL)
    for split in ("train_dataloader", "val_dataloader"):
        torch.manual_seed(seed)
        a = [[t.clone() for t in batch] for batch in getattr(theirs, split)()]
        torch.manual_seed(seed)
        b = list(getattr(ours, split)())
        assert len(a) == len(b) == len(getattr(ours, split)())
        for (Xa, Ya), (Xb, Yb) in zip(a, b):
            assert torch.equal(Xa, Xb) and torch.equal(Ya, Yb)
    # and the generator is left in the same state: what comes next is the same too
    torch.manual_seed(seed)
    list(theirs.train_dataloader())
    after_theirs = torch.rand(3)
    torch.manual_seed(seed)
    list(ours.train_dataloader())
    assert torch.equal(torch.rand(3), after_theirs)


def test_training_batches_are_shuffled_and_validation_batches_are_not():
    data = d2l.TimeMachine(**SMALL)
    torch.manual_seed(0)
    first = next(iter(data.train_dataloader()))[0]
    assert not torch.equal(first, data.X[: SMALL["batch_size"]])
    val = next(iter(data.val_dataloader()))[0]
    assert torch.equal(val, data.X[SMALL["num_train"] : SMALL["num_train"] + SMALL["batch_size"]])


# --------------------------------------------------------------------------
# Models: weights, predict, training
# --------------------------------------------------------------------------


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_gives_the_same_initial_weights_and_the_same_predictions(up, both_data, name):
    build = MODELS[name][0]
    vocab_size = len(both_data[1].vocab)
    models = []
    for lib in (up, d2l):
        torch.manual_seed(3)
        model = build(lib, vocab_size)
        model.predict("it has", 1, both_data[0].vocab)  # materialises RNNLM's LazyLinear, drawing the same numbers
        models.append(model)
    a, b = _state(models[0]), _state(models[1])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Weights large enough that the prediction is not just the most frequent character.
    gen = torch.Generator().manual_seed(11)
    big = {k: torch.randn(v.shape, generator=gen) * 0.8 for k, v in a.items()}
    for model in models:
        model.load_state_dict(big)
    for prefix in ("it has", "time traveller"):
        theirs = models[0].predict(prefix, 20, both_data[0].vocab)
        assert models[1].predict(prefix, 20, both_data[1].vocab) == theirs
        assert len(set(theirs[len(prefix) :])) > 1


@pytest.fixture(scope="module")
def upstream_runs(up):
    """Upstream's board points and final weights after 3 epochs of Trainer.fit, per model."""
    runs = {}
    for name, (build, _) in MODELS.items():
        runs[name] = _fit(up, build)
    return runs


def _fit(lib, build, epochs=3, **kwargs):
    torch.manual_seed(0)
    data = lib.TimeMachine(**SMALL)
    model = build(lib, len(data.vocab))
    model.board.display = False  # upstream: record the points, do not draw
    trainer = lib.Trainer(max_epochs=epochs, gradient_clip_val=1, **kwargs)
    trainer.fit(model, data)
    return {
        "board": {k: [(p.x, float(p.y)) for p in v] for k, v in model.board.data.items()},
        "state": _state(model),
        "trainer": trainer,
    }


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "as written"])
@pytest.mark.parametrize("name", list(MODELS))
def test_trainer_fit_gives_upstreams_per_epoch_losses_and_weights(upstream_runs, name, fast):
    build, kernel = MODELS[name]
    theirs, ours = upstream_runs[name], _fit(d2l, build, fast=fast)
    assert ours["board"].keys() == theirs["board"].keys() == {"train_ppl", "val_ppl"}
    for key in theirs["board"]:
        a, b = theirs["board"][key], ours["board"][key]
        assert len(a) == len(b) == (6 if key == "train_ppl" else 3)  # twice an epoch, once an epoch
        assert [x for x, _ in a] == [x for x, _ in b]
        assert [y for _, y in b] == pytest.approx([y for _, y in a], rel=1e-4)
    assert theirs["board"]["train_ppl"][-1][1] < theirs["board"]["train_ppl"][0][1]  # it did learn
    for k, v in theirs["state"].items():
        assert torch.allclose(ours["state"][k], v, rtol=1e-3, atol=1e-5), k
    history = ours["trainer"].history
    assert history.fast_path == (kernel if fast else None)
    assert len(history.perplexity) == 3 and len(history.heldout_perplexity) == 3
    assert history.heldout_perplexity == pytest.approx([y for _, y in theirs["board"]["val_ppl"]], rel=1e-4)


def test_fitting_the_same_trainer_twice_as_section_10_2_does(up):
    """§10.2 calls trainer.fit for the scratch model, then again for the concise one."""
    data = d2l.TimeMachine(**SMALL)
    trainer = d2l.Trainer(max_epochs=1, gradient_clip_val=1)
    for model in (d2l.RNNLMScratch(d2l.GRUScratch(len(data.vocab), 8), len(data.vocab), lr=4),
                  d2l.RNNLM(d2l.GRU(len(data.vocab), 8), len(data.vocab), lr=4)):  # fmt: skip
        trainer.fit(model, data)
        assert model.trainer is trainer and len(trainer.history.perplexity) == 1
        assert len(model.board.data["train_ppl"]) == 2
