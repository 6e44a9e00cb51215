"""Sequence models in the Chinese edition's API (zh §8.1, d2l 0.17): ``load_array`` and ``evaluate_loss``.

The section's pattern, written here: predict x_t from the tau values before
it, on a noisy sine, with a model trained on minibatches from ``load_array``
and scored by ``evaluate_loss``; then predict one step ahead and k steps ahead
(feeding predictions back in). Checked against upstream d2l 0.17.6 loaded
from source (``upstream_d2l.py``): the same minibatches for a torch seed, the
same loss to the last bit, the same trained model.
"""

import pytest
import torch
from torch import nn

import d2l_helpers as d2l

TAU = 4
N_TRAIN = 500


def noisy_sine(T=800, noise=0.2, seed=0):
    """x_t = sin(0.02 t) + noise, t = 1..T."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(1, T + 1, dtype=torch.float32)
    return torch.sin(0.02 * t) + noise * torch.randn(T, generator=gen)


def lagged(x, tau=TAU):
    """(features, labels): row i is x[i : i + tau], its label x[i + tau]."""
    windows = x.unfold(0, tau + 1, 1)  # (T - tau, tau + 1)
    return windows[:, :tau].contiguous(), windows[:, tau:].contiguous()  # (T - tau, tau), (T - tau, 1)


def k_steps_ahead(net, x, k, tau=TAU):
    """Column j: the (j+1)-step-ahead predictions, each made from tau earlier values and earlier predictions."""
    n = len(x) - tau - k + 1
    cols = [x[i : i + n] for i in range(tau)]
    with torch.no_grad():
        for _ in range(k):
            cols.append(net(torch.stack(cols[-tau:], 1)).reshape(-1))
    return torch.stack(cols[tau:], 1)  # (n, k); row r predicts x[r + tau + j] in column j


def train(lib, net, features, labels, epochs=4, lr=0.01, batch_size=16):
    """The section's loop: Adam on the summed squared error, the loss over the training set printed per epoch."""
    train_iter = lib.load_array((features[:N_TRAIN], labels[:N_TRAIN]), batch_size, is_train=True)
    loss = nn.MSELoss(reduction="none")
    optimizer = torch.optim.Adam(net.parameters(), lr)
    losses = [lib.evaluate_loss(net, train_iter, loss)]
    for _ in range(epochs):
        for X, y in train_iter:
            optimizer.zero_grad()
            loss(net(X), y).sum().backward()
            optimizer.step()
        losses.append(lib.evaluate_loss(net, train_iter, loss))
    return losses


# --------------------------------------------------------------------------
# load_array and evaluate_loss
# --------------------------------------------------------------------------


def test_load_array_gives_every_row_once_in_minibatches_shuffled_only_for_training():
    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10.0).reshape(10, 1)
    torch.manual_seed(0)
    batches = list(d2l.load_array((X, y), 4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]  # the last one smaller
    rows = torch.cat([b[0] for b in batches])
    assert sorted(rows[:, 0].tolist()) == X[:, 0].tolist() and not torch.equal(rows, X)  # all rows, shuffled
    assert all(torch.equal(bx[:, 0] / 2, by[:, 0]) for bx, by in batches)  # rows stay with their labels
    in_order = list(d2l.load_array((X, y), 4, is_train=False))
    assert torch.equal(torch.cat([b[0] for b in in_order]), X)
    assert isinstance(d2l.load_array([X, y], 3), torch.utils.data.DataLoader)  # a list works, as a tuple


def test_evaluate_loss_is_the_mean_over_every_element_of_every_minibatch():
    torch.manual_seed(1)
    net = nn.Linear(3, 2)
    X, Y = torch.randn(7, 3), torch.randn(7, 2)
    data_iter = d2l.load_array((X, Y), 3, is_train=False)
    expected = float(((net(X) - Y) ** 2).mean())
    assert d2l.evaluate_loss(net, data_iter, nn.MSELoss(reduction="none")) == pytest.approx(expected, rel=1e-6)
    # A loss that averages each minibatch itself: the mean of the 3 minibatch means (3, 3 and 1 rows).
    means = [float(((net(X[i : i + 3]) - Y[i : i + 3]) ** 2).mean()) for i in (0, 3, 6)]
    assert d2l.evaluate_loss(net, data_iter, nn.MSELoss()) == pytest.approx(sum(means) / 3, rel=1e-6)
    # y is reshaped to the output's shape: labels given as a flat vector work.
    flat = d2l.load_array((X[:, :1], Y[:, 0]), 4, is_train=False)
    one = nn.Linear(1, 1)
    assert d2l.evaluate_loss(one, flat, nn.MSELoss(reduction="none")) == pytest.approx(
        float(((one(X[:, :1]) - Y[:, :1]) ** 2).mean()), rel=1e-6
    )


# --------------------------------------------------------------------------
# The section's pattern: an autoregressive model on a noisy sine
# --------------------------------------------------------------------------


def test_an_autoregressive_linear_model_learns_the_sine_and_its_errors_grow_with_the_horizon():
    x = noisy_sine()
    features, labels = lagged(x)
    torch.manual_seed(0)
    net = nn.Linear(TAU, 1)
    losses = train(d2l, net, features, labels, epochs=20)
    # The best linear fit (least squares, with a bias) is as good as it gets; training comes close to it.
    A = torch.cat([features[:N_TRAIN], torch.ones(N_TRAIN, 1)], 1)
    best = float(((A @ torch.linalg.lstsq(A, labels[:N_TRAIN]).solution - labels[:N_TRAIN]) ** 2).mean())
    assert 0.04 < best < 0.06  # the noise alone has variance 0.04
    assert best <= losses[-1] < 1.05 * best and losses[0] > 10 * best
    # One step ahead, on the held-out part, the error is the noise's; k steps ahead it grows with k.
    held_out = slice(N_TRAIN, None)
    with torch.no_grad():
        one_step = float(((net(features[held_out]) - labels[held_out]) ** 2).mean())
    preds = k_steps_ahead(net, x, 32)
    truth = x.unfold(0, 32, 1)[TAU : TAU + len(preds)]  # row r: x[r + tau : r + tau + 32]
    errors = ((preds - truth) ** 2)[N_TRAIN:].mean(0)  # per horizon, on the held-out rows
    assert one_step < 0.06 and errors[0] == pytest.approx(one_step, rel=0.2)
    assert errors[0] < errors[15] < errors[31] and errors[31] > 2 * errors[0]


# --------------------------------------------------------------------------
# Against upstream d2l 0.17.6
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 5])
def test_load_array_gives_upstreams_minibatches_for_a_torch_seed(upstream, seed):
    features, labels = lagged(noisy_sine(200))
    for is_train in (True, False):
        runs = []
        for lib in (upstream, d2l):
            torch.manual_seed(seed)
            runs.append([b for b in lib.load_array((features, labels), 16, is_train=is_train)] + [torch.rand(2)])
        assert len(runs[0]) == len(runs[1]) == 13 + 1  # 196 rows: 12 of 16 and one of 4, then the draw after
        for a, b in zip(*runs):
            assert all(torch.equal(u, v) for u, v in zip(a, b))  # and the generator is left where upstream's is


def test_the_sections_training_gives_upstreams_losses_and_predictions(upstream):
    """The §8.1 loop with a small MLP: per-epoch losses equal to the last bit, the same predictions."""
    x = noisy_sine()
    features, labels = lagged(x)
    runs = []
    for lib in (upstream, d2l):
        torch.manual_seed(2)
        net = nn.Sequential(nn.Linear(TAU, 10), nn.ReLU(), nn.Linear(10, 1))
        losses = train(lib, net, features, labels, epochs=3)
        runs.append((losses, net(features).detach(), k_steps_ahead(net, x, 16)))
    (theirs, one_a, k_a), (ours, one_b, k_b) = runs
    assert ours == theirs and ours[-1] < ours[0]
    assert torch.equal(one_a, one_b) and torch.equal(k_a, k_b)


# --------------------------------------------------------------------------
# Bad input: a clear error that names the argument, before any work
# --------------------------------------------------------------------------

X10, Y10 = torch.zeros(10, 4), torch.zeros(10, 1)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((X10, Y10, 16), {}, TypeError, "data_arrays must be a tuple of tensors"),  # forgot the tuple
        ((X10, 16), {}, TypeError, "data_arrays must be a tuple"),
        (((), 16), {}, ValueError, "data_arrays is empty"),
        (((X10, Y10[:9]), 16), {}, ValueError, r"same number of rows .*\[10, 9\]"),
        (((X10[:0], Y10[:0]), 16), {}, ValueError, "no rows"),
        (((X10, [0.0] * 10), 16), {}, TypeError, r"data_arrays\[1\] must be a torch tensor"),
        (((X10, Y10), 0), {}, ValueError, "batch_size must be positive"),
        (((X10, Y10), 2.0), {}, TypeError, "batch_size must be an int"),
        (((X10, Y10), 2), {"is_train": "yes"}, TypeError, "is_train must be True or False"),
    ],
)
def test_load_array_rejects_bad_input_naming_the_argument(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        d2l.load_array(*args, **kwargs)


def test_evaluate_loss_rejects_bad_input_naming_the_argument():
    net, loss = nn.Linear(4, 1), nn.MSELoss(reduction="none")
    data_iter = d2l.load_array((X10, Y10), 5)
    with pytest.raises(TypeError, match="net must be callable"):
        d2l.evaluate_loss("net", data_iter, loss)
    with pytest.raises(TypeError, match="loss must be callable"):
        d2l.evaluate_loss(net, data_iter, "mse")
    with pytest.raises(TypeError, match="data_iter must be an iterable of minibatches"):
        d2l.evaluate_loss(net, X10, loss)
    with pytest.raises(ValueError, match="gave no minibatches"):
        d2l.evaluate_loss(net, [], loss)
    with pytest.raises(ValueError, match=r"minibatches \(X, y\), got one of 3 items"):
        d2l.evaluate_loss(net, [(X10, Y10, Y10)], loss)
