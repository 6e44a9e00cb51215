"""Run the book's PyTorch code, as the book shows it, against d2l_helpers (a manual check), for both editions.

    python tools/run_book_sections.py BOOK_CHECKOUT [section.md ...] [--max-epochs N]

reads the sections' Markdown sources from a checkout of the English edition
(github.com/d2l-ai/d2l-en, d2l 1.0) or of the Chinese one (d2l-ai/d2l-zh,
d2l 0.17); nothing of the book is stored in this repository. Which edition a
source is comes from how it marks its tabs:

* d2l-en: ``%%tab pytorch``, ``%%tab all`` and lists naming pytorch are kept,
  rendered as d2l.ai shows them (``if tab.selected(...)`` blocks kept for
  'pytorch', dropped for the other frameworks; ``tab.selected`` elsewhere is
  true for 'pytorch' only); blocks without ``%%tab`` run too (the tab set-up);
* d2l-zh: ``#@tab pytorch``, ``#@tab all`` and lists naming pytorch are kept;
  a block without ``#@tab`` is MXNet's (the book's default tab) and is dropped.

Without section names, the edition's recurrent chapters run (``SECTIONS_EN``
or ``SECTIONS_ZH``, from the chapter's first section on). The one import line
``from d2l import torch as d2l`` becomes ``import d2l_helpers as d2l``, and
each section runs in a fresh Jupyter kernel (nbclient), so the live panel runs
as in a notebook, with this checkout's ``d2l_helpers`` first on the path. The
kernel's working directory is a new temporary folder, as a learner's notebook
folder: what the code writes into ``../data`` is listed after the section.
``--max-epochs`` sets ``D2L_MAX_EPOCHS`` (the helpers say so when it caps).
Prints every block's text output; a section that fails shows its error, the
others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SECTIONS_EN = [  # d2l.ai §9.1-9.6, §10.1-10.3
    "chapter_recurrent-neural-networks/sequence.md",
    "chapter_recurrent-neural-networks/text-sequence.md",
    "chapter_recurrent-neural-networks/language-model.md",
    "chapter_recurrent-neural-networks/rnn.md",
    "chapter_recurrent-neural-networks/rnn-scratch.md",
    "chapter_recurrent-neural-networks/rnn-concise.md",
    "chapter_recurrent-modern/lstm.md",
    "chapter_recurrent-modern/gru.md",
    "chapter_recurrent-modern/deep-rnn.md",
]
SECTIONS = SECTIONS_EN  # (the name this tool had when it ran only the English edition)
SECTIONS_ZH = [  # zh.d2l.ai §8.1-8.6, §9.1-9.3
    "chapter_recurrent-neural-networks/sequence.md",
    "chapter_recurrent-neural-networks/text-preprocessing.md",
    "chapter_recurrent-neural-networks/language-models-and-dataset.md",
    "chapter_recurrent-neural-networks/rnn.md",
    "chapter_recurrent-neural-networks/rnn-scratch.md",
    "chapter_recurrent-neural-networks/rnn-concise.md",
    "chapter_recurrent-modern/gru.md",
    "chapter_recurrent-modern/lstm.md",
    "chapter_recurrent-modern/deep-rnn.md",
]
TAB_STUB = """class _Tab:  # d2lbook's tab selection, PyTorch chosen
    def selected(self, *names):
        return "pytorch" in names
    def interact_select(self, *names):
        pass
tab = _Tab()"""


_SELECTED = re.compile(r"^(\s*)if tab\.selected\((.*)\):\s*$")


def render_pytorch(code: str) -> str:
    """The PyTorch tab as d2l.ai shows it: ``if tab.selected(...)`` blocks kept (dedented) for pytorch, else dropped."""
    lines, out, i = code.splitlines(), [], 0
    while i < len(lines):
        match = _SELECTED.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, keep = len(match.group(1)), "'pytorch'" in match.group(2)
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            if keep:
                out.append(lines[i][4:] if lines[i].startswith(" " * (indent + 4)) else lines[i])
            i += 1
    return "\n".join(out)


_ZH_TAB = re.compile(r"^#@tab\b", re.M)


def edition(markdown: str) -> str:
    """'zh' for d2l-zh's sources (``#@tab`` marks), else 'en' (d2l-en's ``%%tab``)."""
    return "zh" if _ZH_TAB.search(markdown) else "en"


def default_sections(checkout: Path) -> list[str]:
    """The edition's recurrent sections: d2l-zh's when the checkout has its §8.2 source, else d2l-en's."""
    return SECTIONS_ZH if (checkout / SECTIONS_ZH[1]).is_file() else SECTIONS_EN


def pytorch_blocks(markdown: str):
    """The PyTorch tab's code blocks, in order, as the book shows them, with the import line changed."""
    marker = "#@tab" if edition(markdown) == "zh" else "%%tab"
    for match in re.finditer(r"```\{\.python \.input[^}]*\}\n(.*?)```", markdown, re.S):
        code = match.group(1)
        first = code.split("\n", 1)[0].strip()
        if first.startswith(marker):
            tabs = {t.strip() for t in first[len(marker) :].split(",")}
            if not tabs & {"pytorch", "all"}:
                continue
            code = code.split("\n", 1)[1] if "\n" in code else ""
        elif marker == "#@tab":  # d2l-zh: an unmarked block is MXNet's
            continue
        lines = [line for line in code.splitlines() if not line.startswith(("%load_ext", "%matplotlib"))]
        code = render_pytorch("\n".join(lines)).replace("from d2l import torch as d2l", "import d2l_helpers as d2l")
        if code.strip():
            yield code


def run_section(source: str, workdir: Path) -> tuple[nbformat.NotebookNode, Exception | None]:
    """Run one section's PyTorch blocks in a fresh kernel whose working directory is ``workdir``."""
    cells = [nbformat.v4.new_code_cell(TAB_STUB)] + [nbformat.v4.new_code_cell(code) for code in pytorch_blocks(source)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    except Exception as err:  # nbclient's CellExecutionError: the caller shows it and goes on
        return nb, err
    return nb, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("sections", nargs="*", help="paths inside the checkout (default: its recurrent chapters)")
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.checkout.is_dir():
        parser.error(f"checkout {args.checkout} is not a folder: give a checkout of d2l-ai/d2l-en or d2l-ai/d2l-zh")
    sections = args.sections or default_sections(args.checkout)
    missing = [s for s in sections if not (args.checkout / s).is_file()]
    if missing:
        parser.error(f"not in {args.checkout}: {', '.join(missing)}")
    if args.max_epochs:
        os.environ["D2L_MAX_EPOCHS"] = str(args.max_epochs)
    os.environ.pop("D2L_PLOT", None)
    # The kernels import this checkout's d2l_helpers, whatever their working directory.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    failed = False
    for section in sections:
        source = (args.checkout / section).read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="d2l-section-") as tmp:
            workdir = Path(tmp) / "notebooks"  # so that ../data is <tmp>/data
            workdir.mkdir()
            print(f"===== {section} ({edition(source)}): {len(list(pytorch_blocks(source)))} blocks", flush=True)
            nb, err = run_section(source, workdir)
            for cell in nb.cells[1:]:
                for out in cell.get("outputs", []):
                    text = out.get("text") or out.get("data", {}).get("text/plain", "")
                    if text and text != "<d2l training plot>":
                        print("   ", text.strip()[:300].replace("\n", "\n    "))
            if err is not None:
                print(f"ERROR: {str(err)[-1500:]}")
                failed = True
            data = Path(tmp) / "data"
            written = sorted(str(p.relative_to(data)) for p in data.rglob("*")) if data.exists() else []
            print(f"    ../data: {', '.join(written) if written else 'nothing written'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
