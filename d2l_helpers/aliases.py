"""The English edition's tensor aliases (d2l 1.0's ``[library-pytorch]``: ``d2l.zeros`` is ``torch.zeros``, ...).

The book's source writes ``d2l.zeros(...)``, ``d2l.matmul(...)``; d2l.ai shows
the PyTorch tab with them rendered as ``torch.zeros(...)``. Learners copy either.
(``tensor``, ``size`` and ``reshape``, which the Chinese edition uses too, are in
:mod:`d2l_helpers.utils`.)
"""

import torch
from torch import nn

__all__ = [
    "abs", "arange", "argmax", "astype", "batch_matmul", "concat", "cos", "cosh", "exp", "expand_dims", "eye",
    "float32", "int32", "int64", "linspace", "log", "matmul", "meshgrid", "nn_Module", "normal", "numpy", "ones",
    "ones_like", "rand", "randn", "reduce_mean", "reduce_sum", "repeat", "sigmoid", "sin", "sinh", "stack",
    "swapaxes", "tanh", "to", "transpose", "zeros", "zeros_like",
]  # fmt: skip

nn_Module = nn.Module
ones_like, ones, zeros_like, zeros = torch.ones_like, torch.ones, torch.zeros_like, torch.zeros
arange, meshgrid, linspace, eye = torch.arange, torch.meshgrid, torch.linspace, torch.eye
sin, sinh, cos, cosh, tanh, exp, log = torch.sin, torch.sinh, torch.cos, torch.cosh, torch.tanh, torch.exp, torch.log
abs, sigmoid = torch.abs, torch.sigmoid  # noqa: A001 - the book's name
normal, rand, randn = torch.normal, torch.rand, torch.randn
matmul, batch_matmul, concat, stack = torch.matmul, torch.bmm, torch.cat, torch.stack
int32, int64, float32 = torch.int32, torch.int64, torch.float32


def numpy(x, *args, **kwargs):
    """``x.detach().numpy()``."""
    return x.detach().numpy(*args, **kwargs)


def to(x, *args, **kwargs):
    return x.to(*args, **kwargs)


def reduce_sum(x, *args, **kwargs):
    return x.sum(*args, **kwargs)


def reduce_mean(x, *args, **kwargs):
    return x.mean(*args, **kwargs)


def argmax(x, *args, **kwargs):
    return x.argmax(*args, **kwargs)


def astype(x, *args, **kwargs):
    return x.type(*args, **kwargs)


def transpose(x, *args, **kwargs):
    return x.t(*args, **kwargs)


def expand_dims(x, *args, **kwargs):
    return x.unsqueeze(*args, **kwargs)


def swapaxes(x, *args, **kwargs):
    return x.swapaxes(*args, **kwargs)


def repeat(x, *args, **kwargs):
    return x.repeat(*args, **kwargs)
