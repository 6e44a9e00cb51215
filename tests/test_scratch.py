"""Models from scratch: shapes, the two GRU forms, stacked layers, bad input."""

import pytest
import torch
from torch import nn

import d2l_helpers as d2l

V, H, B, T = 28, 16, 3, 5


def _tokens(batch=B, steps=T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (batch, steps), generator=g)


@pytest.mark.parametrize(
    "get_params, init_state, fn, n_params",
    [
        (d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn, 5),
        (d2l.get_gru_params, d2l.init_gru_state, d2l.gru, 11),
        (d2l.get_gru_params_pytorch_form, d2l.init_gru_state, d2l.gru_pytorch_form, 12),
    ],
)
def test_scratch_model_shapes_and_interface(get_params, init_state, fn, n_params):
    net = d2l.RNNModelScratch(V, H, "cpu", get_params, init_state, fn)
    params = list(net.parameters())
    assert len(params) == n_params and all(p.requires_grad and p.is_leaf for p in params)
    state = net.begin_state(B, "cpu")
    Y, new_state = net(_tokens(), state)
    assert Y.shape == (T * B, V)
    assert len(new_state) == 1 and new_state[0].shape == (B, H)


def test_pytorch_form_gru_equals_nn_gru_after_weight_copy():
    torch.manual_seed(0)
    layer, linear = nn.GRU(V, H), nn.Linear(H, V)
    concise = d2l.RNNModel(layer, V)
    concise.linear = linear
    scratch = d2l.RNNModelScratch(
        V, H, "cpu", d2l.get_gru_params_pytorch_form, d2l.init_gru_state, d2l.gru_pytorch_form
    )
    scratch.params = d2l.gru_params_from_nn(layer, linear)
    # a non-zero starting state, so the reset gate matters
    h0 = torch.randn(1, B, H)
    Y1, h1 = concise(_tokens(), h0)
    Y2, (h2,) = scratch(_tokens(), (h0[0],))
    torch.testing.assert_close(Y2, Y1, rtol=0, atol=1e-6)
    torch.testing.assert_close(h2, h1[0], rtol=0, atol=1e-6)


def test_book_form_gru_is_a_different_model_from_nn_gru():
    """Same weights, different placement of the reset gate: the outputs differ."""
    torch.manual_seed(0)
    layer, linear = nn.GRU(V, H), nn.Linear(H, V)
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q = d2l.gru_params_from_nn(layer, linear)
    book_params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh + b_hh, W_hq, b_q]
    X = nn.functional.one_hot(_tokens().T, V).float()
    state = (torch.randn(B, H),)
    Y_book, _ = d2l.gru(X, state, book_params)
    Y_torch, _ = d2l.gru_pytorch_form(X, state, d2l.gru_params_from_nn(layer, linear))
    assert (Y_book - Y_torch).abs().max() > 1e-3


def test_two_layer_scratch_rnn_equals_nn_rnn_two_layers():
    torch.manual_seed(0)
    layer = nn.RNN(V, H, num_layers=2)
    concise = d2l.RNNModel(layer, V)
    net = d2l.RNNModelScratch(V, [H, H], "cpu", d2l.get_deep_params, d2l.init_deep_state, d2l.deep_rnn)
    net.params = d2l.rnn_params_from_nn(layer, concise.linear)
    h0 = torch.randn(2, B, H)
    Y1, h1 = concise(_tokens(), h0)
    Y2, h2 = net(_tokens(), tuple(h0))
    torch.testing.assert_close(Y2, Y1, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.stack(h2), h1, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell, per_layer", [("rnn", 3), ("gru", 9)])
def test_deep_model_with_per_layer_hidden_sizes(cell, per_layer):
    sizes = [32, 8, 4]
    net = d2l.RNNModelScratch(
        V, sizes, "cpu", lambda v, h, d: d2l.get_deep_params(v, h, d, cell), d2l.init_deep_state, d2l.deep_rnn
    )
    assert len(net.params) == per_layer * 3 + 2
    state = net.begin_state(B, "cpu")
    assert [s.shape for s in state] == [(B, 32), (B, 8), (B, 4)]
    Y, new_state = net(_tokens(), state)
    assert Y.shape == (T * B, V)
    assert [s.shape for s in new_state] == [(B, 32), (B, 8), (B, 4)]
    # every layer's state moved away from zero: each layer keeps its own state
    assert all(s.abs().sum() > 0 for s in new_state)


def test_deep_gru_layer_two_state_carries_over_between_calls():
    torch.manual_seed(0)
    net = d2l.RNNModelScratch(
        V, [H, H], "cpu", lambda v, h, d: d2l.get_deep_params(v, h, d, "gru"), d2l.init_deep_state, d2l.deep_rnn
    )
    X = _tokens(steps=10)
    Y_whole, _ = net(X, net.begin_state(B, "cpu"))
    Y_a, state = net(X[:, :4], net.begin_state(B, "cpu"))
    Y_b, _ = net(X[:, 4:], state)
    torch.testing.assert_close(torch.cat([Y_a, Y_b]), Y_whole, rtol=0, atol=1e-6)


def test_deep_params_validation():
    with pytest.raises(TypeError, match="list of per-layer sizes"):
        d2l.get_deep_params(V, 16, "cpu")
    with pytest.raises(ValueError, match="positive ints"):
        d2l.get_deep_params(V, [16, 0], "cpu")
    with pytest.raises(ValueError, match="'rnn' or 'gru'"):
        d2l.get_deep_params(V, [16], "cpu", cell="lstm")
    params = d2l.get_deep_params(V, [16, 16], "cpu")
    with pytest.raises(ValueError, match="do not fit 3 layers"):
        d2l.deep_rnn(torch.zeros(T, B, V), d2l.init_deep_state(B, [16, 16, 16], "cpu"), params)


def test_state_from_another_batch_size_is_rejected():
    net = d2l.RNNModelScratch(V, H, "cpu", d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn)
    with pytest.raises(ValueError, match="batch size 1 but X has batch size 3"):
        net(_tokens(), net.begin_state(1, "cpu"))


def test_vocab_size_and_num_hiddens_are_checked():
    with pytest.raises(ValueError, match="vocab_size must be positive"):
        d2l.RNNModelScratch(0, H, "cpu", d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn)
    with pytest.raises(TypeError, match="num_hiddens must be an int .*got str 'a'"):
        d2l.RNNModelScratch(V, "a", "cpu", d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn)
    with pytest.raises(ValueError, match="num_hiddens must be positive"):
        d2l.RNNModelScratch(V, 0, "cpu", d2l.get_rnn_params, d2l.init_rnn_state, d2l.rnn)


def test_weight_copy_helpers_reject_unsupported_layers():
    with pytest.raises(ValueError, match="one-layer"):
        d2l.gru_params_from_nn(nn.GRU(V, H, num_layers=2), nn.Linear(H, V))
    with pytest.raises(ValueError, match="tanh"):
        d2l.rnn_params_from_nn(nn.RNN(V, H, nonlinearity="relu"), nn.Linear(H, V))
