"""Training and prediction for the chapter's language models.

``train_ch8`` keeps upstream d2l's signature and printed output::

    train_ch8(net, train_iter, vocab, lr, num_epochs, device, use_random_iter=False)
    ...every 10 epochs: a sample from predict('time traveller')...
    perplexity 1.1, 35723.3 tokens/sec on cpu
    time traveller...
    traveller...

and adds, as keyword arguments with the book's behaviour as default:
``grad_clip`` (the clipping threshold, 1 in the book), ``heldout_iter`` (to
report perplexity on text the model never trained on), ``plot`` (the live
dashboard's mode), ``log_every`` and ``fast``. It returns a :class:`History`.

For the models it knows (the book's scratch RNN and GRU, one-layer ``nn.RNN``
and ``nn.GRU``) training runs a hand-written forward and backward pass that
computes the same values and gradients with far less overhead; see
:mod:`d2l_helpers.fast`. ``fast=False`` or ``D2L_FAST=0`` trains exactly as
written; if the fast path ever fails, training goes on without it.

It treats every model alike: anything with ``begin_state(batch_size=, device=)``,
``net(X, state) -> (Y, state)`` and ``parameters()`` (or, like the book's own
``RNNModelScratch`` typed in from §8.5, a ``params`` list) trains, whether written
from scratch or built from ``nn`` layers.

The environment variable ``D2L_MAX_EPOCHS`` caps the number of epochs (CI
uses it to run the notebooks quickly) and says so when it applies. Ctrl-C
(Kernel > Interrupt) stops after the current minibatch (a second Ctrl-C stops
at once), keeps the weights, leaves the final plot, and then stops the cell
by raising :class:`~d2l_helpers.utils.TrainingInterrupted`, so that a loop
over several runs ends too; ``last_history()`` returns the interrupted run's
History.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from . import fast as _fast
from .checks import check_batches, check_bool, check_device, check_model_vocab, check_net, check_prefix, remember_vocab
from .dashboard import _stopped_in, fast_path_note, make_progress
from .utils import Accumulator, StopOnInterrupt, Timer, TrainingInterrupted, check_int, check_positive, close_panel

__all__ = [
    "History",
    "TrainingDiverged",
    "evaluate_perplexity",
    "grad_clipping",
    "last_history",
    "max_epochs_from_env",
    "predict_ch8",
    "sgd",
    "train_ch8",
    "train_epoch_ch8",
]

ENV_MAX_EPOCHS = "D2L_MAX_EPOCHS"


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class History:
    """What ``train_ch8`` measured: one entry per epoch, held-out ones where logged."""

    device: str
    perplexity: list[float] = field(default_factory=list)
    tokens_per_sec: list[float] = field(default_factory=list)
    heldout_epochs: list[int] = field(default_factory=list)
    heldout_perplexity: list[float] = field(default_factory=list)
    num_epochs: int = 0  # epochs asked for (after the cap)
    interrupted: bool = False
    fast_path: str | None = None  # the fast kernel that trained (see d2l_helpers.fast), None: as written

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self.perplexity) + 1))

    def __repr__(self) -> str:
        if not self.perplexity:
            return "<History: no epoch finished>"
        held = f", held-out {self.heldout_perplexity[-1]:.1f}" if self.heldout_perplexity else ""
        stop = " (interrupted)" if self.interrupted else ""
        return (
            f"<History: {len(self.perplexity)} epochs{stop}, perplexity {self.perplexity[-1]:.1f}"
            f"{held}, {self.tokens_per_sec[-1]:.1f} tokens/sec on {self.device}>"
        )


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


def predict_ch8(prefix, num_preds, net, vocab, device):
    """Generate ``num_preds`` tokens following ``prefix`` (greedy: the most likely one)."""
    num_preds = check_prefix(prefix, num_preds, vocab)
    check_model_vocab(net, vocab)  # its size, and the vocabulary it was trained with
    _check_device(net, device)
    with torch.no_grad():
        state = net.begin_state(batch_size=1, device=device)
        outputs = [vocab[prefix[0]]]

        def get_input():
            return torch.tensor([outputs[-1]], device=device).reshape((1, 1))

        for y in prefix[1:]:  # warm-up: feed the prefix, keep only the state
            _, state = net(get_input(), state)
            outputs.append(vocab[y])
        for _ in range(num_preds):  # predict num_preds steps
            y, state = net(get_input(), state)
            outputs.append(int(y.argmax(dim=1).reshape(1)))
    return "".join(vocab.idx_to_token[i] for i in outputs)


# --------------------------------------------------------------------------
# Gradient clipping and the optimiser
# --------------------------------------------------------------------------


def _parameters(net):
    """The trainable tensors: ``net.parameters()``, or ``net.params`` of the book's own scratch class."""
    if hasattr(net, "parameters"):
        return list(net.parameters())
    if hasattr(net, "params"):
        return list(net.params)
    raise TypeError("net must have parameters() (an nn.Module, d2l.RNNModelScratch) or a params list")


def grad_clipping(net, theta):
    """Scale all gradients so that their joint L2 norm is at most ``theta``.

    The scale is min(1, theta / norm), computed on the device, so clipping
    never waits for the GPU. The norm is sqrt(sum of every squared gradient
    entry), as in the book, taken with ``torch._foreach_*`` operations: one
    call for all the gradients instead of three per tensor.
    """
    theta = check_positive("theta", theta)
    grads = [p.grad for p in _parameters(net) if p.requires_grad and p.grad is not None]
    if not grads:
        return
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # sqrt(sum of |g|^2)
    torch._foreach_mul_(grads, torch.clamp(theta / norm, max=1.0))


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place (upstream d2l's ``sgd``)."""
    check_positive("batch_size", batch_size)  # 0 would write inf/NaN into every weight
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


class _SGD:
    """Adapts any book-style updater to ``zero_grad()`` / ``step()``.

    ``torch.optim`` optimisers already have both; a callable updater (the
    book's ``lambda batch_size: d2l.sgd(params, lr, batch_size)``) is called
    with ``batch_size=1`` because the loss is already a mean.
    """

    def __init__(self, updater, params):
        self.updater, self.params = updater, list(params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.updater(batch_size=1)


class _PlainSGD:
    """Minibatch SGD without momentum, as ``torch.optim.SGD(params, lr)`` computes it: p <- p - lr * grad.

    Written out because the first use of ``torch.optim`` imports
    ``torch._dynamo``: about a second of start-up and ~70 MB, for a
    one-line update.
    """

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.lr)


def _as_optimizer(updater, net):
    if hasattr(updater, "step") and hasattr(updater, "zero_grad"):
        return updater
    if callable(updater):
        return _SGD(updater, _parameters(net))
    raise TypeError("updater must be a torch.optim optimizer or a callable updater(batch_size)")


# --------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------


def _detach(state):
    """Cut the graph at the minibatch boundary but keep the values (tensor or tuple)."""
    if isinstance(state, (tuple, list)):  # nn.LSTM's (H, C), the scratch models' tuples (or a learner's list)
        return type(state)(s.detach() for s in state)
    return state.detach()


class _Forward:
    """What computes ``net(X, state)`` in training: the fast path when there is one, else ``net``.

    If the fast path raises, the batch is recomputed as written; when that
    works, one note is printed and the rest of training runs as written.
    """

    def __init__(self, net, fast):
        self.net = net
        self.fast, self.name = _fast.accelerate(net, fast)

    def loss_and_backward(self, X, state, y, loss, optimizer):
        if self.fast is not None:
            try:
                return _forward_backward(self.fast, X, state, y, loss, optimizer)
            except Exception as err:  # never stop a notebook because of the fast path
                out = _forward_backward(self.net, X, state, y, loss, optimizer)  # raises if the model itself fails
                print(
                    f"Note: the fast training path stopped ({type(err).__name__}: {err}); "
                    f"training continues as written ({_fast.ENV_FAST}=0 skips the fast path)."
                )
                self.fast, self.name = None, None
                _fast.disable(self.net)
                return out
        return _forward_backward(self.net, X, state, y, loss, optimizer)


def _forward_backward(forward, X, state, y, loss, optimizer):
    y_hat, state = forward(X, state)
    l = loss(y_hat, y.long()).mean()
    optimizer.zero_grad()
    l.backward()
    return l, state


def _epoch(net, train_iter, loss, optimizer, device, use_random_iter, grad_clip, stop, epoch, forward):
    """Train one epoch with ``forward`` (a :class:`_Forward`); return (perplexity, tokens/s, finished_all_batches)."""
    state, timer, stopped = None, Timer(), False
    metric = Accumulator(2)  # sum of training loss, number of tokens
    for X, Y in train_iter:
        if state is None or use_random_iter:
            # A new state at the first batch, and at every batch of random
            # sampling, whose batches are not continuations of each other.
            state = net.begin_state(batch_size=X.shape[0], device=device)
        else:
            state = _detach(state)
        y = Y.T.reshape(-1)  # labels in (time, batch) order, like the outputs
        X, y = X.to(device), y.to(device)
        l, state = forward.loss_and_backward(X, state, y, loss, optimizer)
        if grad_clip is not None:
            grad_clipping(net, grad_clip)
        optimizer.step()
        batch_loss = float(l.detach())
        if not math.isfinite(batch_loss):
            raise TrainingDiverged(
                f"the training loss became {batch_loss} in epoch {epoch}: training diverged. "
                "Try a smaller learning rate lr (or a smaller grad_clip)."
            )
        metric.add(batch_loss * y.numel(), y.numel())
        if stop.requested:
            stopped = True  # a partial epoch: train_ch8 leaves it out of the curve and the speed
            break
    if metric[1] == 0:
        raise ValueError("train_iter yielded no minibatch: check batch_size and num_steps against the corpus")
    ppl = _exp(metric[0] / metric[1])
    if not math.isfinite(ppl):  # every batch loss was finite, but their mean is too large for exp
        raise TrainingDiverged(
            f"the mean training loss reached {metric[0] / metric[1]:.4g} in epoch {epoch}, a perplexity too "
            "large to represent: training diverged. Try a smaller learning rate lr (or a smaller grad_clip)."
        )
    return ppl, metric[1] / timer.stop(), not stopped


def _exp(mean_loss):
    """Perplexity exp(mean_loss), inf where exp overflows a float (math.exp would raise)."""
    return math.exp(mean_loss) if mean_loss < 709.0 else math.inf


def _check_device(net, device):
    """Raise a clear error if ``device`` is not one this machine has, or the model's parameters are elsewhere."""
    want = check_device(device)
    try:
        params = _parameters(net)
    except TypeError:  # a learner's own model without parameters(): nothing to check
        return
    for p in params:
        have = getattr(p, "device", None)
        if have is None:
            continue
        if have.type != want.type or None not in (want.index, have.index) and have.index != want.index:
            raise ValueError(
                f"the model's parameters are on {have}, but device is {want}. Move the model first, as the "
                "book does: net = net.to(device) for an nn.Module, or build a scratch model with that device "
                "(RNNModelScratch(vocab_size, num_hiddens, device, ...))."
            )


class _NoStop:
    requested = False


def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, grad_clip=1, fast=None):
    """Train a net within one epoch; return (perplexity, tokens per second)."""
    use_random_iter = check_bool("use_random_iter", use_random_iter)
    _check_device(net, device)
    optimizer = _as_optimizer(updater, net)
    forward = _Forward(net, fast)
    ppl, speed, _ = _epoch(net, train_iter, loss, optimizer, device, use_random_iter, grad_clip, _NoStop, 1, forward)
    return ppl, speed


def evaluate_perplexity(net, data_iter, device):
    """Perplexity of ``net`` on ``data_iter`` (sequential batches, state carried over)."""
    check_batches("data_iter", data_iter, every_epoch=False)
    _check_device(net, device)
    loss = nn.CrossEntropyLoss(reduction="sum")
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for X, Y in data_iter:
            if state is None or getattr(data_iter, "use_random_iter", False):
                state = net.begin_state(batch_size=X.shape[0], device=device)
            y = Y.T.reshape(-1).to(device)
            y_hat, state = net(X.to(device), state)
            total += float(loss(y_hat, y.long()))
            count += y.numel()
    if count == 0:
        raise ValueError("data_iter yielded no minibatch")
    return _exp(total / count)


# --------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------


_LAST: list = [None]  # the History of the latest train_ch8 or Trainer.fit call, finished or not


def last_history():
    """The :class:`History` of the latest ``train_ch8`` or ``Trainer.fit`` call, also one that was interrupted.

    After an interrupt the call returns nothing (it stops the cell), so this is
    how to get its epochs back: ``history = d2l.last_history()``.
    """
    if _LAST[0] is None:
        raise LookupError("no training has run in this kernel yet (train_ch8 or d2l.Trainer(...).fit)")
    return _LAST[0]


def max_epochs_from_env(num_epochs):
    """``num_epochs``, capped by ``$D2L_MAX_EPOCHS`` when that is set (and say so)."""
    raw = os.environ.get(ENV_MAX_EPOCHS, "").strip()
    if not raw:
        return num_epochs
    try:
        cap = int(raw)
    except ValueError:
        cap = 0
    if cap <= 0:
        raise ValueError(f"{ENV_MAX_EPOCHS} must be a positive integer, got {raw!r}; unset it to train in full")
    if cap < num_epochs:
        print(f"{ENV_MAX_EPOCHS}={cap}: training {cap} of {num_epochs} epochs (unset it for the full run)")
        return cap
    return num_epochs


def train_ch8(
    net,
    train_iter,
    vocab,
    lr,
    num_epochs,
    device,
    use_random_iter=False,
    *,
    grad_clip=1,
    heldout_iter=None,
    plot="auto",
    log_every=10,
    fast=None,
):
    """Train a model (chapter 8); print samples and the final perplexity; return a History.

    ``fast``: None (the default) uses the fast path of :mod:`d2l_helpers.fast`
    where it applies, unless ``$D2L_FAST`` is 0; False trains exactly as written.
    """
    lr = check_positive("lr", lr)
    num_epochs = check_int("num_epochs", num_epochs)
    use_random_iter = check_bool("use_random_iter", use_random_iter)
    if grad_clip is not None:
        grad_clip = check_positive("grad_clip", grad_clip)
    log_every = check_int("log_every", log_every)
    # Everything the epochs and the samples will use, checked before the first epoch.
    check_net(net, _parameters(net))
    check_batches("train_iter", train_iter, every_epoch=num_epochs > 1)
    if heldout_iter is not None:  # read at every log_every-th epoch and the last
        evaluations = num_epochs // log_every + (num_epochs % log_every != 0)
        check_batches("heldout_iter", heldout_iter, every_epoch=evaluations > 1)
    check_model_vocab(net, vocab)
    _check_device(net, device)
    num_epochs = max_epochs_from_env(num_epochs)
    remember_vocab(net, vocab)  # predict_ch8 will compare its vocab with this one

    loss = nn.CrossEntropyLoss()
    optimizer = _PlainSGD(_parameters(net), lr)

    def predict(prefix):
        return predict_ch8(prefix, 50, net, vocab, device)

    forward = _Forward(net, fast)
    history = History(device=str(device), num_epochs=num_epochs, fast_path=forward.name)
    _LAST[0] = history
    progress = make_progress(plot, num_epochs=num_epochs, heldout=heldout_iter is not None)
    if forward.name is not None:  # under the panel, as Trainer.fit says it
        print(fast_path_note(forward.name))
    status, stopped_in = "error", None  # stopped_in: the epoch Kernel > Interrupt ended
    # Kernel > Interrupt is handled until the call ends: a Ctrl-C during the closing lines stops the cell too.
    epoch = 1
    with StopOnInterrupt() as stop:
        try:
            for epoch in range(1, num_epochs + 1):
                ppl, speed, finished = _epoch(
                    net, train_iter, loss, optimizer, device, use_random_iter, grad_clip, stop, epoch, forward
                )
                history.fast_path = forward.name
                if not finished:  # the first Ctrl-C: a partial epoch, in the weights but not in the curve
                    history.interrupted, stopped_in = True, epoch
                    break
                history.perplexity.append(ppl)
                history.tokens_per_sec.append(speed)
                heldout, sample, logged = None, None, epoch % log_every == 0 or epoch == num_epochs
                if logged:
                    if heldout_iter is not None:
                        heldout = evaluate_perplexity(net, heldout_iter, device)
                        history.heldout_epochs.append(epoch)
                        history.heldout_perplexity.append(heldout)
                    sample = predict("time traveller")
                    if epoch % log_every == 0:
                        print(sample)
                # every epoch: the panel's progress line (and its plot, within the rate limit)
                progress.update(epoch, ppl, heldout=heldout, tokens_per_sec=speed, sample=sample, logged=logged)
            status = "interrupted" if history.interrupted else "done"
        except KeyboardInterrupt:  # a second Ctrl-C, or no signal handler (not the main thread)
            history.interrupted, status, stopped_in = True, "interrupted", epoch  # (also after its sample began)
        finally:
            close_panel(progress, status, stop)

        try:
            if history.perplexity:
                print(
                    f"perplexity {history.perplexity[-1]:.1f}, {history.tokens_per_sec[-1]:.1f} tokens/sec on {device}"
                )
            if history.heldout_perplexity:
                print(f"held-out perplexity {history.heldout_perplexity[-1]:.1f}")
            print(predict("time traveller"))
            print(predict("traveller"))
        except KeyboardInterrupt:  # another Ctrl-C during the closing predictions: skip the rest of them
            history.interrupted = True
        if stop.requested and not history.interrupted:  # a first Ctrl-C after the last epoch
            history.interrupted = True
        if history.interrupted:  # (said by the exception: IPython shows it as this one line)
            where = (
                _stopped_in("interrupted", stopped_in, num_epochs).capitalize()
                if stopped_in
                else f"Interrupted after epoch {len(history.perplexity)} of {num_epochs}"
            )
            message = (
                f"{where}; the model keeps its weights and "
                f"d2l.last_history() returns this run's History ({len(history.perplexity)} finished epochs)."
            )
            raise TrainingInterrupted(message, result=history)
    return history
