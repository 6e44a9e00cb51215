"""Keep the Chinese notebooks (notebooks/zh/) in step with the English ones (notebooks/).

    make zh                                   # sync every notebook; print what translators must do
    python tools/sync_zh.py 02_gru_scratch    # only these notebooks
    python tools/sync_zh.py --check           # CI: change nothing; exit 1 on any problem
    python tools/sync_zh.py --done notebooks/zh/02_gru_scratch.ipynb [CELL_ID ...]

The English notebook is the one source of truth. A Chinese notebook has the same file name, the same
cells in the same order and with the same cell ids, one Chinese cell per English cell:

* a code cell is a copy of the English one (source, outputs, execution count, metadata and tags). Only
  its comments may be translated, and a comment is translated when it has a Chinese character (``CJK``):
  a Chinese code cell without one is a copy, and the sync writes the English cell. One with one, whose
  tokens, comments left out, equal the English cell's, keeps its comments and records the English source
  they translate: ``metadata["zh"] = {"en_sha1": ..., "en_source": ...}``. When the English source
  changes and its tokens do not, the cell is *stale* (the report shows the English lines that changed);
  so is one with no record. When the English code changes (its tokens), the sync writes the English code
  and keeps the Chinese source in the record (``"previous_source"``, ``"untranslated": true``), reported
  (*comments*, with the diff to the English code) until its comments are translated again and marked
  done. An existing ``previous_source`` is never overwritten: a re-translation (Chinese comments) cut
  short by another English code change is kept in ``"partial_source"`` (a later one replaces it). Any
  other code difference is replaced by the English code and reported (*code*). A code cell with Chinese
  comments or a ``previous_source`` whose English cell got a new id follows it, to the one new English
  code cell whose source has the recorded hash, else the one with the same code; if none or several
  match, it becomes an *orphan* markdown cell holding, fenced, its source and the sources in its record
  (kept and reported, never run). The first cell, the install cell of tools/notebook_cells.py, stays
  exactly the English one;
* a markdown cell holds the translation, and its metadata records what it translates:
  ``metadata["zh"] = {"en_id": ..., "en_sha1": ..., "en_source": ...}``, the English cell's id, the SHA-1 of
  its source text (UTF-8) and that text, as they were when the translation was last brought up to date.
  When the English text changes, the hash no longer matches: the cell is *stale*, and the report shows
  the English lines that changed (old text from ``en_source``, new from the English notebook). Its
  attachments are the English cell's, plus those of its own that the English cell has no name for;
* an English markdown cell with no translation gets a Chinese cell holding the English text with
  ``"untranslated": true`` in its ``zh`` metadata (a new notebook gets such a skeleton);
* a Chinese markdown cell that translates no English cell (its cell was deleted, or the cell was added in
  the Chinese notebook) is an *orphan*: it is kept, after the cell it followed, so its text is not lost,
  and reported until someone merges or deletes it. If only the English cell's id changed and its text did
  not, the translation is linked to it again by the hash.

The notebook metadata (kernelspec, language_info) is copied from the English notebook.

After translating or updating a cell, ``--done NOTEBOOK CELL_ID ...`` records the English text it now
translates (hash and text), clearing ``previous_source`` and ``partial_source``; a code cell equal to the
English one loses its record. Without cell ids, it does so for every untranslated cell whose text is no
longer the English text, and every code cell with Chinese comments and no record yet; a stale cell and a
set-aside code cell must be named, so that nobody marks one done unread. English code cells keep Chinese
characters out of their comments (tests/test_zh_sync.py checks it): a copy of one would look translated.
Naming a set-aside code cell without Chinese comments is refused (nothing is written) unless
``--drop-set-aside`` is given, which drops its old translation.

Running the tool twice changes nothing the second time. ``--check`` writes nothing and exits 1 when any
notebook has a stale, untranslated or orphaned cell, a code cell whose comments need translating again,
differs from what a sync would write (code, outputs, metadata, order), is missing, or has no English
notebook; tests/test_zh_sync.py runs it in CI.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KEY = "zh"  # the key of the translation record in a Chinese cell's metadata
CJK = re.compile(r"[\u4e00-\u9fff]")  # a Chinese character: what makes a comment translated

# What a finding means, and whether a person must act on it (the others are done by a sync).
KINDS = {
    "missing": "no Chinese notebook yet",
    "no-english": "a Chinese notebook without an English notebook of the same name",
    "stale": "the English text changed since this cell was translated (or it was not recorded)",
    "untranslated": "not translated yet",
    "orphan": "translates no English cell: merge its text into the cell it belongs to, or delete it",
    "comments": "the English code changed: the English code is written, translate its comments again "
    "(the old Chinese cell is kept in its metadata, zh.previous_source)",
    "code": "the code differed from the English cell beyond comments: a sync takes the English code",
    "unsynced": "differs from the English notebook in code, outputs, metadata or order: a sync copies them",
}
HUMAN = {"missing", "stale", "untranslated", "orphan", "no-english", "comments"}


@dataclass
class Finding:
    kind: str
    where: str  # "cell 7 (id 4ec36295)", or "" for the whole notebook
    text: str = ""  # the first line of the cell, to find it in Jupyter
    detail: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = " ".join(s for s in (f"  {self.kind:12s}", self.where, f'"{self.text}"' if self.text else "") if s)
        head = head.rstrip()
        return [f"{head}: {KINDS[self.kind]}", *(f"      {line}" for line in self.detail)]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def code_tokens(source: str) -> list[tuple[int, str]] | None:
    """The cell's Python tokens without comments and comment-only lines; None if it does not tokenize.

    COMMENT tokens are dropped, and so are NL tokens (the newlines that end no statement: blank
    lines, comment-only lines, lines inside brackets), so translating a comment, or putting it on a
    line of its own, leaves the stream unchanged. Strings, docstrings included, are tokens: they stay
    as the English code has them.
    """
    tokens = _tokens(source)
    return (
        None
        if tokens is None
        else [(t.type, t.string) for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL)]
    )


def _tokens(source: str) -> list[tokenize.TokenInfo] | None:
    """The cell's Python tokens, comments included; None if it does not tokenize."""
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        return None


def same_code(english: str, chinese: str) -> bool:
    """True when the two sources differ at most in comments (equal sources when one does not tokenize)."""
    if english == chinese:
        return True
    en, zh = code_tokens(english), code_tokens(chinese)
    return en is not None and en == zh


def _first_line(text: str) -> str:
    line = next((s for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, n=0, lineterm="")
    return [line for line in lines if not line.startswith("@@")]


def _english_changes(record: dict, text: str) -> list[str]:
    """The English lines that changed since the translation recorded in `record`."""
    before = record.get("en_source")
    if not isinstance(before, str):
        return ["(the English text it translated was not recorded)"]
    return _diff(before, text, "English text it translates", "English text now")


def _done_hint(cid: str) -> str:
    return f"python tools/sync_zh.py --done notebooks/zh/<this notebook> {cid}"


def _record(cell) -> dict:
    record = cell.get("metadata", {}).get(KEY)
    return record if isinstance(record, dict) else {}


def _translated(source: str) -> bool:
    """True when one of the cell's comments (its lines holding a "#" where it does not tokenize) has a
    Chinese character: a code cell without one is a copy of the English cell, whatever its comments say."""
    tokens = _tokens(source)
    if tokens is None:
        comments = [line for line in source.splitlines() if "#" in line]
    else:
        comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    return any(CJK.search(c) for c in comments)


def _translation(en_cell, source: str, record: dict, old=None):
    """A Chinese markdown cell for en_cell: the English cell's metadata, this text and record, and as
    attachments those of the Chinese cell `old` (an image pasted into the translation) updated by all of
    the English cell's (the English image wins where both have one of that name)."""
    cell = copy.deepcopy(en_cell)
    cell["source"] = source
    cell["metadata"][KEY] = record
    attachments = {**((old or {}).get("attachments") or {}), **(en_cell.get("attachments") or {})}
    if attachments:
        cell["attachments"] = copy.deepcopy(attachments)
    return cell


def skeleton(en_cell, old=None):
    """An untranslated Chinese cell: the English text, flagged."""
    text = en_cell["source"]
    record = {"en_id": en_cell["id"], "en_sha1": sha1(text), "en_source": text, "untranslated": True}
    return _translation(en_cell, text, record, old)


def _code_cell(en_cell, old, where: str, first: bool) -> tuple[dict, Finding | None]:
    """The Chinese code cell for en_cell, given the Chinese cell `old` (or None), and what needs a person."""
    new, text = copy.deepcopy(en_cell), en_cell["source"]
    if old is None or (old["source"] == text and not _record(old).get("untranslated")):
        return new, None  # the English cell, no record: nothing translated
    record, cid, line = _record(old), en_cell["id"], _first_line(text)
    done = _done_hint(cid)
    ours, previous, partial = _translated(old["source"]), record.get("previous_source"), record.get("partial_source")
    if first or not (ours or previous is not None):  # a copy of the English cell: the English cell
        if first or not same_code(text, old["source"]):
            diff = _diff(old["source"], text, "Chinese notebook", "English notebook")
            if first:
                diff.insert(0, "(the install cell stays exactly as tools/notebook_cells.py writes it)")
            return new, Finding("code", where, line, diff)
        return new, None
    if previous is None and same_code(text, old["source"]):  # same code, translated comments
        new["source"] = old["source"]
        if record:
            new["metadata"][KEY] = record
        if record.get("en_sha1") == sha1(text) and not record.get("untranslated"):
            return new, None
        changes = _english_changes(record, text)
        return new, Finding("stale", where, _first_line(old["source"]), [*changes, f"then: {done}"])
    if ours and same_code(text, old["source"]):  # set aside, and its comments are being translated again
        new["source"], new["metadata"][KEY] = old["source"], record
    else:  # the English code changed: write it; set the Chinese comments aside, never over older ones
        if previous is None:
            previous = old["source"]
        elif ours:  # a re-translation interrupted by another English change
            partial = old["source"]
        record = {"en_sha1": sha1(text), "en_source": text, "untranslated": True, "previous_source": previous}
        new["metadata"][KEY] = dict(record, **({"partial_source": partial} if partial is not None else {}))
    diff = _diff(previous, text, "Chinese cell before (comments translated)", "English code now")
    if partial is not None:
        diff += _diff(partial, text, "Chinese cell partly translated again (zh.partial_source)", "English code now")
    if new["metadata"][KEY].get("en_sha1") != sha1(text):
        diff += ["the English changed meanwhile:", *_english_changes(new["metadata"][KEY], text)]
    return new, Finding("comments", where, line, [*diff, f"when its comments are translated: {done}"])


def _code_orphan(cell, matched: int):
    """A translated code cell that matches no English cell (or several), as an orphan markdown cell holding
    its translations in fenced blocks (kept, never run), and the report's detail lines."""
    record, source = _record(cell), cell["source"]
    blocks = [  # (what, source): its translations, and its source where that is one
        ("its source", source if _translated(source) or "previous_source" not in record else None),
        (
            "its comments translated, before the English code changed (zh.previous_source)",
            record.get("previous_source"),
        ),
        ("its comments, partly translated again (zh.partial_source)", record.get("partial_source")),
    ]
    blocks = [(what, src) for what, src in blocks if src is not None]
    fence = "```"
    while any(fence in src for _, src in blocks):
        fence += "`"  # longer than any run of backticks in the sources
    note = f"Translated code cell {cell.get('id')}: its English code cell is gone or not unique ({matched} matched)."
    body = "\n\n".join(f"{what}:\n\n{fence}python\n{src}\n{fence}" for what, src in blocks)
    detail = [note, "copy its comments where they belong, then delete this cell;"]
    for what, src in blocks:
        detail += [f"{what}:", *src.splitlines()]
    return nbformat.v4.new_markdown_cell(f"{note}\n\n{body}", id=cell.get("id")), detail


def sync_notebook(en, zh=None) -> tuple[nbformat.NotebookNode, list[Finding]]:
    """The Chinese notebook as it should be, and what needs a person. en, zh: nbformat v4 notebooks."""
    en_cells = en["cells"]
    en_by_id = {c["id"]: c for c in en_cells}
    kinds = {c["id"]: c["cell_type"] == "code" for c in en_cells}  # id -> is a code cell
    found: list[Finding] = []
    code, trans, unmatched = {}, {}, []  # en id -> zh cell; [(zh cell, id of the English cell it followed)]
    loose, anchor = [], None  # the same for code cells with translated comments (a record) that lost their id
    for cell in zh["cells"] if zh is not None else []:
        if cell["cell_type"] == "code":
            if kinds.get(cell.get("id")) is True and cell["id"] not in code:
                code[cell["id"]], anchor = cell, cell["id"]
            elif "previous_source" in _record(cell) or _translated(cell["source"]):
                loose.append((cell, anchor))
            continue  # any other code cell the English notebook no longer has goes, like any code change
        en_id = _record(cell).get("en_id")
        if kinds.get(en_id) is False and en_id not in trans:
            trans[en_id], anchor = cell, en_id
        else:
            unmatched.append((cell, anchor))
    # A translation whose English cell got a new id but kept its text: link it by the hash.
    free = {}
    for c in en_cells:
        if not kinds[c["id"]] and c["id"] not in trans:
            free.setdefault(sha1(c["source"]), []).append(c["id"])
    orphans = []  # copies: the notebook read in stays as it was, for the comparison below
    rank = {id(cell): n for n, cell in enumerate(zh["cells"] if zh is not None else [])}
    for cell, after in unmatched:
        ids = free.get(_record(cell).get("en_sha1"), [])
        if len(ids) == 1 and not _record(cell).get("untranslated"):
            record = dict(_record(cell), en_id=ids.pop())
            trans[record["en_id"]] = _translation(en_by_id[record["en_id"]], cell["source"], record, cell)
        else:
            orphans.append((copy.deepcopy(cell), after))
            rank[id(orphans[-1][0])] = rank[id(cell)]
    # Translated code whose English cell got a new id (cut and pasted, split): link it by the hash of the
    # English code it translates, else by its code. Failing that, or if several match, it becomes an orphan
    # markdown cell holding its source: kept, reported, and never run.
    was_code = {}  # id(orphan markdown cell) -> its report
    for cell, after in loose:
        spare = [c for c in en_cells if kinds[c["id"]] and c["id"] not in code]
        ids = [c["id"] for c in spare if sha1(c["source"]) == _record(cell).get("en_sha1")]
        ids = ids or [c["id"] for c in spare if same_code(c["source"], cell["source"])]
        if len(ids) == 1:
            code[ids[0]] = cell
            continue
        md, detail = _code_orphan(cell, len(ids))
        was_code[id(md)] = detail
        orphans.append((md, after))
        rank[id(md)] = rank[id(cell)]
    orphans.sort(key=lambda orphan: rank[id(orphan[0])])  # as they were in the Chinese notebook

    cells = [cell for cell, after in orphans if after is None]
    for en_cell in en_cells:
        cid, text = en_cell["id"], en_cell["source"]
        where = f"cell {len(cells) + 1} (id {cid})"
        if kinds[cid]:
            new, finding = _code_cell(en_cell, code.get(cid), where, en_cell is en_cells[0])
            found.extend([finding] if finding else [])
        elif cid not in trans:
            new = skeleton(en_cell)
            found.append(Finding("untranslated", where, _first_line(text)))
        else:
            old = trans[cid]
            record = dict(_record(old), en_id=cid)
            changed = record.get("en_sha1") != sha1(text)
            diff = _english_changes(record, text) if changed else []
            if record.get("untranslated") and sha1(old["source"]) == record.get("en_sha1"):
                new = skeleton(en_cell, old)  # not started: follow the English text
                found.append(Finding("untranslated", where, _first_line(text)))
            elif record.get("untranslated"):  # being translated: keep the text, show what changed meanwhile
                new = _translation(en_cell, old["source"], record, old)
                diff.append(f"when it is translated: {_done_hint(cid)}")
                found.append(Finding("untranslated", where, _first_line(old["source"]), diff))
            else:
                new = _translation(en_cell, old["source"], record, old)
                if changed:
                    diff.append(f"then: {_done_hint(cid)}")
                    found.append(Finding("stale", where, _first_line(old["source"]), diff))
        cells.append(new)
        cells.extend(cell for cell, after in orphans if after == cid)
    used = {c["id"] for c in en_cells}
    for n, cell in enumerate(cells, 1):
        if any(cell is orphan for orphan, _ in orphans):
            if cell.get("id") in used or not cell.get("id"):  # keep ids unique, deterministically
                cell["id"] = sha1(cell["source"])[:8] + "-zh"
            used.add(cell["id"])
            detail = was_code.get(id(cell), [])
            found.append(Finding("orphan", f"cell {n} (id {cell['id']})", _first_line(cell["source"]), detail))

    new_nb = nbformat.v4.new_notebook()
    new_nb["nbformat"], new_nb["nbformat_minor"] = en["nbformat"], en["nbformat_minor"]
    new_nb["metadata"] = copy.deepcopy(en["metadata"])
    new_nb["cells"] = cells
    if zh is not None and zh != new_nb and not any(f.kind in ("code", "comments") for f in found):
        found.append(Finding("unsynced", "", detail=_changes(zh, new_nb)))
    return new_nb, sorted(found, key=lambda f: list(KINDS).index(f.kind))


def _changes(old, new) -> list[str]:
    """What a sync changes, cell by cell (for --check's report)."""
    lines = []
    if old["metadata"] != new["metadata"]:
        lines.append("notebook metadata")
    if [c.get("id") for c in old["cells"]] != [c["id"] for c in new["cells"]]:
        lines.append("the cells or their order (the Chinese notebook must follow the English cells one to one)")
    old_by_id = {c.get("id"): c for c in old["cells"]}
    for n, cell in enumerate(new["cells"], 1):
        before = old_by_id.get(cell["id"])
        if before is None or before == cell:
            continue
        keys = ("source", "outputs", "execution_count", "metadata", "attachments")
        what = [k for k in keys if before.get(k) != cell.get(k)]
        lines.append(f"cell {n} (id {cell['id']}): {', '.join(what) or 'cell type'}")
    return lines


def mark_done(zh, en, ids: list[str], drop: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Record the current English text as translated, for the named cells (all changed untranslated ones if none).

    zh must be synced already. Returns (cells marked, cells left, set-aside code cells marked without their
    comments translated again, whose old translation, previous_source, is dropped: only with drop). Without
    ids, a code cell is marked only if it has Chinese comments and holds no set-aside translation (name
    it). A named cell that is neither a translation of
    an English markdown cell nor a code cell of the English notebook, a code cell whose code differs from the
    English beyond comments or that differs without Chinese comments, or (without drop) a set-aside code cell
    without Chinese comments, is an error, before anything changes.
    """
    en_by_id = {c["id"]: c for c in en["cells"]}
    cells = {  # id -> cell: the code cells and the markdown cells that translate an English cell
        c["id"]: c
        for c in zh["cells"]
        if c.get("id") in en_by_id and (c["cell_type"] == "code" or _record(c).get("en_id") == c["id"])
    }
    unknown = [i for i in ids if i not in cells]
    if unknown:
        raise ValueError(
            f"cell ids {unknown} are not translated markdown cells or code cells of this notebook; "
            "use the ids that the report of `python tools/sync_zh.py` prints"
        )
    code = [i for i in ids if cells[i]["cell_type"] == "code" and not _translated(cells[i]["source"])]
    beyond = [
        i for i in ids if cells[i]["cell_type"] == "code" and not same_code(en_by_id[i]["source"], cells[i]["source"])
    ]
    beyond += [i for i in code if i not in beyond and cells[i]["source"] != en_by_id[i]["source"]]
    if beyond:
        raise ValueError(
            f"code cells {beyond} differ from the English code beyond comments, or without Chinese comments: "
            "run a sync first"
        )
    aside = [i for i in code if "previous_source" in _record(cells[i])]
    if aside and not drop:
        raise ValueError(
            f"code cells {aside} hold a translation set aside when the English code changed (zh.previous_source), "
            "and their comments are not translated again: translate the comments first, or pass --drop-set-aside "
            "to drop the old translation"
        )
    marked, left, dropped = [], [], []
    for cid, cell in cells.items():
        record, text, is_code = _record(cell), en_by_id[cid]["source"], cell["cell_type"] == "code"
        if ids and cid not in ids:
            continue
        if not ids and is_code and "previous_source" in record:
            left.append(cid)  # a set-aside translation: marked only when named, so nobody drops it unread
            continue
        if not ids:
            started = _translated(cell["source"]) if is_code else cell["source"] != text
            new = started and (record.get("untranslated") or (is_code and not record))
            if not (new and record.get("en_sha1", sha1(text)) == sha1(text)):
                if record.get("untranslated") or ((record or not is_code) and record.get("en_sha1") != sha1(text)):
                    left.append(cid)
                continue
        if cid in aside:
            dropped.append(cid)
        if is_code and cell["source"] == text:
            cell["metadata"].pop(KEY, None)  # nothing translated: no record
        else:
            record = {"en_sha1": sha1(text), "en_source": text}
            cell["metadata"][KEY] = record if is_code else {"en_id": cid, **record}
        marked.append(cid)
    return marked, left, dropped


def read(path: Path):
    return nbformat.read(path, as_version=4)


def write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)  # never a half-written notebook


def _names(notebooks: Path, wanted: list[str]) -> list[str]:
    if not notebooks.is_dir():
        raise ValueError(f"--notebooks {notebooks}: not a folder of notebooks")
    english = sorted(p.stem for p in notebooks.glob("*.ipynb"))
    chinese = sorted(p.stem for p in (notebooks / "zh").glob("*.ipynb"))
    if not wanted:
        return sorted(set(english) | set(chinese))
    names = [Path(w).stem for w in wanted]
    unknown = [w for w, n in zip(wanted, names) if n not in english and n not in chinese]
    if unknown:
        raise ValueError(f"no notebook named {unknown} in {notebooks} (names are like 02_gru_scratch)")
    return names


def run(notebooks: Path = NOTEBOOKS, names: list[str] | None = None, check: bool = False, out=print) -> int:
    """Sync (or, with check, only compare) the Chinese notebooks; print a report; 1 if anything is wrong."""
    problems = 0
    for name in _names(notebooks, names or []):
        en_path, zh_path = notebooks / f"{name}.ipynb", notebooks / "zh" / f"{name}.ipynb"
        if not en_path.exists():
            findings = [Finding("no-english", "")]
        else:
            en = read(en_path)
            zh = read(zh_path) if zh_path.exists() else None
            new, findings = sync_notebook(en, zh)
            if zh is None and (check or not names):  # a skeleton is made only for a notebook named
                findings = [Finding("missing", "", detail=[f"create it: python tools/sync_zh.py {name}"])]
            elif not check and new != zh:
                write(new, zh_path)
        todo = [f for f in findings if check or f.kind in HUMAN]
        problems += len(todo)
        status = "needs work" if todo else "in sync"
        out(f"{zh_path.relative_to(notebooks.parent) if notebooks.parent in zh_path.parents else zh_path}: {status}")
        for finding in findings if check else [f for f in findings if f.kind in HUMAN or f.kind == "code"]:
            for line in finding.lines():
                out(line.replace("<this notebook>", f"{name}.ipynb"))
        if not check and any(f.kind not in HUMAN for f in findings):
            out(f"  (written: {', '.join(sorted({f.kind for f in findings if f.kind not in HUMAN}))})")
    if check and problems:
        out(f"{problems} problem(s): run `make zh` (or python tools/sync_zh.py), then translate what it lists")
    return 1 if (check and problems) else 0


def done(path: Path, ids: list[str], out=print, drop: bool = False) -> int:
    """--done: sync the notebook, then record the named (or all changed untranslated) cells as translated."""
    path = Path(path)
    en_path = path.parent.parent / path.name
    if path.parent.name != "zh" or not path.exists() or not en_path.exists():
        raise ValueError(f"--done {path}: expected notebooks/zh/NAME.ipynb, beside an English notebooks/NAME.ipynb")
    en = read(en_path)
    zh, _ = sync_notebook(en, read(path))
    marked, left, dropped = mark_done(zh, en, ids, drop)
    write(zh, path)
    out(f"{path}: marked translated: {', '.join(marked) or 'none'}")
    for cid in dropped:
        out(f"  warning: cell {cid} was not translated again: its old translation (zh.previous_source) is dropped")
    if left:
        out(f"  still stale or untranslated (name them to mark them): {', '.join(left)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to sync (default: all), e.g. 02_gru_scratch")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on any problem (CI)")
    parser.add_argument("--done", metavar="NOTEBOOK", help="mark cells of this Chinese notebook as translated")
    parser.add_argument(
        "--drop-set-aside", action="store_true", help="with --done: drop a set-aside translation not translated again"
    )
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the English notebooks' folder")
    args = parser.parse_args(argv)
    try:
        if args.done:
            if args.check:
                raise ValueError("--done and --check: choose one")
            return done(Path(args.done), args.names, drop=args.drop_set_aside)
        return run(args.notebooks, args.names, check=args.check)
    except ValueError as err:
        print(f"sync_zh: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
