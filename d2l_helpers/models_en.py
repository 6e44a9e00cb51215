"""The English edition's recurrent models (d2l 1.0, d2l.ai §9.5-§10.3), as ``d2l.Module`` s.

A *cell* module (``RNNScratch``, ``GRUScratch``, ``LSTMScratch``,
``StackedRNNScratch``, or ``RNN``/``GRU``/``LSTM`` around ``nn`` layers) maps
inputs of shape (num_steps, batch_size, num_inputs) and an optional state to
(outputs, state); a *language model* (``RNNLMScratch``, ``RNNLM``) wraps a cell:

    X (batch, steps) token ids --one_hot--> (steps, batch, vocab)
        --rnn--> outputs, one (batch, hidden) per step
        --output_layer--> logits (batch, steps, vocab) --Classifier.loss--> cross-entropy

``RNNLMScratch`` plots perplexity, exp(loss), as ``'ppl'``. The cells the
chapters type in themselves (``GRUScratch`` §10.2, ``LSTMScratch``/``LSTM``
§10.1, ``StackedRNNScratch`` §10.3) are here as ``d2l.`` names too, with the
same parameters in the same order (so a torch seed gives the same weights).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_device, check_lr, check_model_vocab, check_prefix
from .framework import Classifier, Module
from .utils import check_int

__all__ = [
    "GRU",
    "GRUScratch",
    "LSTM",
    "LSTMScratch",
    "RNN",
    "RNNLM",
    "RNNLMScratch",
    "RNNScratch",
    "StackedRNNScratch",
    "check_len",
    "check_shape",
]


def check_len(a, n):
    """Raise ``ValueError`` unless ``len(a) == n``."""
    if len(a) != n:
        raise ValueError(f"list's length {len(a)} != expected length {n}")


def check_shape(a, shape):
    """Raise ``ValueError`` unless ``a.shape == shape``."""
    if a.shape != shape:
        raise ValueError(f"tensor's shape {a.shape} != expected shape {shape}")


def _sizes(num_inputs, num_hiddens):
    """Check a cell's sizes before any weight is made: positive ints (NumPy's too)."""
    check_int("num_inputs", num_inputs)
    check_int("num_hiddens", num_hiddens)


def _weight(sigma, *shape):
    return nn.Parameter(torch.randn(*shape) * sigma)


class RNNScratch(Module):
    """H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), from scratch (d2l.ai §9.5)."""

    def __init__(self, num_inputs, num_hiddens, sigma=0.01):
        _sizes(num_inputs, num_hiddens)
        super().__init__()
        self.save_hyperparameters()
        self.W_xh = _weight(sigma, num_inputs, num_hiddens)
        self.W_hh = _weight(sigma, num_hiddens, num_hiddens)
        self.b_h = nn.Parameter(torch.zeros(num_hiddens))

    def forward(self, inputs, state=None):
        """inputs (steps, batch, num_inputs), state None or ``(H,)`` -> (list of H_t, H_T)."""
        if state is None:  # a zero state (batch, hidden)
            H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
        else:
            (H,) = state
        outputs = []
        for X in inputs:  # one time step: X (batch, num_inputs)
            H = torch.tanh(X @ self.W_xh + H @ self.W_hh + self.b_h)
            outputs.append(H)
        return outputs, H


class GRUScratch(Module):
    """The book's GRU from scratch (d2l.ai §10.2): the reset gate before the matmul, (R * H) W_hh."""

    def __init__(self, num_inputs, num_hiddens, sigma=0.01):
        _sizes(num_inputs, num_hiddens)
        super().__init__()
        self.save_hyperparameters()

        def triple():
            return (
                _weight(sigma, num_inputs, num_hiddens),
                _weight(sigma, num_hiddens, num_hiddens),
                (nn.Parameter(torch.zeros(num_hiddens))),
            )

        self.W_xz, self.W_hz, self.b_z = triple()  # update gate
        self.W_xr, self.W_hr, self.b_r = triple()  # reset gate
        self.W_xh, self.W_hh, self.b_h = triple()  # candidate state

    def forward(self, inputs, H=None):
        if H is None:
            H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
        outputs = []
        for X in inputs:
            Z = torch.sigmoid(X @ self.W_xz + H @ self.W_hz + self.b_z)
            R = torch.sigmoid(X @ self.W_xr + H @ self.W_hr + self.b_r)
            H_tilde = torch.tanh(X @ self.W_xh + (R * H) @ self.W_hh + self.b_h)
            H = Z * H + (1 - Z) * H_tilde  # Z = 1 keeps the old state
            outputs.append(H)
        return outputs, H


class LSTMScratch(Module):
    """The LSTM from scratch (d2l.ai §10.1): input, forget, output gates and the input node."""

    def __init__(self, num_inputs, num_hiddens, sigma=0.01):
        _sizes(num_inputs, num_hiddens)
        super().__init__()
        self.save_hyperparameters()

        def triple():
            return (
                _weight(sigma, num_inputs, num_hiddens),
                _weight(sigma, num_hiddens, num_hiddens),
                (nn.Parameter(torch.zeros(num_hiddens))),
            )

        self.W_xi, self.W_hi, self.b_i = triple()  # input gate
        self.W_xf, self.W_hf, self.b_f = triple()  # forget gate
        self.W_xo, self.W_ho, self.b_o = triple()  # output gate
        self.W_xc, self.W_hc, self.b_c = triple()  # input node

    def forward(self, inputs, H_C=None):
        """-> (list of H_t, (H_T, C_T))."""
        if H_C is None:
            H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
            C = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
        else:
            H, C = H_C
        outputs = []
        for X in inputs:
            I = torch.sigmoid(X @ self.W_xi + H @ self.W_hi + self.b_i)  # noqa: E741
            F_ = torch.sigmoid(X @ self.W_xf + H @ self.W_hf + self.b_f)
            O = torch.sigmoid(X @ self.W_xo + H @ self.W_ho + self.b_o)  # noqa: E741
            C_tilde = torch.tanh(X @ self.W_xc + H @ self.W_hc + self.b_c)
            C = F_ * C + I * C_tilde
            H = O * torch.tanh(C)
            outputs.append(H)
        return outputs, (H, C)


class StackedRNNScratch(Module):
    """``num_layers`` RNNScratch cells, each feeding its outputs to the next (d2l.ai §10.3)."""

    def __init__(self, num_inputs, num_hiddens, num_layers, sigma=0.01):
        _sizes(num_inputs, num_hiddens)
        super().__init__()
        check_int("num_layers", num_layers)
        self.save_hyperparameters()
        self.rnns = nn.Sequential(
            *[RNNScratch(num_inputs if i == 0 else num_hiddens, num_hiddens, sigma) for i in range(num_layers)]
        )

    def forward(self, inputs, Hs=None):
        """-> (outputs (steps, batch, hidden) of the last layer, list of each layer's state)."""
        outputs = inputs
        Hs = [None] * self.num_layers if Hs is None else list(Hs)
        for i in range(self.num_layers):
            outputs, Hs[i] = self.rnns[i](outputs, Hs[i])
            outputs = torch.stack(outputs, 0)
        return outputs, Hs


class RNNLMScratch(Classifier):
    """A language model around a cell ``rnn``, its output layer from scratch (d2l.ai §9.5)."""

    def __init__(self, rnn, vocab_size, lr=0.01):
        super().__init__()
        if not isinstance(rnn, nn.Module):
            raise TypeError(f"rnn must be a cell module (e.g. d2l.RNNScratch(...)), got {type(rnn).__name__}")
        check_int("vocab_size", vocab_size)
        check_lr(lr)  # before any weight is made (a NaN lr would turn them all to NaN at the first step)
        self.save_hyperparameters()
        self.init_params()

    def init_params(self):
        self.W_hq = nn.Parameter(torch.randn(self.rnn.num_hiddens, self.vocab_size) * self.rnn.sigma)
        self.b_q = nn.Parameter(torch.zeros(self.vocab_size))

    def training_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("ppl", torch.exp(l), train=True)
        return l

    def validation_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("ppl", torch.exp(l), train=False)

    def one_hot(self, X):
        """Token ids (batch, steps) -> one-hot floats (steps, batch, vocab)."""
        return F.one_hot(X.T, self.vocab_size).type(torch.float32)

    def output_layer(self, rnn_outputs):
        """The logits (batch, steps, vocab) of every step's hidden state."""
        return torch.stack([H @ self.W_hq + self.b_q for H in rnn_outputs], 1)

    def forward(self, X, state=None):
        rnn_outputs, _ = self.rnn(self.one_hot(X), state)
        return self.output_layer(rnn_outputs)

    def predict(self, prefix, num_preds, vocab, device=None):
        """``prefix`` and the ``num_preds`` most likely characters after it (greedy)."""
        num_preds = check_prefix(prefix, num_preds, vocab)
        check_model_vocab(self, vocab)  # its size, and the vocabulary it was trained with
        if device is not None:  # (None: the CPU, as upstream)
            check_device(device)
        state, outputs = None, [vocab[prefix[0]]]
        with torch.no_grad():
            for i in range(len(prefix) + num_preds - 1):
                X = torch.tensor([[outputs[-1]]], device=device)
                rnn_outputs, state = self.rnn(self.one_hot(X), state)
                if i < len(prefix) - 1:  # warm-up: feed the prefix, keep the state
                    outputs.append(vocab[prefix[i + 1]])
                else:  # predict: the most likely next character
                    outputs.append(int(self.output_layer(rnn_outputs).argmax(dim=2).reshape(1)))
        return "".join(vocab.idx_to_token[i] for i in outputs)


class RNN(Module):
    """A cell around ``nn.RNN`` (d2l.ai §9.6)."""

    def __init__(self, num_inputs, num_hiddens):
        _sizes(num_inputs, num_hiddens)
        super().__init__()
        self.save_hyperparameters()
        self.rnn = nn.RNN(num_inputs, num_hiddens)

    def forward(self, inputs, H=None):
        return self.rnn(inputs, H)


class RNNLM(RNNLMScratch):
    """RNNLMScratch with an ``nn.LazyLinear`` output layer (d2l.ai §9.6)."""

    def init_params(self):
        self.linear = nn.LazyLinear(self.vocab_size)

    def output_layer(self, hiddens):
        return self.linear(hiddens).swapaxes(0, 1)


class GRU(RNN):
    """A cell around ``nn.GRU``, ``num_layers`` deep (d2l.ai §10.3; §10.2's one layer is the default here)."""

    def __init__(self, num_inputs, num_hiddens, num_layers=1, dropout=0):
        _sizes(num_inputs, num_hiddens)
        check_int("num_layers", num_layers)
        Module.__init__(self)
        self.save_hyperparameters()
        self.rnn = nn.GRU(num_inputs, num_hiddens, num_layers, dropout=dropout)


class LSTM(RNN):
    """A cell around ``nn.LSTM`` (d2l.ai §10.1)."""

    def __init__(self, num_inputs, num_hiddens):
        _sizes(num_inputs, num_hiddens)
        Module.__init__(self)
        self.save_hyperparameters()
        self.rnn = nn.LSTM(num_inputs, num_hiddens)

    def forward(self, inputs, H_C=None):
        return self.rnn(inputs, H_C)
