"""Sequence models in the English edition's API (d2l.ai §9.1, d2l 1.0), and where data sets find their files.

The section's pattern, written here: a ``DataModule`` of lagged windows of a
noisy sine, ``d2l.LinearRegression`` trained by ``d2l.Trainer``, then one-step
and k-step-ahead predictions; a learner's subclass of ``LinearRegression``
(an RNN regressing the sine, as in published exercise solutions). Checked
against upstream d2l 1.0.3 loaded from source (``upstream_d2l_en.py``): the
same weights for a seed, the same plotted losses, the same trained weights
and predictions.

Then ``DataModule.root`` (``'../data'`` as upstream's; ``TimeMachine`` keeps
to the cache) and ``download(url, folder, sha1)`` finding a file already in
``folder``, offline.
"""

import hashlib
import os
import socket

import pytest
import torch
from torch import nn

import d2l_helpers as d2l
from d2l_helpers.data import DataError


@pytest.fixture(scope="module")
def up():
    import upstream_d2l_en

    return upstream_d2l_en.load()


def sine_data_class(lib):
    """A learner's DataModule on ``lib``: rows of tau lagged values of a noisy sine, labels the next value."""

    class SineData(lib.DataModule):
        def __init__(self, batch_size=20, T=600, num_train=400, tau=4, seed=0):
            super().__init__()
            self.save_hyperparameters()
            gen = torch.Generator().manual_seed(seed)
            self.t = torch.arange(1, T + 1, dtype=torch.float32)
            self.x = torch.sin(0.03 * self.t) + 0.2 * torch.randn(T, generator=gen)
            windows = self.x.unfold(0, tau + 1, 1)  # (T - tau, tau + 1)
            self.features, self.labels = windows[:, :tau], windows[:, tau:]

        def get_dataloader(self, train):
            rows = slice(0, self.num_train) if train else slice(self.num_train, None)
            return self.get_tensorloader([self.features, self.labels], train, rows)

    return SineData


def k_steps_ahead(model, x, k, tau=4):
    """Column j: the (j+1)-step-ahead predictions, feeding the model's own predictions back in."""
    n = len(x) - tau - k + 1
    cols = [x[i : i + n] for i in range(tau)]
    with torch.no_grad():
        for _ in range(k):
            cols.append(model(torch.stack(cols[-tau:], 1)).reshape(-1))
    return torch.stack(cols[tau:], 1)  # (n, k)


def fit(lib, build, epochs=4, seed=0, **kwargs):
    data = sine_data_class(lib)()
    torch.manual_seed(seed)
    model = build(lib)
    model.board.display = False  # upstream: record the points without drawing
    trainer = lib.Trainer(max_epochs=epochs, **kwargs)
    trainer.fit(model, data)
    board = {k: [(p.x, float(p.y)) for p in v] for k, v in model.board.data.items()}
    return model, data, board


def rnn_regression_class(lib):
    """A learner's subclass of LinearRegression: a GRU reads the lagged values, a linear layer predicts the next."""

    class RNNRegression(lib.LinearRegression):
        def __init__(self, num_hiddens, lr):
            super().__init__(lr)
            self.save_hyperparameters()
            self.rnn = nn.GRU(1, num_hiddens, batch_first=True)

        def forward(self, X):  # X: (batch, tau)
            outputs, _ = self.rnn(X.unsqueeze(-1))  # (batch, tau, num_hiddens)
            return self.net(outputs[:, -1])  # (batch, 1)

    return RNNRegression


# --------------------------------------------------------------------------
# LinearRegression and Trainer: the section's pattern
# --------------------------------------------------------------------------


def test_linear_regression_trains_on_the_sine_and_predicts_one_and_k_steps_ahead():
    model, data, board = fit(d2l, lambda lib: lib.LinearRegression(lr=0.05), epochs=10)
    assert model.hparams == {"lr": 0.05} and isinstance(model.configure_optimizers(), torch.optim.SGD)
    w, b = model.get_w_b()
    assert w.shape == (1, 4) and b.shape == (1,) and not w.requires_grad
    assert float(w.sum()) == pytest.approx(1.0, abs=0.2)  # a smooth signal: the next value is about a mean of the last
    # The loss is the mean squared error; the validation loss ends near the noise's variance (0.04).
    X, y = data.features[data.num_train :], data.labels[data.num_train :]
    with torch.no_grad():
        one_step = model.loss(model(X), y)
    assert float(one_step) == pytest.approx(float(((model(X) - y) ** 2).mean()), rel=1e-6)
    assert board["val_loss"][-1][1] < 0.07 < board["val_loss"][0][1] and float(one_step) < 0.07
    preds = k_steps_ahead(model, data.x, 16)
    truth = data.x.unfold(0, 16, 1)[4 : 4 + len(preds)]
    errors = ((preds - truth) ** 2)[data.num_train :].mean(0)
    assert errors[0] == pytest.approx(float(one_step), rel=0.25) and errors[15] > 1.5 * errors[0]


def test_linear_regression_rejects_a_bad_learning_rate_naming_it():
    for lr, error in ((0, ValueError), (-0.1, ValueError), ("0.1", TypeError), (float("nan"), ValueError)):
        with pytest.raises(error, match="lr must be"):
            d2l.LinearRegression(lr=lr)


# --------------------------------------------------------------------------
# Against upstream d2l 1.0.3
# --------------------------------------------------------------------------

BUILDS = {  # name: (build(lib), gradient_clip_val, epochs)
    "LinearRegression": (lambda lib: lib.LinearRegression(lr=0.03), 0, 4),
    "RNNRegression(LinearRegression)": (lambda lib: rnn_regression_class(lib)(8, lr=0.1), 1, 2),
}


@pytest.mark.parametrize("name", list(BUILDS))
def test_same_seed_gives_upstreams_weights_losses_and_predictions(up, name):
    build, clip, epochs = BUILDS[name]
    runs = [fit(lib, build, epochs, gradient_clip_val=clip) for lib in (up, d2l)]
    (m_a, data_a, board_a), (m_b, data_b, board_b) = runs
    assert torch.equal(data_a.x, data_b.x)
    assert board_a.keys() == board_b.keys() == {"train_loss", "val_loss"}
    for key in board_a:
        assert len(board_a[key]) == len(board_b[key]) == (2 * epochs if key == "train_loss" else epochs)
        assert [x for x, _ in board_a[key]] == [x for x, _ in board_b[key]]
        assert [y for _, y in board_b[key]] == pytest.approx([y for _, y in board_a[key]], rel=1e-5)
    assert board_a["val_loss"][-1][1] < board_a["val_loss"][0][1]  # it did learn
    for (k, a), (_, b) in zip(m_a.state_dict().items(), m_b.state_dict().items()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), k
    for got, want in zip(m_b.get_w_b(), m_a.get_w_b()):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    X = data_a.features
    assert torch.allclose(m_b(X), m_a(X), atol=1e-5)
    assert torch.allclose(k_steps_ahead(m_b, data_b.x, 16), k_steps_ahead(m_a, data_a.x, 16), atol=1e-4)


def test_same_seed_gives_upstreams_initial_weights(up):
    X = torch.randn(3, 5)
    states = []
    for lib in (up, d2l):
        torch.manual_seed(4)
        model = lib.LinearRegression(lr=0.1)
        model(X)  # the LazyLinear takes its shape, and its weights, here
        states.append(model.get_w_b())
    assert all(torch.equal(a, b) for a, b in zip(*states))
    assert states[1][0].shape == (1, 5) and float(states[1][1].abs()) > 0  # nn.Linear's init (see regression_en)


# --------------------------------------------------------------------------
# DataModule.root: '../data' as upstream's; TimeMachine keeps to the cache
# --------------------------------------------------------------------------


class Notes(d2l.DataModule):
    """A learner's data set of their own: a text file they put in self.root (by default ../data)."""

    def __init__(self, name="notes.txt"):
        super().__init__()
        self.save_hyperparameters()
        with open(os.path.join(self.root, name), encoding="utf-8") as f:
            self.lines = f.read().splitlines()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A learner's layout: notebooks in tmp/work, data in tmp/data (that is, ../data)."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def test_a_data_module_reads_its_own_file_from_root_in_dot_dot_data(workdir):
    assert d2l.DataModule().root == "../data" and d2l.DataModule(root="/x").root == "/x"
    assert not (workdir / "data").exists()  # making a DataModule creates nothing
    (workdir / "data").mkdir()
    (workdir / "data" / "notes.txt").write_text("first line\nsecond line\n", encoding="utf-8")
    assert Notes().lines == ["first line", "second line"]
    assert (Notes().root + "/notes.txt") == "../data/notes.txt"  # the book's string concatenation works too


@pytest.fixture
def mirror(workdir, monkeypatch):
    """No $D2L_DATA_DIR, a cache in tmp/cache, d2l's server replaced by a file:// copy of the text."""
    source = d2l.download()  # from $D2L_DATA_DIR (conftest), before it is unset
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setenv("D2L_CACHE_DIR", str(workdir / "cache"))
    monkeypatch.setenv("D2L_DATA_URL", "file://" + os.path.dirname(source) + "/")
    return workdir


def test_time_machine_keeps_to_the_cache_with_the_default_root(mirror):
    data = d2l.TimeMachine(batch_size=2, num_steps=10, num_train=100, num_val=10)
    assert data.root == "../data"
    assert (mirror / "cache" / "timemachine.txt").is_file() and not (mirror / "data").exists()

    class TypedIn(d2l.TimeMachine):  # the book's §9.3 __init__, which calls DataModule's with no root
        def __init__(self, batch_size, num_steps, num_train=100, num_val=10):
            super(d2l.TimeMachine, self).__init__()
            self.save_hyperparameters()
            self.corpus, self.vocab = self.build(self._download())

    assert len(TypedIn(2, 10).corpus) == len(data.X) + 10 and not (mirror / "data").exists()
    d2l.TimeMachine(batch_size=2, num_steps=10, num_train=100, num_val=10, root="../data")  # asked for: there
    assert (mirror / "data" / "timemachine.txt").is_file()


def test_a_learners_data_module_that_downloads_into_root_writes_there_as_upstreams(mirror):
    class Book(d2l.DataModule):  # the book's §9.2 pattern, for a file of the learner's choosing
        def _download(self):
            return d2l.download(d2l.DATA_URL + "timemachine.txt", self.root, "090b5e7e70c295757f55df93cb0a180b9691891a")

    assert Book()._download() == os.path.join("..", "data", "timemachine.txt")
    assert (mirror / "data" / "timemachine.txt").is_file() and not (mirror / "cache").exists()


# --------------------------------------------------------------------------
# download(url, folder, sha1): a good copy already in folder comes first, offline
# --------------------------------------------------------------------------

TEXT = b"a file the learner already has\n" * 20
SHA1 = hashlib.sha1(TEXT).hexdigest()


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network (d2l's server is a closed port) and an empty $D2L_DATA_DIR."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("D2L_DATA_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "data").mkdir()
    return tmp_path


def test_download_finds_a_good_file_already_in_folder_offline(offline, monkeypatch):
    (offline / "data" / "notes.txt").write_bytes(TEXT)
    url = d2l.DATA_URL + "notes.txt"
    assert d2l.download(url, offline / "data", SHA1) == str(offline / "data" / "notes.txt")
    assert d2l.download(url, str(offline / "data"), sha1_hash=SHA1) == str(offline / "data" / "notes.txt")
    monkeypatch.delenv("D2L_DATA_DIR")  # without $D2L_DATA_DIR too
    assert d2l.download(url, offline / "data", SHA1) == str(offline / "data" / "notes.txt")
    assert sorted(os.listdir(offline)) == ["data", "empty"]  # no cache made, nothing else written


def test_a_corrupt_file_in_folder_is_not_used(offline):
    (offline / "data" / "notes.txt").write_bytes(TEXT[:-1])
    with pytest.raises(DataError, match="D2L_DATA_DIR is set, so notes.txt is expected"):
        d2l.download(d2l.DATA_URL + "notes.txt", offline / "data", SHA1)
    (offline / "empty" / "notes.txt").write_bytes(TEXT)  # a good copy in $D2L_DATA_DIR is used instead
    assert d2l.download(d2l.DATA_URL + "notes.txt", offline / "data", SHA1) == str(offline / "empty" / "notes.txt")
    assert (offline / "data" / "notes.txt").read_bytes() == TEXT[:-1]  # and the learner's file is left alone
