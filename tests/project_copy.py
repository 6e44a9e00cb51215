"""A fresh copy of the project, as a clone of this working tree would have it (for tests that build or install it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_copy(target: Path) -> Path:
    """Copy the project's files into ``target``: those git tracks and the new ones it does not ignore.

    Nothing ignored comes along (no .venv, build/ or *.egg-info), so what is built or installed from
    the copy is what CI's fresh clone would build, and nothing is written into the working tree.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target
