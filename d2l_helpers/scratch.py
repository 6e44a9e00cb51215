"""Recurrent networks from scratch: parameters, states and step functions.

A *cell* is the function that turns one time step's input X_t (batch, vocab)
and the previous hidden state H_{t-1} (batch, hidden) into the new state H_t.
Each model here is three plain functions, as in the book:

* ``get_*_params(vocab_size, num_hiddens, device)`` makes the weights, a flat
  list of leaf tensors with ``requires_grad=True`` (so ``sgd`` can update them);
* ``init_*_state(batch_size, num_hiddens, device)`` makes the initial state, a
  tuple with one tensor per layer (so LSTM-like states fit the same shape);
* the step function ``f(inputs, state, params)`` runs the cell over all time
  steps of ``inputs`` (num_steps, batch, vocab) and returns the outputs
  (num_steps * batch, vocab) and the new state.

``RNNModelScratch`` glues the three together behind the interface that
``train_ch8`` and ``predict_ch8`` use for every model: ``begin_state``, a call
``net(X, state) -> (Y, state)`` and ``parameters()``.

Two forms of the GRU live here, because they are different models:

* ``gru`` is d2l's: the reset gate scales the state *before* the matmul,
  H~ = tanh(X W_xh + (R * H) W_hh + b_h);
* ``gru_pytorch_form`` is ``nn.GRU``'s: the reset gate scales the matmul's
  result, H~ = tanh(X W_xh + b_xh + R * (H W_hh + b_hh)).

``get_deep_params`` / ``deep_rnn`` stack layers, each with its own hidden size.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from .checks import check_device
from .utils import check_int

__all__ = [
    "RNNModelScratch",
    "deep_rnn",
    "get_deep_params",
    "get_gru_params",
    "get_gru_params_pytorch_form",
    "get_rnn_params",
    "gru",
    "gru_params_from_nn",
    "gru_pytorch_form",
    "init_deep_state",
    "init_gru_state",
    "init_rnn_state",
    "rnn",
    "rnn_params_from_nn",
]


def _normal(shape, device):
    return torch.randn(size=shape, device=device) * 0.01


def _check_sizes(vocab_size, num_hiddens, device):
    """The sizes and the device of ``get_*_params``, checked before any weight is made."""
    check_int("vocab_size", vocab_size)
    check_int("num_hiddens", num_hiddens)
    check_device(device)


def _leaves(params):
    for p in params:
        p.requires_grad_(True)
    return params


# --------------------------------------------------------------------------
# Vanilla RNN (zh §8.5, en §9.5)
# --------------------------------------------------------------------------


def get_rnn_params(vocab_size, num_hiddens, device):
    """W_xh, W_hh, b_h (hidden layer) and W_hq, b_q (output layer)."""
    _check_sizes(vocab_size, num_hiddens, device)
    num_inputs = num_outputs = vocab_size
    W_xh = _normal((num_inputs, num_hiddens), device)
    W_hh = _normal((num_hiddens, num_hiddens), device)
    b_h = torch.zeros(num_hiddens, device=device)
    W_hq = _normal((num_hiddens, num_outputs), device)
    b_q = torch.zeros(num_outputs, device=device)
    return _leaves([W_xh, W_hh, b_h, W_hq, b_q])


def init_rnn_state(batch_size, num_hiddens, device):
    """A one-element tuple holding the zero state (batch, hidden)."""
    return (torch.zeros((batch_size, num_hiddens), device=device),)


def rnn(inputs, state, params):
    """H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h);  O_t = H_t W_hq + b_q."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:  # X: (batch, vocab)
        H = torch.tanh(X @ W_xh + H @ W_hh + b_h)  # (batch, hidden)
        outputs.append(H @ W_hq + b_q)  # (batch, vocab)
    return torch.cat(outputs, dim=0), (H,)


# --------------------------------------------------------------------------
# GRU (zh §9.1, en §10.2)
# --------------------------------------------------------------------------


def _three(num_inputs, num_hiddens, device):
    return (
        _normal((num_inputs, num_hiddens), device),
        _normal((num_hiddens, num_hiddens), device),
        torch.zeros(num_hiddens, device=device),
    )


def get_gru_params(vocab_size, num_hiddens, device):
    """Update gate, reset gate, candidate state, output layer: 11 tensors."""
    _check_sizes(vocab_size, num_hiddens, device)
    W_xz, W_hz, b_z = _three(vocab_size, num_hiddens, device)
    W_xr, W_hr, b_r = _three(vocab_size, num_hiddens, device)
    W_xh, W_hh, b_h = _three(vocab_size, num_hiddens, device)
    W_hq = _normal((num_hiddens, vocab_size), device)
    b_q = torch.zeros(vocab_size, device=device)
    return _leaves([W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q])


init_gru_state = init_rnn_state


def gru(inputs, state, params):
    """d2l's GRU: the reset gate is applied to H *before* the matmul."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)  # update gate (batch, hidden)
        R = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)  # reset gate
        H_tilda = torch.tanh(X @ W_xh + (R * H) @ W_hh + b_h)  # candidate state
        H = Z * H + (1 - Z) * H_tilda  # Z = 1 keeps the old state
        outputs.append(H @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H,)


def get_gru_params_pytorch_form(vocab_size, num_hiddens, device):
    """Like ``get_gru_params`` but the candidate has two biases, b_xh and b_hh: 12 tensors."""
    _check_sizes(vocab_size, num_hiddens, device)
    W_xz, W_hz, b_z = _three(vocab_size, num_hiddens, device)
    W_xr, W_hr, b_r = _three(vocab_size, num_hiddens, device)
    W_xh, W_hh, b_xh = _three(vocab_size, num_hiddens, device)
    b_hh = torch.zeros(num_hiddens, device=device)
    W_hq = _normal((num_hiddens, vocab_size), device)
    b_q = torch.zeros(vocab_size, device=device)
    return _leaves([W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q])


def gru_pytorch_form(inputs, state, params):
    """``nn.GRU``'s GRU: the reset gate is applied *after* the matmul, to H W_hh + b_hh."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)
        R = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)
        H_tilda = torch.tanh(X @ W_xh + b_xh + R * (H @ W_hh + b_hh))
        H = Z * H + (1 - Z) * H_tilda
        outputs.append(H @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H,)


def gru_params_from_nn(gru_layer: torch.nn.GRU, linear: torch.nn.Linear) -> list[torch.Tensor]:
    """Copy a one-layer ``nn.GRU`` and its output ``nn.Linear`` into PyTorch-form params.

    ``nn.GRU`` stacks its gates as (r, z, n) along the rows of ``weight_ih_l0``
    and ``weight_hh_l0``, and multiplies from the left (W x), so each block is
    transposed for the book's X @ W layout.
    """
    if gru_layer.num_layers != 1 or gru_layer.bidirectional or not gru_layer.bias:
        raise ValueError("gru_params_from_nn needs a one-layer, one-direction nn.GRU with biases")
    with torch.no_grad():
        w_ir, w_iz, w_in = gru_layer.weight_ih_l0.chunk(3)
        w_hr, w_hz, w_hn = gru_layer.weight_hh_l0.chunk(3)
        b_ir, b_iz, b_in = gru_layer.bias_ih_l0.chunk(3)
        b_hr, b_hz, b_hn = gru_layer.bias_hh_l0.chunk(3)
        params = [
            w_iz.T, w_hz.T, b_iz + b_hz,
            w_ir.T, w_hr.T, b_ir + b_hr,
            w_in.T, w_hn.T, b_in, b_hn,
            linear.weight.T, linear.bias,
        ]  # fmt: skip
        return _leaves([p.detach().clone().contiguous() for p in params])


# --------------------------------------------------------------------------
# Deep (stacked) RNNs (zh §9.3, en §10.3)
# --------------------------------------------------------------------------


def _sizes(num_hiddens) -> list[int]:
    if isinstance(num_hiddens, numbers.Integral):
        raise TypeError("deep models take num_hiddens as a list of per-layer sizes, e.g. [256, 128]")
    sizes = list(num_hiddens)
    if not sizes or any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h <= 0 for h in sizes):
        raise ValueError(f"num_hiddens must be a non-empty list of positive ints, got {num_hiddens!r}")
    return [int(h) for h in sizes]


_PER_LAYER = {"rnn": 3, "gru": 9}


def get_deep_params(vocab_size, num_hiddens: Sequence[int], device, cell: str = "rnn"):
    """Stacked layers of ``cell`` ('rnn' or 'gru'); layer l has ``num_hiddens[l]`` units.

    The flat list is layer 0's tensors, layer 1's, ..., then W_hq, b_q.
    """
    if cell not in _PER_LAYER:
        raise ValueError(f"cell must be 'rnn' or 'gru', got {cell!r}")
    check_int("vocab_size", vocab_size)
    check_device(device)
    params = []
    num_inputs = vocab_size
    for h in _sizes(num_hiddens):
        for _ in range(_PER_LAYER[cell] // 3):  # 'gru' has three (W_x, W_h, b) triples
            params.extend(_three(num_inputs, h, device))
        num_inputs = h
    params += [_normal((num_inputs, vocab_size), device), torch.zeros(vocab_size, device=device)]
    return _leaves(params)


def init_deep_state(batch_size, num_hiddens: Sequence[int], device):
    """One zero state per layer: a tuple of (batch, num_hiddens[l]) tensors."""
    return tuple(torch.zeros((batch_size, h), device=device) for h in _sizes(num_hiddens))


def _rnn_cell(X, H, W_xh, W_hh, b_h):
    return torch.tanh(X @ W_xh + H @ W_hh + b_h)


def _gru_cell(X, H, W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h):
    Z = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)
    R = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)
    H_tilda = torch.tanh(X @ W_xh + (R * H) @ W_hh + b_h)
    return Z * H + (1 - Z) * H_tilda


def deep_rnn(inputs, state, params):
    """Run stacked layers; each layer's new state is the next layer's input.

    The cell is read off the parameter count: 3 tensors a layer for an RNN,
    9 for a GRU. Each layer keeps its *own* state between calls; reusing one
    state for every layer is the classic bug this layout prevents.
    """
    num_layers = len(state)
    per_layer = (len(params) - 2) // num_layers
    if per_layer not in (3, 9) or per_layer * num_layers + 2 != len(params):
        raise ValueError(f"{len(params)} params do not fit {num_layers} layers of 3 (rnn) or 9 (gru)")
    cell = _rnn_cell if per_layer == 3 else _gru_cell
    layers = [params[i * per_layer : (i + 1) * per_layer] for i in range(num_layers)]
    W_hq, b_q = params[-2:]
    H = list(state)
    outputs = []
    for X in inputs:
        for i, layer in enumerate(layers):
            H[i] = cell(X, H[i], *layer)
            X = H[i]
        outputs.append(X @ W_hq + b_q)
    return torch.cat(outputs, dim=0), tuple(H)


def rnn_params_from_nn(rnn_layer: torch.nn.RNN, linear: torch.nn.Linear) -> list[torch.Tensor]:
    """Copy a (multi-layer, tanh) ``nn.RNN`` and its ``nn.Linear`` into ``deep_rnn`` params."""
    if rnn_layer.bidirectional or rnn_layer.nonlinearity != "tanh" or not rnn_layer.bias:
        raise ValueError("rnn_params_from_nn needs a one-direction tanh nn.RNN with biases")
    params = []
    with torch.no_grad():
        for k in range(rnn_layer.num_layers):
            w_ih = getattr(rnn_layer, f"weight_ih_l{k}")
            w_hh = getattr(rnn_layer, f"weight_hh_l{k}")
            b = getattr(rnn_layer, f"bias_ih_l{k}") + getattr(rnn_layer, f"bias_hh_l{k}")
            params += [w_ih.T, w_hh.T, b]
        params += [linear.weight.T, linear.bias]
        return _leaves([p.detach().clone().contiguous() for p in params])


# --------------------------------------------------------------------------
# The model wrapper
# --------------------------------------------------------------------------


def _state_batch(state):
    first = state[0] if isinstance(state, (tuple, list)) else state
    return first.shape[-2]


class RNNModelScratch:
    """A recurrent model built from ``get_params``, ``init_state`` and ``forward_fn``."""

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        vocab_size = check_int("vocab_size", vocab_size)
        if isinstance(num_hiddens, numbers.Integral):
            num_hiddens = check_int("num_hiddens", num_hiddens)
        elif isinstance(num_hiddens, str) or not isinstance(num_hiddens, Sequence):
            raise TypeError(
                f"num_hiddens must be an int (a list of ints for a deep model), got {type(num_hiddens).__name__} "
                f"{num_hiddens!r}"
            )
        check_device(device)  # before get_params makes a tensor there
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        if state is not None and _state_batch(state) != X.shape[0]:
            raise ValueError(
                f"state was made for batch size {_state_batch(state)} but X has batch size "
                f"{X.shape[0]}; call net.begin_state(batch_size={X.shape[0]}, device=...)"
            )
        # (batch, steps) token ids -> (steps, batch, vocab) one-hot floats
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, device):
        return self.init_state(batch_size, self.num_hiddens, device)

    def parameters(self):
        """The trainable tensors, as ``nn.Module.parameters()`` would give them."""
        return iter(self.params)
