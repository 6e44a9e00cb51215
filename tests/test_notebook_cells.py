"""The notebooks' tool-written parts (tools/notebook_cells.py): the install cell and the "Open in Colab" badges.

Every notebook (notebooks/ and its folders) installs the current release by name and version in
its first cell, and has under its title a badge that opens that very notebook in Colab; the
README's table has the same badge beside each notebook. The expected links are built here from
pyproject.toml's repository setting, independently of the tool; the tool rewrites exactly those
parts, nothing else, and a second run changes nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import d2l_helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebook_cells  # noqa: E402

NOTEBOOKS = sorted(p for p in ROOT.glob("notebooks/**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
# pyproject.toml's [project.urls] Repository (read without tomllib, which Python 3.10 lacks)
REPOSITORY_URL = re.search(r'\nRepository = "([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
LINK = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\(([^)]+)\)")


def _expected_link(path: Path) -> str:
    owner_name = REPOSITORY_URL.removeprefix("https://github.com/").strip("/")
    return f"https://colab.research.google.com/github/{owner_name}/blob/main/{path.relative_to(ROOT).as_posix()}"


def _title(nb):
    return next(c for c in nb.cells if c.cell_type == "markdown")


def test_there_are_notebooks_and_the_tool_sees_all_of_them():
    assert len(NOTEBOOKS) >= 8
    assert notebook_cells.notebooks() == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_first_cell_installs_the_current_release_by_name_and_version(path):
    source = nbformat.read(path, as_version=4).cells[0].source
    assert f'"pip", "install", "-q", "d2l-helpers=={d2l_helpers.__version__}"' in source
    assert 'if importlib.util.find_spec("d2l_helpers") is None:' in source  # only where it is missing
    assert "git+" not in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_title_cell_has_the_colab_badge_of_its_own_path(path):
    title = _title(nbformat.read(path, as_version=4)).source
    lines = title.splitlines()
    assert lines[0].startswith("# ") and lines[1] == ""
    assert LINK.findall(title) == [_expected_link(path)]  # one badge, naming this notebook's own path
    assert LINK.fullmatch(lines[2])  # the line under the title is the badge line, and only that


def test_readme_table_has_the_colab_badge_of_each_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rows = [line for line in readme.splitlines() if line.startswith(f"| `{path.stem}` ")]
        assert len(rows) == 1, path.stem
        assert LINK.findall(rows[0].split(" | ")[0]) == [_expected_link(path)], rows[0][:200]


def test_the_tool_finds_nothing_out_of_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "notebook_cells.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tool_rewrites_only_the_first_cell_and_the_badge_line_and_is_idempotent(tmp_path, monkeypatch):
    """An old notebook (the git install cell, no badge) and an old README row come out as today's, all else equal."""
    original = ROOT / "notebooks" / "02_gru_scratch.ipynb"
    copy = tmp_path / "notebooks" / original.name
    copy.parent.mkdir()
    shutil.copy(original, copy)
    readme = tmp_path / "README.md"
    readme.write_text("| notebook | what |\n|---|---|\n| `02_gru_scratch` | the GRU |\n| `99_missing` | none |\n")
    nb = nbformat.read(copy, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace(
        f'"d2l-helpers=={d2l_helpers.__version__}"', '"d2l_helpers @ git+https://github.com/someone/else"'
    )
    _title(nb).source = notebook_cells._BADGE.sub("", _title(nb).source).replace("\n\n\n\n", "\n\n", 1)
    nbformat.write(nb, copy)
    monkeypatch.setattr(notebook_cells, "ROOT", tmp_path)

    assert notebook_cells.rewrite_notebook(copy) is True
    assert copy.read_bytes() == original.read_bytes()  # byte for byte the committed notebook: outputs untouched
    assert notebook_cells.rewrite_notebook(copy) is False  # idempotent
    assert notebook_cells.rewrite_readme("README.md", "notebooks") is True
    rows = readme.read_text().splitlines()
    assert LINK.findall(rows[2]) == [_expected_link(ROOT / "notebooks" / original.name)]
    assert rows[3] == "| `99_missing` | none |"  # a name that is not a notebook keeps its row
    assert notebook_cells.rewrite_readme("README.md", "notebooks") is False


def test_the_tool_refuses_a_notebook_whose_first_cell_is_not_the_install_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("# T")])
    with pytest.raises(ValueError, match="the first cell must be the install cell"):
        notebook_cells.apply(nb, "notebooks/x.ipynb")
    assert nb.cells[0].source == "x = 1"  # nothing written over a learner's cell
