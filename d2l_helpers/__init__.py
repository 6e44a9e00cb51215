"""The book's recurrent-network API (d2l 0.17.6, chapters 8-9) on modern Python.

Use it as the book uses ``d2l``::

    import d2l_helpers as d2l

    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    device = d2l.try_gpu()
    net = d2l.RNNModel(nn.GRU(len(vocab), 256), len(vocab)).to(device)
    d2l.train_ch8(net, train_iter, vocab, 1, 500, device)

Modules: ``data`` (download, vocabulary, iterators), ``scratch`` (models from
scratch), ``concise`` (``RNNModel``), ``train`` (training and prediction),
``dashboard`` (the live plot), ``plotting`` (the book's ``Animator`` and
``plot``), ``utils`` (devices, timers, seeds).

``d2l.plt`` is ``matplotlib.pyplot``, imported on first use: importing this
package does not import matplotlib.
"""

from .concise import RNNModel
from .dashboard import plot_histories
from .data import (
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
from .plotting import Animator, plot, set_axes, set_figsize, use_svg_display
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
    "DATA_URL",
    "Accumulator",
    "Animator",
    "DataError",
    "History",
    "RNNModel",
    "RNNModelScratch",
    "SeqDataLoader",
    "Timer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Vocab",
    "count_corpus",
    "deep_rnn",
    "download",
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
    "load_corpus_time_machine",
    "load_data_time_machine",
    "last_history",
    "load_heldout_time_machine",
    "max_epochs_from_env",
    "plot",
    "plot_histories",
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
    "size",
    "tensor",
    "tokenize",
    "train_ch8",
    "train_epoch_ch8",
    "try_all_gpus",
    "try_gpu",
    "use_svg_display",
]


def __getattr__(name):
    """``d2l.plt``: matplotlib.pyplot, imported only when first asked for."""
    if name == "plt":
        import matplotlib.pyplot as plt

        return plt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "plt"])
