"""The English edition's framework as the chapters use it: patterns, data, bad input, interrupts, the dashboard."""

import json
import os
import signal
import subprocess
import sys

import nbformat
import pytest
import torch
from torch import nn

import d2l_helpers as d2l
from d2l_helpers import board as board_mod
from d2l_helpers import dashboard as db

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TINY = {"batch_size": 64, "num_steps": 8, "num_train": 512, "num_val": 128}


# --------------------------------------------------------------------------
# The chapters' patterns, written here (not the book's code)
# --------------------------------------------------------------------------


class Line(d2l.DataModule):
    """y = 3x - 1 plus noise, as a DataModule of our own."""

    def __init__(self, n=256, batch_size=32):
        super().__init__()
        self.save_hyperparameters()
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 1, generator=gen)
        self.y = 3 * self.x - 1 + 0.01 * torch.randn(n, 1, generator=gen)

    def get_dataloader(self, train):
        half = self.n // 2
        return self.get_tensorloader([self.x, self.y], train, slice(0, half) if train else slice(half, None))


class Affine(d2l.Module):
    def __init__(self, lr, scale=1.0):
        super().__init__()
        self.save_hyperparameters()
        self.w = nn.Parameter(torch.zeros(1))
        self.b = nn.Parameter(torch.zeros(1))


@d2l.add_to_class(Affine)
def forward(self, X):
    return X * self.w + self.b


@d2l.add_to_class(Affine)
def loss(self, y_hat, y):
    return ((y_hat - y) ** 2).mean()


@d2l.add_to_class(Affine)
def configure_optimizers(self):
    return d2l.SGD([self.w, self.b], self.lr)


def test_a_module_with_save_hyperparameters_and_add_to_class_trains_with_the_trainer():
    model, data = Affine(lr=0.1, scale=2.0), Line()
    assert model.hparams == {"lr": 0.1, "scale": 2.0} and model.lr == 0.1 and model.scale == 2.0
    assert data.hparams == {"n": 256, "batch_size": 32} and data.root == "../data" and data.num_workers == 4
    trainer = d2l.Trainer(max_epochs=20)
    assert trainer.hparams == {"max_epochs": 20, "num_gpus": 0, "gradient_clip_val": 0}
    trainer.fit(model, data)
    assert float(model.w) == pytest.approx(3.0, abs=0.05) and float(model.b) == pytest.approx(-1.0, abs=0.05)
    assert trainer.num_train_batches == 4 and trainer.num_val_batches == 4 and trainer.train_batch_idx == 80
    assert [p.x for p in model.board.data["val_loss"]] == list(range(1, 21))  # one point an epoch
    assert len(model.board.data["train_loss"]) == 40  # two an epoch, at fractional epochs
    assert model.board.data["train_loss"][0].x == pytest.approx(0.125)  # the mean of batches 0/4 and 1/4
    assert model.board.xlabel == "epoch" and model.board.xlim == [0, 20]


def test_add_to_class_replaces_a_method_of_the_package_as_the_chapters_do(monkeypatch):
    """§9.5 redefines Trainer.clip_gradients; §9.3 TimeMachine.__init__ and get_dataloader."""
    calls = []
    original = d2l.Trainer.clip_gradients
    monkeypatch.setattr(d2l.Trainer, "clip_gradients", original)  # restored after the test

    @d2l.add_to_class(d2l.Trainer)
    def clip_gradients(self, grad_clip_val, model):
        calls.append(grad_clip_val)
        return original(self, grad_clip_val, model)

    assert clip_gradients is not None  # ours returns the function (upstream's returns None)
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    d2l.Trainer(max_epochs=1, gradient_clip_val=0.5).fit(model, data)
    assert calls == [0.5] * 8


def test_clip_gradients_scales_the_joint_norm_down_to_the_threshold_only():
    model = nn.Linear(3, 2)
    for p, g in zip(model.parameters(), (torch.full((2, 3), 2.0), torch.full((2,), 2.0))):
        p.grad = g.clone()
    d2l.Trainer(1).clip_gradients(1.0, model)
    norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert float(norm) == pytest.approx(1.0)
    d2l.Trainer(1).clip_gradients(5.0, model)  # below the threshold: unchanged
    assert float(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))) == pytest.approx(1.0)


def test_data_hub_and_download_by_name_as_the_chinese_edition_does(monkeypatch):
    monkeypatch.setitem(d2l.DATA_HUB, "time_machine", (d2l.DATA_URL + "timemachine.txt", d2l.data.TIME_MACHINE[1]))
    with open(d2l.download("time_machine")) as f:
        lines = f.readlines()
    assert len(lines) > 3000 and "time traveller" in "".join(lines).lower()
    by_url = d2l.download(d2l.DATA_URL + "timemachine.txt", None, d2l.data.TIME_MACHINE[1])  # 1.0's call form
    assert d2l.download("time_machine") == by_url
    monkeypatch.setitem(d2l.DATA_HUB, "bad", (d2l.DATA_URL + "timemachine.txt", "0" * 40))
    with pytest.raises(d2l.DataError, match="sha1"):
        d2l.download("bad")  # hash-checked like the rest
    with pytest.raises(KeyError, match="DATA_HUB"):
        d2l.download("no_such_name")


def test_trainer_num_gpus_1_on_a_cpu_machine_trains_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLM(d2l.GRU(len(data.vocab), 8), len(data.vocab), lr=4)
    trainer = d2l.Trainer(max_epochs=1, gradient_clip_val=1, num_gpus=1)
    assert trainer.gpus == [] and trainer.num_gpus == 1
    trainer.fit(model, data)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert d2l.try_gpu() == d2l.cpu() and d2l.num_gpus() == 0
    assert isinstance(model.predict("it has", 5, data.vocab, d2l.try_gpu()), str)


def test_timemachine_root_is_honoured_only_when_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "..")
    before = set(os.listdir(tmp_path.parent.parent))
    d2l.TimeMachine(**TINY)  # the default root: no ../data beside the working directory
    assert set(os.listdir(tmp_path.parent.parent)) == before
    source = d2l.download()  # from $D2L_DATA_DIR
    monkeypatch.delenv("D2L_DATA_DIR")
    # With root given, the file goes there (here fetched from a local "mirror" of d2l's server).
    monkeypatch.setenv("D2L_DATA_URL", "file://" + os.path.dirname(source) + "/")
    data = d2l.TimeMachine(**TINY, root=tmp_path / "mydata")
    assert (tmp_path / "mydata" / "timemachine.txt").is_file() and data.root == tmp_path / "mydata"


# --------------------------------------------------------------------------
# Bad input, divergence, the epoch cap, interrupts
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0, "num_steps": 8}, ValueError, "batch_size must be positive"),
        ({"batch_size": 2.5, "num_steps": 8}, TypeError, "batch_size must be an int"),
        ({"batch_size": 8, "num_steps": 8, "num_train": 10**6}, ValueError, "windows"),
        ({"batch_size": 8, "num_steps": 8, "num_val": 0}, ValueError, "num_val must be positive"),
    ],
)
def test_timemachine_rejects_bad_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        d2l.TimeMachine(**kwargs)


def test_bad_input_errors_say_what_to_do():
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab))
    with pytest.raises(ValueError, match="lower"):
        model.predict("It has", 5, data.vocab)
    with pytest.raises(ValueError, match="non-empty"):
        model.predict("", 5, data.vocab)
    with pytest.raises(RuntimeError, match="Trainer.fit"):
        model.plot("ppl", torch.tensor(1.0), train=True)
    with pytest.raises(TypeError, match="class"):
        d2l.add_to_class(model)
    with pytest.raises(ValueError, match="max_epochs must be positive"):
        d2l.Trainer(max_epochs=0)
    with pytest.raises(ValueError, match="num_gpus"):
        d2l.Trainer(max_epochs=1, num_gpus=-1)
    with pytest.raises(TypeError, match="DataModule"):
        d2l.Trainer(max_epochs=1).fit(model, [1, 2])
    with pytest.raises(ValueError, match="expected length"):
        d2l.check_len([1, 2], 3)
    with pytest.raises(ValueError, match="expected shape"):
        d2l.check_shape(torch.zeros(2, 3), (3, 2))
    with pytest.raises(NotImplementedError, match="forward"):
        d2l.Module()(torch.zeros(1))


def test_a_diverging_loss_stops_with_an_error_naming_the_epoch():
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    with torch.no_grad():
        model.W_hq[0, 0] = float("nan")
    with pytest.raises(d2l.TrainingDiverged, match="in epoch 1"):
        d2l.Trainer(max_epochs=3, gradient_clip_val=1).fit(model, data)


def test_d2l_max_epochs_caps_fit_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("D2L_MAX_EPOCHS", "2")
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    trainer = d2l.Trainer(max_epochs=50, gradient_clip_val=1)
    trainer.fit(model, data)
    assert "D2L_MAX_EPOCHS=2: training 2 of 50 epochs (unset it for the full run)" in capsys.readouterr().out
    assert len(trainer.history.perplexity) == 2 and trainer.max_epochs == 50


class _InterruptingData(d2l.DataModule):
    """A TimeMachine whose training loader sends this process SIGINT at one batch of one epoch."""

    def __init__(self, data, at_epoch, at_batch, times=1):
        super().__init__()
        self.data, self.at, self.epoch, self.vocab = data, (at_epoch, at_batch), 0, data.vocab
        self.times = times

    def train_dataloader(self):
        outer = self

        class Loader:
            def __len__(self):
                return len(outer.data.train_dataloader())

            def __iter__(self):
                outer.epoch += 1
                for i, batch in enumerate(outer.data.train_dataloader(), 1):
                    if (outer.epoch, i) == outer.at:
                        for _ in range(outer.times):
                            os.kill(os.getpid(), signal.SIGINT)
                    yield batch

        return Loader()

    def val_dataloader(self):
        return self.data.val_dataloader()


def test_kernel_interrupt_stops_after_the_batch_keeps_the_weights_and_stops_the_cell(capsys):
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    trainer = d2l.Trainer(max_epochs=20, gradient_clip_val=1)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(d2l.TrainingInterrupted) as info:
        trainer.fit(model, _InterruptingData(data, 3, 2))
    assert isinstance(info.value, KeyboardInterrupt) and info.value.result is trainer.history
    assert trainer.train_batch_idx == 2 * 8 + 2  # stopped right after the batch it was in
    assert len(trainer.history.perplexity) == len(trainer.history.tokens_per_sec) == 2  # the partial epoch left out
    assert str(info.value).startswith("Interrupted in epoch 3 of 20, after the current minibatch;")
    assert signal.getsignal(signal.SIGINT) is handler
    assert model.W_hq.abs().sum() > 0 and "forward" not in model.__dict__  # weights kept, fast path removed


def test_a_second_interrupt_stops_at_once_and_says_so(capsys):
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    trainer = d2l.Trainer(max_epochs=20, gradient_clip_val=1)
    with pytest.raises(d2l.TrainingInterrupted) as info:
        trainer.fit(model, _InterruptingData(data, 3, 2, times=2))
    assert info.value.result is trainer.history
    assert trainer.train_batch_idx == 2 * 8 + 1  # the batch it was fetching never ran
    assert str(info.value) == (
        "Interrupted in epoch 3 of 20, at once; the model keeps its weights "
        "and trainer.history has its 2 finished epochs."
    )


# --------------------------------------------------------------------------
# The dashboard, without a frontend
# --------------------------------------------------------------------------


class FakePanel:
    def __init__(self, finished=None):
        self.kept, self.finished = [], finished if finished is not None else []

    def keep(self, make_png):
        self.kept.append(make_png())

    def finish(self, png, widgets, images=()):
        self.finished.append((png, widgets))


def test_the_panel_shows_the_board_live_and_ends_as_one_png(monkeypatch):
    shown, finished = [], []
    monkeypatch.setattr(db, "show_panel", lambda box, png, **_: shown.append(box) or FakePanel(finished))
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.GRUScratch(len(data.vocab), 8), len(data.vocab), lr=4)
    trainer = d2l.Trainer(max_epochs=3, gradient_clip_val=1, plot="widget")
    trainer.fit(model, data)
    assert len(shown) == 1 and len(finished) == 1
    png, widgets = finished[0]
    assert png.startswith(b"\x89PNG") and shown[0] in widgets
    line, image, bar, text = shown[0].children
    assert "sample, epoch 3" in text.value and "time traveller" in text.value  # the latest predict sample
    assert bar.value == 3  # the progress bar at the last epoch
    assert line.value.startswith("epoch 3/3 · ") and " tokens/s · train_ppl " in line.value  # the speed too


def test_the_progress_line_changes_every_epoch_and_the_board_within_the_rate_limit(monkeypatch):
    monkeypatch.setattr(db, "show_panel", lambda box, png, **_: FakePanel())
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    now = [0.0]
    board = d2l.ProgressBoard(xlabel="epoch", ylabel="ppl")
    progress = board_mod.FitProgress(board, 10, "widget", clock=lambda: now[0], cpu_clock=lambda: 0.0)
    lines = []
    for epoch in range(1, 11):
        now[0] += 0.1  # ten epochs in one second: one frame (the first), then the last one
        board.draw(epoch, 20 - epoch, "train_ppl", every_n=1)
        progress.epoch_done(epoch)
        lines.append(progress.timing.value)
    assert [line.split(" ")[1] for line in lines] == [f"{e}/10" for e in range(1, 11)]
    assert progress.frames == 2 and progress.bar.value == 10
    progress.close("done")


def test_the_live_plot_draws_every_series_at_fractional_epochs():
    board = d2l.ProgressBoard(xlabel="epoch", ylabel="ppl")
    for i in range(8):
        board.draw(i / 4, 10 - i, "train_ppl", every_n=2)
    board.draw(1, 9, "val_ppl", every_n=1)
    board.draw(2, 6, "val_ppl", every_n=1)
    plot = board_mod.BoardPlot(board)
    assert plot.frame("t").startswith(b"\x89PNG")
    assert list(plot.lines) == ["train_ppl", "val_ppl"]
    xs, ys = plot.lines["train_ppl"].get_data()
    assert list(xs) == [0.125, 0.625, 1.125, 1.625] and list(ys) == [9.5, 7.5, 5.5, 3.5]
    assert plot.ax.get_ylim()[0] < 3.5 and plot.ax.get_ylim()[1] > 9.5
    assert board.figure()._repr_png_().startswith(b"\x89PNG")


def test_text_mode_prints_one_line_per_epoch(capsys):
    data = d2l.TimeMachine(**TINY)
    model = d2l.RNNLMScratch(d2l.RNNScratch(len(data.vocab), 8), len(data.vocab), lr=1)
    d2l.Trainer(max_epochs=2, gradient_clip_val=1, plot="text").fit(model, data)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "train_ppl" in lines[1] and "val_ppl" in lines[1]


# --------------------------------------------------------------------------
# A real kernel: nbclient, then strict nbval
# --------------------------------------------------------------------------

NOTEBOOK_CELLS = [
    """\
import torch
import d2l_helpers as d2l

_ = torch.manual_seed(0)
data = d2l.TimeMachine(batch_size=64, num_steps=8, num_train=512, num_val=128)""",
    """\
gru = d2l.GRUScratch(num_inputs=len(data.vocab), num_hiddens=16)
model = d2l.RNNLMScratch(gru, vocab_size=len(data.vocab), lr=4)
trainer = d2l.Trainer(max_epochs=40, gradient_clip_val=1)
print("before")
trainer.fit(model, data)
print("after")""",
    "len(trainer.history.perplexity)",
]


def test_trainer_fit_in_a_real_kernel_sends_live_frames_and_leaves_one_png(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.delenv("D2L_PLOT")  # as a learner runs it: auto picks the widget panel in a kernel
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    frames = []

    def on_message(msg):  # count the live frames: comm messages that set the Image widget's value
        content = msg.get("content", {})
        if msg.get("msg_type") == "comm_msg" and "value" in content.get("data", {}).get("state", {}):
            frames.append(msg)

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    original = client.handle_comm_msg

    def handle(outs, msg, cell_index):
        on_message(msg)
        return original(outs, msg, cell_index)

    client.handle_comm_msg = handle
    client.execute()

    assert len(frames) >= 2  # the panel was updated while training ran
    assert WIDGET_VIEW not in json.dumps(nb)  # no widget left in the saved notebook...
    train = nb.cells[1]
    pngs = [o for o in train.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1 and pngs[0].data["text/plain"] == db.PLAIN_TEXT  # ...but the final PNG
    printed = "".join(o.text for o in train.outputs if o.output_type == "stream")
    assert printed.startswith("before\n") and printed.endswith("after\n")  # nothing cleared
    assert "Training with a faster equivalent of this scratch GRU (fast=False turns it off)" in printed
    assert nb.cells[2].outputs[0].data["text/plain"] == "40"

    path = tmp_path / "fit.ipynb"
    nbformat.write(nb, path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
