"""The parts of the notebooks that tools write, defined once: the install cell and the "Open in Colab" badges.

    python tools/notebook_cells.py          # rewrite them in every notebook and in the README's table
    python tools/notebook_cells.py --check  # change nothing; exit 1 naming what is out of date

What it writes, and nothing else (no cell is executed, no output is touched):
- each notebook's first cell, ``INSTALL_CELL``: when ``d2l_helpers`` is missing (Colab), it runs
  ``pip install d2l-helpers==VERSION``;
- the badge line of each notebook's title cell (its first markdown cell), just under the title:
  a link that opens the notebook in Colab from the repository;
- the badge beside each notebook's name in the README's table of notebooks.

Both come from settings made once elsewhere: VERSION is ``d2l_helpers.__version__`` (read from
``d2l_helpers/__init__.py`` without importing the package), the repository is pyproject.toml's
``[project.urls] Repository``. After changing either, or merging notebooks, run this tool (or
``make notebook-cells``); ``tools/run_notebooks.py`` applies it too before running a notebook.
It is idempotent: a second run changes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "d2l-helpers"  # the name on PyPI; the import name is d2l_helpers
BRANCH = "main"  # the branch the badges open
NOTEBOOK_GLOBS = ("notebooks/*.ipynb", "notebooks/*/*.ipynb")  # notebooks/ and its folders (notebooks/zh/)
# Markdown files with a table of notebooks: file -> the folder its rows name (a row starts "| `stem`").
README_TABLES = {"README.md": "notebooks"}


def _read_version() -> str:
    text = (ROOT / "d2l_helpers" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit('d2l_helpers/__init__.py: no `__version__ = "..."` line to read the version from')
    return match.group(1)


def _read_repository() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+?)/?"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit('pyproject.toml: [project.urls] needs a line `Repository = "https://github.com/OWNER/NAME"`')
    return match.group(1)


VERSION = _read_version()
REPOSITORY = _read_repository()  # OWNER/NAME on GitHub

INSTALL_CELL = f'''# Colab, or any kernel without the helpers: install d2l_helpers first (a no-op when it is installed).
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("d2l_helpers") is None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "{DISTRIBUTION}=={VERSION}"],
        check=True,
    )'''

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# Any Colab badge, whatever repository or path it names (an older one is replaced).
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/[^)]*\)")


def colab_url(path: str) -> str:
    """The address that opens ``path`` (relative to the repository's root, with /) in Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def badge(path: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(path)})"


def notebooks() -> list[Path]:
    found = {p for pattern in NOTEBOOK_GLOBS for p in ROOT.glob(pattern) if ".ipynb_checkpoints" not in p.parts}
    return sorted(found)


def relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def _with_badge(title: str, line: str) -> str:
    """The title cell's source with its badge line set to ``line``: replaced, or added under the heading."""
    if _BADGE.search(title):
        return _BADGE.sub(lambda _: line, title, count=1)
    heading, _, rest = title.partition("\n")
    rest = rest.lstrip("\n")
    return f"{heading}\n\n{line}" + (f"\n\n{rest}" if rest else "")


def apply(nb, path: str) -> bool:
    """Set the first cell and the title cell's badge of ``nb`` (an nbformat notebook at ``path``); True if changed.

    The first cell must already be the install cell (a code cell that installs d2l_helpers): a
    notebook whose first cell is something else is an error, so that no learner's cell is overwritten.
    """
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "code" or "install d2l_helpers" not in first.source:
        raise ValueError(f"{path}: the first cell must be the install cell of tools/notebook_cells.py")
    title = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if title is None or not title.source.startswith("# "):
        raise ValueError(f"{path}: no title cell (a markdown cell starting with '# ') to put the Colab badge in")
    changed = first.source != INSTALL_CELL
    first.source = INSTALL_CELL
    source = _with_badge(title.source, badge(path))
    changed |= source != title.source
    title.source = source
    return changed


def rewrite_notebook(path: Path, check: bool = False) -> bool:
    """Apply :func:`apply` to the notebook file; write it (unless ``check``) if that changed it. True if so."""
    nb = nbformat.read(path, as_version=4)
    changed = apply(nb, relative(path))
    if changed and not check:
        nbformat.write(nb, path)
    return changed


def _with_table_badges(text: str, folder: str) -> str:
    """``text`` with a badge beside each notebook named in a table row ("| `stem` ... |") of ``folder``."""

    def row(match):
        stem = match.group(1)
        if not (ROOT / folder / f"{stem}.ipynb").is_file():
            return match.group(0)
        return f"| `{stem}` {badge(f'{folder}/{stem}.ipynb')} |"

    return re.sub(r"^\| `([\w.-]+)`(?: \[!\[Open In Colab\][^|]*)? \|", row, text, flags=re.MULTILINE)


def rewrite_readme(name: str, folder: str, check: bool = False) -> bool:
    path = ROOT / name
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    new = _with_table_badges(text, folder)
    if new != text and not check:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    stale = [relative(p) for p in notebooks() if rewrite_notebook(p, check=args.check)]
    stale += [name for name, folder in README_TABLES.items() if rewrite_readme(name, folder, check=args.check)]
    for name in stale:
        print(f"{name}: {'out of date' if args.check else 'rewritten'}")
    if not stale:
        print(f"all up to date ({DISTRIBUTION}=={VERSION}, github.com/{REPOSITORY})")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
