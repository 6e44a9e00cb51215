"""The English edition's Time Machine (d2l 1.0, d2l.ai §9.2-9.3): ``TimeMachine`` and its ``Vocab``.

The pipeline is the same as :mod:`d2l_helpers.data`'s, reshaped into a
``DataModule``::

    _download -> raw text --_preprocess--> a-z and spaces --_tokenize--> characters
        --build--> (corpus, vocab) --__init__--> X, Y: every window of num_steps + 1
        characters, Y one character ahead of X --get_dataloader--> minibatches

Two things differ from the Chinese edition's (zh §8.2-8.3, d2l 0.17):

* the vocabulary: 1.0's ``Vocab`` sorts the tokens *alphabetically* (``' '``,
  ``'<unk>'``, ``'a'``, ...), 0.17's by frequency with ``<unk>`` first. Both are
  here: ``d2l.Vocab`` is 0.17's (the zh edition calls it by that name), this
  module's :class:`Vocab` is 1.0's (``TimeMachine.build`` uses it; ``data.vocab``
  is one), also reachable as ``d2l.AlphabeticalVocab``;
* the minibatches: not the 0.17 random/sequential partitions, but all
  ``len(corpus) - num_steps`` overlapping windows, the first ``num_train``
  for training (shuffled each epoch with torch's random generator, as
  ``DataLoader(shuffle=True)`` does) and the next ``num_val`` for validation::

      corpus   t h e _ t i m e _ m a c h i n e ...
      X[0]     t h e _ t          Y[0]  h e _ t i      (num_steps = 5)
      X[1]       h e _ t i        Y[1]    e _ t i m
      X[2]         e _ t i m      ...

The text comes from :func:`d2l_helpers.data.download` (hash-checked, cached,
``$D2L_DATA_DIR`` for offline use). ``data.root`` reads ``'../data'`` as
upstream's, but the text goes there only when ``TimeMachine(root=...)`` names
a folder: the default root (a ``DefaultRoot``, also what the book's typed-in
``super(d2l.TimeMachine, self).__init__()`` sets) means this package's cache.
"""

from __future__ import annotations

import collections
import re

import torch

from .checks import check_vocab_args
from .data import DATA_URL, TIME_MACHINE, download
from .framework import DEFAULT_ROOT, DataModule, DefaultRoot
from .utils import check_int

__all__ = ["TimeMachine", "Vocab"]


class Vocab:
    """The English edition's vocabulary: tokens sorted alphabetically, ``<unk>`` among them (d2l 1.0).

    (``d2l.Vocab``, the Chinese edition's, sorts by frequency, ``<unk>`` first.)
    """

    def __init__(self, tokens=(), min_freq=0, reserved_tokens=()):
        tokens, reserved_tokens = check_vocab_args(tokens, min_freq, reserved_tokens, unique=False)
        if tokens and isinstance(tokens[0], list):  # flatten a list of lines
            tokens = [token for line in tokens for token in line]
        counter = collections.Counter(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        kept = [token for token, freq in self.token_freqs if freq >= min_freq]
        kinds = sorted({type(t).__name__ for t in [*reserved_tokens, *kept]} - {"str"})
        if kinds:  # sorting needs tokens of one kind; '<unk>' is a string
            raise TypeError(f"tokens must all be strings (they are sorted with '<unk>'), but some are {kinds}")
        self.idx_to_token = sorted(set(["<unk>", *reserved_tokens, *kept]))
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def __contains__(self, token):
        return token in self.token_to_idx

    def to_tokens(self, indices):
        """The token of one index, or the list of tokens of a list (or tensor) of indices."""
        if isinstance(indices, torch.Tensor) and indices.dim() == 0:
            indices = int(indices)
        if hasattr(indices, "__len__"):
            return [self.idx_to_token[int(index)] for index in indices]
        return self.idx_to_token[indices]

    @property
    def unk(self):
        """The index of the unknown token."""
        return self.token_to_idx["<unk>"]


class TimeMachine(DataModule):
    """The Time Machine as overlapping windows of characters (d2l.ai §9.2-9.3)."""

    def _download(self):
        folder = None if self.root is None or isinstance(self.root, DefaultRoot) else self.root  # None: the cache
        fname = download(DATA_URL + TIME_MACHINE[0], folder, TIME_MACHINE[1])
        with open(fname, encoding="utf-8") as f:
            return f.read()

    def _preprocess(self, text):
        return re.sub("[^A-Za-z]+", " ", text).lower()

    def _tokenize(self, text):
        return list(text)

    def build(self, raw_text, vocab=None):
        """(corpus: the token indices of ``raw_text``, vocab: ``vocab`` or a new 1.0 :class:`Vocab`)."""
        if not isinstance(raw_text, str):
            decode = " (decode bytes first: raw_text.decode('utf-8'))" if isinstance(raw_text, bytes) else ""
            raise TypeError(f"raw_text must be a str{decode}, got {type(raw_text).__name__} {raw_text!r:.40}")
        tokens = self._tokenize(self._preprocess(raw_text))
        if vocab is None:
            vocab = Vocab(tokens)
        corpus = [vocab[token] for token in tokens]
        return corpus, vocab

    def __init__(self, batch_size, num_steps, num_train=10000, num_val=5000, root=DEFAULT_ROOT, num_workers=4):
        super().__init__(root=root, num_workers=num_workers)
        batch_size, num_steps = check_int("batch_size", batch_size), check_int("num_steps", num_steps)
        num_train, num_val = check_int("num_train", num_train), check_int("num_val", num_val)
        self.save_hyperparameters(ignore=["root", "num_workers"])
        corpus, self.vocab = self.build(self._download())
        if num_train + num_val > len(corpus) - num_steps:
            raise ValueError(
                f"num_train + num_val = {num_train + num_val} windows asked for, but a text of {len(corpus)} "
                f"characters has only {len(corpus) - num_steps} windows of num_steps + 1 = {num_steps + 1}"
            )
        # Every window of num_steps + 1 characters, one row each (upstream builds the same rows from a list).
        array = torch.tensor(corpus).unfold(0, num_steps + 1, 1)
        self.X, self.Y = array[:, :-1], array[:, 1:]

    def get_dataloader(self, train):
        idx = slice(0, self.num_train) if train else slice(self.num_train, self.num_train + self.num_val)
        return self.get_tensorloader([self.X, self.Y], train, idx)
