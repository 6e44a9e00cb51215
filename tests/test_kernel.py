"""train_ch8 in a real kernel, in both environments (ipywidgets 8 / ipykernel 7, and Colab's 7 / 6.17).

1. Kernel > Interrupt during the first of three train_ch8 calls in a loop stops
   the whole cell within seconds: the statement after the loop does not run,
   the interrupted model keeps its trained weights, ``d2l.last_history()`` has
   its epochs, and the panel ends as a static PNG. The error a front end shows
   is one line (``TrainingInterrupted._render_traceback_``); ``%tb`` then
   shows the full traceback.
2. The panel's progress line (epoch, perplexity, time, speed) changes every epoch, while
   the plot image is redrawn at most about every two seconds, each time with
   the latest frame kept beside the widget view (what a save writes).

The kernel is driven with jupyter_client, as a front end does: the messages it
sends (widget updates, displays, the execute reply) are read from its channels.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from kernels import ENVIRONMENTS, ROOT, kernelspec_dir

PLAIN_TEXT = "<d2l training plot>"
ABORT_RETRY_SECONDS = 30
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """\
import torch
from torch import nn

import d2l_helpers as d2l

d2l.set_seed(0)
train_iter, vocab = d2l.load_data_time_machine(32, 35)
tiny_iter = d2l.SeqDataLoader(8, 10, False, 10000, seed=0, corpus=train_iter.corpus[:1500], vocab=vocab)
"""

LOOP = """\
nets, initial = [], []
for lr in (1, 2, 3):
    net = d2l.RNNModel(nn.GRU(len(vocab), 64), len(vocab))
    nets.append(net)
    initial.append([p.detach().clone() for p in net.parameters()])
    d2l.train_ch8(net, train_iter, vocab, lr, 10000, "cpu", log_every=5)
print("after the loop")
"""

AFTERWARDS = """\
history = d2l.last_history()
changed = any(not torch.equal(a, p) for a, p in zip(initial[0], nets[0].parameters()))
print(len(nets), history.interrupted, len(history.perplexity), changed)
"""


class Kernel:
    """A kernel of one environment, and what it sends while executing a cell."""

    def __init__(self, tmp_path, env_name):
        python = ENVIRONMENTS[env_name]()
        specs = KernelSpecManager(kernel_dirs=[str(kernelspec_dir(tmp_path, python, env_name) / "kernels")])
        self.km = KernelManager(kernel_name=env_name, kernel_spec_manager=specs)
        env = dict(os.environ, D2L_PLOT="widget", OMP_NUM_THREADS="1")
        env.pop("D2L_MAX_EPOCHS", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.km.start_kernel(env=env, cwd=str(tmp_path))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def execute(self, code, timeout=300, on_message=None):
        """Run ``code``; return (reply content, iopub messages of this cell, seconds).

        ``on_message(msg, elapsed)`` sees every iopub message as it arrives.

        After a cell that ended in an error, ipykernel 6 aborts the execute
        requests that reach it until an event-loop callback ends its "aborting"
        state (``stop_on_error_timeout``). How soon that callback runs depends on
        the machine's load, so a request that comes back ``aborted`` (it did not
        run: the kernel sends no ``execute_input`` for it) is sent again, for up
        to ``ABORT_RETRY_SECONDS``.
        """
        deadline = time.monotonic() + ABORT_RETRY_SECONDS
        while True:
            content, messages, seconds = self._execute_once(code, timeout, on_message)
            if content["status"] != "aborted" or time.monotonic() > deadline:
                return content, messages, seconds
            assert not any(m["msg_type"] == "execute_input" for m in messages), "an aborted cell ran"
            time.sleep(0.1)

    def _execute_once(self, code, timeout, on_message):
        msg_id = self.kc.execute(code)
        messages, reply, start = [], None, time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                raise TimeoutError(f"the cell did not finish in {timeout} s: {code[:60]!r}")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:  # queue.Empty: nothing yet
                msg = None
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                messages.append((elapsed, msg))
                if on_message is not None:
                    on_message(msg, elapsed)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        while reply is None or reply["parent_header"].get("msg_id") != msg_id:  # skip earlier replies
            reply = self.kc.get_shell_msg(timeout=30)
        return reply["content"], [m for _, m in messages], time.monotonic() - start

    def stop(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(params=sorted(ENVIRONMENTS))
def kernel(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    k = Kernel(tmp_path, request.param)
    content, _, _ = k.execute(SETUP)
    assert content["status"] == "ok", content
    yield k
    k.stop()


def _stdout(messages):
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


def _display_id(msg):
    return msg["content"]["transient"]["display_id"]


def _widget_updates(messages):
    """(model id, state) of every widget update the kernel sent."""
    out = []
    for m in messages:
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update":
            out.append((m["content"]["comm_id"], m["content"]["data"].get("state", {})))
    return out


def test_interrupt_stops_the_whole_cell_and_keeps_the_interrupted_run(kernel):
    sent = {}

    def interrupt_once_training_runs(msg, elapsed):
        # The progress line of epoch 2 has gone out: the first train_ch8 is well under way.
        if "at" not in sent and msg["msg_type"] == "comm_msg":
            state = msg["content"]["data"].get("state", {})
            if str(state.get("value", "")).startswith("epoch 2/10000 "):
                kernel.km.interrupt_kernel()
                sent["at"] = elapsed

    content, messages, seconds = kernel.execute(LOOP, on_message=interrupt_once_training_runs)
    assert "at" in sent, "training never reached epoch 2"
    assert seconds - sent["at"] < 10, f"the cell ended {seconds - sent['at']:.1f} s after the interrupt"
    assert content["status"] == "error" and content["ename"] == "TrainingInterrupted", content
    printed = _stdout(messages)
    assert "after the loop" not in printed
    # What the front end shows for the error: one line that says what happened, no stack into the library.
    (error,) = [m["content"] for m in messages if m["msg_type"] == "error"]
    (line,) = error["traceback"]
    assert re.fullmatch(r"TrainingInterrupted: Interrupted in epoch \d+ of 10000; the model keeps its weights .*", line)
    assert "(%tb shows the full traceback)" in line and content["traceback"] == [line]
    # the panel of the first run became the static PNG; no second run started (one panel only)
    # (two outputs: the panel, then the frame a save keeps; the updates replace the frame, and the panel once)
    panel, frame = [_display_id(m) for m in messages if m["msg_type"] == "display_data"]
    updates = [(_display_id(m), m["content"]["data"]) for m in messages if m["msg_type"] == "update_display_data"]
    (final,) = [data for target, data in updates if target == panel]
    *frames, emptied = [data for target, data in updates if target == frame]
    assert all(set(f) == {"image/png", WIDGET_VIEW} for f in frames) and emptied == {}
    assert set(final) == {"image/png", "text/plain"} and final["text/plain"] == PLAIN_TEXT

    content, messages, _ = kernel.execute("%tb")  # asked for: the full traceback
    (error,) = [m["content"] for m in messages if m["msg_type"] == "error"]
    full = "\n".join(error["traceback"])
    assert len(error["traceback"]) > 3 and "train_ch8" in full and "TrainingInterrupted" in full, full[-2000:]

    content, messages, _ = kernel.execute(AFTERWARDS)
    assert content["status"] == "ok", content
    count, interrupted, epochs, changed = _stdout(messages).split()
    assert (count, interrupted, changed) == ("1", "True", "True") and int(epochs) >= 2


def test_progress_line_changes_every_epoch_and_the_plot_at_most_about_every_two_seconds(kernel):
    code = "net = d2l.RNNModel(nn.GRU(len(vocab), 32), len(vocab))\n"
    code += 'h = d2l.train_ch8(net, tiny_iter, vocab, 1, 40, "cpu")'
    content, messages, seconds = kernel.execute(code)
    assert content["status"] == "ok", content
    updates = _widget_updates(messages)
    lines = [s["value"] for _, s in updates if re.match(r"epoch \d+/40 · ", str(s.get("value", "")))]
    assert [int(re.match(r"epoch (\d+)/", line)[1]) for line in lines] == list(range(1, 41))  # a line an epoch
    assert all(" · perplexity " in line for line in lines)  # the epoch and its perplexity in one message
    models = {
        m["content"]["comm_id"]: m["content"]["data"]["state"].get("_model_name")
        for m in messages
        if m["msg_type"] == "comm_open"
    }
    (image_id,) = [comm for comm, name in models.items() if name == "ImageModel"]
    frames = [  # an image update carries its PNG as a binary buffer (the final, emptying one carries none)
        m
        for m in messages
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == image_id and any(len(b) for b in m["buffers"])
    ]
    # the first and the last epoch are always drawn; in between at most one frame every 2 s
    assert 2 <= len(frames) <= seconds / 2.0 + 2, (len(frames), seconds)
