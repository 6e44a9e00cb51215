"""What `make lab` and its make-free twin, `python3 tools/setup_lab.py`, install: the notebooks' needs, no test tool.

Also: the set-up commands the README documents, run as written on a fresh copy of the project;
environment.yml (conda) agrees with pyproject.toml; and `make test` says what is missing where
there is no Python 3.13 for the Colab-like environment.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from project_copy import fresh_copy

ROOT = Path(__file__).resolve().parents[1]
TEST_TOOLS = {
    "pytest",
    "nbval",
    "ruff",
    "playwright",
    "d2l",
    "dask",
    "distributed",
    "build",
    "twine",
}  # (nbclient comes with JupyterLab)
sys.path.insert(0, str(ROOT / "tools"))
import setup_lab  # noqa: E402


def _setup_lab_commands(*args):
    """What `python tools/setup_lab.py` would run (--dry-run prints it, changing nothing)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "setup_lab.py"), "--dry-run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def _outside_make(env=None):
    """The environment without what a parent make passes down (CI runs the tests under `make test`).

    With MAKELEVEL set, make prints "make[1]: Entering/Leaving directory" around what it runs.
    """
    env = dict(os.environ if env is None else env)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR"):
        env.pop(name, None)
    return env


def test_make_lab_runs_the_set_up_script():
    out = subprocess.run(
        ["make", "-n", "-B", "lab", "VENV=/nonexistent-venv", "PYTHON=python3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=_outside_make(),
    ).stdout.splitlines()
    assert "python3 tools/setup_lab.py --venv /nonexistent-venv --no-launch" in out  # make lab-setup
    assert out[-1] == "python3 tools/setup_lab.py --venv /nonexistent-venv"  # then it opens JupyterLab


def test_the_set_up_script_installs_only_the_lab_extras_and_puts_the_settings_in_the_venv():
    venv = Path("/nonexistent-venv")
    commands = _setup_lab_commands("--venv", str(venv))
    assert commands[0] == f"{sys.executable} -m venv {venv}"
    assert commands[1] == f'{venv}/bin/python -m pip install -c constraints.txt -e ".[lab]"'
    assert f"copy tools/jupyterlab_overrides.json {venv}/share/jupyter/lab/settings/overrides.json" in commands
    if (ROOT / "tools" / "jupyter_server_config.py").is_file():
        assert f"copy tools/jupyter_server_config.py {venv}/etc/jupyter/jupyter_server_config.py" in commands
    assert commands[-1].startswith(f"{venv}/bin/python -m jupyter lab notebooks/")


def test_the_set_up_script_passes_allow_root_only_as_root(monkeypatch, capsys):
    venv = Path("/nonexistent-venv")
    for euid, expected in ((0, True), (1000, False)):
        monkeypatch.setattr(setup_lab.os, "geteuid", lambda euid=euid: euid, raising=False)
        assert setup_lab.launch(venv, venv / "bin" / "python", dry_run=True) == 0
        out = capsys.readouterr().out
        assert ("--allow-root" in out) is expected, out
        assert ("Running as root" in out) is expected
    monkeypatch.delattr(setup_lab.os, "geteuid", raising=False)  # Windows has no geteuid (and no root)
    assert setup_lab.running_as_root() is False
    assert setup_lab.launch(venv, venv / "bin" / "python", dry_run=True) == 0
    assert "--allow-root" not in capsys.readouterr().out


def test_the_set_up_script_spells_windows_paths(monkeypatch):
    monkeypatch.setattr(setup_lab, "WINDOWS", True)
    assert setup_lab.env_python(Path(".venv")) == Path(".venv") / "Scripts" / "python.exe"
    assert setup_lab.scripts_dir(Path("env")) == Path("env") / "Scripts"
    monkeypatch.undo()
    assert setup_lab.env_python(Path(".venv")) == Path(".venv") / (
        "Scripts/python.exe" if os.name == "nt" else "bin/python"
    )


def test_the_lab_extras_pull_in_no_test_tool(tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + ["-c", "constraints.txt", ".[lab]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = {re.sub(r"[-_.]+", "-", i["metadata"]["name"].lower()) for i in json.loads(report.read_text())["install"]}
    assert {"d2l-helpers", "torch", "ipywidgets", "jupyterlab", "ipykernel"} <= names
    assert not names & TEST_TOOLS, names & TEST_TOOLS


# ---------------------------------------------------------------------------------------------
# The README's set-up commands, run as written on a fresh copy of the project
# ---------------------------------------------------------------------------------------------


def _documented_setup_commands():
    """The commands of the README's "Set-up without make" block (the lines that are not comments)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- setup commands, run by tests/test_install.py -->\n```bash\n(.*?)```", readme, re.DOTALL)
    assert block, "the README's set-up block (marked for tests/test_install.py) is missing"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.name == "nt", reason="runs the POSIX spelling of the commands")
def test_the_documented_set_up_commands_work_on_a_fresh_copy(tmp_path):
    """`python3 tools/setup_lab.py`, as the README says, makes .venv, installs, and opens a working JupyterLab."""
    (command,) = _documented_setup_commands()
    assert command == "python3 tools/setup_lab.py"
    project = fresh_copy(tmp_path / "project")
    assert not (project / ".venv").exists()
    port = _free_port()
    env = dict(os.environ, JUPYTER_PORT=str(port), BROWSER="true")  # (BROWSER: `true` opens nothing)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    env.pop("PYTHONPATH", None)
    log = (tmp_path / "setup.log").open("w+")
    # python3 here is the interpreter of the tests (this project's .venv is built from it too)
    process = subprocess.Popen(
        [sys.executable, *command.split()[1:]],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, url = time.monotonic() + 1200, None
        while url is None:
            assert process.poll() is None, (tmp_path / "setup.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (tmp_path / "setup.log").read_text()[-4000:]
            found = re.search(
                rf"http://(?:localhost|127\.0\.0\.1):{port}/lab\?token=(\w+)",
                log_text := (tmp_path / "setup.log").read_text(),
            )
            url = found and found.group(0)
            time.sleep(1)
        token = found.group(1)
        # the server answers, and it is the JupyterLab of the new .venv with the project's widget setting
        settings_url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin"
        request = urllib.request.Request(settings_url, headers={"Authorization": f"token {token}"})
        settings = json.loads(urllib.request.urlopen(request, timeout=60).read())
        assert settings["schema"]["properties"]["saveState"]["default"] is True, settings["schema"]["properties"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    assert "--allow-root" in log_text if os.geteuid() == 0 else "--allow-root" not in log_text
    venv_python = project / ".venv" / "bin" / "python"
    freeze = subprocess.run(
        [str(venv_python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True, env=env
    )
    names = {re.sub(r"[-_.]+", "-", line.split("==")[0].split(" @ ")[0].lower()) for line in freeze.stdout.splitlines()}
    assert {"torch", "jupyterlab", "ipywidgets"} <= names and not names & TEST_TOOLS
    editable = subprocess.run(
        [str(venv_python), "-c", "import d2l_helpers; print(d2l_helpers.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert Path(editable) == project / "d2l_helpers" / "__init__.py"  # the copy's package, editable
    # again, as conda users run it (--here: the environment of the Python that runs it, here the new .venv):
    # nothing to install, the settings go to the same place; --no-launch: JupyterLab is not opened
    (project / ".venv" / "share" / "jupyter" / "lab" / "settings" / "overrides.json").unlink()
    again = subprocess.run(
        [str(venv_python), "tools/setup_lab.py", "--here", "--no-launch"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    assert again.returncode == 0 and "pip install" not in again.stdout, again.stdout + again.stderr
    assert "installed already" in again.stdout
    overrides = project / ".venv" / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert overrides.read_bytes() == (ROOT / "tools" / "jupyterlab_overrides.json").read_bytes()


# ---------------------------------------------------------------------------------------------
# conda: environment.yml agrees with pyproject.toml and constraints.txt
# ---------------------------------------------------------------------------------------------


def test_environment_yml_has_pyprojects_python_range_and_the_lab_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    low, high = re.fullmatch(r"python>=(3\.\d+),<(3\.\d+)", python).groups()
    assert f'requires-python = ">={low}"' in pyproject
    tested = [int(m) for m in re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', pyproject)]
    assert (int(low.split(".")[1]), int(high.split(".")[1])) == (min(tested), max(tested) + 1)
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == ["-c constraints.txt", f"-e .[{setup_lab.EXTRAS}]"]  # what tools/setup_lab.py installs
    assert f'".[{setup_lab.EXTRAS}]"' in " ".join(setup_lab.INSTALL).replace(
        f".[{setup_lab.EXTRAS}]", f'".[{setup_lab.EXTRAS}]"'
    )
    assert re.search(rf"^{setup_lab.EXTRAS} = \[", pyproject, re.MULTILINE)  # an extra pyproject.toml defines
    assert "python tools/setup_lab.py --here" in (ROOT / "environment.yml").read_text()  # its settings, for conda too


# ---------------------------------------------------------------------------------------------
# make test without a Python 3.13
# ---------------------------------------------------------------------------------------------


def test_make_test_says_what_is_missing_without_python_3_13(tmp_path):
    venv = tmp_path / "colab"
    for extra, message in (
        (["COLAB_PYTHON=/nonexistent/python3.13"], "is not a Python 3.13 that runs"),
        (["COLAB_PYTHON=" + sys.executable], "is not a Python 3.13 that runs"),  # (a 3.11)
        ([], "none was found (no python3.13 that runs on PATH, none from pyenv)"),
    ):
        env = _outside_make()
        if not extra:  # no python3.13, no pyenv: a PATH with make and the shell only
            env["PATH"] = "/usr/bin:/bin"
            env.pop("PYENV_ROOT", None)
            if shutil.which("python3.13", path=env["PATH"]) or shutil.which("pyenv", path=env["PATH"]):
                pytest.skip("/usr/bin has a python3.13 or pyenv")
        for target in ("colab-env", "test"):  # (make test: before the long install of .venv, too)
            result = subprocess.run(
                ["make", target, f"COLAB={venv}", f"VENV={tmp_path / 'venv'}", *extra],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env=env,
            )
            assert result.returncode != 0 and message in result.stderr, result.stderr
            assert "COLAB_PYTHON=/path/to/python3.13" in result.stderr
            assert not venv.exists() and not (tmp_path / "venv").exists()  # stopped before anything was made


def test_the_set_up_script_never_overwrites_a_settings_file_of_the_users_own(tmp_path, monkeypatch, capsys):
    """With --here in a conda base environment, its own Jupyter settings must survive; files it wrote are replaced."""
    monkeypatch.setattr(setup_lab, "_run", lambda *args, **kwargs: None)  # no venv, no pip
    theirs = tmp_path / "etc" / "jupyter" / "jupyter_server_config.py"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("c.ServerApp.port = 9999  # the user's own\n")
    setup_lab.setup(tmp_path)
    assert theirs.read_text() == "c.ServerApp.port = 9999  # the user's own\n"
    assert "was not written by this script" in capsys.readouterr().out
    overrides = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert overrides.read_bytes() == (ROOT / "tools" / "jupyterlab_overrides.json").read_bytes()  # absent: written
    overrides.write_text("{}")  # ... and an older copy of ours is replaced, since the script wrote it
    record = json.loads((tmp_path / setup_lab.WRITTEN).read_text())
    record[str(overrides)] = setup_lab._sha1(overrides)
    (tmp_path / setup_lab.WRITTEN).write_text(json.dumps(record))
    setup_lab.setup(tmp_path)
    assert overrides.read_bytes() == (ROOT / "tools" / "jupyterlab_overrides.json").read_bytes()
