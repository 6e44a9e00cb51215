"""``RNNModel``: the book's wrapper around ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``.

The recurrent layer maps one-hot inputs (num_steps, batch, vocab) to hidden
states (num_steps, batch, hidden); a linear layer maps each hidden state to
vocabulary logits. It has the same interface as ``RNNModelScratch``
(``begin_state``, ``net(X, state) -> (Y, state)``, ``parameters()``), so
``train_ch8`` and ``predict_ch8`` treat both alike.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .utils import check_int

__all__ = ["RNNModel"]


class RNNModel(nn.Module):
    """A recurrent layer followed by a linear output layer."""

    def __init__(self, rnn_layer: nn.RNNBase, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rnn_layer, nn.RNNBase):
            raise TypeError(f"rnn_layer must be an nn.RNN, nn.GRU or nn.LSTM, got {type(rnn_layer).__name__}")
        vocab_size = check_int("vocab_size", vocab_size)
        if rnn_layer.input_size != vocab_size:
            raise ValueError(
                f"rnn_layer.input_size is {rnn_layer.input_size} but vocab_size is {vocab_size}: "
                "the one-hot inputs have vocab_size features, so build the layer with "
                "nn.GRU(len(vocab), num_hiddens)"
            )
        if rnn_layer.batch_first:
            raise ValueError("RNNModel feeds (num_steps, batch, vocab) inputs; build the layer with batch_first=False")
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        # A bidirectional layer (zh §9.4) concatenates both directions' states.
        self.num_directions = 2 if self.rnn.bidirectional else 1
        self.linear = nn.Linear(self.num_hiddens * self.num_directions, self.vocab_size)

    def forward(self, inputs, state):
        expected = inputs.shape[0]
        got = (state[0] if isinstance(state, tuple) else state).shape[1]
        if got != expected:
            raise ValueError(
                f"state was made for batch size {got} but inputs have batch size {expected}; "
                f"call net.begin_state(device, batch_size={expected})"
            )
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)  # (steps, batch, vocab)
        Y, state = self.rnn(X, state)  # Y: (steps, batch, hidden * directions)
        # (steps * batch, hidden) -> (steps * batch, vocab)
        output = self.linear(Y.reshape((-1, Y.shape[-1])))
        return output, state

    def begin_state(self, device, batch_size=1):
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        if isinstance(self.rnn, nn.LSTM):  # an LSTM carries (H, C)
            return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))
        return torch.zeros(shape, device=device)
