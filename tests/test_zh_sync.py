"""The Chinese notebooks (notebooks/zh/) are the English notebooks, translated (issue 21).

Part 1, for each English notebook: its Chinese notebook exists, follows the English cells one to one
(same ids, same order), its code equals the English code beyond comments (token streams without
comments), its outputs, execution counts and metadata are the English ones, its first cell is the same
install cell, and every markdown cell is a current translation: none untranslated, none stale (the
English text's SHA-1 recorded in the cell matches), none orphaned; so is every code cell whose comments
are translated (it records the English source they translate, as a markdown cell does). A Chinese
notebook not written yet FAILS here, by design: the message names it ("still to translate").

Part 2: the tool, tools/sync_zh.py, on small notebooks in tmp_path: a changed English sentence is
reported as stale with the cell named, a code change beyond comments is caught, a comment-only
translation passes once recorded and goes stale when the English comments change, translated comments
are set aside (not lost) when the English code changes, and the rest of what its docstring promises.

How CI tests the Chinese notebooks: they are NOT run again under nbval (pyproject.toml's addopts
ignore notebooks/zh). This test proves that they are the same computation as the English notebooks,
which nbval does run: the same cells in the same order, the same Python tokens in every code cell
(only comments may differ, and a comment cannot change what runs), the same outputs. Re-running them
would repeat the English notebooks' kernels token for token and compare the same outputs again,
doubling the notebooks' share of CI time to find nothing new. What it would catch and this does not:
code that behaves differently in notebooks/zh/ because of the working directory (a relative path);
the English notebooks read files only through d2l.download(), which returns an absolute path.
"""

import hashlib
import io
import json
import sys
import tokenize
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import sync_zh  # noqa: E402
from notebook_cells import INSTALL_CELL  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
ENGLISH = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
CJK = sync_zh.CJK  # one definition of a Chinese character, the tool's


def _read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tokens(source):
    """An oracle of its own (not the tool's): Python tokens without comments and non-logical newlines."""
    skip = (tokenize.COMMENT, tokenize.NL)
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]


def _pair(name):
    """(English notebook, Chinese notebook) as JSON; the test fails, naming it, where the Chinese one is missing."""
    zh = NOTEBOOKS / "zh" / f"{name}.ipynb"
    if not zh.exists():
        pytest.fail(f"STILL TO TRANSLATE: notebooks/zh/{name}.ipynb does not exist (python tools/sync_zh.py {name})")
    return _read(NOTEBOOKS / f"{name}.ipynb"), _read(zh)


each_notebook = pytest.mark.parametrize("name", ENGLISH)


def test_which_chinese_notebooks_are_missing():
    missing = [n for n in ENGLISH if not (NOTEBOOKS / "zh" / f"{n}.ipynb").exists()]
    extra = sorted(p.stem for p in (NOTEBOOKS / "zh").glob("*.ipynb") if p.stem not in ENGLISH)
    assert not missing, f"STILL TO TRANSLATE ({len(missing)} of {len(ENGLISH)}): {', '.join(missing)}"
    assert not extra, f"Chinese notebooks without an English one: {extra}"


@each_notebook
def test_cells_follow_the_english_cells_one_to_one(name):
    en, zh = _pair(name)
    assert [(c["cell_type"], c["id"]) for c in zh["cells"]] == [(c["cell_type"], c["id"]) for c in en["cells"]]


@each_notebook
def test_code_equals_the_english_code_beyond_comments(name):
    en, zh = _pair(name)
    zh_cells = {c["id"]: c for c in zh["cells"]}
    for cell in en["cells"]:
        if cell["cell_type"] == "code":
            assert _tokens(_text(zh_cells[cell["id"]])) == _tokens(_text(cell)), f"code cell {cell['id']}"


@each_notebook
def test_outputs_and_metadata_are_the_english_ones(name):
    en, zh = _pair(name)
    assert zh["metadata"] == en["metadata"]
    zh_cells = {c["id"]: c for c in zh["cells"]}
    for cell in en["cells"]:
        other = zh_cells[cell["id"]]
        if cell["cell_type"] == "code":
            assert other["outputs"] == cell["outputs"], f"outputs of code cell {cell['id']}"
            assert other["execution_count"] == cell["execution_count"]
            other_metadata = {k: v for k, v in other["metadata"].items() if k != "zh"}  # translated comments
            assert other_metadata == cell["metadata"], f"metadata (tags) of code cell {cell['id']}"
        else:
            assert {k: v for k, v in other["metadata"].items() if k != "zh"} == cell["metadata"]


@each_notebook
def test_the_same_first_cell_the_install_cell(name):
    en, zh = _pair(name)
    assert _text(zh["cells"][0]) == _text(en["cells"][0]) == INSTALL_CELL


@each_notebook
def test_every_markdown_cell_is_a_current_translation(name):
    en, zh = _pair(name)
    zh_cells = {c["id"]: c for c in zh["cells"]}
    untranslated, stale = [], []
    for cell in en["cells"]:
        if cell["cell_type"] == "code":
            continue
        other = zh_cells[cell["id"]]
        record = other["metadata"].get("zh", {})
        label = f"{cell['id']} ({_text(cell).splitlines()[0][:50]!r})"
        if record.get("untranslated") or not CJK.search(_text(other)):
            untranslated.append(label)
        elif (
            record.get("en_id") != cell["id"]
            or record.get("en_sha1") != hashlib.sha1(_text(cell).encode("utf-8")).hexdigest()
        ):
            stale.append(label)
    assert not untranslated, f"untranslated cells: {untranslated}"
    assert not stale, f"stale translations (the English text changed; python tools/sync_zh.py lists how): {stale}"


@each_notebook
def test_english_code_comments_have_no_chinese_character(name):
    # the tool tells a translated code cell from a copy by a Chinese character in a comment, so the English
    # notebooks keep Chinese out of their code comments (quote the book's Chinese terms in markdown instead)
    en, _ = _pair(name)
    found = [c["id"] for c in en["cells"] if c["cell_type"] == "code" and sync_zh._translated(_text(c))]
    assert not found, f"English code cells with a Chinese character in a comment (move it to markdown): {found}"


@each_notebook
def test_every_code_cell_with_translated_comments_has_a_current_record(name):
    en, zh = _pair(name)
    zh_cells = {c["id"]: c for c in zh["cells"]}
    stale, needless = [], []
    for cell in en["cells"]:
        if cell["cell_type"] != "code":
            continue
        other, text = zh_cells[cell["id"]], _text(cell)
        record = other["metadata"].get("zh")
        if _text(other) == text:
            if record is not None:
                needless.append(cell["id"])
        elif (
            not isinstance(record, dict)
            or record.get("untranslated")
            or record.get("en_sha1") != hashlib.sha1(text.encode("utf-8")).hexdigest()
            or record.get("en_source") != text
        ):
            stale.append(f"{cell['id']} ({text.splitlines()[0][:50]!r})")
    assert not stale, f"translated comments not recorded, or the English changed (python tools/sync_zh.py): {stale}"
    assert not needless, f"a record on code cells equal to the English ones: {needless}"


@each_notebook
def test_the_tool_finds_nothing_to_do(name):
    _pair(name)
    lines = []
    assert sync_zh.run(NOTEBOOKS, [name], check=True, out=lines.append) == 0, "\n".join(lines)


# ---- Part 2: the tool on small synthetic notebooks ------------------------------------------------------


def _english(tmp_path, cells=None):
    """A small English notebook `demo` in tmp_path/notebooks: an install cell, markdown, code."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = cells or [
        new_code_cell("import sys  # the install cell", id="install", execution_count=1),
        new_markdown_cell("# A title\n\nThe first sentence. The second sentence.", id="md1"),
        new_code_cell(
            "x = 1  # one\nprint(x)",
            id="code1",
            execution_count=2,
            outputs=[new_output("stream", name="stdout", text="1\n")],
            metadata={"tags": ["nbval-ignore-output"]},
        ),
        new_markdown_cell("A closing remark.", id="md2"),
    ]
    folder = tmp_path / "notebooks"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / "demo.ipynb")
    return folder


def _translated(tmp_path):
    """The demo notebook and its complete Chinese translation."""
    folder = _english(tmp_path)
    assert sync_zh.run(folder, ["demo"], out=lambda _: None) == 0
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    zh.cells[1].source = "# 标题\n\n第一句。第二句。"
    zh.cells[3].source = "结束语。"
    nbformat.write(zh, folder / "zh" / "demo.ipynb")
    assert sync_zh.done(folder / "zh" / "demo.ipynb", [], out=lambda _: None) == 0
    return folder


def _check(folder):
    lines = []
    rc = sync_zh.run(folder, ["demo"], check=True, out=lines.append)
    return rc, "\n".join(lines)


def _edit(path, change):
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def test_a_new_notebook_gets_a_skeleton_with_every_markdown_cell_untranslated(tmp_path):
    folder = _english(tmp_path)
    assert sync_zh.run(folder, out=lambda _: None) == 0  # without a name: reported, not created
    assert not (folder / "zh").exists()
    assert _check(folder)[0] == 1
    sync_zh.run(folder, ["demo"], out=lambda _: None)
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    en = nbformat.read(folder / "demo.ipynb", as_version=4)
    assert [c.id for c in zh.cells] == [c.id for c in en.cells]
    assert zh.cells[2] == en.cells[2]  # code: source, outputs, tags
    assert zh.cells[1].source == en.cells[1].source and zh.cells[1].metadata["zh"]["untranslated"] is True
    rc, report = _check(folder)
    assert rc == 1 and "untranslated cell 2 (id md1)" in report and "untranslated cell 4 (id md2)" in report


def test_a_translated_notebook_passes_and_a_second_sync_changes_nothing(tmp_path):
    folder = _translated(tmp_path)
    rc, report = _check(folder)
    assert rc == 0, report
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    sync_zh.run(folder, out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before


def test_a_changed_english_sentence_is_reported_stale_with_the_cell_named(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source.replace("second", "2nd")))
    rc, report = _check(folder)
    assert rc == 1
    assert 'stale        cell 2 (id md1) "# 标题"' in report
    assert "-The first sentence. The second sentence." in report and "+The first sentence. The 2nd sentence." in report
    assert "md2" not in report  # only the cell that changed
    sync_zh.run(folder, out=lambda _: None)  # a sync keeps the translation, still stale
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[1].source == "# 标题\n\n第一句。第二句。"
    assert _check(folder)[0] == 1
    sync_zh.done(folder / "zh" / "demo.ipynb", ["md1"], out=lambda _: None)  # after updating the Chinese text
    assert _check(folder)[0] == 0


@pytest.mark.parametrize(
    "chinese_code",
    ["x = 2  # one\nprint(x)", 'x = 1  # one\nprint("x")', "x = 1\nprint(x)\nprint(x)", "x = 1  # one\nprint(x);"],
)
def test_a_code_change_beyond_comments_is_caught_and_replaced(tmp_path, chinese_code):
    folder = _translated(tmp_path)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", chinese_code))
    rc, report = _check(folder)
    assert rc == 1 and "code         cell 3 (id code1)" in report
    lines = []
    sync_zh.run(folder, out=lines.append)
    assert "code         cell 3 (id code1)" in "\n".join(lines)  # a sync names the cell it replaced, too
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].source == "x = 1  # one\nprint(x)"
    assert _check(folder)[0] == 0


def test_a_comment_only_translation_passes_once_recorded_and_is_kept(tmp_path):
    folder = _translated(tmp_path)
    chinese = "# 一个注释，单独一行\nx = 1  # 一\n\nprint(x)  # 打印"
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", chinese))
    sync_zh.run(folder, out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].source == chinese
    lines = []
    sync_zh.done(folder / "zh" / "demo.ipynb", [], out=lines.append)  # without ids: records new comment work
    assert "marked translated: code1" in lines[0]
    rc, report = _check(folder)
    assert rc == 0, report
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].source == chinese
    assert zh.cells[2].metadata["zh"] == {
        "en_sha1": sync_zh.sha1("x = 1  # one\nprint(x)"),
        "en_source": "x = 1  # one\nprint(x)",
    }


def _with_comments(tmp_path, chinese="x = 1  # 一\nprint(x)"):
    """The translated demo notebook, its code cell's comment translated and recorded."""
    folder = _translated(tmp_path)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", chinese))
    sync_zh.done(folder / "zh" / "demo.ipynb", ["code1"], out=lambda _: None)
    assert _check(folder)[0] == 0
    return folder


def test_a_comment_translation_without_a_record_is_reported_until_done(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 1  # 一\nprint(x)"))
    for check in (True, False):  # --check and a plain sync both name it
        lines = []
        assert sync_zh.run(folder, ["demo"], check=check, out=lines.append) == int(check)
        report = "\n".join(lines)
        assert 'stale        cell 3 (id code1) "x = 1  # 一"' in report, report
        assert "(the English text it translated was not recorded)" in report
        assert "then: python tools/sync_zh.py --done notebooks/zh/demo.ipynb code1" in report
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].source == "x = 1  # 一\nprint(x)"
    sync_zh.done(folder / "zh" / "demo.ipynb", ["code1"], out=lambda _: None)
    assert _check(folder)[0] == 0


def test_an_english_comment_change_makes_translated_comments_stale(tmp_path):
    folder = _with_comments(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 1  # the first one\nprint(x)"))
    rc, report = _check(folder)
    assert rc == 1 and 'stale        cell 3 (id code1) "x = 1  # 一"' in report
    assert "-x = 1  # one" in report and "+x = 1  # the first one" in report
    sync_zh.run(folder, out=lambda _: None)  # the translation is kept, still stale
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].source == "x = 1  # 一\nprint(x)"
    assert _check(folder)[0] == 1
    lines = []
    sync_zh.done(folder / "zh" / "demo.ipynb", [], out=lines.append)  # a stale cell must be named
    assert "marked translated: none" in lines[0] and "code1" in lines[1] and _check(folder)[0] == 1
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 1  # 第一个\nprint(x)"))
    sync_zh.done(folder / "zh" / "demo.ipynb", ["code1"], out=lambda _: None)
    assert _check(folder)[0] == 0


def test_an_english_code_change_sets_translated_comments_aside_until_done(tmp_path):
    folder = _with_comments(tmp_path)
    english = "x = 2  # one\nprint(x)"
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", english))
    lines = []
    sync_zh.run(folder, out=lines.append)
    report = "\n".join(lines)
    assert "comments     cell 3 (id code1)" in report and "-x = 1  # 一" in report and "+x = 2  # one" in report
    assert "--done notebooks/zh/demo.ipynb code1" in report
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].source == english  # the English code runs ...
    record = zh.cells[2].metadata["zh"]  # ... and the translator's work is kept
    assert record["previous_source"] == "x = 1  # 一\nprint(x)" and record["untranslated"] is True
    assert record["en_source"] == english and record["en_sha1"] == sync_zh.sha1(english)
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    sync_zh.run(folder, out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before  # a second sync changes nothing
    rc, report = _check(folder)
    assert rc == 1 and "comments     cell 3 (id code1)" in report
    lines = []
    sync_zh.done(folder / "zh" / "demo.ipynb", [], out=lines.append)  # not translated again yet: left
    assert "marked translated: none" in lines[0] and "code1" in lines[1]
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # 一\nprint(x)"))
    sync_zh.run(folder, out=lambda _: None)  # being translated again: kept, still reported
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].source == "x = 2  # 一\nprint(x)"
    assert zh.cells[2].metadata["zh"]["previous_source"] == "x = 1  # 一\nprint(x)"
    assert _check(folder)[0] == 1
    sync_zh.done(folder / "zh" / "demo.ipynb", ["code1"], out=lambda _: None)  # a set-aside cell must be named
    assert _check(folder)[0] == 0
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].metadata["zh"] == {"en_sha1": sync_zh.sha1(english), "en_source": english}


def test_done_on_a_code_cell_equal_to_the_english_removes_its_record(tmp_path):
    folder = _with_comments(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # one\nprint(x)"))
    sync_zh.run(folder, out=lambda _: None)  # set aside: the cell holds the English code
    sync_zh.done(folder / "zh" / "demo.ipynb", ["code1"], out=lambda _: None, drop=True)  # nothing to translate
    assert "zh" not in nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].metadata
    assert _check(folder)[0] == 0
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    en = nbformat.read(folder / "demo.ipynb", as_version=4)
    zh.cells[2].source = "x = 3\nprint(x)"
    with pytest.raises(ValueError, match=r"code cells \['code1'\] differ from the English code beyond comments"):
        sync_zh.mark_done(zh, en, ["code1"])
    zh.cells[2].source = "x = 2  # an old English comment\nprint(x)"  # no Chinese comment: not a translation
    with pytest.raises(ValueError, match=r"code cells \['code1'\] differ .* without Chinese comments"):
        sync_zh.mark_done(zh, en, ["code1"])


def test_a_markdown_cells_attachments_survive_a_sync_and_done(tmp_path):
    folder = _translated(tmp_path)
    image = {"fig.png": {"image/png": "iVBORw0KGgo="}}

    def paste(nb):
        nb.cells[1].source = "# 标题\n\n![图](attachment:fig.png)\n\n第一句。第二句。"
        nb.cells[1].attachments = image

    _edit(folder / "zh" / "demo.ipynb", paste)
    sync_zh.done(folder / "zh" / "demo.ipynb", ["md1"], out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[1].attachments == image
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source + " A third."))
    sync_zh.run(folder, out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[1].attachments == image
    sync_zh.done(folder / "zh" / "demo.ipynb", ["md1"], out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[1].attachments == image
    assert _check(folder)[0] == 0


def test_english_attachments_reach_the_chinese_cell_and_its_own_stay(tmp_path):
    folder = _translated(tmp_path)
    zh_path = folder / "zh" / "demo.ipynb"
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[1], "attachments", {"fig.png": {"image/png": "OLD"}}))
    sync_zh.run(folder, out=lambda _: None)

    def paste(nb):  # a screenshot only the Chinese cell has
        nb.cells[1].source = "# 标题\n\n![图](attachment:fig.png) ![截图](attachment:zh.png)\n\n第一句。第二句。"
        nb.cells[1].attachments["zh.png"] = {"image/png": "ZH"}

    _edit(zh_path, paste)
    sync_zh.done(zh_path, ["md1"], out=lambda _: None)
    assert _check(folder)[0] == 0
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[1], "attachments", {"fig.png": {"image/png": "NEW"}}))
    rc, report = _check(folder)
    assert rc == 1 and "cell 2 (id md1): attachments" in report
    sync_zh.run(folder, out=lambda _: None)  # the English image replaced: the Chinese cell gets the new one
    attachments = {"fig.png": {"image/png": "NEW"}, "zh.png": {"image/png": "ZH"}}
    assert nbformat.read(zh_path, as_version=4).cells[1].attachments == attachments
    _edit(folder / "demo.ipynb", lambda nb: nb.cells[1].attachments.update({"b.png": {"image/png": "B"}}))
    sync_zh.run(folder, out=lambda _: None)  # an English image added: the Chinese cell gets it too
    attachments["b.png"] = {"image/png": "B"}
    assert nbformat.read(zh_path, as_version=4).cells[1].attachments == attachments
    sync_zh.done(zh_path, ["md1"], out=lambda _: None)
    assert nbformat.read(zh_path, as_version=4).cells[1].attachments == attachments
    assert _check(folder)[0] == 0


def test_translated_comments_without_a_record_are_set_aside_when_the_english_code_changes(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 1  # 一\nprint(x)"))  # no --done
    english = "x = 2  # one\nprint(x)"
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", english))
    lines = []
    sync_zh.run(folder, out=lines.append)
    report = "\n".join(lines)
    assert "comments     cell 3 (id code1)" in report and "-x = 1  # 一" in report and "code    " not in report
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].source == english
    assert zh.cells[2].metadata["zh"] == {
        "en_sha1": sync_zh.sha1(english),
        "en_source": english,
        "untranslated": True,
        "previous_source": "x = 1  # 一\nprint(x)",
    }
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    sync_zh.run(folder, out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before
    assert "comments     cell 3 (id code1)" in _check(folder)[1]


def test_translated_code_follows_its_english_cell_to_a_new_id(tmp_path):
    folder = _with_comments(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: nb.cells[2].update(id="moved"))  # cut and pasted
    sync_zh.run(folder, out=lambda _: None)  # linked by the hash of the English code it translates
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].id == "moved" and zh.cells[2].source == "x = 1  # 一\nprint(x)"
    assert _check(folder)[0] == 0

    def move_and_reword(nb):
        nb.cells[2].update(id="again", source="x = 1  # the one\nprint(x)")

    _edit(folder / "demo.ipynb", move_and_reword)
    sync_zh.run(folder, out=lambda _: None)  # linked by its code: kept, and stale
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[2].id == "again" and zh.cells[2].source == "x = 1  # 一\nprint(x)"
    rc, report = _check(folder)
    assert rc == 1 and 'stale        cell 3 (id again) "x = 1  # 一"' in report


@pytest.mark.parametrize(
    "english_cells", [["x = 2  # one\nprint(x)"], ["x = 1  # a\nprint(x)", "x = 1  # b\nprint(x)"]]
)
def test_translated_code_that_matches_no_english_cell_or_several_is_a_reported_orphan(tmp_path, english_cells):
    folder = _with_comments(tmp_path)

    def replace(nb):  # the cell goes, and new ones (with new ids) come: none or two with its code
        cell = nb.cells.pop(2)
        for n, source in enumerate(english_cells):
            nb.cells.insert(2 + n, new_code_cell(source, id=f"new{n}", metadata=cell.metadata))

    _edit(folder / "demo.ipynb", replace)
    lines = []
    sync_zh.run(folder, out=lines.append)
    report = "\n".join(lines)
    assert "orphan       cell 3 (id code1)" in report and "      x = 1  # 一" in report  # its source, in full
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    kept = [c for c in zh.cells if c.id == "code1"]
    assert len(kept) == 1 and kept[0].cell_type == "markdown" and "x = 1  # 一\nprint(x)" in kept[0].source
    assert [c.source for c in zh.cells if c.cell_type == "code"][1:] == english_cells  # never run
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    sync_zh.run(folder, out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before
    rc, report = _check(folder)
    assert rc == 1 and "orphan       cell 3 (id code1)" in report


@pytest.mark.parametrize("synced_first", [True, False])  # False: set aside by the --done call itself
def test_done_refuses_to_drop_a_set_aside_translation_unless_told(tmp_path, synced_first):
    folder = _with_comments(tmp_path)
    zh_path = folder / "zh" / "demo.ipynb"
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # one\nprint(x)"))
    if synced_first:
        sync_zh.run(folder, out=lambda _: None)
    before = zh_path.read_bytes()
    with pytest.raises(ValueError, match=r"code1.*translate the comments first, or pass --drop-set-aside"):
        sync_zh.done(zh_path, ["code1"], out=lambda _: None)
    assert zh_path.read_bytes() == before  # nothing written: the translation is still there
    assert sync_zh.main(["--done", str(zh_path), "code1"]) == 2 and zh_path.read_bytes() == before
    lines = []
    sync_zh.done(zh_path, ["code1"], out=lines.append, drop=True)
    assert "marked translated: code1" in lines[0]
    assert lines[1:] == [
        "  warning: cell code1 was not translated again: its old translation (zh.previous_source) is dropped"
    ]
    assert _check(folder)[0] == 0


def test_an_untouched_copy_follows_english_comment_and_code_edits_without_a_record(tmp_path):
    folder = _translated(tmp_path)  # its code cell is the English one, English comment included
    zh_path = folder / "zh" / "demo.ipynb"
    for english, kind in [
        ("x = 1  # the number one\nprint(x)", ""),
        ("x = 1\nprint(x)", ""),
        ("y = 2\nprint(y)", "code"),
    ]:
        _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", english))
        lines = []
        sync_zh.run(folder, out=lines.append)
        report = "\n".join(lines)
        assert "stale" not in report and "comments " not in report, report
        assert ("code         cell 3 (id code1)" in report) == (kind == "code"), report
        cell = nbformat.read(zh_path, as_version=4).cells[2]
        assert cell.source == english and "zh" not in cell.metadata
        assert _check(folder)[0] == 0
        lines = []
        sync_zh.done(zh_path, [], out=lines.append)  # an old English comment is never recorded as a translation
        assert (
            "marked translated: none" in lines[0] and "zh" not in nbformat.read(zh_path, as_version=4).cells[2].metadata
        )


def test_a_set_aside_translation_survives_its_cell_becoming_an_orphan(tmp_path):
    folder = _with_comments(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # one\nprint(x)"))
    sync_zh.run(folder, out=lambda _: None)  # set aside: the cell holds the English code
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # 二\nprint(x)"))  # started
    _edit(folder / "demo.ipynb", lambda nb: nb.cells[2].update(id="moved", source="x = 3  # one\nprint(x)"))
    lines = []
    sync_zh.run(folder, out=lines.append)
    report = "\n".join(lines)
    assert "orphan       cell 3 (id code1)" in report
    assert "      x = 1  # 一" in report and "      x = 2  # 二" in report  # both, in the report ...
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    kept = [c for c in zh.cells if c.id == "code1"]
    assert len(kept) == 1 and kept[0].cell_type == "markdown"
    assert "x = 1  # 一\nprint(x)" in kept[0].source and "x = 2  # 二\nprint(x)" in kept[0].source  # ... and the cell
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    sync_zh.run(folder, out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before


def test_an_interrupted_retranslation_keeps_the_older_translation_and_the_newer_part(tmp_path):
    folder = _with_comments(tmp_path, "x = 1  # 一\nprint(x)  # 显示")
    zh_path = folder / "zh" / "demo.ipynb"

    def english(source):
        _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", source))
        sync_zh.run(folder, out=lambda _: None)

    english("x = 2  # one\nprint(x)")  # set aside
    _edit(zh_path, lambda nb: setattr(nb.cells[2], "source", "x = 2  # 二\nprint(x)"))  # re-translation started
    english("x = 3  # one\nprint(x)")  # ... and cut short
    record = nbformat.read(zh_path, as_version=4).cells[2].metadata["zh"]
    assert record["previous_source"] == "x = 1  # 一\nprint(x)  # 显示"  # the older, full translation
    assert record["partial_source"] == "x = 2  # 二\nprint(x)"
    rc, report = _check(folder)
    assert rc == 1 and "-print(x)  # 显示" in report and "-x = 2  # 二" in report
    _edit(zh_path, lambda nb: setattr(nb.cells[2], "source", "x = 3  # 三\nprint(x)"))  # a later partial ...
    english("x = 4  # one\nprint(x)")
    record = nbformat.read(zh_path, as_version=4).cells[2].metadata["zh"]
    assert record["previous_source"] == "x = 1  # 一\nprint(x)  # 显示"
    assert record["partial_source"] == "x = 3  # 三\nprint(x)"  # ... replaces the earlier one
    _edit(zh_path, lambda nb: setattr(nb.cells[2], "source", "x = 4  # 四\nprint(x)"))
    sync_zh.done(zh_path, ["code1"], out=lambda _: None)
    english_now = "x = 4  # one\nprint(x)"
    assert nbformat.read(zh_path, as_version=4).cells[2].metadata["zh"] == {
        "en_sha1": sync_zh.sha1(english_now),
        "en_source": english_now,
    }
    assert _check(folder)[0] == 0


def test_translated_code_follows_the_recorded_hash_before_the_same_code(tmp_path):
    folder = _with_comments(tmp_path)

    def replace(nb):  # two new cells with its code; only the second has the English source it translates
        cell = nb.cells.pop(2)
        nb.cells[2:2] = [
            new_code_cell("x = 1  # uno\nprint(x)", id="other", metadata=cell.metadata),
            new_code_cell("x = 1  # one\nprint(x)", id="hashed", metadata=cell.metadata),
        ]

    _edit(folder / "demo.ipynb", replace)
    sync_zh.run(folder, out=lambda _: None)
    zh = {c.id: c for c in nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells}
    assert zh["hashed"].source == "x = 1  # 一\nprint(x)" and zh["other"].source == "x = 1  # uno\nprint(x)"
    assert "code1" not in zh and _check(folder)[0] == 0


def test_an_orphan_fence_is_longer_than_any_backtick_run_in_its_source(tmp_path):
    chinese = "x = 1  # 一，见 ```python 与 ````\nprint(x)"
    folder = _with_comments(tmp_path, chinese)
    _edit(folder / "demo.ipynb", lambda nb: nb.cells[2].update(id="new", source="x = 2\nprint(x)"))
    sync_zh.run(folder, out=lambda _: None)
    cells = [c for c in nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells if c.id == "code1"]
    assert len(cells) == 1 and cells[0].cell_type == "markdown"
    lines = cells[0].source.splitlines()
    fences = [line for line in lines if line.startswith("`")]
    assert len(fences) == 2 and fences[0] == fences[1] + "python" and len(fences[1]) > 4
    assert (
        lines[lines.index(fences[0]) + 1 : lines.index(fences[1], lines.index(fences[0]) + 1)] == chinese.splitlines()
    )


def test_orphans_keep_their_order_a_code_cell_and_the_markdown_after_it(tmp_path):
    folder = _with_comments(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: nb.cells.__delitem__(slice(2, 4)))  # both English cells go
    for _ in range(2):
        sync_zh.run(folder, out=lambda _: None)
        zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
        assert [(c.cell_type, c.id) for c in zh.cells] == [
            ("code", "install"),
            ("markdown", "md1"),
            ("markdown", "code1"),
            ("markdown", "md2"),
        ]


def test_the_install_cell_stays_exactly_the_english_one(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[0], "source", "import sys  # 安装单元格"))
    rc, report = _check(folder)
    assert rc == 1 and "code         cell 1 (id install)" in report
    sync_zh.run(folder, out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[0].source == "import sys  # the install cell"


def test_different_outputs_or_tags_are_caught_and_copied(tmp_path):
    folder = _translated(tmp_path)

    def change(nb):
        nb.cells[2].outputs[0]["text"] = "2\n"
        nb.cells[2].metadata["tags"] = []

    _edit(folder / "zh" / "demo.ipynb", change)
    rc, report = _check(folder)
    assert rc == 1 and "cell 3 (id code1): outputs, metadata" in report
    sync_zh.run(folder, out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[2].outputs[0]["text"] == "1\n"


def test_a_translation_whose_english_cell_went_is_an_orphan_kept_in_place(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: nb.cells.pop(3))  # the English closing remark is deleted
    rc, report = _check(folder)
    assert rc == 1 and 'orphan       cell 4 (id md2) "结束语。"' in report
    sync_zh.run(folder, out=lambda _: None)
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[3].source == "结束语。"  # not lost
    _edit(folder / "demo.ipynb", lambda nb: nb.cells.append(new_markdown_cell("A new remark.", id="md3")))
    rc, report = _check(folder)
    assert "orphan       cell 4 (id md2)" in report and "untranslated cell 5 (id md3)" in report


def test_a_translation_follows_its_english_cell_to_a_new_id(tmp_path):
    folder = _translated(tmp_path)
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[3], "id", "renamed"))
    sync_zh.run(folder, out=lambda _: None)
    zh = nbformat.read(folder / "zh" / "demo.ipynb", as_version=4)
    assert zh.cells[3].id == "renamed" and zh.cells[3].source == "结束语。"
    assert _check(folder)[0] == 0


def test_done_without_ids_marks_only_cells_no_longer_in_english(tmp_path):
    folder = _english(tmp_path)
    sync_zh.run(folder, ["demo"], out=lambda _: None)
    _edit(folder / "zh" / "demo.ipynb", lambda nb: setattr(nb.cells[1], "source", "# 标题"))
    sync_zh.run(folder, out=lambda _: None)  # a sync keeps a translation in progress
    assert nbformat.read(folder / "zh" / "demo.ipynb", as_version=4).cells[1].source == "# 标题"
    lines = []
    sync_zh.done(folder / "zh" / "demo.ipynb", [], out=lines.append)
    assert "marked translated: md1" in lines[0] and "md2" in lines[1]
    rc, report = _check(folder)
    assert rc == 1 and "untranslated cell 4 (id md2)" in report and "md1" not in report


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    folder = _translated(tmp_path)
    before = (folder / "zh" / "demo.ipynb").read_bytes()
    with pytest.raises(ValueError, match=r"cell ids \['nope'\]"):
        sync_zh.done(folder / "zh" / "demo.ipynb", ["md1", "nope"], out=lambda _: None)
    with pytest.raises(ValueError, match="expected notebooks/zh/NAME.ipynb"):
        sync_zh.done(folder / "demo.ipynb", [], out=lambda _: None)
    assert (folder / "zh" / "demo.ipynb").read_bytes() == before
    with pytest.raises(ValueError, match=r"no notebook named \['02_gru'\]"):
        sync_zh.run(folder, ["02_gru"], out=lambda _: None)
    assert sync_zh.main(["--notebooks", str(folder), "nothing_here"]) == 2


def test_same_code_ignores_comments_and_nothing_else():
    assert sync_zh.same_code("a = f(x)  # apply f\n", "# 应用 f\na = f(x)\n")
    assert sync_zh.same_code(
        "def f():\n    '''Doc.'''\n    return 1\n", "def f():\n    '''Doc.'''  # 文档\n    return 1\n"
    )
    assert not sync_zh.same_code("def f():\n    '''Doc.'''\n", "def f():\n    '''文档。'''\n")  # docstrings stay
    assert not sync_zh.same_code("a = f(x)\n", "a = f(x, 1)\n")
    assert not sync_zh.same_code("if a:\n    b()\n", "if a:\n    pass\nb()\n")  # indentation is code
    assert sync_zh.same_code("!pip install x", "!pip install x")  # not Python: compared as text


def test_done_without_ids_leaves_a_set_aside_translation_for_a_person_to_name(tmp_path):
    # a re-translation under way (one comment of two redone) is not marked by a bulk --done: that would drop
    # the old translation (zh.previous_source) unread
    folder = _with_comments(tmp_path, chinese="x = 1  # 一\nprint(x)  # 打印")
    zh_path = folder / "zh" / "demo.ipynb"
    _edit(folder / "demo.ipynb", lambda nb: setattr(nb.cells[2], "source", "x = 2  # one\nprint(x)"))
    sync_zh.run(folder, out=lambda _: None)  # sets the translation aside
    _edit(zh_path, lambda nb: setattr(nb.cells[2], "source", "x = 2  # 二\nprint(x)"))
    sync_zh.done(zh_path, [], out=lambda _: None)
    record = nbformat.read(zh_path, as_version=4).cells[2].metadata["zh"]
    assert record["previous_source"] == "x = 1  # 一\nprint(x)  # 打印" and _check(folder)[0] == 1
    sync_zh.done(zh_path, ["code1"], out=lambda _: None)  # named: the translator has read it
    assert "previous_source" not in nbformat.read(zh_path, as_version=4).cells[2].metadata["zh"]
    assert _check(folder)[0] == 0
