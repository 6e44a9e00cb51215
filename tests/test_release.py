"""The release: d2l-helpers as PyPI would get it, and as a notebook's first cell installs it in Colab.

1. ``python -m build`` makes an sdist and a wheel; ``twine check --strict`` passes on both; both carry
   the one version, ``d2l_helpers.__version__``; the wheel holds the package's modules and its
   license, nothing else (no tests, notebooks, tools or data).
2. End to end: the wheel is served from a package index on 127.0.0.1 (a PEP 503 folder under an
   HTTP server); a fresh copy of the Colab-like environment (Colab's versions, without d2l_helpers)
   runs a notebook whose first cell, unchanged, installs ``d2l-helpers==VERSION`` from that index
   (pip sees it as an extra index, PIP_EXTRA_INDEX_URL, as it would PyPI); the notebook then
   trains to its end there, and the install changed none of Colab's versions.
3. The workflow that publishes the release (.github/workflows/publish.yml) is well formed.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from email.parser import Parser
from pathlib import Path

import nbformat
import pytest
import yaml
from kernels import COLAB, ROOT, colab_python, kernelspec_dir
from nbclient import NotebookClient
from project_copy import fresh_copy

sys.path.insert(0, str(ROOT / "tools"))
import notebook_cells  # noqa: E402

import d2l_helpers  # noqa: E402

VERSION = d2l_helpers.__version__
NAME = "d2l-helpers"
E2E_NOTEBOOK = ROOT / "notebooks" / "02_gru_scratch.ipynb"  # the quickest in tests/test_colab.py (24 s of 8 min)


def _freeze(lines: str) -> dict[str, str]:
    out = {}
    for line in lines.splitlines():
        if "==" in line and not line.startswith("#"):  # (pip writes "# Editable install ... (name==1.0)")
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name.lower())] = version
    return out


# ---------------------------------------------------------------------------------------------
# 1. The sdist and the wheel
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """(sdist, wheel) built as the publishing workflow builds them: ``python -m build`` (isolated), on a fresh copy."""
    out, source = tmp_path_factory.mktemp("dist"), fresh_copy(tmp_path_factory.mktemp("source"))
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_twine_check_passes_on_the_sdist_and_the_wheel(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_one_version_in_the_package_the_sdist_and_the_wheel(dist):
    sdist, wheel = dist
    assert sdist.name == f"d2l_helpers-{VERSION}.tar.gz"
    assert wheel.name == f"d2l_helpers-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        metadata = Parser().parsestr(zf.read(f"d2l_helpers-{VERSION}.dist-info/METADATA").decode())
    with tarfile.open(sdist) as tf:
        pkg_info = Parser().parsestr(tf.extractfile(f"d2l_helpers-{VERSION}/PKG-INFO").read().decode())
    for meta in (metadata, pkg_info):
        assert (meta["Name"], meta["Version"]) == (NAME, VERSION)
        assert meta["License-Expression"] == "MIT" and meta["Requires-Python"] == ">=3.10"
        assert meta["Description-Content-Type"] == "text/markdown"


def test_the_wheel_holds_the_package_and_its_license_and_nothing_else(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        license_text = zf.read(f"d2l_helpers-{VERSION}.dist-info/licenses/LICENSE")
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "d2l_helpers").glob("*.py"))
    assert sorted(n for n in names if not n.startswith(f"d2l_helpers-{VERSION}.dist-info/")) == modules
    meta = sorted(n.split("/", 1)[1] for n in names if n.startswith(f"d2l_helpers-{VERSION}.dist-info/"))
    assert meta == ["METADATA", "RECORD", "WHEEL", "licenses/LICENSE", "top_level.txt"], meta
    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in license_text


def test_the_sdist_builds_the_same_package(dist):
    sdist, _ = dist
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"pyproject.toml", "LICENSE", "README.md", "d2l_helpers/__init__.py"} <= names
    assert not {n for n in names if n.startswith(("notebooks/", "tests/", "data/"))}


def test_the_version_is_read_from_the_package_by_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]$', text, re.MULTILINE)
    assert 'version = { attr = "d2l_helpers.__version__" }' in text
    assert not re.search(r"^version = \"", text, re.MULTILINE)  # no second, static version
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


# ---------------------------------------------------------------------------------------------
# 2. The notebooks' first cell installs the wheel from an index, in a fresh Colab-like environment
# ---------------------------------------------------------------------------------------------


class _Index:
    """A PEP 503 "simple" index on 127.0.0.1 serving one wheel; remembers what was asked for."""

    def __init__(self, folder: Path, wheel: Path):
        files, project = folder / "files", folder / "simple" / NAME
        files.mkdir(parents=True)
        project.mkdir(parents=True)
        shutil.copy(wheel, files / wheel.name)
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (folder / "simple" / "index.html").write_text(f'<!DOCTYPE html><html><body><a href="{NAME}/">{NAME}</a>\n')
        (project / "index.html").write_text(
            f'<!DOCTYPE html><html><body><a href="../../files/{wheel.name}#sha256={sha256}">{wheel.name}</a>\n'
        )
        self.requests: list[str] = []
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet; record instead
                index.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _env_without_pythonpath():
    """The environment for the copy's pip: without PYTHONPATH, which would show pip (and the kernel) our tree."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _clone_colab(target: Path) -> Path:
    """A copy of .venv-colab as it was before d2l_helpers was installed in it; returns its python.

    Hard links where the file system allows (seconds, no space: torch's 3 GB are not copied; pip
    replaces files rather than writing into them, so the original is never changed), copies elsewhere.
    """
    try:
        shutil.copytree(COLAB, target, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(COLAB, target, symlinks=True)
    python = target / "bin" / "python"
    before = _freeze((COLAB / "freeze-before.txt").read_text())
    added = set(_freeze((COLAB / "freeze-after.txt").read_text())) - set(before)  # what the editable install brought
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "--yes", "--quiet", NAME, *sorted(added)],
        check=True,
        capture_output=True,
        timeout=300,
        env=_env_without_pythonpath(),
    )
    return python


def _pip_freeze(python: Path) -> str:
    return subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=_env_without_pythonpath(),
    ).stdout


def test_the_first_cell_installs_the_release_from_an_index_and_the_notebook_runs_in_colab(dist, tmp_path, monkeypatch):
    colab_python()  # (skips outside CI when the Colab-like environment has not been built)
    python = _clone_colab(tmp_path / "colab")
    before = _freeze((COLAB / "freeze-before.txt").read_text())
    cloned = _freeze(_pip_freeze(python))
    assert {k: v for k, v in cloned.items() if k in before} == before and NAME not in cloned
    probe = [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('d2l_helpers'))"]
    assert subprocess.run(probe, capture_output=True, text=True, cwd=tmp_path, env={}).stdout.strip() == "None"

    nb = nbformat.read(E2E_NOTEBOOK, as_version=4)
    assert nb.cells[0].source == notebook_cells.INSTALL_CELL  # the notebook's real first cell
    assert f'"{NAME}=={VERSION}"' in nb.cells[0].source
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec_dir(tmp_path, python, "colab-clone")))
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the kernel must find d2l_helpers only where pip put it
    monkeypatch.setenv("D2L_PLOT", "widget")
    monkeypatch.setenv("D2L_MAX_EPOCHS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with _Index(tmp_path / "index", dist[1]) as index:
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", index.url)  # beside PyPI, as PyPI itself would serve the wheel
        resources = {"metadata": {"path": str(E2E_NOTEBOOK.parent)}}
        NotebookClient(nb, timeout=900, kernel_name="colab-clone", resources=resources).execute()
    assert f"/files/{dist[1].name}" in index.requests, index.requests  # pip took the wheel from our index

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    finals = [o for c in nb.cells for o in c.get("outputs", []) if o.get("data", {}).get("image/png")]
    assert finals  # the notebook trained with its panel to the end (each panel ends as a PNG)
    after = _freeze(_pip_freeze(python))
    assert after.get(NAME) == VERSION
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, changed  # installing the release changed none of Colab's versions
    # the package the kernel imported is the wheel's, installed in the copy: the same files as ours
    where = subprocess.run(
        [str(python), "-c", "import d2l_helpers; print(d2l_helpers.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={},
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "colab"), where
    for module in (ROOT / "d2l_helpers").glob("*.py"):
        assert (Path(where).parent / module.name).read_bytes() == module.read_bytes(), module.name


# ---------------------------------------------------------------------------------------------
# 3. The publishing workflow
# ---------------------------------------------------------------------------------------------


def test_the_publishing_workflow_builds_on_version_tags_and_publishes_with_trusted_publishing():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    trigger = workflow.get("on", workflow.get(True))  # (YAML 1.1 reads the key `on` as True)
    assert trigger == {"push": {"tags": ["v*"]}}, trigger
    jobs = workflow["jobs"]
    build_runs = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build_runs and "twine check --strict" in build_runs
    assert '"v$version" != "$GITHUB_REF_NAME"' in build_runs  # a tag that is not the version fails the build
    uploads = [s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "dist/"
    publish = jobs["publish"]
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"id-token": "write"}  # trusted publishing, and no other permission
    uses = [s.get("uses", "") for s in publish["steps"]]
    assert "pypa/gh-action-pypi-publish@release/v1" in uses
    assert not any("password" in s.get("with", {}) for s in publish["steps"])  # no stored token
    assert "secrets." not in (ROOT / ".github" / "workflows" / "publish.yml").read_text()


def test_the_workflow_reads_the_version_as_the_package_does():
    """The one-liner in the workflow finds d2l_helpers.__version__ (run here on the real file)."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    run = next(s["run"] for s in workflow["jobs"]["build"]["steps"] if "python -m build" in s.get("run", ""))
    line = next(line for line in run.splitlines() if line.strip().startswith('version="$('))
    command = line.strip()[len('version="$(') : -len(')"')]
    out = subprocess.run(
        ["bash", "-c", command.replace("python ", f"{sys.executable} ", 1)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert out.stdout.strip() == VERSION, out.stderr
