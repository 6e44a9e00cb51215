"""d2l.sweep: grid order, executors (loky, Dask, concurrent.futures), cache and resume, failures, the panel.

The experiments are defined in a ``__main__`` namespace made at test time
(as a notebook cell defines them): the workers cannot import them, so they
only run if the executor pickles them by value (cloudpickle). They count
their calls by writing one file per call into a folder given as a parameter.
"""

import concurrent.futures as cf
import contextlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from fakes import FakeDisplay

import d2l_helpers as d2l
from d2l_helpers import dashboard
from d2l_helpers import sweep_panel as sp
from d2l_helpers.utils import TrainingInterrupted

sw = importlib.import_module("d2l_helpers.sweep")  # the module: d2l_helpers.sweep is the function


NOTEBOOK_CELL = textwrap.dedent(
    """
    import os, random, uuid
    import numpy as np
    import torch

    PARENT = os.getpid()  # the process that defined the function: the notebook's kernel
    # Set by each test, and sent to the workers with the function (cloudpickle pickles a
    # __main__ function's globals by value), so that they do not change the parameters:
    LOG = None  # the folder where each call leaves a file
    DIE = None  # (a, b, "once" or "always"): that configuration kills its worker process
    INTERRUPT = None  # (a, b): that configuration sends SIGINT to the parent, while LOG/armed exists

    def experiment(a, b):
        \"\"\"A seeded random number that depends on a and b; one file per call in the folder LOG.\"\"\"
        log, die, interrupt = LOG, DIE, INTERRUPT
        open(os.path.join(log, f"{a}-{b}-{uuid.uuid4().hex}"), "w").close()
        if die is not None and (a, b) == (die[0], die[1]):  # kill this worker process once (or always)
            marker = os.path.join(log, "died")
            if die[2] == "always" or not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), 9)
        if interrupt is not None and (a, b) == tuple(interrupt) and os.path.exists(os.path.join(log, "armed")):
            os.kill(PARENT, 2)  # Kernel > Interrupt, as the kernel gets it
        if a == 99:
            raise ValueError(f"a={a} is out of range")
        return {
            "y": a * 10 + b + random.random() + float(np.random.rand()) + float(torch.rand(())),
            "threads": torch.get_num_threads(),
        }
    """
)


@pytest.fixture(scope="module")
def notebook():
    namespace = {"__name__": "__main__"}
    exec(compile(NOTEBOOK_CELL, "<notebook cell>", "exec"), namespace)
    assert namespace["experiment"].__module__ == "__main__"
    return namespace


@pytest.fixture
def log(tmp_path, notebook):
    folder = tmp_path / "calls"
    folder.mkdir()
    notebook.update(LOG=str(folder), DIE=None, INTERRUPT=None)
    return str(folder)


def calls(log):
    """The (a, b) of every call so far."""
    names = [n for n in os.listdir(log) if n.count("-") == 2]
    return sorted((int(n.split("-")[0]), int(n.split("-")[1])) for n in names)


def grid(log):
    return {"b": [1, 2], "a": [1, 2, 3]}


def ys(results):
    return [r.metrics["y"] for r in results]


@pytest.fixture(scope="module")
def serial(notebook, tmp_path_factory):
    notebook["LOG"] = log = str(tmp_path_factory.mktemp("serial"))
    return ys(d2l.sweep(notebook["experiment"], grid(log), executor="serial", plot="off"))


# --------------------------------------------------------------------------
# The grid, checked before anything runs
# --------------------------------------------------------------------------


def test_grid_order_is_scikit_learns_parameter_grid_order():
    # sklearn.model_selection.ParameterGrid: keys sorted, the last one changing fastest; lists of grids in turn
    assert sw.expand_grid({"b": [1, 2], "a": ["x", "y"]}) == [
        {"a": "x", "b": 1},
        {"a": "x", "b": 2},
        {"a": "y", "b": 1},
        {"a": "y", "b": 2},
    ]
    grids = [{"lr": [1]}, {"h": [8, 16], "lr": [2]}]
    assert sw.expand_grid(grids) == [{"lr": 1}, {"h": 8, "lr": 2}, {"h": 16, "lr": 2}]


class RefusingExecutor(cf.Executor):
    def submit(self, *args, **kwargs):
        raise AssertionError("a worker was started for a bad grid")


@pytest.mark.parametrize(
    "param_grid, error, words",
    [
        ({}, ValueError, "param_grid is empty"),
        ([], TypeError, "non-empty list"),
        ({"a": [], "b": [1]}, ValueError, "param_grid['a'] is an empty list"),
        ({"a": 1, "b": [1]}, TypeError, "param_grid['a'] must be a list of values, got 1; write [1]"),
        ({"a": "xy", "b": [1]}, TypeError, "must be a list of values"),
        ({"a": [1], "b": [1], "c": [1]}, TypeError, "takes no argument 'c'"),
        ({"a": [1]}, TypeError, "needs 'b'"),
        ([{"a": [1], "b": [1]}, {"a": [1], "b": [1]}], ValueError, "appears more than once"),
        ("a=1", TypeError, "dict of lists"),
    ],
)
def test_bad_grids_fail_clearly_before_any_worker_starts(param_grid, error, words):
    def experiment(a, b, scale=1):
        return a * b * scale

    with pytest.raises(error) as info:
        d2l.sweep(experiment, param_grid, executor=RefusingExecutor())
    assert words in str(info.value)


def test_a_function_taking_kwargs_takes_any_key():
    def experiment(**kwargs):
        return sum(kwargs.values())

    results = d2l.sweep(experiment, {"x": [1, 2], "y": [10]}, executor="serial")
    assert [r.metrics["value"] for r in results] == [11.0, 12.0]


def test_bad_executor_and_goal_are_named():
    with pytest.raises(TypeError, match="executor must be None"):
        d2l.sweep(lambda a: a, {"a": [1]}, executor="threads")
    with pytest.raises(ValueError, match="goal must be 'min' or 'max'"):
        d2l.sweep(lambda a: a, {"a": [1]}, goal="lowest")


# --------------------------------------------------------------------------
# Executors: same results in grid order everywhere
# --------------------------------------------------------------------------


def test_local_processes_run_a_main_function_in_grid_order_like_serial(notebook, log, serial):
    results = d2l.sweep(notebook["experiment"], grid(log), n_workers=2)
    assert [r.params["a"] * 10 + r.params["b"] for r in results] == [11, 12, 21, 22, 31, 32]
    assert ys(results) == serial  # seeded from the parameters: the executor does not matter
    assert all(r.ok and r.metrics["threads"] == 1 for r in results)  # one torch thread per worker
    assert len({r.worker for r in results}) == 2
    assert all(r.worker.split(":")[1] != str(os.getpid()) for r in results)
    assert all(r.seconds >= 0 for r in results) and calls(log) == [(a, b) for a in (1, 2, 3) for b in (1, 2)]


def test_any_concurrent_futures_executor(notebook, log, serial):
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        assert ys(d2l.sweep(notebook["experiment"], grid(log), executor=pool)) == serial


def test_importing_the_package_imports_no_dask():
    import subprocess

    code = "import sys, d2l_helpers as d2l; print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")  # installed by the dev extras
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_cluster_gives_the_same_results(notebook, log, serial, dask_client):
    results = d2l.sweep(notebook["experiment"], grid(log), executor=dask_client)
    assert ys(results) == serial
    assert all(r.metrics["threads"] == 1 for r in results)
    assert len({r.worker for r in results}) == 2


def test_dask_worker_killed_mid_sweep_every_configuration_still_has_its_result(notebook, log, serial, dask_client):
    notebook["DIE"] = (2, 1, "once")
    results = d2l.sweep(notebook["experiment"], grid(log), executor=dask_client)
    assert os.path.exists(os.path.join(log, "died"))  # a worker process was killed
    assert all(r.ok for r in results) and ys(results) == serial
    assert calls(log).count((2, 1)) == 2  # rescheduled by the scheduler on another worker


def test_dask_interrupt_lets_the_running_configurations_finish_and_starts_no_other(notebook, log, dask_client):
    open(os.path.join(log, "armed"), "w").close()
    notebook["INTERRUPT"] = (2, 2)  # that configuration interrupts us while it runs on a worker
    with pytest.raises(sw.SweepInterrupted) as info:
        d2l.sweep(notebook["experiment"], grid(log), executor=dask_client, plot="off")
    partial = info.value.result
    statuses = {(r.params["a"], r.params["b"]): r.status for r in partial}
    assert statuses[(2, 2)] == "ok"  # it was running: it finished, on the cluster, and was kept
    assert statuses[(3, 2)] == "not run" and (3, 2) not in calls(log)  # two run at once: this one never started
    assert sorted(c for c, status in statuses.items() if status == "ok") == calls(log)  # nothing cancelled mid-run
    assert not any(dask_client.processing().values())  # nothing left queued on the cluster


LOCAL_CLUSTER_IN_A_KERNEL = textwrap.dedent(
    """
    import os, signal, threading, time
    import d2l_helpers as d2l
    from distributed import Client, LocalCluster

    def experiment(a):
        time.sleep(3)
        return a

    if __name__ == "__main__":  # the workers are spawned: they import this file again
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as cluster, Client(cluster) as client:
            def interrupt():  # Kernel > Interrupt: SIGINT to the kernel's whole process group
                while not os.path.exists("started"):
                    time.sleep(0.05)
                os.killpg(os.getpgrp(), signal.SIGINT)
            threading.Thread(target=interrupt, daemon=True).start()
            print("PIDS", ",".join(sorted(str(pid) for pid in client.run(os.getpid).values())))
            def started():
                open("started", "w").close()
            try:
                d2l.sweep(lambda a: started() or experiment(a), {"a": list(range(8))}, executor=client, plot="off")
            except d2l.SweepInterrupted as e:
                print("STATUS", ",".join(r.status for r in e.result))
                print("RAN_ON", ",".join(sorted({r.worker.split(":")[-1] for r in e.result if r.ok})))
            print("PIDS_AFTER", ",".join(sorted(str(pid) for pid in client.run(os.getpid).values())))
            print("WORKERS", len(client.nthreads()))
            print("HANDLERS", sorted(set(client.run(lambda: str(signal.getsignal(signal.SIGINT))).values())))
    """
)


def test_kernel_interrupt_reaching_a_local_clusters_workers_does_not_kill_them(tmp_path):
    pytest.importorskip("distributed")
    script = tmp_path / "kernel.py"
    script.write_text(LOCAL_CLUSTER_IN_A_KERNEL)
    kernel = subprocess.Popen(  # a session of its own: the SIGINT to its process group reaches nothing else
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = kernel.communicate(timeout=120)
    finally:  # the group is the child's pid: no worker is left behind, whatever happened
        with contextlib.suppress(ProcessLookupError):
            os.killpg(kernel.pid, signal.SIGKILL)
    lines = dict(line.split(" ", 1) for line in stdout.splitlines() if line.split(" ")[0].isupper())
    assert "STATUS" in lines, stdout + stderr[-3000:]
    statuses = lines["STATUS"].split(",")
    assert statuses[:2] == ["ok", "ok"] and statuses.count("ok") <= 4  # the two running ones finished, no more
    assert statuses.count("not run") >= 4
    # (the nanny's words for a worker that died; "Worker process still alive after 4.0 seconds, killing" is
    # what it says, on a busy machine, when the cluster closes at the end of the script)
    assert lines["WORKERS"] == "2" and not re.search(r"Worker process (\d+ (was killed|exited)|died)", stderr), stderr

    assert lines["PIDS_AFTER"] == lines["PIDS"]  # the same two worker processes: none died of the interrupt
    assert set(lines["RAN_ON"].split(",")) <= set(lines["PIDS"].split(","))  # and the results came from them
    assert "SIG_IGN" not in lines["HANDLERS"]  # after the sweep the workers have their own handler back


# --------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------


def test_a_failing_configuration_is_recorded_and_the_others_go_on(notebook, log):
    results = d2l.sweep(notebook["experiment"], {"a": [1, 99, 2], "b": [1]}, n_workers=2)
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert results[1].error.startswith("ValueError: a=99 is out of range")
    assert results.failed == [results[1]] and results.best().params["a"] == 1


def test_a_local_worker_that_dies_is_replaced_and_its_configuration_retried_once(notebook, log, serial):
    notebook["DIE"] = (2, 2, "once")
    results = d2l.sweep(notebook["experiment"], grid(log), n_workers=2)
    assert all(r.ok for r in results) and ys(results) == serial
    assert calls(log).count((2, 2)) == 2


def test_a_configuration_that_kills_its_worker_twice_is_recorded_failed(notebook, log, serial):
    notebook["DIE"] = (1, 2, "always")
    results = d2l.sweep(notebook["experiment"], grid(log), n_workers=2)
    assert [r.status for r in results] == ["ok", "failed", "ok", "ok", "ok", "ok"]
    assert "worker died twice" in results[1].error
    assert calls(log).count((1, 2)) == 2
    assert ys(r for r in results if r.ok) == serial[:1] + serial[2:]


def test_returned_values_numbers_dicts_and_history(tmp_path):
    from d2l_helpers.train import History

    def experiment(kind):
        if kind == "number":
            return 3
        if kind == "history":
            return History(device="cpu", perplexity=[9.0, 4.0], tokens_per_sec=[10.0, 12.0], num_epochs=2)
        if kind == "bad":
            return object()
        return {"ppl": 2, "sample": "time traveller", "model": object()}

    cache = tmp_path / "c.jsonl"
    results = d2l.sweep(experiment, {"kind": ["number", "history", "dict", "bad"]}, executor="serial", cache=cache)
    assert results[0].metrics == {"value": 3.0}
    assert results[1].metrics == {"perplexity": 4.0, "tokens_per_sec": 12.0, "num_epochs": 2.0}
    assert isinstance(results[1].value, History)
    assert results[2].metrics == {"ppl": 2.0, "sample": "time traveller"}
    assert results[3].status == "failed" and "return a number, a dict of numbers" in results[3].error
    again = d2l.sweep(experiment, {"kind": ["number", "history", "dict", "bad"]}, executor="serial", cache=cache)
    assert [r.cached for r in again] == [True, True, True, False]  # a failure runs again, by default
    again = d2l.sweep(
        experiment, {"kind": ["number", "history", "dict", "bad"]}, executor="serial", cache=cache, rerun_failed=False
    )
    assert all(r.cached for r in again)
    assert again[1].value == results[1].value  # the History comes back from the cache as a History
    assert [r.metrics for r in again[:3]] == [r.metrics for r in results[:3]] and again[3].status == "failed"


# --------------------------------------------------------------------------
# Cache, interrupt, resume
# --------------------------------------------------------------------------


def test_interrupt_keeps_what_finished_and_a_rerun_runs_only_the_missing(notebook, log, tmp_path, serial, capsys):
    cache = tmp_path / "sweep.jsonl"
    open(os.path.join(log, "armed"), "w").close()
    notebook["INTERRUPT"] = (2, 2)
    the_grid = grid(log)
    with pytest.raises(sw.SweepInterrupted) as info:
        d2l.sweep(notebook["experiment"], the_grid, cache=cache, n_workers=2)
    assert isinstance(info.value, TrainingInterrupted) and isinstance(info.value, KeyboardInterrupt)
    partial = info.value.result
    assert d2l.last_sweep() is partial
    finished = [r for r in partial if r.ok]
    assert 2 <= len(finished) < 6 and any(r.status == "not run" for r in partial)
    assert "d2l.last_sweep()" in str(info.value) and str(cache) in str(info.value)
    assert str(info.value) not in capsys.readouterr().out  # said once, by the exception, not printed before it too
    lines = [json.loads(line) for line in cache.read_text().splitlines()[1:]]  # (after the header)
    assert sorted(e["key"] for e in lines) == sorted(sw.config_key(r.params) for r in finished)

    os.remove(os.path.join(log, "armed"))
    before = calls(log)
    results = d2l.sweep(notebook["experiment"], the_grid, cache=cache, n_workers=2)
    ran_now = [c for c in calls(log) if c not in before or calls(log).count(c) > before.count(c)]
    assert sorted(set(ran_now)) == sorted((r.params["a"], r.params["b"]) for r in partial if not r.ok)
    assert len(calls(log)) - len(before) == 6 - len(finished)  # only the missing ones ran
    assert ys(results) == serial and sum(r.cached for r in results) == len(finished)
    assert len(cache.read_text().splitlines()) == 1 + 6  # the header, a line per configuration


def test_the_cache_skips_a_line_cut_short_and_refuses_another_experiments_file(tmp_path):
    def f(a):
        return a

    def g(a):
        return -a

    cache = tmp_path / "c.jsonl"
    d2l.sweep(f, {"a": [1, 2]}, executor="serial", cache=cache)
    with open(cache, "a") as out:
        out.write('{"key": "{\\"a\\": 3}", "func')  # a crash in the middle of a line
    with pytest.warns(UserWarning, match="last line is cut short"):
        results = d2l.sweep(f, {"a": [1, 2, 3]}, executor="serial", cache=cache)
    assert [r.cached for r in results] == [True, True, False] and results[2].metrics["value"] == 3
    # the line appended after the cut-off one starts a line of its own: a third call reads every result
    results = d2l.sweep(f, {"a": [1, 2, 3, 4]}, executor="serial", cache=cache)
    assert [r.cached for r in results] == [True, True, True, False] and results[3].metrics["value"] == 4
    with pytest.raises(ValueError, match="holds results of .*f'.*another cache file"):
        d2l.sweep(g, {"a": [1]}, executor="serial", cache=cache)


# --------------------------------------------------------------------------
# The panel and the plot
# --------------------------------------------------------------------------


def test_widget_panel_shows_progress_and_best_then_leaves_a_png(monkeypatch):
    panels = []

    class Spy(sp.SweepPanel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, show=FakeDisplay(), **kwargs)
            panels.append(self)

    monkeypatch.setattr(sp, "SweepPanel", Spy)
    monkeypatch.setattr(sp, "_in_kernel", lambda: True)
    results = d2l.sweep(lambda a: (a - 2) ** 2, {"a": [0, 1, 2, 3]}, executor="serial", plot="widget")
    (panel,) = panels
    assert panel.bar.value == 4 and panel.timing_label.value.startswith("4/4 done")
    assert panel.best_label.value == "best value 0 at a=2"
    bundle = panel.handle.updates_of(0)[-1]  # (the panel's; the others kept its latest frame for a save)
    assert panel.handle.shown[0]["text/plain"] == bundle["text/plain"] == dashboard.PLAIN_TEXT and bundle["image/png"]
    assert panel.handle.shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert panel.closed and all(w.comm is None for w in panel.widgets)  # widgets closed
    assert results.best().params == {"a": 2}


def test_text_mode_says_what_came_from_the_cache(capsys, tmp_path):
    cache = tmp_path / "c.jsonl"
    d2l.sweep(lambda a: a, {"a": [3, 1]}, executor="serial", plot="off", cache=cache)
    d2l.sweep(lambda a: a, {"a": [3, 1, 2]}, executor="serial", plot="text", cache=cache)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "sweep: 2 of 3 configurations from the cache, running 1" and "a=2: value 2" in out[1]


def test_a_bad_executor_shows_no_panel(monkeypatch):
    shown = []
    monkeypatch.setattr(sp, "make_sweep_panel", lambda *a, **k: shown.append(a))
    with pytest.raises(TypeError, match="executor must be"):
        d2l.sweep(lambda a: a, {"a": [1]}, executor=42, plot="text")
    assert shown == []


def test_text_mode_prints_a_line_per_configuration(capsys):
    d2l.sweep(lambda a: a, {"a": [3, 1]}, executor="serial", plot="text")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("[1/2 done") and "a=3: value 3" in out[0]
    assert out[1].endswith("best value 1 at a=1")


def test_plot_sweep_draws_one_line_per_hue_and_names_what_varies(serial, notebook, tmp_path):
    results = d2l.sweep(lambda a, b, c=0: a * b, {"a": [1, 2, 4], "b": [1, 10], "c": [0, 1]}, executor="serial")
    figure = d2l.plot_sweep(results, x="a", y="value", hue="b", where={"c": 0})
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.lines] == ["b=1", "b=10"]
    assert list(ax.lines[1].get_ydata()) == [10, 20, 40] and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="'c' also varies"):
        d2l.plot_sweep(results, x="a", y="value", hue="b")
    with pytest.raises(ValueError, match="y='ppl' is not one of"):
        d2l.plot_sweep(results, x="a", y="ppl")


def test_to_dataframe_when_pandas_is_installed():
    results = d2l.sweep(lambda a: a, {"a": [1, 2]}, executor="serial")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            results.to_dataframe()
        assert results.rows()[1]["value"] == 2.0 and results.rows()[1]["a"] == 2
    else:
        frame = results.to_dataframe()
        assert list(frame["a"]) == [1, 2] and list(frame["value"]) == [1.0, 2.0]


def test_sigint_handler_is_the_default_after_a_sweep():
    d2l.sweep(lambda a: a, {"a": [1]}, executor="serial")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_interrupt_while_a_result_is_recorded_keeps_it_in_the_cache(tmp_path, monkeypatch):
    real_append, appended = sw.Cache.append, []

    def append(self, key, record, code):
        if not appended:  # Ctrl-C twice, in the middle of recording the first result
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        appended.append(key)
        real_append(self, key, record, code)

    monkeypatch.setattr(sw.Cache, "append", append)
    cache = tmp_path / "c.jsonl"

    def f(a):
        return a

    with cf.ThreadPoolExecutor(1) as pool, pytest.raises(sw.SweepInterrupted) as info:
        d2l.sweep(f, {"a": [1, 2, 3]}, executor=pool, cache=cache, plot="off")
    assert info.value.result[0].ok
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()[1:]]
    assert sw.config_key({"a": 1}) in keys  # not lost between arriving and being written


def test_shielded_lets_an_error_of_its_block_through_and_a_third_interrupt_too():
    from d2l_helpers.utils import StopOnInterrupt

    stop = StopOnInterrupt()
    with stop:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(OSError, match="disk full"), stop.shielded():
            os.kill(os.getpid(), signal.SIGINT)  # deferred...
            raise OSError("disk full")  # ...but the block's own error is what the caller sees
        with pytest.raises(KeyboardInterrupt), stop.shielded():
            os.kill(os.getpid(), signal.SIGINT)  # deferred
            os.kill(os.getpid(), signal.SIGINT)  # a third: at once (a hung fetch can be stopped)
            pytest.fail("the third interrupt did not come through")


def test_a_second_interrupt_does_not_cut_a_result_in_two():
    from d2l_helpers.utils import StopOnInterrupt

    stop, recorded = StopOnInterrupt(), []
    with pytest.raises(KeyboardInterrupt), stop:
        os.kill(os.getpid(), signal.SIGINT)  # the first: nothing new starts
        assert stop.requested
        with stop.shielded():  # taking in a finished configuration
            os.kill(os.getpid(), signal.SIGINT)  # the second arrives in the middle of it
            recorded.append("record")
            recorded.append("cache line")
        recorded.append("never")  # the second interrupt comes as soon as the shielded block ends
    assert recorded == ["record", "cache line"]
