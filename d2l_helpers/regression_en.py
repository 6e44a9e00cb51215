"""Linear regression as a ``d2l.Module`` (the English edition, d2l 1.0, d2l.ai §3.5).

d2l.ai §9.1 (Working with Sequences) fits an autoregressive model to a noisy
sine with the book's concise linear regression and ``d2l.Trainer``::

    model = d2l.LinearRegression(lr=0.01)    # one nn.LazyLinear(1): y_hat = X w + b
    d2l.Trainer(max_epochs=5).fit(model, data)

and learners' own exercise code subclasses it (an RNN that regresses a sine
wave keeps its loss and optimiser). It behaves as upstream d2l 1.0.3's: the
same weights for the same torch seed, the same loss (``nn.MSELoss``, the mean
squared error without upstream's earlier ``1/2``), the same minibatch SGD
optimiser, the same ``get_w_b``.

One thing worth knowing, true of upstream's too: the layer is an
``nn.LazyLinear``, whose weights do not exist until the first minibatch fixes
the number of inputs. Upstream then sets ``weight ~ N(0, 0.01)`` and
``bias = 0``, but at that point both are empty, so nothing happens, and the
first forward call initialises the layer as ``nn.Linear`` does (uniform in
``±1/sqrt(num_inputs)``). We leave those no-op lines out and keep that
initialisation, so that a seed gives upstream's weights.
"""

from __future__ import annotations

import torch
from torch import nn

from .framework import Module
from .utils import check_positive

__all__ = ["LinearRegression"]


class LinearRegression(Module):
    """``y_hat = X w + b`` with one ``nn.LazyLinear(1)``, trained by minibatch SGD at learning rate ``lr``."""

    def __init__(self, lr):
        check_positive("lr", lr)
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.LazyLinear(1)  # weights made, nn.Linear-style, at the first forward call (see the module)

    def forward(self, X):
        return self.net(X)  # (batch, num_inputs) -> (batch, 1)

    def loss(self, y_hat, y):
        """The mean squared error over the minibatch."""
        return nn.functional.mse_loss(y_hat, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), self.lr)

    def get_w_b(self):
        """(weight, bias) of the layer, as tensors without gradient history."""
        return (self.net.weight.data, self.net.bias.data)
