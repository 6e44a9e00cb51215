"""Part files of downloads: how they are named, and when a left-over one is stale.

A download streams into ``.NAME.<pid>-<host>.XXXXXXXX.part`` beside its
destination (``host``: 8 hex digits of a hash of the host name) and renames it
when it is complete and verified. A download killed outright (SIGKILL, a dead
kernel) leaves its part file behind; the next download of NAME into that folder
removes the ones that are *stale*:

* the writer's pid no longer runs on this host. This is asked only on POSIX,
  where ``os.kill(pid, 0)`` is a harmless probe (on Windows it would end the
  process), and only for a part written by this host: a shared cache folder may
  hold downloads of other machines in progress, whose pids mean nothing here;
* or the file has not changed for ``STALE_PART_AGE`` seconds (any part, also one
  without a pid, such as those of earlier versions, or one whose pid was reused):
  a live download writes every block it receives, and gives up at its deadline.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import socket
import time
from pathlib import Path

__all__ = ["STALE_PART_AGE", "part_prefix", "remove_stale_parts"]

STALE_PART_AGE = 3600.0  # seconds
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def part_prefix(name: str) -> str:
    """The start of this process's part file names for ``name`` (``tempfile.mkstemp`` adds 8 characters)."""
    return f".{name}.{os.getpid()}-{_HOST}."


def _stale(part: Path, name: str, now: float) -> bool:
    """Whether ``part`` (a part file of ``name``) is stale: untouched for STALE_PART_AGE, or its writer gone."""
    try:
        if now - part.stat().st_mtime > STALE_PART_AGE:
            return True
    except OSError:  # gone meanwhile
        return False
    match = re.fullmatch(rf"\.{re.escape(name)}\.(\d+)-([0-9a-f]{{8}})\.[^.]+\.part", part.name)
    if match is None or match[2] != _HOST or os.name != "posix":
        return False
    try:
        os.kill(int(match[1]), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's), or the probe is not allowed
        return False
    return False


def remove_stale_parts(folder: Path, name: str) -> list[str]:
    """Remove the stale part files of ``name`` in ``folder`` (see above); return their names."""
    now, removed = time.time(), []
    for part in folder.glob(f".{glob.escape(name)}.*.part"):
        if _stale(part, name, now):
            with contextlib.suppress(OSError):
                part.unlink()
                removed.append(part.name)
    return removed
