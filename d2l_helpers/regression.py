"""Minibatches of in-memory tensors and the average loss over them (the Chinese edition, d2l 0.17).

zh.d2l.ai §8.1 (序列模型) fits an autoregressive model to a noisy sine with
two helpers the book defines in earlier chapters:

* ``load_array((features, labels), batch_size, is_train)`` (zh §3.3): a
  PyTorch ``DataLoader`` over the rows of the tensors, shuffled when
  ``is_train``;
* ``evaluate_loss(net, data_iter, loss)`` (zh §4.4): the loss summed over
  every element of every minibatch, divided by the number of elements.

Both behave as upstream d2l 0.17.6's do (same minibatches for the same torch
seed, the same number to the last bit), with a clear error, naming the
argument, for what upstream would fail on later or silently get wrong::

    (features, labels) --load_array--> DataLoader --for X, y in ...--> minibatches
                                        |
    net, loss ----------------------> evaluate_loss --> sum(loss) / numel(loss), a float
"""

from __future__ import annotations

import torch
from torch.utils import data

from .utils import check_int

__all__ = ["evaluate_loss", "load_array"]


def _check_arrays(data_arrays):
    """``data_arrays`` as a tuple of tensors with the same, non-zero number of rows, or an error saying why not."""
    if isinstance(data_arrays, torch.Tensor) or not isinstance(data_arrays, (tuple, list)):
        raise TypeError(
            f"data_arrays must be a tuple of tensors, such as (features, labels), got {type(data_arrays).__name__}; "
            "write d2l.load_array((features, labels), batch_size)"
        )
    if not data_arrays:
        raise ValueError("data_arrays is empty: give at least one tensor, such as (features, labels)")
    for i, a in enumerate(data_arrays):
        if not isinstance(a, torch.Tensor):
            raise TypeError(
                f"data_arrays[{i}] must be a torch tensor, got {type(a).__name__}; convert it with torch.tensor(...)"
            )
        if a.dim() == 0:
            raise ValueError(f"data_arrays[{i}] is a 0-d tensor: each tensor needs one row per example")
    rows = [len(a) for a in data_arrays]
    if len(set(rows)) != 1:
        raise ValueError(f"the tensors in data_arrays must have the same number of rows (examples), got {rows}")
    if rows[0] == 0:
        raise ValueError("the tensors in data_arrays have no rows: check the slices, such as features[:n_train]")
    return tuple(data_arrays)


def load_array(data_arrays, batch_size, is_train=True):
    """A PyTorch ``DataLoader`` of minibatches ``[X, y]`` of ``batch_size`` rows of the tensors in ``data_arrays``.

    The rows are shuffled (with torch's random generator) when ``is_train``;
    the last minibatch may be smaller.
    """
    arrays = _check_arrays(data_arrays)
    batch_size = check_int("batch_size", batch_size)
    if not isinstance(is_train, bool):
        raise TypeError(f"is_train must be True or False, got {type(is_train).__name__} {is_train!r}")
    return data.DataLoader(data.TensorDataset(*arrays), batch_size, shuffle=is_train)


def evaluate_loss(net, data_iter, loss):
    """The mean of ``loss(net(X), y)`` over every element of every minibatch ``(X, y)`` of ``data_iter``.

    ``y`` is reshaped to the shape of ``net(X)`` first. With a loss that
    averages each minibatch itself (``reduction='mean'``), this is the mean of
    the minibatch means, as upstream's. As upstream, the model is not switched
    to evaluation mode; no gradients are recorded.
    """
    for name, value in (("net", net), ("loss", loss)):
        if not callable(value):
            raise TypeError(f"{name} must be callable (a model, a loss function), got {type(value).__name__}")
    if isinstance(data_iter, torch.Tensor) or not hasattr(data_iter, "__iter__"):
        raise TypeError(
            f"data_iter must be an iterable of minibatches (X, y), such as d2l.load_array(...)'s, "
            f"got {type(data_iter).__name__}"
        )
    # Python floats, summed in the order upstream's Accumulator sums them: the same float to the last bit.
    total, count = 0.0, 0.0
    with torch.no_grad():
        for batch in data_iter:
            if len(batch) != 2:
                raise ValueError(f"data_iter must give minibatches (X, y), got one of {len(batch)} items")
            X, y = batch
            out = net(X)
            l = loss(out, y.reshape(out.shape))
            total, count = total + float(l.sum()), count + float(l.numel())
    if count == 0:
        raise ValueError("data_iter gave no minibatches: evaluate_loss needs at least one (X, y)")
    return total / count
