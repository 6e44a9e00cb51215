"""Run the English edition's PyTorch code, as the book shows it, against d2l_helpers (a manual check).

    python tools/run_book_sections.py D2L_EN_CHECKOUT [section.md ...] [--max-epochs N]

reads the sections' Markdown sources from a checkout of github.com/d2l-ai/d2l-en
(nothing of the book is stored in this repository), keeps the code blocks of
the PyTorch tab (``%%tab pytorch``, ``%%tab all`` and lists naming pytorch),
renders it as d2l.ai shows it (``if tab.selected(...)`` blocks kept for
'pytorch', dropped for the other frameworks; ``tab.selected`` elsewhere is
true for 'pytorch' only), changes the one import
line ``from d2l import torch as d2l`` into ``import d2l_helpers as d2l``, and
runs each section in a fresh Jupyter kernel (nbclient), so the live panel runs
as in a notebook. ``--max-epochs`` sets ``D2L_MAX_EPOCHS`` (the helpers say so
when it caps). Prints every block's text output, and stops at the first error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SECTIONS = [
    "chapter_recurrent-neural-networks/text-sequence.md",
    "chapter_recurrent-neural-networks/language-model.md",
    "chapter_recurrent-neural-networks/rnn.md",
    "chapter_recurrent-neural-networks/rnn-scratch.md",
    "chapter_recurrent-neural-networks/rnn-concise.md",
    "chapter_recurrent-modern/lstm.md",
    "chapter_recurrent-modern/gru.md",
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


def pytorch_blocks(markdown: str):
    for match in re.finditer(r"```\{\.python \.input[^}]*\}\n(.*?)```", markdown, re.S):
        code = match.group(1)
        first = code.split("\n", 1)[0].strip()
        if first.startswith("%%tab"):
            tabs = {t.strip() for t in first[len("%%tab") :].split(",")}
            if not tabs & {"pytorch", "all"}:
                continue
            code = code.split("\n", 1)[1] if "\n" in code else ""
        lines = [line for line in code.splitlines() if not line.startswith(("%load_ext", "%matplotlib"))]
        code = render_pytorch("\n".join(lines)).replace("from d2l import torch as d2l", "import d2l_helpers as d2l")
        if code.strip():
            yield code


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("sections", nargs="*", default=SECTIONS)
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args(argv)
    if args.max_epochs:
        os.environ["D2L_MAX_EPOCHS"] = str(args.max_epochs)
    os.environ.pop("D2L_PLOT", None)
    failed = False
    for section in args.sections:
        source = (args.checkout / section).read_text(encoding="utf-8")
        cells = [nbformat.v4.new_code_cell(TAB_STUB)] + [
            nbformat.v4.new_code_cell(code) for code in pytorch_blocks(source)
        ]
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        print(f"===== {section}: {len(cells) - 1} blocks", flush=True)
        try:
            NotebookClient(nb, timeout=3600, kernel_name="python3").execute()
        except Exception as err:  # nbclient's CellExecutionError: show it, go on to the next section
            print(f"ERROR: {str(err)[-1500:]}")
            failed = True
        for cell in nb.cells[1:]:
            for out in cell.get("outputs", []):
                text = out.get("text") or out.get("data", {}).get("text/plain", "")
                if text and text != "<d2l training plot>":
                    print("   ", text.strip()[:300].replace("\n", "\n    "))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
