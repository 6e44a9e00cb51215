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

import numpy as np
import pytest
import torch

import d2l_helpers as d2l


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

TRAIN_CASES: list[Case] = []


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
