"""The English edition's framework (d2l 1.0, d2l.ai §3.2): ``Module``, ``DataModule``, ``Trainer``.

The English edition (d2l.ai) writes every model as a ``d2l.Module``, every
data set as a ``d2l.DataModule``, and trains them with ``d2l.Trainer``::

    data = d2l.TimeMachine(batch_size=1024, num_steps=32)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 32), len(data.vocab), lr=1)
    trainer = d2l.Trainer(max_epochs=100, gradient_clip_val=1, num_gpus=1)
    trainer.fit(model, data)

These classes have upstream d2l 1.0.3's names, arguments, attributes and
method structure, so that the chapters' ``@d2l.add_to_class`` additions
(``Trainer.clip_gradients`` in §9.5, ``TimeMachine.__init__`` in §9.3, ...)
plug in as they do upstream. ``Trainer.fit`` trains exactly what upstream's
trains (same batches for the same torch seed, same updates), and adds what
the Chinese edition's ``train_ch8`` already has:

* the live dashboard instead of pyplot (see :mod:`d2l_helpers.board`);
* ``$D2L_MAX_EPOCHS`` caps the epochs, saying so;
* a NaN or infinite training loss stops with :class:`TrainingDiverged` naming the epoch;
* Kernel > Interrupt stops after the current minibatch, leaves the final plot,
  then raises ``TrainingInterrupted`` (the model keeps its weights);
* ``trainer.history``: per-epoch training perplexity (and validation perplexity
  when the model plots ``'ppl'``), a :class:`~d2l_helpers.train.History` that
  ``d2l.plot_histories`` draws beside ``train_ch8``'s;
* for the recurrent language models that :mod:`d2l_helpers.fast` recognises,
  the same fast path as ``train_ch8`` (``fast=False`` or ``$D2L_FAST=0``: as written).

``num_gpus=1`` on a machine without a GPU trains on the CPU, as upstream does.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time

import torch
from torch import nn
from torch.nn import functional as F

from . import train as _train
from .board import FitProgress, ProgressBoard
from .checks import check_loader, check_lr, check_model_vocab, remember_vocab
from .dashboard import _stopped_in, fast_path_note
from .fast_en import LanguageModelForward
from .train import History, TrainingDiverged, max_epochs_from_env
from .utils import StopOnInterrupt, TrainingInterrupted, check_int, check_positive

__all__ = [
    "Classifier",
    "DataModule",
    "HyperParameters",
    "Module",
    "ProgressBoard",
    "SGD",
    "Trainer",
    "add_to_class",
    "cpu",
    "gpu",
    "num_gpus",
]


def add_to_class(Class):
    """Register the decorated function as a method of ``Class`` (replacing one of that name).

    Unlike upstream's, the decorator also returns the function, so its name
    stays usable in the notebook.
    """
    if not isinstance(Class, type):
        raise TypeError(
            f"add_to_class needs a class, got {type(Class).__name__} {Class!r}: write @d2l.add_to_class(MyClass)"
        )

    def wrapper(obj):
        setattr(Class, obj.__name__, obj)
        return obj

    return wrapper


class HyperParameters:
    """The base class of hyperparameters: ``save_hyperparameters()`` turns ``__init__``'s arguments into attributes."""

    def save_hyperparameters(self, ignore=()):
        """The caller's arguments (its locals but ``self`` and ``_names``) as attributes and ``hparams``."""
        frame = inspect.currentframe().f_back
        try:
            local_vars = dict(frame.f_locals)
        finally:
            del frame
        skip = {*ignore, "self"}
        self.hparams = {k: v for k, v in local_vars.items() if k not in skip and not k.startswith("_")}
        for k, v in self.hparams.items():
            setattr(self, k, v)


# --------------------------------------------------------------------------
# Devices (d2l.ai §6.7)
# --------------------------------------------------------------------------


def cpu():
    """The CPU device."""
    return torch.device("cpu")


def gpu(i=0):
    """GPU ``i`` (whether or not it exists; see ``try_gpu``)."""
    return torch.device(f"cuda:{check_int('i', i, minimum=0)}")


def num_gpus():
    """The number of GPUs PyTorch can use."""
    return torch.cuda.device_count()


# --------------------------------------------------------------------------
# Models and data
# --------------------------------------------------------------------------


class Module(nn.Module, HyperParameters):
    """The base class of models: an ``nn.Module`` that knows how to plot, train and validate itself."""

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard()

    def loss(self, y_hat, y):
        raise NotImplementedError(f"{type(self).__name__} has no loss: define loss(self, y_hat, y) in the class")

    def forward(self, X):
        if not hasattr(self, "net"):
            raise NotImplementedError(f"{type(self).__name__} has neither a forward method nor a self.net to call")
        return self.net(X)

    def plot(self, key, value, train):
        """Plot ``value`` as ``train_<key>`` (twice an epoch) or ``val_<key>`` (once an epoch) on ``self.board``."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            raise RuntimeError(
                "plot() draws during training: it needs the Trainer that Trainer.fit(model, data) attaches"
            )
        self.board.xlabel = "epoch"
        if train:
            x = trainer.train_batch_idx / trainer.num_train_batches
            n = trainer.num_train_batches / self.plot_train_per_epoch
        else:
            x = trainer.epoch + 1
            n = trainer.num_val_batches / self.plot_valid_per_epoch
        value = value.detach().to("cpu") if isinstance(value, torch.Tensor) else value
        self.board.draw(x, value, ("train_" if train else "val_") + key, every_n=int(n))

    def training_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", l, train=True)
        return l

    def validation_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", l, train=False)

    def configure_optimizers(self):
        lr = getattr(self, "lr", None)
        if lr is None:
            raise TypeError(
                f"{type(self).__name__} has no lr for the default optimizer: take lr in __init__ and call "
                "self.save_hyperparameters(), or define configure_optimizers(self) returning an optimizer"
            )
        params = list(self.parameters())
        if not params:
            raise ValueError(
                f"{type(self).__name__} has no parameters for the optimizer: create them in __init__ "
                "(nn.Parameter, nn.Linear, ...), or define configure_optimizers(self) for tensors of your own"
            )
        return torch.optim.SGD(params, lr=check_lr(lr))

    def apply_init(self, inputs, init=None):
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class Classifier(Module):
    """The base class of classification models: cross-entropy loss, accuracy."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot("loss", self.loss(Y_hat, batch[-1]), train=False)
        self.plot("acc", self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat, Y, averaged=True):
        """The share (``averaged``) or the 0/1 list of correct predictions."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(dim=1).type(Y.dtype) == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        return F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="mean" if averaged else "none")

    def layer_summary(self, X_shape):
        X = torch.randn(*X_shape)
        for layer in self.net:
            X = layer(X)
            print(layer.__class__.__name__, "output shape:\t", X.shape)


class DefaultRoot(str):
    """``'../data'``, upstream's default ``DataModule.root``, marked as not chosen by the caller.

    It is a plain string to whoever reads it (``self.root + '/my.txt'``,
    ``os.path.join(self.root, ...)``, ``d2l.download(url, self.root, sha1)``),
    so a learner's own data set reads and writes ``../data`` as upstream's
    does. Only ``TimeMachine`` tells it apart, to keep the book's text in this
    package's cache (see :mod:`d2l_helpers.data_en`).
    """

    __slots__ = ()


DEFAULT_ROOT = DefaultRoot("../data")


class DataModule(HyperParameters):
    """The base class of data.

    ``root`` is where a data set's files are: ``'../data'`` by default, a
    folder beside the learner's working directory, as upstream's (a
    :class:`DefaultRoot`). Nothing here creates it: code that writes there
    (the learner's, or ``d2l.download(url, self.root, sha1)``) does.
    ``TimeMachine`` keeps the Time Machine in this package's place unless given
    a ``root``. ``num_workers`` is kept as an attribute; the in-memory tensor
    batches of ``get_tensorloader`` need no workers.
    """

    def __init__(self, root=DEFAULT_ROOT, num_workers=4):
        self.save_hyperparameters()

    def get_dataloader(self, train):
        raise NotImplementedError(f"{type(self).__name__} has no get_dataloader(self, train): define it")

    def train_dataloader(self):
        return self.get_dataloader(train=True)

    def val_dataloader(self):
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        """Minibatches of ``tensors[i][indices]``, shuffled when ``train``, of ``self.batch_size`` rows."""
        tensors = tuple(a[indices] for a in tensors)
        return TensorLoader(tensors, check_int("batch_size", self.batch_size), shuffle=train)


class TensorLoader:
    """Minibatches ``[X[idx], Y[idx]]`` of in-memory tensors, in ``DataLoader(TensorDataset(...))``'s order.

    The order of the rows comes from a real ``torch.utils.data.DataLoader``
    over the row numbers, so it draws the same numbers from torch's random
    generator as upstream's loader and gives the same minibatches for the same
    seed; the rows are then taken with one indexing operation per tensor
    instead of one ``__getitem__`` per row and a ``stack``.
    """

    def __init__(self, tensors, batch_size, shuffle):
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"the tensors must have the same number of rows, got {[len(t) for t in tensors]}")
        if n == 0:
            raise ValueError("no rows to load: check the slice (num_train, num_val) against the data")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.indices = torch.utils.data.DataLoader(range(n), batch_size, shuffle=shuffle)

    def __len__(self):
        return len(self.indices)

    def __iter__(self):
        for idx in self.indices:
            yield [t[idx] for t in self.tensors]


# --------------------------------------------------------------------------
# The optimiser and the trainer
# --------------------------------------------------------------------------


class SGD(HyperParameters):
    """Minibatch stochastic gradient descent (d2l.ai §3.4): ``param -= lr * param.grad``."""

    def __init__(self, params, lr):
        check_lr(lr)
        self.save_hyperparameters()
        self.params = list(params)

    def step(self):
        with torch.no_grad():
            for param in self.params:
                param -= self.lr * param.grad

    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


class Trainer(HyperParameters):
    """Train a ``Module`` on a ``DataModule``: ``Trainer(max_epochs, num_gpus, gradient_clip_val).fit(model, data)``.

    Keywords beyond upstream's: ``plot`` (the dashboard's mode: 'auto',
    'widget', 'text', 'off') and ``fast`` (None: the fast path where it
    applies, unless ``$D2L_FAST=0``; False: exactly as written).
    """

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0, *, plot="auto", fast=None):
        check_int("max_epochs", max_epochs)
        _check_count("num_gpus", num_gpus)
        if gradient_clip_val != 0:
            check_positive("gradient_clip_val", gradient_clip_val)
        self.save_hyperparameters(ignore=["plot", "fast"])
        self.plot_mode, self.fast = plot, fast
        self.gpus = [gpu(i) for i in range(min(num_gpus, num_gpus_available()))]
        self.history = None

    def prepare_data(self, data):
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        check_loader(data, "train", self.train_dataloader)
        if self.val_dataloader is not None:  # (None: no validation, as upstream)
            check_loader(data, "val", self.val_dataloader)
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0

    def prepare_model(self, model):
        model.trainer = self
        model.board.xlim = [0, self.max_epochs]
        if self.gpus:
            model.to(self.gpus[0])
        self.model = model

    def prepare_batch(self, batch):
        if self.gpus:
            batch = [a.to(self.gpus[0]) for a in batch]
        return batch

    def clip_gradients(self, grad_clip_val, model):
        """Scale the gradients so that their joint L2 norm is at most ``grad_clip_val`` (d2l.ai §9.5)."""
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            torch._foreach_mul_(grads, torch.clamp(grad_clip_val / norm, max=1.0))

    def fit(self, model, data):
        """Train ``model`` on ``data`` for ``max_epochs`` epochs (fewer under ``$D2L_MAX_EPOCHS``)."""
        if not isinstance(model, nn.Module) or not hasattr(model, "board"):
            raise TypeError(f"model must be a d2l.Module (an nn.Module with a board), got {type(model).__name__}")
        if not all(hasattr(data, a) for a in ("train_dataloader", "val_dataloader")):
            raise TypeError(f"data must be a d2l.DataModule, got {type(data).__name__}")
        lr = getattr(model, "lr", None)
        if lr is not None:
            check_lr(lr)
        vocab = getattr(data, "vocab", None)
        if vocab is not None:  # a language model: its size, and the vocabulary it trained with before
            check_model_vocab(model, vocab, name="data.vocab")
        self.prepare_data(data)
        self.prepare_model(model)
        self.optim = model.configure_optimizers()
        if not (callable(getattr(self.optim, "step", None)) and callable(getattr(self.optim, "zero_grad", None))):
            raise TypeError(
                f"{type(model).__name__}.configure_optimizers() returned {type(self.optim).__name__}: it must "
                "return an optimizer, e.g. return d2l.SGD(self.parameters(), self.lr) or torch.optim.SGD(...)"
            )
        if vocab is not None:
            remember_vocab(model, vocab)  # model.predict will compare its vocab with this one
        self.epoch = 0
        self.train_batch_idx = 0
        self.val_batch_idx = 0
        epochs = max_epochs_from_env(self.max_epochs)
        device = self.gpus[0] if self.gpus else next((p.device for p in model.parameters()), cpu())
        self.history = History(device=str(device), num_epochs=epochs)
        _train._LAST[0] = self.history  # d2l.last_history(): the latest run of either edition
        self._losses, self._tokens, self._epoch_start = [], 0, time.perf_counter()
        # board.display=False draws nothing, as upstream's board does then
        unit = "tokens" if getattr(data, "vocab", None) is not None else "examples"  # what the speed counts
        progress = FitProgress(model.board, epochs, self.plot_mode if model.board.display else "off", unit=unit)
        model.board.live = progress
        status, at_once = "error", False
        # Kernel > Interrupt is handled until the call ends: closing the panel is never cut in two.
        partial = False  # whether Kernel > Interrupt cut an epoch short
        with StopOnInterrupt() as self._stop:
            try:
                with LanguageModelForward(model, self.fast, on_first_use=_announce) as fast_forward:
                    for self.epoch in range(epochs):
                        self.fit_epoch()
                        if self._stop.requested and self.train_batch_idx < (self.epoch + 1) * self.num_train_batches:
                            partial = True
                            break  # a partial epoch: in the weights, not in the history, the speed or the caption
                        self._end_epoch(model, data, progress)
                        self.history.fast_path = fast_forward.name
                        if self._stop.requested:
                            break
                status = "interrupted" if self._stop.requested else "done"
            except KeyboardInterrupt:  # a second interrupt, or none handled (not the main thread)
                status, at_once = "interrupted", True
            finally:
                model.board.live = None
                try:  # a second Ctrl-C meanwhile waits for the PNG
                    with self._stop.shielded():
                        progress.close(status, stopped_in=self.epoch + 1 if partial or at_once else None)
                except KeyboardInterrupt:
                    pass
            if status == "interrupted" or self._stop.requested:  # (said by the exception: shown as one line)
                self.history.interrupted = True
                how = "at once" if at_once else "after the current minibatch"
                where = _stopped_in("interrupted", self.epoch + 1, epochs).capitalize() + f", {how}"
                if not (partial or at_once):  # the interrupt came in an epoch's last minibatch: it finished
                    where = f"Interrupted after epoch {len(self.history.perplexity)} of {epochs}"
                if status != "interrupted":  # a first interrupt while the panel closed, after the last epoch
                    where = f"Interrupted after epoch {epochs} of {epochs}, when training had finished"
                message = (
                    f"{where}; the model keeps its weights "
                    f"and trainer.history has its {len(self.history.perplexity)} finished epochs."
                )
                raise TrainingInterrupted(message, result=self.history)

    def fit_epoch(self):
        self.model.train()
        for batch in self.train_dataloader:
            loss = self.model.training_step(self.prepare_batch(batch))
            self.optim.zero_grad()
            with torch.no_grad():
                loss.backward()
                if self.gradient_clip_val > 0:
                    self.clip_gradients(self.gradient_clip_val, self.model)
                self.optim.step()
            self.train_batch_idx += 1
            self._after_batch(loss, batch)
            if self._stop_requested():
                return
        if self.val_dataloader is None:
            return
        self.model.eval()
        for batch in self.val_dataloader:
            with torch.no_grad():
                self.model.validation_step(self.prepare_batch(batch))
            self.val_batch_idx += 1

    # What fit_epoch reports to fit; a fit_epoch of the learner's own may skip these.

    def _stop_requested(self):
        stop = getattr(self, "_stop", None)
        return stop is not None and stop.requested

    def _after_batch(self, loss, batch):
        """Stop on a NaN/inf loss; count the loss and the labels for ``history``."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} in epoch {self.epoch + 1}: training diverged. "
                "Try a smaller learning rate lr (or set gradient_clip_val)."
            )
        self._losses.append(value)
        self._tokens += batch[-1].numel() if isinstance(batch[-1], torch.Tensor) else 0

    def _end_epoch(self, model, data, progress):
        """Record the epoch in ``history`` and show it."""
        losses, tokens, self._losses, self._tokens = self._losses, self._tokens, [], 0
        if losses:  # (a fit_epoch of the learner's own may not report its batches)
            mean = sum(losses) / len(losses)
            if mean >= 709 and isinstance(model, Classifier):  # a cross-entropy whose exp overflows: as train_ch8
                raise TrainingDiverged(
                    f"the mean training loss reached {mean:.4g} in epoch {self.epoch + 1}, a perplexity too large "
                    "to represent: training diverged. Try a smaller learning rate lr (or set gradient_clip_val)."
                )
            self.history.perplexity.append(math.exp(mean) if mean < 709 else math.inf)
            self.history.tokens_per_sec.append(tokens / max(time.perf_counter() - self._epoch_start, 1e-9))
        self._epoch_start = time.perf_counter()
        val = model.board.data.get("val_ppl")
        if val and (not self.history.heldout_epochs or self.history.heldout_epochs[-1] != self.epoch + 1):
            self.history.heldout_epochs.append(self.epoch + 1)
            self.history.heldout_perplexity.append(val[-1].y)
        sample = None
        if progress.wants_sample():
            sample = _sample(model, data)
        progress.epoch_done(self.epoch + 1, sample, speed=self.history.tokens_per_sec[-1] if losses else None)


def _announce(name):
    """Said once a fit, when the fast path first trains: under the panel, as train_ch8 says it."""
    print(fast_path_note(name))  # (fast=False: an argument of d2l.Trainer)


def num_gpus_available():
    return torch.cuda.device_count()


def _sample(model, data, prefix="time traveller", num_preds=50):
    """``model.predict(prefix, ...)`` for the panel, when the model can predict and the data has a vocab."""
    vocab, predict = getattr(data, "vocab", None), getattr(model, "predict", None)
    if vocab is None or predict is None or any(ch not in vocab.token_to_idx for ch in prefix):
        return None
    device = next((p.device for p in model.parameters()), None)
    was_training = model.training
    try:
        with torch.no_grad():
            return predict(prefix, num_preds, vocab, device)
    except Exception:  # a learner's predict under construction must not stop training
        return None
    finally:
        model.train(was_training)
