"""Bad input and faults, one table (issue 16): what each case raises and what its message says.

Every row is ``Case(id, call, error, words)``: ``call()`` must raise ``error``
(an exception class, or a tuple of them) whose message contains every one of
``words`` (case-insensitive). A case that must *not* raise, or that checks what
was kept on disk, is a plain test function further down, next to its section.

The sections follow the issue: the sweep and its cache (§1–§4), training in
both editions (§5), models, vocabularies and devices (§6), the rest (§7) and
downloads (§8).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import errno
import functools
import hashlib
import http.server
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2l_helpers as d2l
from d2l_helpers import dashboard as db


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    error: type[BaseException] | tuple[type[BaseException], ...]
    words: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# §1–§4: the sweep and its cache
# ---------------------------------------------------------------------------------------------
#
# The experiments below run serially in this process unless a test says otherwise; each call
# is recorded in RAN, so that a test can say that nothing ran. Cache files are made in
# temporary folders, removed when the tests end.

RAN: list = []


def _square(a):
    RAN.append(a)
    return a * a


def _function_name(fn):
    return f"{fn.__module__}.{fn.__qualname__}"


def _folder():
    folder = tempfile.mkdtemp(prefix="d2l-bad-input-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _file(content: bytes | None, name="sweep.jsonl"):
    """A path in a new folder, holding ``content`` (None: no file there)."""
    path = os.path.join(_folder(), name)
    if content is not None:
        with open(path, "wb") as f:
            f.write(content)
    return path


def _line(value, a=1, fn=_square, **fields):
    """One result line of the current cache format, as d2l.sweep writes it (``fields`` replace its own)."""
    entry = {
        "key": json.dumps({"a": a}),
        "function": _function_name(fn),
        "code": "0" * 16,
        "python": "3.11",
        "params": {"a": a},
        "value": value,
        "seconds": 0.1,
        "worker": "host:1",
        "error": None,
    }
    return (json.dumps({**entry, **fields}) + "\n").encode()


_HEADER = b'{"d2l_helpers": "sweep cache", "format": 2}\n'


def _hostile(kind, marker):
    """A value that, restored by importing the type it names, would create ``marker``."""
    return {
        "os-system": {"__dataclass__": "os:system", "command": f"touch {marker}"},
        "builtins-eval": {"__dataclass__": "builtins:eval", "source": f"open({marker!r}, 'w')"},
        "subprocess-run": {"__dataclass__": "subprocess:run", "args": ["touch", marker]},
        "another-modules-class": {"__dataclass__": "pathlib:Path", "args": marker},
        "nested-in-a-dict": {"history": [1, {"__dataclass__": "os:system", "command": f"touch {marker}"}]},
    }[kind]


def _sweep_with_cache(content, grid=None, **kwargs):
    path = _file(content)
    return d2l.sweep(_square, grid or {"a": [1, 2]}, executor="serial", cache=path, plot="off", **kwargs)


def _first_format_line(a, value):
    """A line as the first cache format wrote it (no header, no fingerprint)."""
    entry = {"key": json.dumps({"a": a}), "function": _function_name(_square), "params": {"a": a}}
    return (json.dumps({**entry, "value": value, "seconds": 0.1, "worker": "host:1", "error": None}) + "\n").encode()


def _changed_function():
    """A cache written by _square's code, read with another function of the same name."""
    path = _file(None)
    d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off")
    namespace = {"__name__": _square.__module__, "RAN": RAN}
    exec("def _square(a):\n    RAN.append(a)\n    return a * 100 + 3\n", namespace)
    return d2l.sweep(namespace["_square"], {"a": [1, 2]}, executor="serial", cache=path, plot="off")


class _Named:  # repr with an address: '<test_bad_input._Named object at 0x7f...>'
    pass


def _with_a_key(a):
    return 1


SWEEP_CASES: list[Case] = [
    # §1: a cache names a type to restore that is not one of ours: refused, nothing imported or run
    *[
        Case(
            f"sweep-cache-names-{kind}",
            lambda kind=kind: _sweep_with_cache(_HEADER + _line(_hostile(kind, _file(None, "marker")))),
            ValueError,
            ("names the type", "nothing it names was imported or run", "delete that line"),
        )
        for kind in ("os-system", "builtins-eval", "subprocess-run", "another-modules-class", "nested-in-a-dict")
    ],
    # §2: files that are not a sweep cache are refused before anything is written
    Case(
        "sweep-cache-is-a-one-line-note",
        lambda: _sweep_with_cache(b"remember: lr 0.5 was best"),
        ValueError,
        ("not a d2l_helpers sweep cache", "nothing was written", "another path"),
    ),
    Case(
        "sweep-cache-is-a-csv-file",
        lambda: _sweep_with_cache(b"num_hiddens,lr,perplexity\n256,1,1.3\n"),
        ValueError,
        ("not a d2l_helpers sweep cache", "first line is not the cache's header"),
    ),
    Case(
        "sweep-cache-is-a-binary-file",
        lambda: _sweep_with_cache(bytes(range(256))),
        ValueError,
        ("not a d2l_helpers sweep cache", "not utf-8 text"),
    ),
    Case(
        "sweep-cache-of-a-newer-format",
        lambda: _sweep_with_cache(b'{"d2l_helpers": "sweep cache", "format": 3}\n'),
        ValueError,
        ("newer d2l_helpers", "format 3"),
    ),
    # §3: a cache of other code, wrong kinds of cache=, keys that cannot be found again
    Case(
        "sweep-cache-of-an-edited-function",
        _changed_function,
        ValueError,
        ("has changed", "on_change='rerun'", "on_change='keep'", "another cache= file"),
    ),
    Case(
        "sweep-cache-of-the-first-format",
        lambda: _sweep_with_cache(_first_format_line(1, 1)),
        ValueError,
        ("earlier d2l_helpers", "on_change='rerun'", "on_change='keep'"),
    ),
    Case(
        "sweep-cache-is-an-int",
        lambda: d2l.sweep(_square, {"a": [1]}, executor="serial", cache=123, plot="off"),
        TypeError,
        ("cache must be a file path", "int 123"),
    ),
    Case(
        "sweep-cache-is-a-folder",
        lambda: d2l.sweep(_square, {"a": [1]}, executor="serial", cache=_folder(), plot="off"),
        ValueError,
        ("is a folder", "sweep.jsonl"),
    ),
    Case(
        "sweep-cache-in-a-missing-folder",
        lambda: d2l.sweep(
            _square, {"a": [1]}, executor="serial", cache=os.path.join(_folder(), "no", "c.jsonl"), plot="off"
        ),
        FileNotFoundError,
        ("folder of cache", "does not exist", "os.makedirs"),
    ),
    Case(
        "sweep-grid-of-two-lambdas",
        lambda: d2l.sweep(_with_a_key, {"a": [lambda x: x, lambda x: -x]}, executor="serial", plot="off"),
        ValueError,
        ("two different values with the same name", "<lambda>", "a def instead of a lambda"),
    ),
    Case(
        "sweep-grid-value-named-by-its-address-with-a-cache",
        lambda: d2l.sweep(_with_a_key, {"a": [_Named()]}, executor="serial", cache=_file(None), plot="off"),
        ValueError,
        ("param_grid['a']", "memory address", "run without cache="),
    ),
    Case(
        "sweep-on_change-unknown",
        lambda: d2l.sweep(_square, {"a": [1]}, executor="serial", on_change="ask", plot="off"),
        ValueError,
        ("on_change must be 'error', 'rerun' or 'keep'", "'ask'"),
    ),
]


@pytest.fixture
def ran():
    RAN.clear()
    yield RAN
    RAN.clear()


@pytest.mark.parametrize("kind", ["os-system", "builtins-eval", "subprocess-run", "another-modules-class"])
@pytest.mark.parametrize("form", ["cache", "first-format", "first-format-kept"])
def test_sweep_a_hostile_cache_line_runs_nothing(kind, form, ran, recwarn):
    """§1: the type a line names is never imported or called; the marker it would create never appears.

    ``first-format``: a file as the previous version wrote it (no header), which that version read by
    importing and calling what the line names.
    """
    marker = _file(None, "marker")
    if form == "cache":
        content = _HEADER + _line(_hostile(kind, marker))
    else:  # that format named every dataclass so: its values come back as plain fields, or not at all
        content = _first_format_line(1, _hostile(kind, marker))
    path = _file(content)
    try:
        if form == "first-format-kept":
            results = d2l.sweep(_square, {"a": [1]}, executor="serial", cache=path, plot="off", on_change="keep")
            assert results[0].cached and isinstance(results[0].value, dict)  # fields, not an object
            assert any("never imports" in str(w.message) for w in recwarn)
        else:
            words = "Nothing it names was imported or run" if form == "cache" else "earlier d2l_helpers"
            with pytest.raises(ValueError, match=words):
                d2l.sweep(_square, {"a": [1]}, executor="serial", cache=path, plot="off")
            with open(path, "rb") as f:
                assert f.read() == content  # refused: byte for byte as it was
    finally:
        time.sleep(0.2)  # (a shell command started in the background would have had time to run)
        assert not os.path.exists(marker), "the cache ran what it names"
    assert ran == []


@pytest.mark.parametrize(
    "content",
    [b"remember: lr 0.5 was best", b"num_hiddens,lr,perplexity\n256,1,1.3\n", bytes(range(256)), b"\n\n"],
    ids=["one-line-note", "csv", "binary", "blank-lines"],
)
def test_sweep_a_file_that_is_not_a_cache_is_left_byte_for_byte(content, ran):
    """§2: refused before anything runs or is written."""
    path = _file(content)
    with pytest.raises(ValueError, match="not a d2l_helpers sweep cache"):
        d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off")
    with open(path, "rb") as f:
        assert f.read() == content
    assert ran == []


def test_sweep_a_complete_last_line_without_newline_is_kept_and_given_one(ran):
    """§2: an editor's save, or two files put together: the last line is a result, and stays one."""
    content = _HEADER + _line(1, a=1, code=None)[:-1]  # (code=None: written by other code; on_change='keep')
    path = _file(content)
    results = d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off", on_change="keep")
    assert [r.cached for r in results] == [True, False] and ran == [2]
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(content + b"\n")  # every byte kept, and a newline added
    assert [json.loads(line)["key"] for line in data.splitlines()[1:]] == ['{"a": 1}', '{"a": 2}']


def test_sweep_a_last_line_cut_short_is_dropped_and_said(ran):
    """§2: only a tail that does not parse is dropped, and a warning says so."""
    path = _file(None)
    d2l.sweep(_square, {"a": [1]}, executor="serial", cache=path, plot="off")
    with open(path, "rb") as f:
        complete = f.read()
    with open(path, "ab") as f:
        f.write(b'{"key": "{\\"a\\": 2}", "func')  # a crash in the middle of writing a line
    with pytest.warns(UserWarning, match="last line is cut short"):
        results = d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off")
    assert [r.cached for r in results] == [True, False]
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(complete) and data.count(b"\n") == complete.count(b"\n") + 1
    assert json.loads(data[len(complete) :])["key"] == '{"a": 2}'  # the cut line is gone, the new one whole


def test_sweep_a_first_format_cache_is_refused_then_upgraded_on_request(ran):
    """§2: a file of the first format (every line one of its records) is ours, but has no fingerprints."""
    content = _first_format_line(1, 1) + _first_format_line(3, 9)
    path = _file(content)
    with pytest.raises(ValueError, match="earlier d2l_helpers"):
        d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off")
    with open(path, "rb") as f:
        assert f.read() == content and ran == []
    with pytest.warns(UserWarning, match="a header line was added"):
        results = d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off", on_change="keep")
    assert [r.cached for r in results] == [True, False] and ran == [2]
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(_HEADER + content) and json.loads(data.splitlines()[-1])["key"] == '{"a": 2}'


def test_sweep_a_first_format_cache_cut_short_is_still_recognised(ran):
    """§2: a crash could cut the first format's last line too: that tail alone is dropped."""
    content = _first_format_line(1, 1)
    path = _file(content + b'{"key": "{\\"a\\": 2')
    with pytest.warns(UserWarning) as warned:
        results = d2l.sweep(_square, {"a": [1, 2]}, executor="serial", cache=path, plot="off", on_change="keep")
    assert [r.cached for r in results] == [True, False] and ran == [2]
    assert any("cut short" in str(w.message) for w in warned)
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(_HEADER + content) and json.loads(data[len(_HEADER + content) :])["key"] == '{"a": 2}'


def test_sweep_failures_run_again_and_it_is_said(capsys, ran):
    """§3: a configuration that failed is not cached for good."""
    path = _file(None)
    namespace = {"__name__": "__main__", "RAN": RAN, "BROKEN": True}
    exec(
        "def f(a):\n    RAN.append(a)\n    if a == 2 and BROKEN:\n        raise ValueError('bug')\n    return a\n",
        namespace,
    )
    first = d2l.sweep(namespace["f"], {"a": [1, 2]}, executor="serial", cache=path, plot="text")
    assert [r.status for r in first] == ["ok", "failed"] and ran == [1, 2]
    capsys.readouterr()
    again = d2l.sweep(namespace["f"], {"a": [1, 2]}, executor="serial", cache=path, plot="text")
    assert [r.cached for r in again] == [True, False] and ran == [1, 2, 2]  # only the failure ran again
    out = capsys.readouterr().out
    assert "1 configuration(s) that failed before run again" in out and "rerun_failed=False" in out
    kept = d2l.sweep(namespace["f"], {"a": [1, 2]}, executor="serial", cache=path, plot="off", rerun_failed=False)
    assert [r.cached for r in kept] == [True, True] and kept[1].status == "failed" and ran == [1, 2, 2]


def test_sweep_an_edited_function_is_noticed_and_on_change_says_what_to_do(ran):
    """§3: the issue's table where 10, 11, 12 from the old body stood beside 103 from the new one."""
    path = _file(None)

    def define(source, **globals_):
        namespace = {"__name__": "__main__", "RAN": RAN, **globals_}
        exec(compile(source, "<cell>", "exec"), namespace)
        return namespace["experiment"]

    old = define("def experiment(a):\n    RAN.append(a)\n    return a + 10\n")
    assert [r.value for r in d2l.sweep(old, {"a": [0, 1, 2]}, executor="serial", cache=path, plot="off")] == [
        10,
        11,
        12,
    ]
    # the same code again, moved down, with a comment and a docstring: not a change
    same = define('\n\n# a comment\ndef experiment(a):\n    """Doc."""\n    RAN.append(a)  # note\n    return a + 10\n')
    assert all(r.cached for r in d2l.sweep(same, {"a": [0, 1, 2]}, executor="serial", cache=path, plot="off"))
    new = define("def experiment(a):\n    RAN.append(a)\n    return a * 100 + 3\n")
    ran.clear()
    with pytest.raises(ValueError, match="has changed since") as info:
        d2l.sweep(new, {"a": [0, 1, 2, 3]}, executor="serial", cache=path, plot="off")
    assert "3 of these configurations" in str(info.value) and ran == []  # before anything ran
    kept = d2l.sweep(new, {"a": [0, 1, 2, 3]}, executor="serial", cache=path, plot="off", on_change="keep")
    assert [r.value for r in kept] == [10, 11, 12, 303] and ran == [3]  # what was asked for, and only that
    rerun = d2l.sweep(new, {"a": [0, 1, 2, 3]}, executor="serial", cache=path, plot="off", on_change="rerun")
    assert [r.value for r in rerun] == [3, 103, 203, 303] and ran == [3, 0, 1, 2]
    again = d2l.sweep(new, {"a": [0, 1, 2, 3]}, executor="serial", cache=path, plot="off")  # the newest lines win
    assert [r.value for r in again] == [3, 103, 203, 303] and all(r.cached for r in again)
    # a global value the function reads is part of its code
    scaled_path = _file(None)
    d2l.sweep(define(SCALED, SCALE=2), {"a": [1]}, executor="serial", cache=scaled_path, plot="off")
    with pytest.raises(ValueError, match="a global value"):
        d2l.sweep(define(SCALED, SCALE=3), {"a": [1]}, executor="serial", cache=scaled_path, plot="off")


SCALED = "def experiment(a):\n    RAN.append(a)\n    return a * SCALE\n"


def test_sweep_another_python_is_named_on_a_mismatch(ran):
    path = _file(_HEADER + _line(1, a=1, python="3.99"))
    with pytest.raises(ValueError, match=r"written under Python 3\.99"):
        d2l.sweep(_square, {"a": [1]}, executor="serial", cache=path, plot="off")


def _refuse_to_open(monkeypatch, path):
    real = os.open

    def refusing(file, flags, *args, **kwargs):
        if os.fspath(file) == path and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(13, "Permission denied", file)
        return real(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)


@pytest.mark.parametrize("case", ["missing-folder", "not-writable", "key-by-address", "edited"])
def test_sweep_checks_the_cache_before_the_first_configuration_runs(case, ran, monkeypatch):
    """§3: every one of these fails before the experiment is called, and leaves no file behind."""
    grid, path = {"a": [1, 2]}, _file(None)
    if case == "missing-folder":
        path = os.path.join(_folder(), "missing", "sweep.jsonl")
    elif case == "not-writable":
        _refuse_to_open(monkeypatch, path)
    elif case == "key-by-address":
        grid = {"a": [_Named()]}
    elif case == "edited":  # the cache holds a=1 from another body of _square
        other = {"__name__": _square.__module__, "RAN": []}
        exec("def _square(a):\n    RAN.append(a)\n    return -a\n", other)
        d2l.sweep(other["_square"], {"a": [1]}, executor="serial", cache=path, plot="off")
    existed = os.path.exists(path)
    with pytest.raises((ValueError, OSError)):
        d2l.sweep(_square, grid, executor="serial", cache=path, plot="off")
    assert ran == []
    assert os.path.exists(path) == existed


def test_sweep_a_grid_over_classes_is_cached_by_name(ran):
    """§3: {'cell': [nn.RNN, nn.GRU]} is stored by the classes' names, and found again."""
    from torch import nn

    def build(cell):
        RAN.append(cell.__name__)
        return cell(2, 3).hidden_size

    path = _file(None)
    results = d2l.sweep(build, {"cell": [nn.RNN, nn.GRU]}, executor="serial", cache=path, plot="off")
    assert [r.value for r in results] == [3, 3] and ran == ["RNN", "GRU"]
    again = d2l.sweep(build, {"cell": [nn.RNN, nn.GRU]}, executor="serial", cache=path, plot="off")
    assert all(r.cached for r in again) and ran == ["RNN", "GRU"]
    with open(path) as f:
        assert '"cell": "torch.nn.modules.rnn.GRU"' in f.read()


def test_sweep_a_write_failure_in_the_middle_keeps_every_result(ran, monkeypatch):
    """§3: the disk fills after two results: the sweep stops, says so, and loses nothing it finished."""
    cache_module = importlib.import_module("d2l_helpers.sweep_cache")
    real, calls = cache_module.Cache.append, []

    def append(self, *args):
        calls.append(args)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args)

    monkeypatch.setattr(cache_module.Cache, "append", append)
    path = _file(None)
    with pytest.raises(d2l.SweepCacheError) as info:
        d2l.sweep(_square, {"a": [1, 2, 3, 4]}, executor="serial", cache=path, plot="off")
    message = str(info.value)
    assert "could not be written" in message and "No space left on device" in message and "a=3" in message
    assert ".result" in message and "d2l.last_sweep()" in message
    result = info.value.result
    assert [r.status for r in result] == ["ok", "ok", "ok", "not run"] and [r.value for r in result[:3]] == [1, 4, 9]
    assert d2l.last_sweep() is result and ran == [1, 2, 3]
    with open(path) as f:
        assert [json.loads(line)["key"] for line in f.read().splitlines()[1:]] == ['{"a": 1}', '{"a": 2}']


_barrier = [threading.Barrier(2)]


def _draws_after_both_are_seeded(a):
    """Both configurations seeded before either draws (if they run side by side): they would swap seeds."""
    with contextlib.suppress(threading.BrokenBarrierError):
        _barrier[0].wait(timeout=1.0)
    return float(torch.rand(())) + float(np.random.rand())


def test_sweep_a_thread_pool_gives_the_serial_numbers_and_says_it_runs_one_at_a_time():
    """§4: torch's and NumPy's generators are shared by threads: configurations take turns, with a warning."""
    _barrier[0] = threading.Barrier(2)
    serial = [r.value for r in d2l.sweep(_draws_after_both_are_seeded, {"a": [1, 2]}, executor="serial", plot="off")]
    _barrier[0] = threading.Barrier(2)
    with cf.ThreadPoolExecutor(2) as pool, pytest.warns(UserWarning, match="one configuration at a time"):
        threaded = d2l.sweep(_draws_after_both_are_seeded, {"a": [1, 2]}, executor=pool, plot="off")
    assert [r.value for r in threaded] == serial


def test_sweep_n_workers_may_be_a_numpy_int():
    """§4: as everywhere in the package."""
    results = d2l.sweep(_with_a_key, {"a": [1, 2]}, executor="serial", n_workers=np.int64(2), plot="off")
    assert [r.status for r in results] == ["ok", "ok"]


def _interrupts_its_own_sweep(a):
    os.kill(os.getpid(), signal.SIGINT)  # Kernel > Interrupt, while this configuration runs
    time.sleep(0.5)
    return a


def test_sweep_the_first_interrupt_is_acknowledged_when_everything_is_submitted(capsys):
    """§4: a thread pool takes every configuration at once; the first Ctrl-C says what it did, and what comes next."""
    with cf.ThreadPoolExecutor(1) as pool, pytest.raises(d2l.SweepInterrupted) as info:
        d2l.sweep(_interrupts_its_own_sweep, {"a": [1, 2]}, executor=pool, plot="off")
    out = capsys.readouterr().out
    assert "Interrupted: 1 configuration(s) that had not started will not run" in out
    assert "waiting for the 1 running one(s) to finish (interrupt again to stop waiting for them" in out
    assert [r.status for r in info.value.result] == ["ok", "not run"]


def test_sweep_posix_only_calls_are_guarded(monkeypatch):
    """§4: Windows has no os.getpgrp, os.killpg, os.pread or signal.SIGKILL: the sweep does not need them."""
    executors = importlib.import_module("d2l_helpers.sweep_executors")
    for name in ("getpgrp", "killpg", "pread", "pwrite"):
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.delattr(signal, "SIGKILL", raising=False)

    class Client:  # a dask.distributed.Client, as the sweep recognises one
        ran = []

        def submit(self, *args, **kwargs):
            raise AssertionError("not submitted here")

        def nthreads(self):
            return {"tcp://127.0.0.1:1": 1}

        def processing(self):
            return {}

        def run(self, fn, *args, **kwargs):
            self.ran.append(fn.__name__)

    Client.__module__ = "distributed.client"
    backend = executors.Backend(Client(), None)
    backend.look_at_workers()  # shields new workers from Kernel > Interrupt: no process group to shield from
    backend.release()
    assert Client.ran == []
    assert executors._ignore_sigint_in_group(12345) is False  # what a Dask worker runs
    path = _file(None)  # the cache's append, after a last line without its newline
    d2l.sweep(_with_a_key, {"a": [1]}, executor="serial", cache=path, plot="off")
    with open(path, "rb+") as f:
        f.truncate(os.path.getsize(path) - 1)
    assert [r.cached for r in d2l.sweep(_with_a_key, {"a": [1, 2]}, executor="serial", cache=path, plot="off")] == [
        True,
        False,
    ]


ORPHAN = """
import os, sys, time
import d2l_helpers as d2l

def experiment(a):
    open(f"worker-{os.getpid()}", "w").close()
    time.sleep(600)
    return a

if __name__ == "__main__":
    d2l.sweep(experiment, {"a": [1, 2]}, n_workers=2, plot="off")
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has exited
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX: a killed parent's children are adopted")
def test_sweep_local_workers_exit_soon_after_their_parent_is_killed(tmp_path):
    """§4: SIGKILL the kernel while two configurations run: its loky workers must not run on for minutes."""
    (tmp_path / "kernel.py").write_text(ORPHAN)
    with open(tmp_path / "stderr", "w") as stderr:
        kernel = subprocess.Popen(  # a session of its own: the clean-up below kills its whole group
            [sys.executable, "kernel.py"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(pids := [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]) < 2:
            assert kernel.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()[-3000:]
            time.sleep(0.1)
        kernel.kill()  # SIGKILL: no clean-up of its own
        kernel.wait()
        killed = time.monotonic()
        while any(_alive(pid) for pid in pids) and time.monotonic() - killed < 30:
            time.sleep(0.1)
        took = time.monotonic() - killed
        print(f"the workers exited {took:.1f} s after their parent was killed")
        assert not any(_alive(pid) for pid in pids), "the workers still run 30 s after their parent was killed"
        assert took < 20
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(kernel.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# §5–§8: training, models, vocabularies, devices, the rest, downloads
# ---------------------------------------------------------------------------------------------
#
# The data are small slices of the Time Machine (from $D2L_DATA_DIR), made once; every model is
# made afresh inside its case. Where a case needs a machine it is not on (a GPU, none, MPS), it
# patches torch's own answers (torch.cuda.is_available, device_count) for the length of the call.

NAN = float("nan")
TINY = {"batch_size": 64, "num_steps": 8, "num_train": 512, "num_val": 128}


@functools.cache
def _zh_data():
    """(train_iter, vocab) of the Chinese edition: 16 x 20 minibatches over 2,000 characters."""
    corpus, vocab = d2l.load_corpus_time_machine(10000)
    return d2l.SeqDataLoader(16, 20, False, 10000, seed=0, corpus=corpus[:2000], vocab=vocab), vocab


@functools.cache
def _en_data():
    """The English edition's TimeMachine, tiny: 8 training and 2 validation minibatches."""
    return d2l.TimeMachine(**TINY)


def _gru(vocab_size=28, hidden=8, device="cpu"):
    torch.manual_seed(0)
    return d2l.RNNModelScratch(vocab_size, hidden, device, d2l.get_gru_params, d2l.init_gru_state, d2l.gru)


def _train(net=None, vocab=None, train_iter=None, lr=1, num_epochs=1, device="cpu", *args, **kwargs):
    """train_ch8 on the small data, fast path off (so that every case runs the code as written)."""
    zh_iter, zh_vocab = _zh_data()
    net = _gru() if net is None else net
    kwargs.setdefault("fast", False)
    return d2l.train_ch8(
        net, zh_iter if train_iter is None else train_iter, zh_vocab if vocab is None else vocab, lr, num_epochs,
        device, *args, **kwargs,
    )  # fmt: skip


def _lm(vocab_size=28, lr=1, cell=None):
    torch.manual_seed(0)
    return d2l.RNNLMScratch(cell or d2l.RNNScratch(vocab_size, 8), vocab_size, lr=lr)


def _fit(model=None, data=None, max_epochs=2, **kwargs):
    trainer = d2l.Trainer(max_epochs=max_epochs, **kwargs)
    trainer.fit(_lm() if model is None else model, _en_data() if data is None else data)
    return trainer


@contextlib.contextmanager
def _patched(available, count, mps=None):
    """This machine as one with ``count`` GPUs (``available``: torch.cuda.is_available()) and MPS or not."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.cuda, "is_available", lambda: available))
        stack.enter_context(mock.patch.object(torch.cuda, "device_count", lambda: count))
        if mps is not None:
            stack.enter_context(mock.patch.object(torch.backends.mps, "is_available", lambda: mps))
        yield


def _on(machine, call):
    """``call`` run on a patched ``machine``: (cuda available, GPU count)."""

    def run():
        with _patched(*machine):
            return call()

    return run


def _trained_zh():
    """A scratch GRU trained one epoch with the Chinese edition's vocabulary (sorted by frequency)."""
    net = _gru()
    _train(net, plot="off")
    return net


def _en_vocab_of_the_same_tokens():
    """The English edition's vocabulary of the same text: the same 28 tokens, sorted alphabetically."""
    return _en_data().vocab


def _trained_en():
    model = _lm()
    _fit(model, max_epochs=1)
    return model


class _NoBeginState(nn.Module):
    """A model that trains with d2l.Trainer, not with train_ch8: no begin_state."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(28, 28)

    def forward(self, X, state):
        return self.linear(F.one_hot(X.T.reshape(-1), 28).float()), state


class _NoParameters:
    """begin_state and a call, but nothing to train."""

    vocab_size = 28

    def begin_state(self, batch_size, device):
        return torch.zeros(batch_size, 4)

    def __call__(self, X, state):
        return torch.zeros(X.numel(), 28), state

    def parameters(self):
        return iter([])


class _Regression(d2l.Module):
    """w * x, squared loss: a d2l.Module of the learner's own, configured by the arguments."""

    def __init__(self, lr=None, with_params=True):
        super().__init__()
        if lr is not None:
            self.lr = lr
        if with_params:
            self.w = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        return X * self.w

    def loss(self, y_hat, y):
        return ((y_hat - y) ** 2).mean()


class _NoOptimizer(_Regression):
    def configure_optimizers(self):
        torch.optim.SGD(self.parameters(), lr=0.1)  # forgot the return


class _Line(d2l.DataModule):
    """y = 3x; ``get_dataloader`` returns None when ``broken``."""

    def __init__(self, broken=False):
        super().__init__()
        self.broken, self.batch_size = broken, 8
        self.x = torch.arange(32.0).reshape(-1, 1) / 32
        self.y = 3 * self.x

    def get_dataloader(self, train):
        if self.broken:
            return None  # forgot the return value
        return self.get_tensorloader([self.x, self.y], train)


class _BytesTimeMachine(d2l.TimeMachine):
    """A TimeMachine whose _download reads the file in binary mode."""

    def _download(self):
        with open(d2l.download(), "rb") as f:
            return f.read()


def _download_offline(name, *args, **kwargs):
    """download with no server reachable (a closed port on 127.0.0.1) and no offline folder."""
    with mock.patch.dict(os.environ, {"D2L_DATA_URL": "http://127.0.0.1:9/"}), tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("D2L_DATA_DIR", None)
        return d2l.download(name, *args, folder=tmp, **kwargs)


SHA1_OF_NOTHING = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


TRAIN_CASES: list[Case] = [
    # §5 training stops, and reports, the same way in both editions
    *[
        Case(
            f"fit-diverges-lr-{lr:g}-clip-{clip}",
            lambda lr=lr, clip=clip: _fit(_lm(lr=lr), max_epochs=5, gradient_clip_val=clip),
            d2l.TrainingDiverged,
            ("in epoch 1", "diverged", "smaller learning rate"),
        )
        for lr in (1e6, 1e10, 1e30)
        for clip in (0, 1)
    ],
    Case("rnnlm-lr-nan", lambda: _lm(lr=NAN), ValueError, ("lr", "positive and finite")),
    Case("rnnlm-lr-negative", lambda: _lm(lr=-1), ValueError, ("lr", "positive")),
    Case("rnnlm-lr-str", lambda: _lm(lr="0.1"), TypeError, ("lr must be a number", "'0.1'")),
    Case("sgd-lr-nan", lambda: d2l.SGD([nn.Parameter(torch.zeros(1))], NAN), ValueError, ("lr", "finite")),
    Case("module-lr-negative-at-fit", lambda: _fit(_Regression(lr=-1), _Line()), ValueError, ("lr", "positive")),
    Case("train-ch8-heldout-is-vocab", lambda: _train(heldout_iter=_zh_data()[1]), TypeError, ("heldout_iter",)),
    Case("train-ch8-heldout-is-text", lambda: _train(heldout_iter="a text"), TypeError, ("heldout_iter", "str")),
    Case(
        "train-ch8-heldout-is-a-corpus",
        lambda: _train(heldout_iter=list(range(100))),
        TypeError,
        ("heldout_iter", "(X, Y)", "int"),
    ),
    Case(
        "train-ch8-heldout-is-one-pass",
        lambda: _train(heldout_iter=iter(list(_zh_data()[0])), num_epochs=2, log_every=1),
        TypeError,
        ("heldout_iter", "one-pass"),
    ),
    Case("train-ch8-vocab-is-a-list", lambda: _train(vocab=list("abc")), TypeError, ("vocab", "vocabulary", "list")),
    Case(
        "train-ch8-vocab-and-iter-swapped",
        lambda: _train(vocab=_zh_data()[0], train_iter=_zh_data()[1]),
        TypeError,
        ("train_iter", "got vocab"),
    ),
    # §6 models, vocabularies and devices are checked against each other
    Case("train-ch8-model-for-33-tokens", lambda: _train(_gru(33)), ValueError, ("33 tokens", "28", "len(vocab)")),
    Case("train-ch8-model-for-20-tokens", lambda: _train(_gru(20)), ValueError, ("20 tokens", "28")),
    Case(
        "train-ch8-nn-model-for-33-tokens",
        lambda: _train(d2l.RNNModel(nn.GRU(33, 8), 33)),
        ValueError,
        ("33 tokens", "28"),
    ),
    Case(
        "predict-ch8-model-for-33-tokens",
        lambda: d2l.predict_ch8("time", 10, _gru(33), _zh_data()[1], "cpu"),
        ValueError,
        ("33 tokens", "28"),
    ),
    Case("fit-model-for-33-tokens", lambda: _fit(_lm(33)), ValueError, ("33 tokens", "data.vocab has 28")),
    Case(
        "predict-en-model-for-20-tokens",
        lambda: _lm(20).predict("time", 10, _en_data().vocab),
        ValueError,
        ("20 tokens", "28"),
    ),
    Case(
        "predict-ch8-with-the-english-vocab",
        lambda: d2l.predict_ch8("time", 10, _trained_zh(), _en_vocab_of_the_same_tokens(), "cpu"),
        ValueError,
        ("same 28 tokens", "other edition", "d2l.Vocab", "alphabetically"),
    ),
    Case(
        "train-ch8-again-with-the-english-vocab",
        lambda: _train(_trained_zh(), vocab=_en_vocab_of_the_same_tokens()),
        ValueError,
        ("same 28 tokens", "other edition"),
    ),
    Case(
        "predict-en-with-the-chinese-vocab",
        lambda: _trained_en().predict("time", 10, _zh_data()[1]),
        ValueError,
        ("same 28 tokens", "other edition", "frequency"),
    ),
    Case(
        "train-ch8-device-gpu",
        lambda: _train(device="gpu"),
        ValueError,
        ("device='gpu'", "'cuda'", "this machine has", "d2l.try_gpu()"),
    ),
    Case(
        "train-ch8-device-cuda-without-gpu",
        _on((False, 0), lambda: _train(device="cuda")),
        ValueError,
        ("device='cuda'", "no gpu", "d2l.try_gpu()"),
    ),
    Case(
        "train-ch8-device-cuda-1-with-one-gpu",
        _on((True, 1), lambda: _train(device="cuda:1")),
        ValueError,
        ("device='cuda:1'", "1 gpu (cuda:0)", "d2l.try_gpu()"),
    ),
    Case("train-ch8-device-cuda-minus-1", lambda: _train(device="cuda:-1"), ValueError, ("cuda:-1", "try_gpu")),
    Case(
        "train-ch8-device-mps-unsupported",
        _on((False, 0, False), lambda: _train(device="mps")),
        ValueError,
        ("device='mps'", "mps", "d2l.try_gpu()"),
    ),
    Case("train-ch8-device-none", lambda: _train(device=None), TypeError, ("device", "none", "d2l.try_gpu()")),
    Case(
        "predict-ch8-device-gpu",
        lambda: d2l.predict_ch8("time", 5, _gru(), _zh_data()[1], "gpu"),
        ValueError,
        ("device='gpu'", "try_gpu"),
    ),
    Case(
        "rnn-model-scratch-device-cuda-without-gpu",
        _on((False, 0), lambda: _gru(device="cuda")),
        ValueError,
        ("device='cuda'", "no gpu", "try_gpu"),
    ),
    Case(
        "get-params-device-cuda-without-gpu",
        _on((False, 0), lambda: d2l.get_rnn_params(28, 8, "cuda")),
        ValueError,
        ("device='cuda'", "try_gpu"),
    ),
    Case(
        "predict-en-device-gpu",
        lambda: _lm().predict("time", 5, _en_data().vocab, "gpu"),
        ValueError,
        ("device='gpu'", "try_gpu"),
    ),
    # §7 the rest of the raw and silent inputs
    Case("max-tokens-0", lambda: d2l.load_corpus_time_machine(0), ValueError, ("max_tokens", "-1 for the whole")),
    Case("max-tokens-minus-5", lambda: d2l.load_corpus_time_machine(-5), ValueError, ("max_tokens", "-1")),
    Case(
        "load-data-max-tokens-0",
        lambda: d2l.load_data_time_machine(32, 35, max_tokens=0),
        ValueError,
        ("max_tokens",),
    ),
    Case(
        "seq-data-loader-use-random-iter-no",
        lambda: d2l.SeqDataLoader(2, 5, "no", 10000),
        TypeError,
        ("use_random_iter", "true or false", "'no'"),
    ),
    Case(
        "load-data-use-random-iter-no",
        lambda: d2l.load_data_time_machine(32, 35, "no"),
        TypeError,
        ("use_random_iter",),
    ),
    Case("train-ch8-use-random-iter-no", lambda: _train(use_random_iter="no"), TypeError, ("use_random_iter",)),
    Case("vocab-min-freq-str", lambda: d2l.Vocab(list("aab"), min_freq="2"), TypeError, ("min_freq", "'2'")),
    Case("vocab-tokens-int", lambda: d2l.Vocab(123), TypeError, ("tokens", "list of tokens", "int")),
    Case(
        "vocab-reserved-holds-unk",
        lambda: d2l.Vocab(list("ab"), reserved_tokens=["<unk>"]),
        ValueError,
        ("reserved_tokens", "<unk>"),
    ),
    Case(
        "vocab-reserved-twice",
        lambda: d2l.Vocab(list("ab"), reserved_tokens=["<pad>", "<pad>"]),
        ValueError,
        ("reserved_tokens", "<pad>", "more than once"),
    ),
    Case(
        "vocab-reserved-a-string",
        lambda: d2l.Vocab(list("ab"), reserved_tokens="<pad>"),
        TypeError,
        ("reserved_tokens", "list of tokens", "'<pad>'"),
    ),
    Case(
        "alphabetical-vocab-min-freq-str",
        lambda: d2l.AlphabeticalVocab(list("aab"), min_freq="2"),
        TypeError,
        ("min_freq",),
    ),
    Case("alphabetical-vocab-tokens-int", lambda: d2l.AlphabeticalVocab(123), TypeError, ("tokens", "int")),
    Case(
        "alphabetical-vocab-mixed-types",
        lambda: d2l.AlphabeticalVocab(["a", 1, "b"]),
        TypeError,
        ("tokens", "strings", "int"),
    ),
    Case(
        "seq-data-loader-str-corpus",
        lambda: d2l.SeqDataLoader(2, 3, False, -1, corpus="the time machine by h g wells", vocab=None),
        TypeError,
        ("corpus", "token indices", "str"),
    ),
    Case(
        "seq-data-loader-corpus-beyond-vocab",
        lambda: d2l.SeqDataLoader(2, 3, False, -1, corpus=list(range(40)), vocab=_zh_data()[1]),
        ValueError,
        ("corpus", "39", "28 tokens"),
    ),
    Case("train-ch8-net-without-begin-state", lambda: _train(_NoBeginState()), TypeError, ("begin_state", "Trainer")),
    Case("train-ch8-english-model", lambda: _train(_lm()), TypeError, ("begin_state", "Trainer")),
    Case("train-ch8-net-without-parameters", lambda: _train(_NoParameters()), ValueError, ("no trainable parameters",)),
    Case(
        "sgd-batch-size-0",
        lambda: d2l.sgd([torch.zeros(2, requires_grad=True)], 0.1, 0),
        ValueError,
        ("batch_size", "positive"),
    ),
    Case("get-rnn-params-num-hiddens-0", lambda: d2l.get_rnn_params(28, 0, "cpu"), ValueError, ("num_hiddens",)),
    Case("get-gru-params-num-hiddens-0", lambda: d2l.get_gru_params(28, 0, "cpu"), ValueError, ("num_hiddens",)),
    *[
        Case(f"{cell.__name__}-num-hiddens-{value!r}", lambda cell=cell, value=value: cell(28, value), error, words)
        for cell in (d2l.RNNScratch, d2l.GRUScratch, d2l.LSTMScratch, d2l.RNN, d2l.GRU, d2l.LSTM)
        for value, error, words in (
            (0, ValueError, ("num_hiddens", "positive")),
            ("32", TypeError, ("num_hiddens", "int", "'32'")),
            (32.0, TypeError, ("num_hiddens", "int", "32.0")),
        )
    ],
    Case("stacked-rnn-num-hiddens-0", lambda: d2l.StackedRNNScratch(28, 0, 2), ValueError, ("num_hiddens",)),
    Case("rnn-scratch-num-inputs-str", lambda: d2l.RNNScratch("28", 8), TypeError, ("num_inputs", "int")),
    Case(
        "module-without-lr-or-optimizer",
        lambda: _fit(_Regression(), _Line()),
        TypeError,
        ("lr", "configure_optimizers"),
    ),
    Case(
        "module-configure-optimizers-returns-none",
        lambda: _fit(_NoOptimizer(lr=0.1), _Line()),
        TypeError,
        ("configure_optimizers()", "returned nonetype", "return"),
    ),
    Case(
        "module-without-parameters",
        lambda: _fit(_Regression(lr=0.1, with_params=False), _Line()),
        ValueError,
        ("no parameters",),
    ),
    Case(
        "data-module-get-dataloader-returns-none",
        lambda: _fit(_Regression(lr=0.1), _Line(broken=True)),
        TypeError,
        ("get_dataloader(train=true)", "returned nonetype"),
    ),
    Case("time-machine-bytes", lambda: _BytesTimeMachine(**TINY), TypeError, ("raw_text", "str", "decode")),
    # §8 downloads stay in their folder
    *[
        Case(
            f"download-name-{label}",
            lambda name=name: _download_offline(name, SHA1_OF_NOTHING),
            ValueError,
            ("path separator", "'..'", repr(name)),
        )
        for label, name in (
            ("dotdot-escape", "../escape.txt"),
            ("dotdot", ".."),
            ("subfolder", "sub/escape.txt"),
            ("absolute", "/tmp/escape.txt"),
            ("backslash", "..\\escape.txt"),
        )
    ],
    Case(
        "download-url-ending-in-dotdot",
        lambda: _download_offline("http://127.0.0.1:9/a/..", SHA1_OF_NOTHING),
        ValueError,
        ("path separator",),
    ),
    Case(
        "download-deadline-0",
        lambda: _download_offline("x.txt", SHA1_OF_NOTHING, deadline=0),
        ValueError,
        ("deadline",),
    ),
]


# §5: stops and reports, the same way in both editions (what a raised message cannot show)


class _BatchCounter:
    """A loader that counts the minibatches drawn from it."""

    def __init__(self, loader):
        self.loader, self.drawn = loader, 0

    def __iter__(self):
        for batch in self.loader:
            self.drawn += 1
            yield batch


@pytest.mark.parametrize("bad", ["heldout_iter", "vocab"])
def test_a_wrong_heldout_iter_or_vocab_fails_before_the_first_epoch(bad):
    train_iter, vocab = _zh_data()
    counted = _BatchCounter(train_iter)
    kwargs = {"heldout_iter": vocab} if bad == "heldout_iter" else {"vocab": "abcdefghijklmnopqrstuvwxyz "}
    with pytest.raises(TypeError, match=bad):
        _train(train_iter=counted, num_epochs=3, **kwargs)
    assert counted.drawn == 0


def _catch(call):
    """Run ``call``; return what it raised (KeyboardInterrupt included, which pytest would take as a stop)."""
    try:
        call()
    except BaseException as err:  # noqa: B036 - a bare KeyboardInterrupt escaping is what the tests look for
        return err
    return None


def test_last_history_is_the_latest_run_of_either_edition_also_an_interrupted_fit(monkeypatch):
    monkeypatch.setattr(d2l.train, "_LAST", [None])
    first = _train(plot="off")  # the Chinese edition's run ...
    assert d2l.last_history() is first
    trainer = d2l.Trainer(max_epochs=20, gradient_clip_val=1)
    err = _catch(lambda: trainer.fit(_lm(), _SigintAt(_en_data(), epoch=2, batch=3)))  # ... then an interrupted fit
    assert isinstance(err, d2l.TrainingInterrupted), err
    assert d2l.last_history() is trainer.history and err.result is trainer.history
    # epoch 2 was cut short: it is in the weights, not in the history (issue 19: no partial epoch plotted)
    assert len(trainer.history.perplexity) == 1 and trainer.history.interrupted
    monkeypatch.setattr(d2l.train, "_LAST", [None])
    again = d2l.Trainer(max_epochs=20)
    _catch(lambda: again.fit(_lm(), _SigintAt(_en_data(), epoch=1, batch=1)))
    assert d2l.last_history() is again.history and again.history.interrupted  # interrupted in its first epoch


class _SigintAt(d2l.DataModule):
    """The tiny TimeMachine; its training loader sends this process SIGINT at one (epoch, batch)."""

    def __init__(self, data, epoch, batch):
        super().__init__()
        self.data, self.at, self.epoch, self.vocab = data, (epoch, batch), 0, data.vocab

    def train_dataloader(self):
        outer, loader = self, self.data.train_dataloader()

        class Loader:
            def __len__(self):
                return len(loader)

            def __iter__(self):
                outer.epoch += 1
                for i, batch in enumerate(loader, 1):
                    if (outer.epoch, i) == outer.at:
                        os.kill(os.getpid(), signal.SIGINT)
                    yield batch

        return Loader()

    def val_dataloader(self):
        return self.data.val_dataloader()


class _SigintAtBatch:
    """A train_ch8 loader that sends this process SIGINT at one (epoch, batch)."""

    def __init__(self, loader, epoch, batch):
        self.loader, self.at, self.epoch = loader, (epoch, batch), 0

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.loader, 1):
            if (self.epoch, i) == self.at:
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


class _SigintInPrediction(d2l.RNNModelScratch):
    """A scratch GRU that sends this process SIGINT at its n-th prediction step (batch size 1)."""

    def __init__(self, vocab_size, at_step):
        torch.manual_seed(0)
        super().__init__(vocab_size, 8, "cpu", d2l.get_gru_params, d2l.init_gru_state, d2l.gru)
        self.at_step, self.steps = at_step, 0

    def __call__(self, X, state):
        if X.shape[0] == 1:
            self.steps += 1
            if self.steps == self.at_step:
                os.kill(os.getpid(), signal.SIGINT)
        return super().__call__(X, state)


class _Panel:
    """The widget panel without a frontend: records the PNG it ends as; ``sigint`` interrupts its closing."""

    def __init__(self, monkeypatch, sigint=False):
        self.pngs, self.sigint = [], sigint
        monkeypatch.setattr(db, "_in_kernel", lambda: True)
        monkeypatch.setattr(db, "show_panel", lambda box, png, **_: self)  # this object is the shown panel

    def keep(self, make_png):  # (the frame a save keeps: not needed here)
        return False

    def finish(self, png, widgets, images=()):
        if self.sigint:  # a second Ctrl-C while the panel turns into its PNG
            os.kill(os.getpid(), signal.SIGINT)
        self.pngs.append(png)
        for widget in widgets:
            widget.close()


# Where the second Ctrl-C comes: (the minibatch of epoch 1 where the first one comes, the prediction step of the
# second, or None: while the panel closes). A first Ctrl-C in the epoch's last minibatch lets epoch 1 finish and
# log its sample, predict('time traveller'): prediction steps 1-63 (13 of the prefix, 50 predicted); one in its
# second minibatch leaves a partial epoch, which logs nothing. The panel then closes, and the closing lines predict
# 'time traveller' (the next 63 steps) and 'traveller' (the 58 after them).
SECOND_CTRL_C = {
    "in-the-epochs-sample": ("last", 5),
    "while-the-panel-closes": (2, None),
    "in-the-first-closing-prediction": (2, 5),
    "in-the-second-closing-prediction": (2, 70),
}


@pytest.mark.parametrize("where", sorted(SECOND_CTRL_C))
def test_a_second_ctrl_c_during_the_closing_lines_still_ends_as_training_interrupted(monkeypatch, where):
    train_iter, vocab = _zh_data()
    first, at_step = SECOND_CTRL_C[where]
    first = sum(1 for _ in train_iter) if first == "last" else first
    panel = _Panel(monkeypatch, sigint=at_step is None)
    net = _SigintInPrediction(len(vocab), at_step or -1)
    handler = signal.getsignal(signal.SIGINT)
    err = _catch(lambda: _train(net, train_iter=_SigintAtBatch(train_iter, 1, first), num_epochs=5, plot="widget"))
    assert isinstance(err, d2l.TrainingInterrupted), f"{type(err).__name__}: {err}"
    assert "Interrupted in epoch 1 of 5" in str(err) and err.result.interrupted
    assert len(panel.pngs) == 1 and panel.pngs[0].startswith(b"\x89PNG")  # the panel became its PNG
    assert signal.getsignal(signal.SIGINT) is handler
    assert net.steps >= (at_step or 0)  # the second Ctrl-C was sent where this case says


def test_a_ctrl_c_after_the_last_epoch_stops_the_cell_too(monkeypatch):
    """The run has finished; a first Ctrl-C during its closing predictions still stops the cell (and a loop)."""
    train_iter, vocab = _zh_data()
    net = _SigintInPrediction(len(vocab), 70)  # in the first closing prediction (one epoch, logged at its end)
    err = _catch(lambda: _train(net, num_epochs=1, plot="off"))
    assert isinstance(err, d2l.TrainingInterrupted), err
    assert "after epoch 1 of 1" in str(err) and len(err.result.perplexity) == 1


@pytest.mark.parametrize("where", ["in-the-epochs-sample", "while-the-panel-closes"])
def test_a_second_ctrl_c_in_fit_still_ends_as_training_interrupted(monkeypatch, where):
    data = _en_data()
    panel = _Panel(monkeypatch, sigint=where == "while-the-panel-closes")
    model, steps = _lm(), []
    if where == "in-the-epochs-sample":  # the panel's sample after the interrupted epoch
        predict = model.predict

        def sigint_in_predict(*args, **kwargs):
            steps.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            return predict(*args, **kwargs)

        monkeypatch.setattr(model, "predict", sigint_in_predict)
    trainer = d2l.Trainer(max_epochs=5, gradient_clip_val=1, plot="widget")
    # the first Ctrl-C in epoch 1's last minibatch: that epoch finishes, so its sample is drawn (a partial one is not)
    last = len(data.train_dataloader()) if where == "in-the-epochs-sample" else 2
    err = _catch(lambda: trainer.fit(model, _SigintAt(data, epoch=1, batch=last)))
    assert isinstance(err, d2l.TrainingInterrupted), f"{type(err).__name__}: {err}"
    assert where != "in-the-epochs-sample" or steps  # the second Ctrl-C came from the sample
    assert err.result is trainer.history and d2l.last_history() is trainer.history
    assert len(panel.pngs) == 1 and panel.pngs[0].startswith(b"\x89PNG")


# §6: the vocabulary is remembered, not only checked


def test_the_model_remembers_its_vocabulary_and_accepts_an_equal_one():
    net = _trained_zh()
    _, vocab = _zh_data()
    same = d2l.Vocab(d2l.tokenize(d2l.read_time_machine(), "char"))  # another object, the same order
    assert d2l.predict_ch8("time", 5, net, same, "cpu").startswith("time")
    model = _trained_en()
    assert model.predict("time", 5, d2l.AlphabeticalVocab(list(_en_data().vocab.idx_to_token))).startswith("time")


def test_check_device_accepts_what_the_machine_has():
    from d2l_helpers.checks import check_device

    assert check_device("cpu") == torch.device("cpu") and check_device(torch.device("cpu")).type == "cpu"
    with _patched(True, 2):
        assert check_device("cuda") == torch.device("cuda") and check_device("cuda:1").index == 1
        assert check_device(np.int64(1)) == torch.device("cuda:1")
        with pytest.raises(ValueError, match=r"2 GPUs \(cuda:0, cuda:1\)"):
            check_device("cuda:2")
    with _patched(False, 0, mps=True):
        assert check_device("mps").type == "mps"


# §7: what must keep working


def test_max_tokens_minus_1_is_still_the_whole_book():
    whole, _ = d2l.load_corpus_time_machine(-1)
    assert len(whole) == len(d2l.load_corpus_time_machine(10**9)[0]) > 100_000
    assert len(d2l.load_corpus_time_machine(np.int64(500))[0]) == 500


def test_numpy_numbers_and_bools_are_accepted_like_pythons():
    corpus, vocab = d2l.load_corpus_time_machine(2000)
    loader = d2l.SeqDataLoader(np.int64(4), np.int32(5), np.bool_(True), np.int64(2000), corpus=corpus, vocab=vocab)
    assert loader.use_random_iter is True
    assert len(d2l.Vocab(list("aab"), min_freq=np.int64(2))) == 2
    assert d2l.RNNScratch(np.int64(28), np.int64(8)).num_hiddens == 8
    assert _lm(lr=np.float32(0.5)).lr == np.float32(0.5)
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    d2l.sgd([p], np.float64(0.1), np.int64(2))
    assert torch.allclose(p.detach(), torch.full((2,), -0.05))


def test_reserved_tokens_still_work_as_the_book_uses_them():
    vocab = d2l.Vocab([["a", "b"], ["b"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    assert vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"] and vocab["<unk>"] == vocab.unk == 0
    en = d2l.AlphabeticalVocab(list("ba"), reserved_tokens=["<unk>", "<pad>", "<pad>"])  # 1.0: a set, harmless
    assert en.idx_to_token == ["<pad>", "<unk>", "a", "b"]


# §8 downloads have a deadline and stay in their folder


class _Dripping(http.server.BaseHTTPRequestHandler):
    """Serves GOOD (50 bytes) at one byte every 0.2 s while ``drip``, so that a download takes 10 s; else at once."""

    GOOD = b"the time traveller was expounding a recondite matter"[:50]
    drip = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.GOOD)))
        self.end_headers()
        try:
            if not type(self).drip:
                self.wfile.write(self.GOOD)
                return
            for byte in self.GOOD:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline), or was killed
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def dripping(monkeypatch, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    monkeypatch.setattr(_Dripping, "drip", True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setenv("D2L_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"
    httpd.shutdown()
    httpd.server_close()


DRIP_SHA1 = hashlib.sha1(_Dripping.GOOD).hexdigest()


def test_a_dripping_server_meets_the_deadline_not_25_hours(dripping):
    start = time.monotonic()
    with pytest.raises(d2l.DataError, match=r"did not finish within deadline=1 seconds.*bytes received") as info:
        d2l.download("drip.txt", DRIP_SHA1, timeout=2, deadline=1)
    took = time.monotonic() - start
    # every byte came within timeout=2, so only the deadline stopped it (the error above); loose for a busy CI
    assert 1 <= took < 30, took
    assert "D2L_DATA_DIR" in str(info.value)
    assert os.listdir(dripping) == []  # nothing left behind, not even the part file


def test_the_default_deadline_bounds_what_time_machine_uses(dripping, monkeypatch):
    monkeypatch.setattr(d2l.data, "DOWNLOAD_DEADLINE", 0.6)
    start = time.monotonic()
    with pytest.raises(d2l.DataError, match="deadline=0.6"):
        d2l.download("drip.txt", DRIP_SHA1)  # no deadline= given, as d2l.TimeMachine() calls it
    assert time.monotonic() - start < 30  # loose for a busy machine: the whole drip would take 10 s, the error says why


def test_a_name_that_climbs_out_writes_nothing_outside(dripping, tmp_path):
    with pytest.raises(ValueError, match="path separator"):
        d2l.download("../escape.txt", DRIP_SHA1)
    assert not (tmp_path / "escape.txt").exists() and not dripping.exists()


def _part_of(cache, name, pid, host=None, age=0.0):
    """A part file as a download writes it (``pid`` None: the older form, without one), ``age`` seconds old."""
    host = d2l.partfiles._HOST if host is None else host
    middle = "" if pid is None else f"{pid}-{host}."
    _part_of.made += 1
    part = cache / f".{name}.{middle}part{_part_of.made:04d}.part"  # (mkstemp's 8 random characters)
    part.write_bytes(b"half a download")
    if age:
        os.utime(part, (time.time() - age, time.time() - age))
    return part


_part_of.made = 0


def test_stale_part_files_are_cleaned_up_and_live_ones_kept(dripping):
    dripping.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    stale = [
        _part_of(dripping, "book.txt", dead.pid),  # its writer is dead
        _part_of(dripping, "book.txt", None, age=2 * 3600),  # untouched for two hours
        _part_of(dripping, "book.txt", os.getpid(), age=2 * 3600),  # alive, but untouched for two hours
    ]
    kept = [
        _part_of(dripping, "book.txt", os.getpid()),  # a download in progress in this process
        _part_of(dripping, "book.txt", None),  # no pid, recent
        _part_of(dripping, "book.txt", dead.pid, host="0" * 8),  # another machine's: its pid means nothing here
        _part_of(dripping, "other.txt", dead.pid),  # another file's
    ]
    _Dripping.drip = False
    d2l.download("book.txt", DRIP_SHA1)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert (dripping / "book.txt").read_bytes() == _Dripping.GOOD
    assert sorted(p.name for p in dripping.iterdir()) == sorted(["book.txt", *(p.name for p in kept)])


def test_on_windows_only_the_age_counts_and_no_pid_is_probed(tmp_path, monkeypatch):
    """os.kill(pid, 0) would end the process on Windows: there, a part file is stale only by its age."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    young, old = _part_of(tmp_path, "book.txt", dead.pid), _part_of(tmp_path, "book.txt", dead.pid, age=2 * 3600)
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("os.kill was called on 'Windows'"))
    assert d2l.partfiles.remove_stale_parts(tmp_path, "book.txt") == [old.name]
    assert young.exists() and not old.exists()


def test_the_part_file_of_a_sigkilled_download_is_removed_by_the_next_one(dripping):
    code = f"import d2l_helpers as d2l; d2l.download('drip.txt', {DRIP_SHA1!r}, deadline=60)"
    package = os.path.dirname(os.path.dirname(d2l.__file__))  # the d2l_helpers these tests import
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {"PYTHONPATH": package})
    try:
        deadline = time.monotonic() + 60
        while not list(dripping.glob(".drip.txt.*.part")) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        parts = list(dripping.glob(".drip.txt.*.part"))
        assert parts, "the child never started its download"
    finally:
        child.kill()  # SIGKILL: no finally clause of the child runs
        child.wait()
    assert all(p.exists() for p in parts)  # left behind, as the issue saw
    _Dripping.drip = False
    d2l.download("drip.txt", DRIP_SHA1)  # the next download of that file
    assert not any(p.exists() for p in parts)
    assert os.listdir(dripping) == ["drip.txt"]


# ---------------------------------------------------------------------------------------------
# The table's test
# ---------------------------------------------------------------------------------------------

CASES = SWEEP_CASES + TRAIN_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error(case):
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value).lower()
    missing = [w for w in case.words if w.lower() not in message]
    assert not missing, f"{case.id}: the message {str(info.value)!r} lacks {missing}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
