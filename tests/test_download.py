"""Download, verify and cache, against an HTTP server on 127.0.0.1 serving files made here."""

import hashlib
import http.server
import os
import socket
import stat
import threading

import pytest

import d2l_helpers as d2l
from d2l_helpers.data import DataError, download

GOOD = b"the time traveller was expounding a recondite matter to us\n" * 50
SHA1 = hashlib.sha1(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def do_GET(self):
        self.hits.append(self.path)
        kind = self.routes.get(self.path.lstrip("/"))
        if kind is None:
            self.send_error(404)
            return
        if kind == "truncated":  # promise the whole file, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        body = GOOD if kind == "good" else GOOD.replace(b"traveller", b"traveler!")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.routes, _Handler.hits = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setenv("D2L_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    yield _Handler
    httpd.shutdown()
    httpd.server_close()


def _cache_files(tmp_path):
    d = tmp_path / "cache"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_good_file_is_downloaded_verified_and_cached(server, tmp_path):
    server.routes["book.txt"] = "good"
    path = download("book.txt", SHA1)
    assert open(path, "rb").read() == GOOD
    assert _cache_files(tmp_path) == ["book.txt"]
    assert download("book.txt", SHA1) == path
    assert server.hits == ["/book.txt"]  # the second call is a cache hit


def test_wrong_hash_is_rejected_and_nothing_is_cached(server, tmp_path):
    server.routes["book.txt"] = "modified"
    with pytest.raises(DataError, match="sha1 is .*expected " + SHA1):
        download("book.txt", SHA1)
    assert _cache_files(tmp_path) == []  # no half or wrong file, no .part left behind


def test_truncated_download_leaves_no_file(server, tmp_path):
    server.routes["book.txt"] = "truncated"
    with pytest.raises(DataError, match="book.txt"):
        download("book.txt", SHA1)
    assert _cache_files(tmp_path) == []


def test_not_found_says_how_to_work_offline(server, tmp_path):
    with pytest.raises(DataError, match="HTTP Error 404.*D2L_DATA_DIR"):
        download("book.txt", SHA1)
    assert _cache_files(tmp_path) == []


def test_server_down_gives_one_clear_error(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setenv("D2L_DATA_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"Could not download http://127.0.0.1:\d+/book.txt.*D2L_DATA_DIR"):
        download("book.txt", SHA1, timeout=5)


def test_corrupt_cached_file_is_replaced(server, tmp_path, capsys):
    server.routes["book.txt"] = "good"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "book.txt").write_bytes(GOOD[:100])
    path = download("book.txt", SHA1)
    assert open(path, "rb").read() == GOOD
    assert "fails its sha1 check" in capsys.readouterr().out


def test_corrupt_cached_file_is_never_used_when_redownload_fails(server, tmp_path):
    server.routes["book.txt"] = "modified"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "book.txt").write_bytes(GOOD[:100])
    with pytest.raises(DataError):
        download("book.txt", SHA1)


def test_offline_folder_is_used_without_network(server, tmp_path, monkeypatch):
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "book.txt").write_bytes(GOOD)
    monkeypatch.setenv("D2L_DATA_DIR", str(offline))
    assert download("book.txt", SHA1) == str(offline / "book.txt")
    assert server.hits == []


def test_offline_folder_missing_file_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=f"expected at {tmp_path}/book.txt.*sha1 {SHA1}"):
        download("book.txt", SHA1)


def test_offline_folder_corrupt_file_is_reported(tmp_path, monkeypatch):
    (tmp_path / "book.txt").write_bytes(GOOD[:-1])
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="is not the file d2l uses"):
        download("book.txt", SHA1)


def test_read_time_machine_reports_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="timemachine.txt.*090b5e7e70c295757f55df93cb0a180b9691891a"):
        d2l.read_time_machine()


def test_default_cache_follows_xdg(monkeypatch, tmp_path):
    from d2l_helpers.data import cache_dir

    monkeypatch.delenv("D2L_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "d2l_helpers"


def test_cached_copy_gets_the_usual_file_permissions(server, tmp_path):
    """mkstemp makes a private file; the cached copy must be readable like any new file (umask 022: 0644)."""
    server.routes["book.txt"] = "good"
    old = os.umask(0o022)
    try:
        path = download("book.txt", SHA1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_cache_folder_that_cannot_be_made_is_a_data_error(server, tmp_path, monkeypatch):
    server.routes["book.txt"] = "good"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("D2L_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(DataError, match="Cannot write to the cache folder .*Set D2L_CACHE_DIR"):
        download("book.txt", SHA1)
    assert blocker.read_text() == "not a folder" and server.hits == []


def test_the_english_editions_call_form_downloads_into_the_folder_it_names(server, tmp_path):
    """d2l 1.0's download(url, folder, sha1_hash): verified, atomic, into that folder, not the cache."""
    server.routes = {"book.txt": "good", "bad.txt": "corrupt"}
    base = os.environ["D2L_DATA_URL"]
    path = download(base + "book.txt", tmp_path / "data", SHA1)
    assert path == str(tmp_path / "data" / "book.txt")
    with open(path, "rb") as f:
        assert f.read() == GOOD
    assert not (tmp_path / "cache").exists()
    with pytest.raises(DataError, match="sha1"):
        download(base + "bad.txt", tmp_path / "data", SHA1)
    assert sorted(os.listdir(tmp_path / "data")) == ["book.txt"]  # nothing half-written


def test_the_chinese_editions_data_hub_name_goes_through_the_mirror_and_the_cache(server, monkeypatch, tmp_path):
    """0.17's DATA_HUB[name] = (DATA_URL + file, sha1); download(name): $D2L_DATA_URL replaces d2l's server."""
    server.routes = {"book.txt": "good"}
    monkeypatch.setitem(d2l.DATA_HUB, "book", (d2l.DATA_URL + "book.txt", SHA1))
    path = download("book")
    assert path == str(tmp_path / "cache" / "book.txt") and server.hits == ["/book.txt"]
    assert download("book") == path and server.hits == ["/book.txt"]  # cached, checked, not fetched again
