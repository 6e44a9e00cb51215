"""Data: tokens, vocabulary, the two iterators, held-out text, bad input."""

import random

import pytest
import torch

import d2l_helpers as d2l
from d2l_helpers.data import _check_fits


def test_tokenize_words_and_chars():
    lines = ["the time machine", "", "by h g wells"]
    assert d2l.tokenize(lines) == [["the", "time", "machine"], [], ["by", "h", "g", "wells"]]
    assert d2l.tokenize(["ab c"], "char") == [["a", "b", " ", "c"]]


def test_tokenize_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'word' or 'char'"):
        d2l.tokenize(["abc"], "byte")


def test_vocab_orders_by_frequency_then_first_seen():
    vocab = d2l.Vocab([["b", "a", "c", "a"], ["c", "d"]], reserved_tokens=["<pad>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>", "a", "c", "b", "d"]
    assert vocab["c"] == 3 and vocab[["a", "zzz"]] == [2, 0]
    assert vocab.to_tokens([2, 5]) == ["a", "d"]
    assert "a" in vocab and "zzz" not in vocab


def test_vocab_min_freq_drops_rare_tokens():
    vocab = d2l.Vocab([["a", "a", "b"]], min_freq=2)
    assert vocab.idx_to_token == ["<unk>", "a"]


def test_read_time_machine_is_lowercase_letters_and_spaces():
    lines = d2l.read_time_machine()
    assert lines[0] == "the time machine by h g wells"
    text = "".join(lines)
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz ")
    assert len(lines) > 3000


def test_corpus_and_vocab(time_machine):
    corpus, vocab = time_machine
    assert len(corpus) == 10000
    assert len(vocab) == 28  # <unk>, space and 26 letters
    assert vocab.idx_to_token[:4] == ["<unk>", " ", "e", "t"]
    assert "".join(vocab.to_tokens(corpus[:16])) == "the time machine"


def _rows(batches):
    return [(X.tolist(), Y.tolist()) for X, Y in batches]


@pytest.mark.parametrize("iterator", [d2l.seq_data_iter_random, d2l.seq_data_iter_sequential])
def test_labels_are_inputs_shifted_by_one(iterator):
    corpus = list(range(100))
    batches = list(iterator(corpus, batch_size=3, num_steps=5, rng=1))
    assert batches
    for X, Y in batches:
        assert X.shape == Y.shape == (3, 5)
        assert torch.equal(Y, X + 1)  # the corpus is 0..99, so the next token is X + 1


def test_random_iter_uses_disjoint_subsequences():
    batches = list(d2l.seq_data_iter_random(list(range(35)), batch_size=2, num_steps=5, rng=3))
    starts = [row[0] for X, _ in batches for row in X.tolist()]
    assert len(starts) == len(set(starts)) == 6
    assert all((s - starts[0]) % 5 == 0 for s in starts)


def test_sequential_rows_continue_across_batches():
    batches = list(d2l.seq_data_iter_sequential(list(range(35)), batch_size=2, num_steps=5, rng=3))
    assert len(batches) >= 2
    for (X1, _), (X2, _) in zip(batches, batches[1:]):
        assert torch.equal(X2[:, 0], X1[:, -1] + 1)


@pytest.mark.parametrize("iterator", [d2l.seq_data_iter_random, d2l.seq_data_iter_sequential])
def test_same_seed_same_batches_and_global_random_untouched(iterator):
    corpus = list(range(200))
    state = random.getstate()
    a = _rows(iterator(corpus, 4, 7, rng=42))
    assert random.getstate() == state  # iteration never touches the global generator
    b = _rows(iterator(corpus, 4, 7, rng=random.Random(42)))
    c = _rows(iterator(corpus, 4, 7, rng=43))
    assert a == b
    assert a != c


def test_set_seed_makes_default_generators_repeat():
    d2l.set_seed(7)
    a = _rows(d2l.seq_data_iter_random(list(range(300)), 4, 7))
    d2l.set_seed(7)
    b = _rows(d2l.seq_data_iter_random(list(range(300)), 4, 7))
    assert a == b


def test_loader_gives_new_offsets_each_epoch_but_repeats_with_seed(time_machine):
    corpus, vocab = time_machine
    loader = d2l.SeqDataLoader(32, 35, True, 10000, seed=5, corpus=corpus, vocab=vocab)
    first, second = _rows(loader), _rows(loader)
    assert first != second
    again = d2l.SeqDataLoader(32, 35, True, 10000, seed=5, corpus=corpus, vocab=vocab)
    assert _rows(again) == first


def test_load_data_time_machine_matches_book_shapes():
    train_iter, vocab = d2l.load_data_time_machine(32, 35, seed=0)
    batches = list(train_iter)
    assert len(batches) == 8  # (10000 - offset - 1) // 32 // 35 for any offset <= 35
    assert all(X.shape == (32, 35) and X.dtype == torch.int64 for X, _ in batches)
    assert len(vocab) == 28


def test_heldout_is_the_text_after_the_training_slice():
    held, vocab = d2l.load_heldout_time_machine(32, 35)
    corpus, _ = d2l.load_corpus_time_machine()
    X, Y = next(iter(held))
    assert X[0].tolist() == corpus[10000:10035]
    assert Y[0].tolist() == corpus[10001:10036]
    assert _rows(held) == _rows(held)  # fixed order, no random offset
    assert len(vocab) == 28


def test_heldout_rejects_slice_outside_corpus():
    with pytest.raises(ValueError, match="inside the corpus"):
        d2l.load_heldout_time_machine(32, 35, start=10**7)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0, num_steps=5), ValueError, "batch_size must be positive"),
        (dict(batch_size=-2, num_steps=5), ValueError, "batch_size must be positive"),
        (dict(batch_size=2, num_steps=0), ValueError, "num_steps must be positive"),
        (dict(batch_size=2.0, num_steps=5), TypeError, "batch_size must be an int"),
        (dict(batch_size=True, num_steps=5), TypeError, "batch_size must be an int"),
        (dict(batch_size=2, num_steps=50), ValueError, "too short for batch_size=2 and num_steps=50"),
    ],
)
@pytest.mark.parametrize("iterator", [d2l.seq_data_iter_random, d2l.seq_data_iter_sequential])
def test_iterators_reject_bad_sizes_before_yielding(iterator, kwargs, error, match):
    with pytest.raises(error, match=match):
        next(iterator(list(range(60)), **kwargs))


@pytest.mark.parametrize("max_tokens, error", [("x", TypeError), (None, TypeError), (2.5, TypeError)])
def test_max_tokens_must_be_an_int(max_tokens, error):
    with pytest.raises(error, match="max_tokens must be an int"):
        d2l.load_data_time_machine(32, 35, max_tokens=max_tokens)


def test_loader_rejects_num_steps_too_large_for_corpus_at_construction():
    with pytest.raises(ValueError, match="num_steps=400"):
        d2l.load_data_time_machine(32, 400)


@pytest.mark.parametrize("random_iter", [True, False])
def test_minimum_corpus_length_is_exact(random_iter):
    """_check_fits accepts a corpus exactly when every offset still gives a batch."""
    bs, ns = 3, 4
    iterator = d2l.seq_data_iter_random if random_iter else d2l.seq_data_iter_sequential
    n = next(n for n in range(1, 100) if _fits(n, bs, ns, random_iter))
    for seed in range(50):  # every offset the generator can draw gives a batch
        assert list(iterator(list(range(n)), bs, ns, rng=seed))
    # one token shorter: some offset gives no batch at all
    short = list(range(n - 1))
    worst = ns - 1 if random_iter else ns
    corpus = short[worst:]
    if random_iter:
        assert (len(corpus) - 1) // ns // bs == 0
    else:
        assert (len(corpus) - 1) // bs // ns == 0


def _fits(n, bs, ns, random_iter):
    try:
        _check_fits(n, bs, ns, random_iter)
        return True
    except ValueError:
        return False


def test_rng_type_is_checked():
    with pytest.raises(TypeError, match="rng must be"):
        next(d2l.seq_data_iter_random(list(range(100)), 2, 5, rng="seed"))
