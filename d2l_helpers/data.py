"""The Time Machine corpus: download, tokens, vocabulary and minibatch iterators.

The pipeline is the book's (zh.d2l.ai §8.2-8.3, d2l.ai §9.2-9.3)::

    timemachine.txt --read_time_machine--> lines --tokenize--> tokens
        --Vocab--> corpus (a list of token indices) --iterators--> (X, Y)

Where the file comes from, in this order:

1. ``$D2L_DATA_DIR/timemachine.txt`` when ``D2L_DATA_DIR`` is set (offline
   use, mirrors, CI). Nothing is downloaded then.
2. The per-user cache (``$D2L_CACHE_DIR``, else ``$XDG_CACHE_HOME/d2l_helpers``,
   else ``~/.cache/d2l_helpers``).
3. A download from d2l's own server (``$D2L_DATA_URL`` overrides the base URL).

Every file is checked against its SHA-1 before use, including right after the
download, and a download is written to a temporary file that only replaces the
cached one once it is complete and verified.
"""

from __future__ import annotations

import collections
import hashlib
import http.client
import numbers
import os
import random
import re
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from .checks import check_bool, check_corpus, check_vocab_args
from .partfiles import part_prefix, remove_stale_parts
from .utils import check_int, check_positive

__all__ = [
    "DATA_HUB",
    "DATA_URL",
    "DataError",
    "SeqDataLoader",
    "Vocab",
    "count_corpus",
    "download",
    "load_corpus_time_machine",
    "load_data_time_machine",
    "load_heldout_time_machine",
    "read_time_machine",
    "seq_data_iter_random",
    "seq_data_iter_sequential",
    "tokenize",
]

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
TIME_MACHINE = ("timemachine.txt", "090b5e7e70c295757f55df93cb0a180b9691891a")
ENV_DATA_DIR = "D2L_DATA_DIR"
ENV_DATA_URL = "D2L_DATA_URL"
ENV_CACHE_DIR = "D2L_CACHE_DIR"


class DataError(OSError):
    """The data file is missing, corrupt, or could not be downloaded."""


# --------------------------------------------------------------------------
# Download and cache
# --------------------------------------------------------------------------


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """The folder downloads are cached in (see the module docstring)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "d2l_helpers"


_user_cache = cache_dir  # for download(), whose 0.17 keyword ``cache_dir`` hides this function's name


def _how_to_provide(name: str, sha1: str) -> str:
    return (
        f"To work offline, put {name} (sha1 {sha1}) in a folder and set "
        f"{ENV_DATA_DIR} to that folder; to use a mirror, set {ENV_DATA_URL} "
        "to its base URL."
    )


DOWNLOAD_DEADLINE = 300.0  # seconds for a whole download (the Time Machine is 0.2 MB)


def _fetch(url: str, dest: Path, sha1: str, timeout: float, deadline: float) -> None:
    """Stream ``url`` into ``dest`` atomically, verifying its SHA-1 first; give up after ``deadline`` seconds."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(dest.parent, dest.name)
        fd, tmp = tempfile.mkstemp(prefix=part_prefix(dest.name), suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(
            f"Cannot write to the cache folder {dest.parent}: {e}. Set {ENV_CACHE_DIR} to a folder you can "
            f"write to, or {ENV_DATA_DIR} to a folder that holds {dest.name}."
        ) from e
    try:
        h, received, end = hashlib.sha1(), 0, time.monotonic() + deadline
        # timeout bounds each wait for the server (at most the deadline); the deadline, the whole download.
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=min(timeout, deadline)) as r:
            read = getattr(r, "read1", r.read)  # read1: what one read of the socket gives, so the clock is checked
            while True:
                if time.monotonic() > end:
                    raise DataError(
                        f"Downloading {url} did not finish within deadline={deadline:g} seconds ({received} bytes "
                        "received): the server is too slow or stalled. Nothing was written to the cache. Try "
                        "again later, or pass a longer deadline=. " + _how_to_provide(dest.name, sha1)
                    )
                block = read(1 << 16)
                if not block:
                    break
                received += len(block)
                h.update(block)
                out.write(block)
        if sha1 is not None and h.hexdigest() != sha1:
            raise DataError(
                f"Downloaded {url} but its sha1 is {h.hexdigest()}, expected {sha1} "
                "(truncated or modified in transit?). Nothing was written to the cache. "
                + _how_to_provide(dest.name, sha1)
            )
        # mkstemp makes the file private (0600); give the cached copy the
        # permissions of any new file, so that a shared cache stays readable.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except DataError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError is an OSError
        raise DataError(f"Could not download {url}: {e}. " + _how_to_provide(dest.name, sha1)) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ``d2l.DATA_HUB[name] = (url, sha1)``: the registry of 0.17.6 (zh §8.2 adds to it, then calls ``download(name)``).
DATA_HUB: dict[str, tuple[str, str]] = {"time_machine": (DATA_URL + TIME_MACHINE[0], TIME_MACHINE[1])}
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


def _resolve(name, second, sha1_hash, sha1, folder, cache_dir):
    """(file name, URL, sha1 or None, folder or None) for each call form of :func:`download`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"download needs a file name, a DATA_HUB name or a URL, got {name!r}")
    if isinstance(second, str) and _SHA1.fullmatch(second):
        sha1 = sha1 or second  # ours: download(file_name, sha1)
    elif second is not None:
        folder = folder or second  # 0.17's download(name, cache_dir), 1.0's download(url, folder, sha1_hash)
    folder = folder or cache_dir
    sha1 = sha1 or sha1_hash
    base = (os.environ.get(ENV_DATA_URL) or DATA_URL).rstrip("/") + "/"
    known = {u.rsplit("/", 1)[-1]: h for u, h in DATA_HUB.values()}  # file name -> sha1
    if "://" in name:  # 1.0: a URL; d2l's own server is replaced by $D2L_DATA_URL
        url = base + name[len(DATA_URL) :] if name.startswith(DATA_URL) else name
        file_name = name.rstrip("/").rsplit("/", 1)[-1]
        return file_name, url, sha1 or known.get(file_name), folder
    if name in DATA_HUB:  # 0.17: a registered name
        url, hub_sha1 = DATA_HUB[name]
        return _resolve(url, None, sha1 or hub_sha1, None, folder, None)
    sha1 = sha1 or known.get(name)
    if sha1 is None:
        raise KeyError(
            f"{name!r} is neither in d2l.DATA_HUB ({sorted(DATA_HUB)}) nor a URL. Register it first, as the book "
            "does: d2l.DATA_HUB[name] = (d2l.DATA_URL + file_name, sha1), or pass its sha1."
        )
    return name, base + name, sha1, folder  # ours: a file on d2l's server


def download(
    name: str = TIME_MACHINE[0],
    folder_or_sha1=None,
    sha1_hash=None,
    *,
    sha1=None,
    folder=None,
    cache_dir=None,
    timeout: float = 30.0,
    deadline: float | None = None,
) -> str:
    """Return the local path of a verified copy of a file, downloading it if needed.

    One function for the three call forms in use (each line: which edition it serves):

    * ``download()`` / ``download(file_name, sha1)``: this package's (the Time Machine by default);
    * ``download(name)`` / ``download(name, cache_dir)`` with ``name`` in ``DATA_HUB``: d2l 0.17.6 (zh edition);
    * ``download(url, folder, sha1_hash)``: d2l 1.0 (English edition, ``TimeMachine._download``).

    Where the file is: a good copy already in the ``folder``/``cache_dir`` the caller
    names (as upstream's finds it there, offline too); else ``$D2L_DATA_DIR/<file>`` when
    that is set (offline; nothing is downloaded); else that ``folder`` (created if
    needed); else the per-user cache (``$D2L_CACHE_DIR``, see :func:`cache_dir`).
    Every copy is checked against its SHA-1 (1.0 allows ``sha1_hash=None``: then a
    file that ``DATA_HUB`` knows is still checked, any other is used as found), and
    a download replaces the file only once it is complete and verified.

    ``timeout`` bounds each wait for the server, ``deadline`` (default
    ``DOWNLOAD_DEADLINE``, 300) the whole download, in seconds; past either, it
    fails with a :class:`DataError`. The file stays in its folder: a name with a
    path separator or ``..`` is refused.
    """
    timeout = check_positive("timeout", timeout)
    deadline = check_positive("deadline", DOWNLOAD_DEADLINE if deadline is None else deadline)
    file_name, url, sha1, folder = _resolve(name, folder_or_sha1, sha1_hash, sha1, folder, cache_dir)
    if file_name in ("", ".", "..") or any(sep in file_name for sep in ("/", "\\", os.sep)):
        raise ValueError(
            f"download: the file name {file_name!r} (from {name!r}) would leave the data folder: a name must not "
            "hold a path separator or '..'. Pass the folder separately: download(url, folder, sha1_hash)."
        )
    if folder is not None:  # a good copy in the folder the caller named comes first (a bad one: see below)
        path = Path(os.fspath(folder)).expanduser() / file_name
        if path.is_file() and (sha1 is None or _sha1(path) == sha1):
            return str(path)
    data_dir = os.environ.get(ENV_DATA_DIR)
    if data_dir:
        path = Path(data_dir).expanduser() / file_name
        if not path.is_file():
            raise DataError(
                f"{ENV_DATA_DIR} is set, so {file_name} is expected at {path}, but there is no such file. "
                f"Copy {file_name} (sha1 {sha1}) there, or unset {ENV_DATA_DIR} to download it."
            )
        if sha1 is not None and _sha1(path) != sha1:
            raise DataError(
                f"{path} has sha1 {_sha1(path)}, expected {sha1}: it is not the file d2l "
                "uses (truncated or edited?). Replace it with a good copy."
            )
        return str(path)

    path = (Path(os.fspath(folder)).expanduser() if folder is not None else _user_cache()) / file_name
    if path.is_file():
        if sha1 is None or _sha1(path) == sha1:
            return str(path)
        print(f"Cached {path} fails its sha1 check; downloading it again.")
    print(f"Downloading {path} from {url}...")
    _fetch(url, path, sha1, timeout, deadline)
    return str(path)


# --------------------------------------------------------------------------
# Text, tokens, vocabulary
# --------------------------------------------------------------------------


def read_time_machine() -> list[str]:
    """Load The Time Machine as lines of lower-case letters and single spaces."""
    with open(download(), encoding="utf-8") as f:
        lines = f.readlines()
    return [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in lines]


def tokenize(lines: list[str], token: str = "word") -> list[list[str]]:
    """Split text lines into word or character tokens."""
    if token == "word":
        return [line.split() for line in lines]
    if token == "char":
        return [list(line) for line in lines]
    raise ValueError(f"token must be 'word' or 'char', got {token!r}")


def count_corpus(tokens) -> collections.Counter:
    """Count token frequencies in a 1D or 2D list of tokens."""
    if len(tokens) == 0 or isinstance(tokens[0], list):
        tokens = [tok for line in tokens for tok in line]
    return collections.Counter(tokens)


class Vocab:
    """Map tokens to indices, most frequent first; index 0 is ``<unk>``."""

    def __init__(self, tokens=None, min_freq: int = 0, reserved_tokens=None) -> None:
        tokens = [] if tokens is None else tokens
        reserved_tokens = [] if reserved_tokens is None else reserved_tokens
        tokens, reserved_tokens = check_vocab_args(tokens, min_freq, reserved_tokens, unique=True)
        counter = count_corpus(tokens)
        # A stable sort: equally frequent tokens keep their first-seen order,
        # exactly as in upstream d2l, so indices match the book's.
        self._token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = ["<unk>"] + list(reserved_tokens)
        self.token_to_idx = {tok: idx for idx, tok in enumerate(self.idx_to_token)}
        for tok, freq in self._token_freqs:
            if freq < min_freq:
                break
            if tok not in self.token_to_idx:
                self.idx_to_token.append(tok)
                self.token_to_idx[tok] = len(self.idx_to_token) - 1

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(tok) for tok in tokens]

    def __contains__(self, token) -> bool:
        return token in self.token_to_idx

    def to_tokens(self, indices):
        if not isinstance(indices, (list, tuple)):
            return self.idx_to_token[indices]
        return [self.idx_to_token[i] for i in indices]

    @property
    def unk(self) -> int:
        return 0

    @property
    def token_freqs(self):
        return self._token_freqs


def _time_machine_chars() -> tuple[list[int], Vocab]:
    tokens = tokenize(read_time_machine(), "char")
    vocab = Vocab(tokens)
    # Lines are not sentences, so flatten them into one long sequence.
    return [vocab[tok] for line in tokens for tok in line], vocab


def load_corpus_time_machine(max_tokens: int = -1) -> tuple[list[int], Vocab]:
    """Return the character indices of the book (the first ``max_tokens``; -1, the book's value: all) and its vocab."""
    max_tokens = check_int("max_tokens", max_tokens, minimum=None)
    if max_tokens == 0 or max_tokens < -1:
        raise ValueError(f"max_tokens must be a positive int, or -1 for the whole book, got {max_tokens!r}")
    corpus, vocab = _time_machine_chars()
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


# --------------------------------------------------------------------------
# Minibatch iterators
# --------------------------------------------------------------------------
#
# Both iterators cut the corpus into subsequences of ``num_steps`` tokens; the
# label Y is X shifted by one token. With corpus 0 1 2 ... 34, batch_size=2,
# num_steps=5 and a random offset of 2:
#
#   random sampling: cut after the offset, shuffle the pieces, deal them out
#     [2 3 4 5 6] [7 8 9 10 11] [12 ..16] [17 ..21] [22 ..26] [27 ..31]
#      batch 1: X = pieces 4, 1    batch 2: X = pieces 6, 2    batch 3: ...
#     Neighbouring batches are not neighbours in the text: reset the state.
#
#   sequential partitioning: split the text after the offset into batch_size
#   rows, then walk along the rows num_steps at a time
#     row 0: [2  3  4  5  6 ][7  8  9 10 11][12 13 14 15 16]
#     row 1: [18 19 20 21 22][23 24 25 26 27][28 29 30 31 32]
#            \_ batch 1 ____/ \_ batch 2 ___/ \_ batch 3 ___/
#     Row i of batch k+1 continues row i of batch k: carry the state over
#     (and detach it, so gradients stop at the batch boundary).


def _as_rng(rng) -> random.Random:
    """A ``random.Random`` from an int seed, a generator, or None.

    None draws a fresh generator's seed from Python's ``random``, so
    :func:`set_seed` controls it while iteration itself never touches the
    global generator.
    """
    if rng is None:
        return random.Random(random.getrandbits(64))
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return random.Random(int(rng))
    raise TypeError(f"rng must be None, an int seed or a random.Random, got {type(rng).__name__}")


def _check_fits(corpus_len: int, batch_size: int, num_steps: int, random_iter: bool) -> tuple[int, int]:
    """``(batch_size, num_steps)`` as ints; raise unless every possible offset yields a minibatch."""
    batch_size, num_steps = check_int("batch_size", batch_size), check_int("num_steps", num_steps)
    if random_iter:  # worst offset num_steps - 1, and one token kept for the labels
        needed = batch_size * num_steps + num_steps
    else:  # worst offset num_steps; each row needs num_steps tokens plus a label
        needed = (batch_size + 1) * num_steps + 1
    if corpus_len < needed:
        raise ValueError(
            f"A corpus of {corpus_len} tokens is too short for batch_size={batch_size} and "
            f"num_steps={num_steps}: at least {needed} tokens are needed for one minibatch "
            "whatever the random offset. Use a smaller batch_size or num_steps, or more tokens."
        )
    return batch_size, num_steps


def seq_data_iter_random(corpus, batch_size: int, num_steps: int, rng=None):
    """Yield minibatches of subsequences by random sampling (see the diagram above)."""
    batch_size, num_steps = _check_fits(len(corpus), batch_size, num_steps, random_iter=True)
    rng = _as_rng(rng)
    corpus = corpus[rng.randint(0, num_steps - 1) :]
    num_subseqs = (len(corpus) - 1) // num_steps
    initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(initial_indices)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        starts = initial_indices[i : i + batch_size]
        X = [corpus[j : j + num_steps] for j in starts]
        Y = [corpus[j + 1 : j + 1 + num_steps] for j in starts]
        yield torch.tensor(X), torch.tensor(Y)


def seq_data_iter_sequential(corpus, batch_size: int, num_steps: int, rng=None, offset=None):
    """Yield minibatches by sequential partitioning (see the diagram above).

    ``offset`` fixes the starting offset instead of drawing it from ``rng``.
    """
    batch_size, num_steps = _check_fits(len(corpus), batch_size, num_steps, random_iter=False)
    if offset is None:
        offset = _as_rng(rng).randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = torch.tensor(corpus[offset : offset + num_tokens]).reshape(batch_size, -1)
    Ys = torch.tensor(corpus[offset + 1 : offset + 1 + num_tokens]).reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield Xs[:, i : i + num_steps], Ys[:, i : i + num_steps]


class SeqDataLoader:
    """An iterable over minibatches of the Time Machine, new offsets every epoch.

    ``seed`` (an int) makes the batch order repeatable; by default the loader's
    generator is seeded from Python's ``random`` when it is created.
    """

    def __init__(self, batch_size, num_steps, use_random_iter, max_tokens, seed=None, corpus=None, vocab=None):
        batch_size, num_steps = check_int("batch_size", batch_size), check_int("num_steps", num_steps)
        self.use_random_iter = check_bool("use_random_iter", use_random_iter)
        self.data_iter_fn = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
        if corpus is None:
            corpus, vocab = load_corpus_time_machine(max_tokens)
        else:
            check_corpus(corpus, vocab)
        self.corpus, self.vocab = corpus, vocab
        self.batch_size, self.num_steps = batch_size, num_steps
        self.rng = _as_rng(seed)
        _check_fits(len(self.corpus), batch_size, num_steps, self.use_random_iter)  # fail now, not later

    def __iter__(self):
        return self.data_iter_fn(self.corpus, self.batch_size, self.num_steps, rng=self.rng)


def load_data_time_machine(batch_size, num_steps, use_random_iter=False, max_tokens=10000, seed=None):
    """Return the minibatch iterator and the vocabulary of the Time Machine."""
    data_iter = SeqDataLoader(batch_size, num_steps, use_random_iter, max_tokens, seed=seed)
    return data_iter, data_iter.vocab


class _HeldOut:
    """Fixed sequential minibatches over a slice of text (no random offset)."""

    def __init__(self, corpus, batch_size, num_steps):
        batch_size, num_steps = check_int("batch_size", batch_size), check_int("num_steps", num_steps)
        if len(corpus) < batch_size * num_steps + 1:
            raise ValueError(f"{len(corpus)} held-out tokens are too few for one {batch_size}x{num_steps} minibatch")
        self.corpus, self.batch_size, self.num_steps = corpus, batch_size, num_steps
        self.use_random_iter = False

    def __iter__(self):
        return seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps, offset=0)


def load_heldout_time_machine(batch_size, num_steps, start=10000, num_tokens=10000):
    """Minibatches over the text that follows the training slice, and the vocab.

    ``load_data_time_machine(..., max_tokens=10000)`` trains on the book's
    first 10,000 characters; this returns the next ``num_tokens`` characters
    (from ``start``) in a fixed sequential order, with the same vocabulary, so
    that perplexity can be measured on text the model never saw.
    """
    start, num_tokens = check_int("start", start, minimum=0), check_int("num_tokens", num_tokens)
    corpus, vocab = load_corpus_time_machine()
    if start + num_tokens > len(corpus):  # check_int has ruled out negative and empty slices
        raise ValueError(
            f"start={start} and num_tokens={num_tokens} must select a slice "
            f"inside the corpus of {len(corpus)} characters"
        )
    return _HeldOut(corpus[start : start + num_tokens], batch_size, num_steps), vocab
