"""RNNModel around nn.RNN / nn.GRU / nn.LSTM."""

import pytest
import torch
from torch import nn

import d2l_helpers as d2l

V, H, B, T = 28, 16, 3, 5


@pytest.mark.parametrize("layer_cls", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_shapes_and_state(layer_cls, num_layers):
    net = d2l.RNNModel(layer_cls(V, H, num_layers=num_layers), V)
    state = net.begin_state("cpu", batch_size=B)
    states = state if isinstance(state, tuple) else (state,)
    assert len(states) == (2 if layer_cls is nn.LSTM else 1)
    assert all(s.shape == (num_layers, B, H) for s in states)
    Y, new_state = net(torch.randint(0, V, (B, T)), state)
    assert Y.shape == (T * B, V)
    assert type(new_state) is type(state)


def test_bidirectional_doubles_the_output_layer_input():
    net = d2l.RNNModel(nn.GRU(V, H, bidirectional=True), V)
    assert net.linear.in_features == 2 * H
    Y, _ = net(torch.randint(0, V, (B, T)), net.begin_state("cpu", B))
    assert Y.shape == (T * B, V)


def test_begin_state_keeps_the_books_argument_order():
    net = d2l.RNNModel(nn.GRU(V, H), V)
    assert net.begin_state("cpu").shape == (1, 1, H)  # begin_state(device, batch_size=1)
    assert net.begin_state(batch_size=4, device="cpu").shape == (1, 4, H)


def test_state_from_another_batch_size_is_rejected():
    net = d2l.RNNModel(nn.LSTM(V, H), V)
    with pytest.raises(ValueError, match="batch size 1 but inputs have batch size 3"):
        net(torch.randint(0, V, (B, T)), net.begin_state("cpu", batch_size=1))


def test_layer_that_does_not_fit_the_vocab_is_rejected():
    with pytest.raises(ValueError, match="input_size is 10 but vocab_size is 28"):
        d2l.RNNModel(nn.GRU(10, H), V)
    with pytest.raises(ValueError, match="batch_first=False"):
        d2l.RNNModel(nn.GRU(V, H, batch_first=True), V)
    with pytest.raises(TypeError, match="nn.RNN, nn.GRU or nn.LSTM"):
        d2l.RNNModel(nn.Linear(V, H), V)
