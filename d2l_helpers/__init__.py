"""The book's recurrent-network API on modern Python: both editions, one import line.

The Chinese edition (zh.d2l.ai, d2l 0.17.6 API, chapters 8-9) and the English
edition (d2l.ai, d2l 1.0 API: ``Module``, ``DataModule``, ``Trainer``,
``TimeMachine``, ``RNNLMScratch``, ..., chapters 9-10) are both served by
``import d2l_helpers as d2l``. Where the editions use one name differently:
``d2l.Vocab`` is 0.17's (sorted by frequency); 1.0's (sorted alphabetically)
is ``d2l.AlphabeticalVocab``, which ``TimeMachine`` uses; ``d2l.download``
serves both call forms (see :func:`d2l_helpers.data.download`).

Use it as the book uses ``d2l``::

    import d2l_helpers as d2l

    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    device = d2l.try_gpu()
    net = d2l.RNNModel(nn.GRU(len(vocab), 256), len(vocab)).to(device)
    d2l.train_ch8(net, train_iter, vocab, 1, 500, device)

Modules: ``data`` (download, vocabulary, iterators), ``scratch`` (models from
scratch), ``concise`` (``RNNModel``), ``train`` (training and prediction),
``dashboard`` (the live plot), ``sweep`` (a function over a grid of
hyper-parameters, on local processes or Dask; its panel in ``sweep_panel``),
``plotting`` (the book's ``Animator`` and ``plot``), ``regression``
(``load_array``, ``evaluate_loss``), ``utils`` (devices, timers, seeds);
for the English edition: ``framework`` (``Module``,
``DataModule``, ``Trainer``, ...), ``board`` (its ``ProgressBoard``, drawn by
the dashboard), ``data_en`` (``TimeMachine`` and its ``Vocab``), ``models_en``
(``RNNScratch``, ``RNNLMScratch``, ``GRU``, ...), ``regression_en``
(``LinearRegression``), ``fast_en`` (its fast path),
``aliases`` (``d2l.zeros``, ``d2l.matmul``, ...).

``d2l.plt`` is ``matplotlib.pyplot``, imported on first use: importing this
package does not import matplotlib.
"""

# The one version of the package: pyproject.toml reads it from here (the release, and the
# notebooks' first cell, `pip install d2l-helpers==<this>`, via tools/notebook_cells.py).
__version__ = "0.1.0"

from . import aliases as _aliases
from .aliases import *  # noqa: F403 - d2l 1.0's tensor aliases (d2l.zeros, d2l.matmul, ...)
from .board import ProgressBoard
from .concise import RNNModel
from .dashboard import plot_histories
from .data import (
    DATA_HUB,
    DATA_URL,
    DataError,
    SeqDataLoader,
    Vocab,
    count_corpus,
    download,
    load_corpus_time_machine,
    load_data_time_machine,
    load_heldout_time_machine,
    read_time_machine,
    seq_data_iter_random,
    seq_data_iter_sequential,
    tokenize,
)
from .data_en import TimeMachine
from .data_en import Vocab as AlphabeticalVocab  # d2l 1.0's Vocab (English edition); d2l.Vocab is 0.17's
from .framework import (
    SGD,
    Classifier,
    DataModule,
    HyperParameters,
    Module,
    Trainer,
    add_to_class,
    cpu,
    gpu,
    num_gpus,
)
from .models_en import (
    GRU,
    LSTM,
    RNN,
    RNNLM,
    GRUScratch,
    LSTMScratch,
    RNNLMScratch,
    RNNScratch,
    StackedRNNScratch,
    check_len,
    check_shape,
)
from .plotting import Animator, plot, set_axes, set_figsize, use_svg_display
from .regression import evaluate_loss, load_array
from .regression_en import LinearRegression
from .scratch import (
    RNNModelScratch,
    deep_rnn,
    get_deep_params,
    get_gru_params,
    get_gru_params_pytorch_form,
    get_rnn_params,
    gru,
    gru_params_from_nn,
    gru_pytorch_form,
    init_deep_state,
    init_gru_state,
    init_rnn_state,
    rnn,
    rnn_params_from_nn,
)
from .sweep import SweepCacheError, SweepInterrupted, SweepResults, last_sweep, sweep
from .sweep_panel import plot_sweep
from .train import (
    History,
    TrainingDiverged,
    evaluate_perplexity,
    grad_clipping,
    last_history,
    max_epochs_from_env,
    predict_ch8,
    sgd,
    train_ch8,
    train_epoch_ch8,
)
from .utils import (
    Accumulator,
    Timer,
    TrainingInterrupted,
    reshape,
    set_seed,
    size,
    tensor,
    try_all_gpus,
    try_gpu,
)

__version__ = "0.1.0"

__all__ = [
    "DATA_HUB",
    "DATA_URL",
    "GRU",
    "LSTM",
    "RNN",
    "RNNLM",
    "SGD",
    "Accumulator",
    "AlphabeticalVocab",
    "Animator",
    "Classifier",
    "DataModule",
    "GRUScratch",
    "HyperParameters",
    "LSTMScratch",
    "LinearRegression",
    "Module",
    "ProgressBoard",
    "RNNLMScratch",
    "RNNScratch",
    "StackedRNNScratch",
    "TimeMachine",
    "Trainer",
    "add_to_class",
    "check_len",
    "check_shape",
    "cpu",
    "gpu",
    "num_gpus",
    "DataError",
    "History",
    "RNNModel",
    "RNNModelScratch",
    "SeqDataLoader",
    "SweepCacheError",
    "SweepInterrupted",
    "SweepResults",
    "Timer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Vocab",
    "count_corpus",
    "deep_rnn",
    "download",
    "evaluate_loss",
    "evaluate_perplexity",
    "get_deep_params",
    "get_gru_params",
    "get_gru_params_pytorch_form",
    "get_rnn_params",
    "grad_clipping",
    "gru",
    "gru_params_from_nn",
    "gru_pytorch_form",
    "init_deep_state",
    "init_gru_state",
    "init_rnn_state",
    "last_sweep",
    "load_array",
    "load_corpus_time_machine",
    "load_data_time_machine",
    "last_history",
    "load_heldout_time_machine",
    "max_epochs_from_env",
    "plot",
    "plot_histories",
    "plot_sweep",
    "predict_ch8",
    "read_time_machine",
    "reshape",
    "rnn",
    "rnn_params_from_nn",
    "seq_data_iter_random",
    "seq_data_iter_sequential",
    "set_axes",
    "set_figsize",
    "set_seed",
    "sgd",
    "sweep",
    "size",
    "tensor",
    "tokenize",
    "train_ch8",
    "train_epoch_ch8",
    "try_all_gpus",
    "try_gpu",
    "use_svg_display",
    *_aliases.__all__,
]


def __getattr__(name):
    """``d2l.plt``: matplotlib.pyplot, imported only when first asked for."""
    if name == "plt":
        import matplotlib.pyplot as plt

        return plt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "plt"])
