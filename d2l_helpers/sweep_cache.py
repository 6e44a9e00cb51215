"""The sweep's cache: a JSON-lines file of finished configurations. It is data, never code.

::

    {"d2l_helpers": "sweep cache", "format": 2}                  <- the header: what the file is
    {"key": "{\\"a\\": 1}", "function": "__main__.experiment", "code": "3f2a...", "python": "3.11",
     "params": {"a": 1}, "value": 0.5, "seconds": 1.2, "worker": "host:123", "error": null}
    ...                                                           <- one line per finished configuration

Teachers share these files, so reading one must be safe whoever wrote it:

* Nothing the file names is imported, called or unpickled. A value that was
  one of this package's own result types (``History``) comes back as one,
  from an allow-list; any other dataclass comes back as a dict of its fields.
  A line naming a type to restore that is not on the list was not written by
  ``d2l.sweep``: the file is refused, and nothing it names is touched.
* A file that is not a sweep cache (no header: notes, a CSV) is refused
  before anything is written to it.
* The newest line of a key wins: a configuration run again adds a line.
* Only a last line that does not parse (cut short by a crash) is dropped, at
  the next write, and that is said; a complete last line without its newline
  (an editor's save) gets one.
* A file of the first format (no header, no fingerprints) is recognised when
  every line is one of its records; a header is added in front when the
  sweep goes on with it (``on_change='keep'`` or ``'rerun'``: its results
  cannot be checked against the function's code).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import tempfile
import warnings

from .sweep_fingerprint import PYTHON
from .sweep_results import Record

__all__ = ["FORMAT", "Cache", "SweepCacheError", "record_from_cache"]

FORMAT = 2
HEADER = {"d2l_helpers": "sweep cache", "format": FORMAT}
_HEADER_LINE = (json.dumps(HEADER) + "\n").encode()
_FORMAT_1_KEYS = {"key", "function", "params", "value", "seconds", "worker", "error"}
_NEEDED = {"key", "function", "value", "error"}
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no "\n" -> "\r\n" in what we write or read back


class SweepCacheError(OSError):
    """A sweep stopped because its cache could not be written; ``.result`` holds every finished record."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


def _allowed():
    """The only types a cache restores: this package's own results (imported here, never by name from the file)."""
    from .train import History

    return {_type_name(History): History}


def _type_name(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


# --------------------------------------------------------------------------
# Values to JSON and back
# --------------------------------------------------------------------------


def _to_json(value, allowed):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_json(getattr(value, f.name), allowed) for f in dataclasses.fields(value)}
        name = _type_name(type(value))  # ours to restore; any other type is only named, for the reader
        return {("__dataclass__" if name in allowed else "__fields_of__"): name, **fields}
    if isinstance(value, dict):
        return {str(k): _to_json(v, allowed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, allowed) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays, tensors
        return _to_json(value.tolist(), allowed)
    return {"__repr__": repr(value)}


def _from_json(value, allowed):
    """What :func:`_to_json` wrote. Only a type in ``allowed`` is built, from its own fields; nothing is imported."""
    if isinstance(value, list):
        return [_from_json(v, allowed) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _from_json(v, allowed) for k, v in value.items()}
    tag = value.get("__dataclass__")
    cls = allowed.get(tag) if isinstance(tag, str) else None
    if cls is not None:
        fields = {k: v for k, v in value.items() if k != "__dataclass__"}
        if set(fields) <= {f.name for f in dataclasses.fields(cls)}:
            try:
                return cls(**fields)
            except (TypeError, ValueError):  # fields of another version of the class: keep them as they are
                pass
    return value


def _foreign_types(value, allowed):
    """The names under ``__dataclass__`` in ``value`` that are not on the allow-list."""
    if isinstance(value, list):
        return [name for v in value for name in _foreign_types(v, allowed)]
    if not isinstance(value, dict):
        return []
    tag = value.get("__dataclass__", None)
    names = [tag] if "__dataclass__" in value and not (isinstance(tag, str) and tag in allowed) else []
    return names + [name for v in value.values() for name in _foreign_types(v, allowed)]


def record_from_cache(index, params, entry, allowed=None):
    return Record(
        index=index,
        params=params,
        value=_from_json(entry["value"], _allowed() if allowed is None else allowed),
        seconds=entry.get("seconds"),
        worker=entry.get("worker"),
        error=entry["error"],
        status="failed" if entry["error"] else "ok",
        cached=True,
    )


# --------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------


class Cache:
    """The cache file of one experiment: read (and checked) when made; written by :meth:`prepare` and :meth:`append`."""

    def __init__(self, path, function):
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"cache must be a file path such as 'sweep.jsonl' (a str or pathlib.Path), or None for no cache; "
                f"got {type(path).__name__} {path!r}"
            )
        self.path, self.function = os.fspath(path), function
        self.allowed = _allowed()
        self.records = {}  # key -> the newest line
        self.state = "new"  # 'new' (no file, or an empty one), 'cache' (has the header) or 'format 1'
        self.cut_tail = False  # the last line is cut short: dropped at the next write
        self._read()

    def get(self, key):
        return self.records.get(key)

    # -- reading ------------------------------------------------------------------------------

    def _refuse(self, why):
        return ValueError(
            f"cache {self.path} is not a d2l_helpers sweep cache ({why}); nothing was written to it. "
            "Pass another path for cache= (a new file is made there), or move this file away"
        )

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return  # a new cache (prepare() checks its folder)
        except IsADirectoryError:
            raise ValueError(
                f"cache {self.path} is a folder; give a file in it, such as {os.path.join(self.path, 'sweep.jsonl')}"
            ) from None
        except OSError as e:
            raise type(e)(f"cannot read the cache {self.path}: {e.strerror or e}") from None
        if not data:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise self._refuse("it is not UTF-8 text: a binary file?") from None
        lines = text.split("\n")  # lines[-1]: what follows the last newline ('' if the file ends with one)
        header = _json(lines[0])
        if isinstance(header, dict) and header.get("d2l_helpers") == "sweep cache":
            version = header.get("format")
            if version != FORMAT or isinstance(version, bool):
                newer = isinstance(version, int) and version > FORMAT
                raise ValueError(
                    f"cache {self.path} was written by {'a newer' if newer else 'another'} d2l_helpers (cache "
                    f"format {version!r}; this one reads format {FORMAT}): "
                    f"{'upgrade d2l_helpers, or ' if newer else ''}pass another cache= file"
                )
            self.state, first = "cache", 1
        elif self._is_format_1(lines):
            self.state, first = "format 1", 0
        else:
            raise self._refuse("its first line is not the cache's header")
        for number in range(first, len(lines)):
            self._read_line(lines[number], number + 1, last=number == len(lines) - 1)

    @staticmethod
    def _is_format_1(lines):
        """Every complete line is a record of the first format (no header): one of ours, from an earlier version."""
        records = [_json(line) for line in lines[:-1] if line.strip()]
        tail = _json(lines[-1]) if lines[-1].strip() else _NOT_JSON
        records += [tail] if tail is not _NOT_JSON else []  # (a tail cut short is dropped, as in a cache)
        return bool(records) and all(isinstance(r, dict) and set(r) == _FORMAT_1_KEYS for r in records)

    def _read_line(self, line, number, last):
        if not line.strip():
            return
        entry = _json(line)
        if entry is _NOT_JSON:
            if last:  # after the last newline: a line cut short by a crash
                self.cut_tail = True
                warnings.warn(
                    f"cache {self.path}: its last line is cut short ({len(line.encode())} bytes that are not JSON, "
                    "left by a crash while writing it); it is dropped at the next write, and its configuration "
                    "runs again",
                    stacklevel=4,
                )
                return
            raise ValueError(f"cache {self.path}, line {number}, is not JSON; delete that line")
        if not (
            isinstance(entry, dict)
            and _NEEDED <= set(entry)
            and isinstance(entry["key"], str)
            and isinstance(entry["function"], str)
            and isinstance(entry["error"], (str, type(None)))
        ):
            raise ValueError(
                f"cache {self.path}, line {number}, is not a result line of a sweep cache "
                f"(it needs the fields {sorted(_NEEDED)}); delete that line"
            )
        if entry["function"] != self.function:
            raise ValueError(
                f"cache {self.path} holds results of {entry['function']!r}, not of {self.function!r}; "
                "pass another cache file (or delete this one) for a different experiment"
            )
        foreign = _foreign_types(entry["value"], self.allowed)
        if foreign and self.state == "cache":
            raise ValueError(
                f"cache {self.path}, line {number}, names the type {foreign[0]!r} to restore its value. A sweep "
                f"cache restores only d2l_helpers' own result types ({', '.join(sorted(self.allowed))}), and "
                "d2l.sweep writes no other: this line was written or edited by something else. Nothing it names "
                "was imported or run. Delete that line (or the file) to go on"
            )
        if foreign:  # the first format named every dataclass so: kept as fields, never imported
            warnings.warn(
                f"cache {self.path}, line {number}: a value of type {foreign[0]!r} comes back as a dict of its "
                "fields (a cache never imports what it names)",
                stacklevel=4,
            )
        self.records[entry["key"]] = entry

    # -- writing ------------------------------------------------------------------------------

    def prepare(self):
        """Before the first configuration runs: make sure its result can be written (or fail now, clearly)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"the folder of cache {self.path} does not exist ({folder}); create it "
                f"(os.makedirs({folder!r})) or give another path"
            )
        try:
            if self.state == "new":
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _BINARY, 0o644)
                try:
                    if os.fstat(fd).st_size == 0:
                        os.write(fd, _HEADER_LINE)
                        os.fsync(fd)
                finally:
                    os.close(fd)
                self.state = "cache"
            elif self.state == "format 1":
                self._upgrade()
            else:
                os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | _BINARY))
        except OSError as e:
            raise type(e)(
                f"cannot write the cache {self.path} ({type(e).__name__}: {e.strerror or e}); nothing has run. "
                "Give a path you can write to"
            ) from None

    def _upgrade(self):
        """A first-format file gets the header in front, its lines unchanged (a new file put in its place)."""
        with open(self.path, "rb") as f:
            data = f.read()
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, temporary = tempfile.mkstemp(prefix=".sweep-cache-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_HEADER_LINE + data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, os.stat(self.path).st_mode & 0o7777)
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        self.state = "cache"
        warnings.warn(
            f"cache {self.path} was written by an earlier d2l_helpers: a header line was added in front; "
            f"its {len(self.records)} result line(s) are unchanged",
            stacklevel=4,
        )

    def append(self, key, record, code):
        """Add one finished configuration: one line, one write, fsync'ed."""
        entry = {
            "key": key,
            "function": self.function,
            "code": code,
            "python": PYTHON,
            "params": json.loads(key),
            "value": _value_to_json(record.value, self.allowed),
            "seconds": record.seconds,
            "worker": record.worker,
            "error": record.error,
        }
        line = (json.dumps(entry) + "\n").encode("utf-8")
        # O_APPEND, no O_CREAT: prepare() made the file; one deleted since is a write error, said as such.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | _BINARY)
        try:
            os.write(fd, self._mend(fd) + line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[key] = entry

    def _mend(self, fd) -> bytes:
        """What must come before the next line: a newline after a complete last line; a cut-short one removed."""
        size = os.fstat(fd).st_size
        if size == 0:
            return _HEADER_LINE
        if _read_at(fd, size - 1, 1) == b"\n":
            return b""
        start = size
        while start > 0:  # back to the last newline, 4 KiB at a time (os.pread does not exist on Windows)
            begin = max(0, start - 4096)
            found = _read_at(fd, begin, start - begin).rfind(b"\n")
            if found >= 0:
                start = begin + found + 1
                break
            start = begin
        if _json(_read_at(fd, start, size - start).decode("utf-8", "replace")) is not _NOT_JSON:
            return b"\n"  # a complete line without its newline: kept, and given one
        if not self.cut_tail:  # (a tail cut short since we read the file: say so now)
            warnings.warn(f"cache {self.path}: dropped a last line cut short by a crash", stacklevel=5)
        os.ftruncate(fd, start)
        self.cut_tail = False
        return b""


_NOT_JSON = object()


def _json(line):
    try:
        return json.loads(line)
    except ValueError:
        return _NOT_JSON


def _read_at(fd, offset, size) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _value_to_json(value, allowed):
    try:
        return _to_json(value, allowed)
    except (RecursionError, TypeError, ValueError):  # a value that refers to itself: its text, cut short
        return {"__repr__": repr(value)[:200]}
