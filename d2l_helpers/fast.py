"""The fast training path: the same models and the same mathematics, with a hand-written backward pass.

Why the book's loop is slow
---------------------------
The book's ``gru(inputs, state, params)`` runs the cell one time step at a
time: per step about 20 small tensor operations, each recorded by autograd,
and about 40 more in the backward pass, among them one small weight-gradient
matmul per weight and step (``H_t^T @ dA_t``, depth 32). On a CPU the
overhead around the matmuls (dispatch, autograd's graph, allocation) costs
about as much as the matmuls themselves.

What ``train_ch8`` does instead
-------------------------------
For the models it knows, it trains with the kernels of
:mod:`d2l_helpers.kernels`: one :class:`torch.autograd.Function` per model
whose forward and backward are written out (and checked with
``torch.autograd.gradcheck`` in tests/test_fast.py). They look the input
projections of all steps up at once (a one-hot row times a matrix is a row),
fuse the gates' matmuls, run only the recurrence step by step (4-6
operations a step, none recorded by autograd), compute every weight gradient
with one matmul over the whole sequence, and reuse their buffers from one
minibatch to the next. ``train_ch8`` also updates the weights with a plain
loop instead of ``torch.optim.SGD`` (whose first use imports
``torch._dynamo``: about a second, and ~70 MB).

Known models: the book's scratch RNN (``rnn``) and GRU (``gru``, the reset gate
before the matmul), each with the book's parameter layout, and ``RNNModel``
around a one-layer ``nn.RNN`` (tanh) or ``nn.GRU``, on the CPU. ``nn.LSTM``
already runs fused kernels; deep scratch RNNs, ``gru_pytorch_form``, a
learner's own variant and every model on a GPU train exactly as written.

How we know it computes the same thing
--------------------------------------
A scratch model is only a ``forward_fn`` the learner wrote, so before the
first use :func:`accelerate` checks two things:

* the function uses nothing but tensor arithmetic and ``torch.sigmoid`` /
  ``torch.tanh`` / ``torch.mm`` / ``torch.cat`` (its code names no other global
  or attribute and has no closure), so it has no side effect that the fast
  path would skip, such as a ``print`` or a list that records gate values;
* on random weights, a random non-zero state and random tokens, the
  learner's function and the fast path give the same outputs, state and
  gradients (to float tolerance). A private random generator leaves the
  learner's random numbers alone.

If either check fails, the learner's function runs as written. ``nn.RNN`` and
``nn.GRU`` get the same numerical check against PyTorch's own layer.

The English edition's models
----------------------------
``Trainer.fit`` (d2l 1.0's API) uses the same kernels and the same checks for
``RNNLMScratch``/``RNNLM`` around a scratch RNN or GRU or a one-layer
``nn.RNN``/``nn.GRU``: see :mod:`d2l_helpers.fast_en`.

Off switch and fallback
-----------------------
``train_ch8(..., fast=False)`` or the environment variable ``D2L_FAST=0``
trains exactly as written. If the fast path raises during training, the
minibatch is redone as written, ``train_ch8`` prints one short note and goes
on without it: it never stops a notebook. ``History.fast_path`` names the
kernel that trained (None: as written).
"""

from __future__ import annotations

import os
import weakref

import torch
from torch import nn

from .kernels import GRUBookSeq, GRUTorchSeq, RNNSeq, Workspace

__all__ = ["ENV_FAST", "accelerate", "disable", "fast_enabled"]

ENV_FAST = "D2L_FAST"


def fast_enabled(fast=None) -> bool:
    """``fast`` if given, else ``$D2L_FAST`` ('0', 'off', 'false', 'no' turn it off), else on."""
    if fast is not None:
        return bool(fast)
    raw = os.environ.get(ENV_FAST, "").strip().lower()
    if raw in ("", "1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ValueError(f"${ENV_FAST} must be 1/on/true/yes or 0/off/false/no, got {os.environ[ENV_FAST]!r}")


# --------------------------------------------------------------------------
# Models -> kernels. Each adapter takes (token ids (B, T), state) like net(X, state).
# --------------------------------------------------------------------------


def _scratch_rnn(net):
    workspace = Workspace()

    def forward(X, state):
        W_xh, W_hh, b_h, W_hq, b_q = net.params
        Y, H = RNNSeq.apply(X.T, state[0], W_xh, W_hh, b_h, W_hq, b_q, workspace)
        return Y, (H,)

    return forward


def _scratch_gru(net):
    workspace = Workspace()

    def forward(X, state):
        W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = net.params
        W_x = torch.cat((W_xh, W_xz, W_xr), dim=1)  # the gates side by side: one lookup...
        W_hzr = torch.cat((W_hz, W_hr), dim=1)  # ...and one matmul for Z and R
        b = torch.cat((b_h, b_z, b_r))
        Y, H = GRUBookSeq.apply(X.T, state[0], W_x, W_hzr, W_hh, b, W_hq, b_q, workspace)
        return Y, (H,)

    return forward


def _nn_layer(net):
    """``RNNModel`` around a one-layer ``nn.RNN`` or ``nn.GRU``; PyTorch multiplies W x, the kernels x W."""
    layer, linear, workspace = net.rnn, net.linear, Workspace()

    def forward(X, state):
        W_ih, W_hh, b_ih, b_hh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
        out = (linear.weight.T, linear.bias, workspace)
        if isinstance(layer, nn.GRU):
            Y, H = GRUTorchSeq.apply(X.T, state[0], W_ih.T, W_hh, b_ih, b_hh, *out)
        else:
            Y, H = RNNSeq.apply(X.T, state[0], W_ih.T, W_hh.T, b_ih + b_hh, *out)
        return Y, H.unsqueeze(0)

    return forward


# --------------------------------------------------------------------------
# Recognising a model, and checking the fast path against it
# --------------------------------------------------------------------------

# All that the book's rnn and gru name besides their arguments and locals.
_ALLOWED_NAMES = {"torch", "sigmoid", "tanh", "mm", "matmul", "cat", "append"}


# ...and what the book's own RNNModelScratch.__call__ names (zh §8.5, which a learner may type in).
_BOOK_CALL_NAMES = {"F", "one_hot", "T", "type", "torch", "float32", "forward_fn", "params", "vocab_size"}


def _plain_tensor_code(fn, allowed=_ALLOWED_NAMES) -> bool:
    """Whether ``fn`` is a plain function whose code uses only tensor math (no side effects)."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__closure__", None):
        return False
    nested = any(isinstance(c, type(code)) for c in code.co_consts)  # inner functions, comprehensions
    return not nested and set(code.co_names) <= allowed


def _is_scratch_model(net) -> bool:
    """Ours, or a class with the book's RNNModelScratch code (a learner's own, typed in from §8.5)."""
    from .scratch import RNNModelScratch

    if type(net) is RNNModelScratch:
        return True
    needed = ("params", "vocab_size", "num_hiddens", "forward_fn", "begin_state")
    return all(hasattr(net, a) for a in needed) and _plain_tensor_code(type(net).__call__, _BOOK_CALL_NAMES)


def _is_float_leaf(p, device, dtype):
    return isinstance(p, torch.Tensor) and p.is_leaf and p.requires_grad and p.device == device and p.dtype == dtype


def _scratch_candidate(net):
    """(adapter, name) if ``net`` is an RNNModelScratch whose layout fits a kernel, else None."""
    if not _is_scratch_model(net) or not _plain_tensor_code(net.forward_fn):
        return None
    params, V, h = net.params, net.vocab_size, net.num_hiddens
    if not isinstance(params, (list, tuple)) or isinstance(h, bool) or not isinstance(h, int) or not params:
        return None
    device, dtype = params[0].device, params[0].dtype
    if not all(_is_float_leaf(p, device, dtype) for p in params) or not dtype.is_floating_point:
        return None
    shapes = [tuple(p.shape) for p in params]
    rnn = [(V, h), (h, h), (h,), (h, V), (V,)]
    gru = [(V, h), (h, h), (h,)] * 3 + [(h, V), (V,)]
    if shapes == rnn:
        return _scratch_rnn(net), "scratch RNN kernel"
    if shapes == gru:
        return _scratch_gru(net), "scratch GRU kernel"
    return None


def _nn_candidate(net):
    from .concise import RNNModel

    if type(net) is not RNNModel or type(net.rnn) not in (nn.RNN, nn.GRU):
        return None
    layer = net.rnn
    if layer.num_layers != 1 or layer.bidirectional or not layer.bias or layer.batch_first:
        return None
    if isinstance(layer, nn.RNN) and layer.nonlinearity != "tanh":
        return None
    if any(m._forward_hooks or m._forward_pre_hooks for m in net.modules()):
        return None
    params = list(net.parameters())
    if not params or not all(p.requires_grad for p in params) or not params[0].dtype.is_floating_point:
        return None
    return _nn_layer(net), f"nn.{type(layer).__name__} kernel"


def _close(a, b) -> bool:
    scale = float(b.abs().max()) if b.numel() else 0.0
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * max(scale, 1.0)))


def _agree(net, fast_forward, probe_params, install, batch_size=3, num_steps=5) -> bool:
    """Run the model as written and the fast path on the same random input; compare values and gradients.

    ``install(params)`` puts ``probe_params`` into the model and returns what to
    restore. A private generator leaves the learner's random numbers alone.
    """
    gen = torch.Generator().manual_seed(20240)
    device = probe_params[0].device
    X = torch.randint(0, net.vocab_size, (batch_size, num_steps), generator=gen).to(device)
    template = net.begin_state(batch_size=batch_size, device=device)
    is_tuple = isinstance(template, tuple)
    starts = [
        torch.rand(s.shape, generator=gen, dtype=s.dtype) * 2 - 1 for s in (template if is_tuple else (template,))
    ]
    results = []
    restore = install(probe_params)
    try:
        for forward in (net, fast_forward):
            states = tuple(s.to(device).clone().requires_grad_(True) for s in starts)  # a non-zero start state
            state = states if is_tuple else states[0]
            Y, new_state = forward(X, state)
            new_states = new_state if isinstance(new_state, tuple) else (new_state,)
            # a random linear function of every output, so every gradient path is exercised
            gen_w = torch.Generator().manual_seed(7)
            loss = (Y * torch.randn(Y.shape, generator=gen_w, dtype=Y.dtype).to(device)).sum()
            for s in new_states:
                loss = loss + (s * torch.randn(s.shape, generator=gen_w, dtype=s.dtype).to(device)).sum()
            grads = torch.autograd.grad(loss, list(probe_params) + list(states))
            results.append([Y, *new_states, *grads])
    finally:
        install(restore)
    return all(_close(a.detach(), b.detach()) for a, b in zip(results[1], results[0]))


def _random_like(params, gen):
    """Weights of the same shapes, large enough that tanh and sigmoid are far from linear."""
    out = []
    for p in params:
        fan_in = p.shape[0] if p.dim() == 2 else 1
        std = 1.5 / fan_in**0.5 if p.dim() == 2 else 0.5
        out.append((torch.randn(p.shape, generator=gen, dtype=p.dtype) * std).to(p.device).requires_grad_(True))
    return out


def _verify_scratch(net, fast_forward):
    def install(params):
        old, net.params = net.params, params
        return old

    probe = _random_like(net.params, torch.Generator().manual_seed(1))
    return _agree(net, fast_forward, probe, install)


def _verify_nn(net, fast_forward):
    params = list(net.parameters())  # the layer's own weights: nn.RNN/nn.GRU's math does not depend on them
    return _agree(net, fast_forward, params, lambda p: p)


# net -> (signature, forward or None, name); a model's check runs once per layout.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(net):
    params = net.params if hasattr(net, "params") else list(net.parameters())
    fn = getattr(net, "forward_fn", None)
    return (id(fn), tuple((id(p), tuple(p.shape), p.dtype, str(p.device)) for p in params))


def accelerate(net, fast=None):
    """The fast training forward for ``net`` and its name, or ``(None, None)`` to train as written.

    The returned callable takes and returns what ``net(X, state)`` does
    (token ids (batch, steps) and a state) and gives the same values and
    gradients. The result is cached per model until its parameters or its
    ``forward_fn`` are replaced.
    """
    if not fast_enabled(fast):
        return None, None
    try:
        sig = _signature(net)
        cached = _CACHE.get(net)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
        forward, name = None, None
        params = net.params if hasattr(net, "params") else list(net.parameters())
        if any(getattr(p, "device", None) != torch.device("cpu") for p in params):
            # On a GPU, nn.GRU/nn.LSTM run fused cuDNN kernels already, and the step-by-step
            # kernels here have not been measured there: train as written.
            _CACHE[net] = (sig, None, None)
            return None, None
        candidate = _scratch_candidate(net)
        if candidate is not None and _verify_scratch(net, candidate[0]):
            forward, name = candidate
        if candidate is None:
            candidate = _nn_candidate(net)
            if candidate is not None and _verify_nn(net, candidate[0]):
                forward, name = candidate
        _CACHE[net] = (sig, forward, name)
        return forward, name
    except Exception:  # anything unexpected in the check: train as written
        return None, None


def disable(net):
    """Train ``net`` as written from now on (after the fast path failed)."""
    try:
        _CACHE[net] = (_signature(net), None, None)
    except TypeError:  # not weak-referenceable
        pass
