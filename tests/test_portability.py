"""No POSIX-only call without a guard: the package (and the set-up script) must import and run on Windows.

Python's documentation marks these "Availability: Unix" (not Windows). Each use in the package
must sit in a function that checks for it first (``hasattr(os, "getpgrp")``, ``getattr(os,
"geteuid", None)``, ``os.name``, ``sys.platform``), and be tested with the call made absent (the
set-up script's ``os.geteuid``: tests/test_install.py). ``signal.signal`` and ``signal.SIGINT``,
which ``utils.StopOnInterrupt`` uses for Kernel > Interrupt, exist on Windows too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = {
    "os": {
        "fork", "forkpty", "getpgrp", "getpgid", "setpgrp", "setpgid", "setsid", "getsid", "killpg", "getuid",
        "geteuid", "getgid", "getegid", "setuid", "setgid", "getgroups", "pread", "pwrite", "preadv", "pwritev",
        "sched_getaffinity", "sched_setaffinity", "getloadavg", "nice", "sync", "statvfs", "fstatvfs", "chown",
        "fchown", "lchown", "mkfifo", "mknod", "openpty", "sysconf", "pathconf", "fpathconf", "uname", "wait3",
        "wait4", "waitid", "WNOHANG", "posix_fadvise", "posix_fallocate", "ttyname", "register_at_fork",
    },
    "signal": {
        "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGSTOP", "SIGCONT",
        "SIGTSTP", "alarm", "pause", "setitimer", "getitimer", "pthread_kill", "pthread_sigmask", "sigwait",
        "siginterrupt", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK",
    },
}  # fmt: skip
POSIX_MODULES = {"fcntl", "resource", "termios", "pwd", "grp", "pty", "tty", "posix", "crypt"}
NOT_YET: dict[str, set[str]] = {}  # (none left: the sweep guards os.getpgrp and reads without os.pread)
FILES = sorted((ROOT / "d2l_helpers").glob("*.py")) + [ROOT / "tools" / "setup_lab.py"]


def _unguarded(path: Path) -> list[str]:
    """'line: module.name' of each POSIX-only use in ``path`` whose enclosing function does not check for it."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{node.lineno}: import {n}" for n in names if n.split(".")[0] in POSIX_MODULES]
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        module, name = node.value.id, node.attr
        if name not in POSIX_ONLY.get(module, ()) or name in NOT_YET.get(path.name, ()):
            continue
        scope = node
        while scope in parents and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = parents[scope]
        body = ast.get_source_segment(text, scope) or text
        guards = (f'hasattr({module}, "{name}")', f'getattr({module}, "{name}"', "os.name", "sys.platform")
        if not any(g in body for g in guards):
            found.append(f"{node.lineno}: {module}.{name}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_posix_only_call_without_a_guard(path):
    assert not _unguarded(path), f"{path.name}: POSIX-only, unguarded: {_unguarded(path)}"


def test_the_check_finds_an_unguarded_call(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport fcntl\n\n\ndef f():\n    return os.getpgrp()\n")
    assert _unguarded(bad) == ["2: import fcntl", "6: os.getpgrp"]
    good = tmp_path / "good.py"
    good.write_text('import os\n\n\ndef f():\n    return os.getpgrp() if hasattr(os, "getpgrp") else None\n')
    assert _unguarded(good) == []
