"""The fast path of :mod:`d2l_helpers.fast` for the English edition's language models (d2l 1.0).

``Trainer.fit`` calls ``model(X)`` (X: token ids (B, T)) inside the model's
own ``training_step`` and ``validation_step``; while it trains,
:class:`LanguageModelForward` puts a ``forward`` on the instance that runs one
of :mod:`d2l_helpers.kernels`' kernels instead, when the model is recognised
and the kernel agrees with the model's own forward, with the checks of
:mod:`d2l_helpers.fast`:

* its code (``forward``, ``one_hot``, ``output_layer`` and the cell's
  ``forward``) names nothing but what the book's code names, so it has no
  side effect the kernel would skip (the learner's own ``RNNLMScratch`` and
  ``GRUScratch``, typed in from §9.5 and §10.2, qualify), and its parameters
  are exactly those a kernel takes;
* on random weights and tokens (a private generator: the learner's random
  numbers are left alone) the kernel and the model's own forward give the
  same logits and the same gradients for every parameter.

Recognised: an LM whose ``rnn`` is an RNNScratch or GRUScratch (the book's
parameter names) with the scratch output layer (``W_hq``, ``b_q``), or a
``d2l.RNN``-like wrapper of a one-layer ``nn.RNN`` (tanh) or ``nn.GRU`` with
RNNLM's ``linear``, on the CPU. Everything else (LSTMs, deep models, GPUs, a
state passed in) runs as written; so does everything with ``fast=False`` or
``$D2L_FAST=0``.
"""

from __future__ import annotations

import torch
from torch import nn

from .fast import ENV_FAST, _close, _random_like, fast_enabled
from .kernels import GRUBookSeq, GRUTorchSeq, RNNSeq, Workspace

__all__ = ["LanguageModelForward"]

_LM_NAMES = {
    "forward": {"one_hot", "rnn", "output_layer"},
    "one_hot": {"F", "one_hot", "T", "vocab_size", "type", "torch", "float32", "d2l"},
    "output_layer": {"d2l", "torch", "stack", "matmul", "W_hq", "b_q", "swapaxes", "linear", "transpose"},
    "cell": {"d2l", "torch", "zeros", "shape", "num_hiddens", "device", "tanh", "sigmoid", "matmul", "append",
             "W_xh", "W_hh", "b_h", "W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r"},
    "wrapper": {"rnn"},
}  # fmt: skip
_RNN_NAMES = ("W_xh", "W_hh", "b_h")
_GRU_NAMES = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h")


def _plain_code(fn, allowed) -> bool:
    """Like :func:`_plain_tensor_code`, letting in comprehensions whose code passes the same test."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__closure__", None) or not set(code.co_names) <= allowed:
        return False
    inner = [c for c in code.co_consts if isinstance(c, type(code))]
    return all(c.co_name in ("<listcomp>", "<genexpr>") and set(c.co_names) <= allowed for c in inner)


def _lm_kernel(model):
    """A kernel forward ``X (B, T) -> logits (B, T, V)`` for ``model``, and its name; or None."""
    cls, rnn, V = type(model), getattr(model, "rnn", None), getattr(model, "vocab_size", None)
    if not isinstance(rnn, nn.Module) or isinstance(V, bool) or not isinstance(V, int):
        return None
    if not all(_plain_code(getattr(cls, k, None), _LM_NAMES[k]) for k in ("forward", "one_hot", "output_layer")):
        return None
    if any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return None
    params = dict(model.named_parameters())
    if not params or any(p.device.type != "cpu" or not p.dtype.is_floating_point for p in params.values()):
        return None
    linear = getattr(model, "linear", None)
    if {"W_hq", "b_q"} <= set(params):
        out = lambda: (model.W_hq, model.b_q)  # noqa: E731
        own = {"W_hq", "b_q"}
    elif type(linear) is nn.Linear and linear.bias is not None:
        out = lambda: (linear.weight.T, linear.bias)  # noqa: E731
        own = {"linear.weight", "linear.bias"}
    else:
        return None
    cell_params = {k[len("rnn.") :] for k in params if k.startswith("rnn.")}
    if set(params) != own | {"rnn." + k for k in cell_params}:
        return None
    workspace, layer = Workspace(), getattr(rnn, "rnn", None)
    if _plain_code(type(rnn).forward, _LM_NAMES["cell"]) and cell_params in (set(_RNN_NAMES), set(_GRU_NAMES)):
        gru = cell_params == set(_GRU_NAMES)

        def forward(X):
            T, B = X.shape[1], X.shape[0]
            H0 = torch.zeros(B, rnn.W_hh.shape[0], dtype=rnn.W_hh.dtype)
            if gru:
                W_x = torch.cat((rnn.W_xh, rnn.W_xz, rnn.W_xr), dim=1)
                W_hzr, b = torch.cat((rnn.W_hz, rnn.W_hr), dim=1), torch.cat((rnn.b_h, rnn.b_z, rnn.b_r))
                Y, _ = GRUBookSeq.apply(X.T, H0, W_x, W_hzr, rnn.W_hh, b, *out(), workspace)
            else:
                Y, _ = RNNSeq.apply(X.T, H0, rnn.W_xh, rnn.W_hh, rnn.b_h, *out(), workspace)
            return Y.view(T, B, -1).transpose(0, 1)

        return forward, "scratch GRU kernel" if gru else "scratch RNN kernel"
    if type(layer) not in (nn.RNN, nn.GRU) or not _plain_code(type(rnn).forward, _LM_NAMES["wrapper"]):
        return None
    if layer.num_layers != 1 or layer.bidirectional or not layer.bias or layer.batch_first:
        return None
    if (isinstance(layer, nn.RNN) and layer.nonlinearity != "tanh") or getattr(layer, "proj_size", 0):
        return None

    def forward(X):
        T, B = X.shape[1], X.shape[0]
        W_ih, W_hh, b_ih, b_hh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
        H0 = torch.zeros(B, layer.hidden_size, dtype=W_hh.dtype)
        if isinstance(layer, nn.GRU):
            Y, _ = GRUTorchSeq.apply(X.T, H0, W_ih.T, W_hh, b_ih, b_hh, *out(), workspace)
        else:
            Y, _ = RNNSeq.apply(X.T, H0, W_ih.T, W_hh.T, b_ih + b_hh, *out(), workspace)
        return Y.view(T, B, -1).transpose(0, 1)

    return forward, f"nn.{type(layer).__name__} kernel"


def _lm_agrees(model, kernel, batch_size=3, num_steps=5) -> bool:
    """The model's own forward and ``kernel`` on random weights and tokens: same logits, same gradients."""
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    probe = _random_like(params, torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(20240)
    X = torch.randint(0, model.vocab_size, (batch_size, num_steps), generator=gen)
    results = []
    try:
        with torch.no_grad():
            for p, q in zip(params, probe):
                p.copy_(q)
        for forward in (lambda X: type(model).forward(model, X), kernel):
            Y = forward(X)
            weights = torch.randn(Y.shape, generator=torch.Generator().manual_seed(7), dtype=Y.dtype)
            grads = torch.autograd.grad((Y * weights).sum(), params)
            results.append([Y, *grads])
    finally:
        with torch.no_grad():
            for p, q in zip(params, saved):
                p.copy_(q)
    return all(_close(a.detach(), b.detach()) for a, b in zip(results[1], results[0]))


class LanguageModelForward:
    """While active (``with``), ``model(X)`` runs the fast kernel when :func:`_lm_kernel` recognises the model.

    ``model(X, state)`` with a state, any input but token ids (B, T), and any
    model not recognised run as written. The check runs at the first call
    (after a lazy layer such as RNNLM's ``LazyLinear`` has its weights) and
    again whenever the parameters are replaced. ``name`` is the kernel's name
    once it has run, else None; ``on_first_use(name)`` is called when it first
    runs. If the kernel raises, the call is redone as
    written, one note is printed and the rest runs as written.
    """

    def __init__(self, model, fast=None, on_first_use=None):
        self.model, self.enabled, self.name, self.on_first_use = model, fast_enabled(fast), None, on_first_use
        self._sig, self._kernel, self._installed = None, None, False

    def __enter__(self):
        if self.enabled and isinstance(self.model, nn.Module) and "forward" not in self.model.__dict__:
            self.model.forward = self._forward  # an instance attribute: nn.Module.__call__ finds it first
            self._installed = True
        return self

    def __exit__(self, *exc):
        if self._installed:
            del self.model.forward
            self._installed = False
        return False

    def _written(self, *args, **kwargs):
        return type(self.model).forward(self.model, *args, **kwargs)

    def _current_kernel(self):
        params = list(self.model.parameters())
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in params):
            return None  # the first call initialises a lazy layer, as written
        sig = tuple((id(p), tuple(p.shape), p.dtype, str(p.device)) for p in params)
        if sig != self._sig:
            self._sig, self._kernel = sig, None
            try:
                candidate = _lm_kernel(self.model)
                if candidate is not None and _lm_agrees(self.model, candidate[0]):
                    self._kernel = candidate
            except Exception:  # anything unexpected in the check: as written
                self._kernel = None
        return self._kernel

    def _forward(self, X, *args, **kwargs):
        if args or kwargs or not isinstance(X, torch.Tensor) or X.dim() != 2 or X.dtype.is_floating_point:
            return self._written(X, *args, **kwargs)
        kernel = self._current_kernel() if self.enabled else None
        if kernel is None:
            return self._written(X)
        try:
            Y = kernel[0](X)
        except Exception as err:  # never stop a notebook because of the fast path
            Y = self._written(X)
            print(
                f"Note: the fast training path stopped ({type(err).__name__}: {err}); "
                f"training continues as written ({ENV_FAST}=0 skips the fast path)."
            )
            self.enabled, self.name = False, None
            return Y
        if self.name is None and self.on_first_use is not None:
            self.on_first_use(kernel[1])
        self.name = kernel[1]
        return Y
