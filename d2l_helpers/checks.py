"""Checks that both editions run before any work: devices, flags, vocabularies against models, minibatches.

Each check names the argument, says what it got and what to do, and raises
before training or prediction starts (issue 16 §5-§7). The number checks
(``check_int``, ``check_positive``) live in :mod:`d2l_helpers.utils`.

A model remembers the vocabulary it was trained with: ``train_ch8`` and
``Trainer.fit`` store its tokens, in order, on the model (``_d2l_vocab``), and
every prediction compares the vocabulary it is given with them. That is how
the other edition's vocabulary is caught: the same 28 characters, but
``d2l.Vocab`` (the Chinese edition's, d2l 0.17) sorts them by frequency and
``d2l.AlphabeticalVocab`` (the English edition's, d2l 1.0, ``data.vocab`` of
``d2l.TimeMachine``) alphabetically, so every index means another character.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from .utils import check_int, check_positive

__all__ = [
    "check_batches",
    "check_bool",
    "check_corpus",
    "check_device",
    "check_loader",
    "check_lr",
    "check_model_vocab",
    "check_net",
    "check_prefix",
    "check_vocab",
    "check_vocab_args",
    "remember_vocab",
]


def check_bool(name: str, value) -> bool:
    """``value`` as a bool (Python's or NumPy's), else an error naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


def _machine() -> str:
    """What this machine offers PyTorch, in words: 'no GPU', '1 GPU (cuda:0)', '2 GPUs (cuda:0, cuda:1)'."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return "no GPU that PyTorch can use, only the CPU"
    names = ", ".join(f"cuda:{i}" for i in range(n))
    return f"{n} GPU{'s' if n > 1 else ''} ({names}) and the CPU"


def _hint() -> str:
    return f"This machine has {_machine()}; d2l.try_gpu() gives its first GPU, or the CPU when it has none."


def check_device(device, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that this machine has, or an error naming ``name``.

    Accepted: a ``torch.device``, a string such as ``'cpu'``, ``'cuda'`` or
    ``'cuda:1'``, or a GPU number. ``'gpu'`` (PyTorch says ``'cuda'``), a GPU
    this machine lacks, a negative index, and ``'mps'`` where PyTorch has no
    MPS backend are refused, with what the machine has and ``d2l.try_gpu()``.
    """
    if isinstance(device, bool) or not isinstance(device, (str, torch.device, numbers.Integral)):
        raise TypeError(
            f"{name} must be a torch.device or a string such as 'cpu' or 'cuda:0', got "
            f"{type(device).__name__} {device!r}. {_hint()}"
        )
    try:
        dev = torch.device(f"cuda:{int(device)}" if isinstance(device, numbers.Integral) else device)  # i: GPU i
    except (RuntimeError, ValueError):
        spelled = " (PyTorch calls a GPU 'cuda')" if "gpu" in str(device).lower() else ""
        raise ValueError(
            f"{name}={device!r} is not a device PyTorch knows{spelled}: use 'cpu', 'cuda' or 'cuda:0'. {_hint()}"
        ) from None
    if dev.type in ("cpu", "meta"):  # (meta: tensors without data, for checking shapes)
        return dev
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise ValueError(f"{name}={device!r} asks for a GPU this machine does not have. {_hint()}")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"{name}={device!r} asks for Apple's GPU (MPS), which this PyTorch cannot use here. {_hint()}"
            )
        return dev
    raise ValueError(f"{name}={device!r}: the models here run on 'cpu', 'cuda' or 'mps'. {_hint()}")


# --------------------------------------------------------------------------
# Vocabularies, and the model's vocabulary
# --------------------------------------------------------------------------


def check_vocab_args(tokens, min_freq, reserved_tokens, *, unique: bool) -> tuple[list, list]:
    """(tokens, reserved_tokens) as lists, or an error naming the argument (both editions' ``Vocab``).

    ``unique``: 0.17's ``Vocab`` lists ``<unk>`` and the reserved tokens in
    order, so ``<unk>`` or a repeat among them would take two indices; 1.0's
    keeps a sorted set of them, where both are harmless.
    """
    for name, value in (("tokens", tokens), ("reserved_tokens", reserved_tokens)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            hint = " (for characters, list(text); for words, text.split())" if isinstance(value, str) else ""
            raise TypeError(f"{name} must be a list of tokens{hint}, got {type(value).__name__} {value!r:.60}")
    if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Real):
        raise TypeError(f"min_freq must be a number (tokens seen fewer times are dropped), got {min_freq!r}")
    tokens, reserved_tokens = list(tokens), list(reserved_tokens)
    if unique:
        if "<unk>" in reserved_tokens:
            raise ValueError("reserved_tokens must not hold '<unk>': the vocabulary always has it, at index 0")
        repeated = sorted({t for t in reserved_tokens if reserved_tokens.count(t) > 1}, key=str)
        if repeated:
            raise ValueError(f"reserved_tokens lists {repeated} more than once: each token takes one index")
    return tokens, reserved_tokens


def check_vocab(vocab, name: str = "vocab"):
    """``vocab`` if it is a vocabulary (``idx_to_token``, ``token_to_idx``, ``vocab[token]``), else an error."""
    if not (
        isinstance(getattr(vocab, "idx_to_token", None), Sequence)
        and isinstance(getattr(vocab, "token_to_idx", None), Mapping)
        and hasattr(vocab, "__getitem__")
    ):
        raise TypeError(
            f"{name} must be the vocabulary that came with the data (train_iter, vocab = "
            f"d2l.load_data_time_machine(...); data.vocab of d2l.TimeMachine), got {type(vocab).__name__}"
        )
    return vocab


def _vocab_size(net):
    size = getattr(net, "vocab_size", None)
    return int(size) if isinstance(size, numbers.Integral) and not isinstance(size, bool) else None


def check_model_vocab(net, vocab, name: str = "vocab") -> None:
    """Raise unless ``vocab`` fits ``net``: as many tokens as its outputs, and the ones it was trained with.

    The size is the model's ``vocab_size`` (every model of both editions has
    one; a learner's own model without it is not checked); the tokens are the
    ones :func:`remember_vocab` stored when it trained.
    """
    check_vocab(vocab, name)
    size = _vocab_size(net)
    if size is not None and size != len(vocab):
        raise ValueError(
            f"the model was built for {size} tokens (vocab_size={size}), but {name} has {len(vocab)}: "
            f"build the model with len({name}) (e.g. d2l.RNNModelScratch(len(vocab), ...), "
            f"d2l.RNNModel(nn.GRU(len(vocab), ...), len(vocab))), or pass the vocabulary it was built for"
        )
    trained = getattr(net, "_d2l_vocab", None)
    if trained is None:
        return
    tokens = tuple(vocab.idx_to_token)
    if tokens == trained:
        return
    if sorted(map(str, tokens)) == sorted(map(str, trained)):
        raise ValueError(
            f"{name} has the same {len(tokens)} tokens as the vocabulary this model was trained with, in another "
            "order: it is the other edition's vocabulary, so every index means another token. d2l.Vocab (the "
            "Chinese edition's, d2l 0.17: load_data_time_machine) sorts tokens by frequency; d2l.AlphabeticalVocab "
            "(the English edition's, d2l 1.0: data.vocab of d2l.TimeMachine) sorts them alphabetically. Pass the "
            "vocabulary the model was trained with."
        )
    known = set(trained)
    new = [t for t in tokens if t not in known][:5]
    raise ValueError(
        f"{name} is not the vocabulary this model was trained with ({len(trained)} tokens; {name} has "
        f"{len(tokens)}{', among them ' + repr(new) if new else ', in another order'}). Pass the vocabulary "
        "that came with its training data, or build and train a new model for this one."
    )


def remember_vocab(net, vocab) -> None:
    """Store ``vocab``'s tokens on ``net`` (a model that cannot take attributes keeps none)."""
    try:
        net._d2l_vocab = tuple(vocab.idx_to_token)
    except (AttributeError, TypeError):
        pass


def check_prefix(prefix, num_preds, vocab) -> int:
    """Check a prediction's ``prefix`` against ``vocab``; return ``num_preds`` as an int (both editions' predict)."""
    check_vocab(vocab)
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
    num_preds = check_int("num_preds", num_preds, minimum=0)
    unknown = sorted({ch for ch in prefix if ch not in vocab.token_to_idx})
    if unknown:
        raise ValueError(
            f"prefix {prefix!r} has characters the vocabulary does not know: {unknown}. "
            "The Time Machine vocabulary is lower-case a-z and space; try prefix.lower()."
        )
    return num_preds


# --------------------------------------------------------------------------
# Models and minibatches
# --------------------------------------------------------------------------


def check_net(net, parameters):
    """Raise unless ``net`` has what ``train_ch8`` uses: ``begin_state``, a call, and trainable ``parameters``."""
    if not callable(getattr(net, "begin_state", None)) or not callable(net):
        raise TypeError(
            f"net must be a model with begin_state(batch_size=, device=) and a call net(X, state) -> (Y, state), "
            f"as d2l.RNNModelScratch and d2l.RNNModel have; {type(net).__name__} has "
            f"{'no begin_state' if callable(net) else 'no call'}. (The English edition's models, such as "
            "d2l.RNNLMScratch, train with d2l.Trainer(...).fit(model, data).)"
        )
    if not any(getattr(p, "requires_grad", False) for p in parameters):
        raise ValueError(
            f"net ({type(net).__name__}) has no trainable parameters: parameters() gives no tensor with "
            "requires_grad=True. Create its weights in __init__ (nn.Parameter, nn.Linear, ...), or with "
            "requires_grad_(True) for a scratch model."
        )


def check_batches(name: str, batches, *, every_epoch: bool = True):
    """``batches`` if it can be minibatches of (X, Y); an error for a text, a tensor, a vocabulary, ...

    ``every_epoch``: it is read more than once, so a one-pass iterator (a
    generator) is refused too. A list or tuple is looked into: its first item
    must be an (X, Y) pair of tensors. Loaders are not iterated here (that
    would draw from their random generator).
    """
    wrong = (
        isinstance(batches, (str, bytes, Mapping, torch.Tensor))
        or hasattr(batches, "idx_to_token")
        or not hasattr(batches, "__iter__")
    )
    if wrong:
        raise TypeError(
            f"{name} must be minibatches of (X, Y) token indices, such as the loader of "
            f"d2l.load_data_time_machine(...) or d2l.load_heldout_time_machine(...), got {type(batches).__name__}"
        )
    if every_epoch and isinstance(batches, Iterator):
        raise TypeError(
            f"{name} is a one-pass iterator ({type(batches).__name__}) but it is read more than once: pass a "
            "loader that can be iterated again (d2l.SeqDataLoader, or a list of (X, Y) pairs)"
        )
    if isinstance(batches, (list, tuple)) and batches:
        first = batches[0]
        if not (isinstance(first, (list, tuple)) and len(first) == 2 and all(torch.is_tensor(a) for a in first)):
            raise TypeError(
                f"{name} must yield (X, Y) pairs of tensors, but its first item is {type(first).__name__}: "
                "for one minibatch, write [(X, Y)]"
            )
    return batches


def check_corpus(corpus, vocab) -> None:
    """Raise unless ``corpus`` is a sequence of token indices (that ``vocab`` has, when given)."""
    if isinstance(corpus, (str, bytes)) or not hasattr(corpus, "__len__") or not hasattr(corpus, "__getitem__"):
        raise TypeError(
            f"corpus must be a list of token indices, such as [vocab[t] for t in tokens] "
            f"(d2l.load_corpus_time_machine() returns one), got {type(corpus).__name__} {corpus!r:.40}"
        )
    ints = corpus.tolist() if hasattr(corpus, "tolist") else corpus  # a tensor or NumPy array: its numbers
    bad = next((t for t in ints if isinstance(t, bool) or not isinstance(t, numbers.Integral)), None)
    if bad is not None:
        raise TypeError(f"corpus must hold token indices (ints), but it holds {type(bad).__name__} {bad!r:.40}")
    if vocab is not None and len(ints) and not 0 <= min(ints) <= max(ints) < len(vocab):
        raise ValueError(
            f"corpus holds indices from {min(ints)} to {max(ints)}, but vocab has {len(vocab)} tokens "
            "(0 to len(vocab) - 1): build the corpus with this vocab"
        )


def check_lr(lr):
    """``lr`` if it is a positive, finite number (or a tensor, which torch's optimisers take), else an error."""
    return lr if isinstance(lr, torch.Tensor) else check_positive("lr", lr)


def check_loader(data, name, loader):
    """Raise unless ``loader`` (what ``data.<name>_dataloader()`` returned) is minibatches with a length."""
    if not (hasattr(loader, "__iter__") and hasattr(loader, "__len__")):
        raise TypeError(
            f"{type(data).__name__}.{name}_dataloader() (get_dataloader(train={name == 'train'})) returned "
            f"{type(loader).__name__}: it must return minibatches with a length, e.g. "
            "return self.get_tensorloader([X, Y], train, indices)"
        )
