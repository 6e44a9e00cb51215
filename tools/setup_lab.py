"""Set up the notebooks' environment and open JupyterLab: Linux, macOS and Windows, with or without make.

    python3 tools/setup_lab.py        # Windows: py tools\\setup_lab.py
    python3 tools/setup_lab.py --here # conda: in the active environment, after `conda activate d2l-rnn`

What it does (``make lab`` runs this same script), printing each command:

1. creates the virtual environment ``.venv`` with the Python that runs this script, unless it exists
   (``--venv PATH`` for another place; ``--here``: none, the running Python's environment is used);
2. installs this package and JupyterLab into it, at the versions of constraints.txt:
   ``.venv/bin/python -m pip install -c constraints.txt -e ".[lab]"``
   (``.venv\\Scripts\\python.exe`` on Windows); skipped when nothing it depends on has changed;
3. puts this project's Jupyter settings into that environment, where every JupyterLab started
   from it reads them: ``tools/jupyterlab_overrides.json`` as ``share/jupyter/lab/settings/overrides.json``
   (widget state saved with the notebook) and, where it exists, ``tools/jupyter_server_config.py``
   as ``etc/jupyter/jupyter_server_config.py``;
4. opens JupyterLab on ``notebooks/``: ``.venv/bin/python -m jupyter lab notebooks/``. As root (a Docker
   container, Codespaces) it adds ``--allow-root``, without which JupyterLab refuses to start.

``--no-launch`` stops after step 3; ``--dry-run`` prints the commands and changes nothing. Arguments
it does not know go to ``jupyter lab`` (``--ip=0.0.0.0`` in a container, ``--port=8899``, ...).
It needs nothing but Python 3.10 or later with its ``venv`` module, and runs before the package
is installed (it imports nothing from it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = os.name == "nt"
EXTRAS = "lab"  # pyproject.toml's extra for the notebooks (environment.yml installs the same)
INSTALL = ["-m", "pip", "install", "-c", "constraints.txt", "-e", f".[{EXTRAS}]"]
STAMP = ".installed-lab"  # in the environment: what the last install was made from
WRITTEN = ".d2l-helpers-settings.json"  # in the environment: the settings files this script wrote, with their SHA-1
# (the file in tools/, where it lands in the environment), each copied when it exists
SETTINGS = [
    ("jupyterlab_overrides.json", ("share", "jupyter", "lab", "settings", "overrides.json")),
    ("jupyter_server_config.py", ("etc", "jupyter", "jupyter_server_config.py")),
]


def scripts_dir(env: Path) -> Path:
    """Where an environment keeps its programs: bin/ (Linux, macOS) or Scripts\\ (Windows)."""
    return env / ("Scripts" if WINDOWS else "bin")


def env_python(env: Path) -> Path:
    return scripts_dir(env) / ("python.exe" if WINDOWS else "python")


def running_as_root() -> bool:
    geteuid = getattr(os, "geteuid", None)  # POSIX only: Windows has no root
    return geteuid is not None and geteuid() == 0


def _fingerprint(python: Path) -> str:
    """What the install depends on: pyproject.toml, constraints.txt and the environment's Python."""
    digest = hashlib.sha256(str(python).encode())
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _show(command: list[str]) -> None:
    print("+ " + " ".join(f'"{c}"' if " " in c or "[" in c else c for c in command), flush=True)


def _run(command: list[str], dry_run: bool) -> None:
    _show(command)
    if not dry_run:
        subprocess.run(command, cwd=ROOT, check=True)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def setup(env: Path | None, dry_run: bool = False) -> Path:
    """Steps 1-3; returns the environment's folder (``env``, or the running Python's when None)."""
    if env is None:
        env, python = Path(sys.prefix), Path(sys.executable)
    else:
        env = env if env.is_absolute() else ROOT / env
        python = env_python(env)
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(env)], dry_run)
    stamp = env / STAMP
    if stamp.is_file() and stamp.read_text().strip() == _fingerprint(python):
        print(f"{env}: the packages are installed already (pyproject.toml and constraints.txt unchanged)")
    else:
        _run([str(python), *INSTALL], dry_run)
    written = env / WRITTEN  # what this script wrote before: those files it may replace
    ours = json.loads(written.read_text()) if written.is_file() else {}
    for name, where in SETTINGS:
        source, target = ROOT / "tools" / name, env.joinpath(*where)
        if not source.is_file():
            continue
        if target.is_file() and target.read_bytes() != source.read_bytes() and ours.get(str(target)) != _sha1(target):
            # a file of the user's own (a conda base environment's settings, say): never overwritten
            print(
                f"! {target} exists and was not written by this script: left as it is. Merge "
                f"tools/{name} into it by hand, or start JupyterLab with its settings another way "
                "(jupyter lab --config=tools/jupyter_server_config.py).",
                flush=True,
            )
            continue
        print(f"+ copy {source.relative_to(ROOT).as_posix()} {target}", flush=True)
        if not dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            ours[str(target)] = _sha1(target)
    if not dry_run:
        written.write_text(json.dumps(ours, indent=1) + "\n")
    if not dry_run:
        stamp.write_text(_fingerprint(python) + "\n")
    return env


def launch(env: Path, python: Path, dry_run: bool = False, extra: list[str] | None = None) -> int:
    """Step 4: JupyterLab on notebooks/ (with ``extra`` arguments) until it stops; its exit status."""
    command = [str(python), "-m", "jupyter", "lab", "notebooks/", *(extra or [])]
    if running_as_root():
        print("Running as root (a container?): JupyterLab refuses that without --allow-root, so it is added.")
        command.append("--allow-root")
    _show(command)
    if dry_run:
        return 0
    process = subprocess.Popen(command, cwd=ROOT)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # Ctrl-C reaches JupyterLab too, which asks whether to stop (or stops on a second)
            continue


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--venv", type=Path, default=Path(".venv"), help="the virtual environment (default: .venv)")
    where.add_argument("--here", action="store_true", help="use the running Python's environment (conda)")
    parser.add_argument("--no-launch", action="store_true", help="set up, but do not open JupyterLab")
    parser.add_argument("--dry-run", action="store_true", help="print the commands; change nothing")
    args, extra = parser.parse_known_args(argv)  # the rest goes to jupyter lab
    if sys.version_info < (3, 10):  # noqa: UP036 - macOS's own python3 is a 3.9
        parser.error(f"Python 3.10 or later is needed (this is {sys.version.split()[0]}): run it with another python")
    try:
        env = setup(None if args.here else args.venv, dry_run=args.dry_run)
    except subprocess.CalledProcessError as err:
        print(f"setup_lab: this command failed (exit status {err.returncode}): {' '.join(err.cmd)}", file=sys.stderr)
        return 1
    if args.no_launch:
        return 0
    python = Path(sys.executable) if args.here else env_python(env)
    return launch(env, python, dry_run=args.dry_run, extra=extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
