"""The book's recurrent-network API (d2l 0.17.6, chapters 8-9) on modern Python.

Use it as the book uses ``d2l``::

    import d2l_helpers as d2l

    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    net = d2l.RNNModel(nn.GRU(len(vocab), 256), len(vocab))
    d2l.train_ch8(net, train_iter, vocab, 1, 500, d2l.try_gpu())

Modules: ``data`` (download, vocabulary, iterators), ``scratch`` (models from
scratch), ``concise`` (``RNNModel``), ``train`` (training and prediction),
``dashboard`` (the live plot), ``utils`` (devices, timers, seeds).
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
    max_epochs_from_env,
    predict_ch8,
    sgd,
    train_ch8,
    train_epoch_ch8,
)
from .utils import Accumulator, Timer, set_seed, try_all_gpus, try_gpu

__version__ = "0.1.0"

__all__ = [
    "DATA_URL",
    "Accumulator",
    "DataError",
    "History",
    "RNNModel",
    "RNNModelScratch",
    "SeqDataLoader",
    "Timer",
    "TrainingDiverged",
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
    "load_heldout_time_machine",
    "max_epochs_from_env",
    "plot_histories",
    "predict_ch8",
    "read_time_machine",
    "rnn",
    "rnn_params_from_nn",
    "seq_data_iter_random",
    "seq_data_iter_sequential",
    "set_seed",
    "sgd",
    "tokenize",
    "train_ch8",
    "train_epoch_ch8",
    "try_all_gpus",
    "try_gpu",
]
