"""Shared test setup.

The real Time Machine text is never committed: tests read it from
``$D2L_DATA_DIR``, which defaults here to ``../shared/data`` beside the
checkout (CI's layout). Without either, the tests that need the text download
it once into the user cache like the library would.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_configure(config):
    if not os.environ.get("D2L_DATA_DIR") and (SHARED_DATA / "timemachine.txt").is_file():
        os.environ["D2L_DATA_DIR"] = str(SHARED_DATA)
    # Set here (not in a fixture) so that notebook kernels started by nbval inherit them.
    os.environ.setdefault("D2L_MAX_EPOCHS", "2")
    # Notebook kernels run the widget dashboard, as learners see it: it ends as a PNG with constant text/plain.
    os.environ.setdefault("D2L_PLOT", "widget")
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def upstream():
    import upstream_d2l

    return upstream_d2l.load()


@pytest.fixture(scope="session")
def time_machine():
    """(corpus of the first 10,000 characters, vocab)."""
    import d2l_helpers as d2l

    return d2l.load_corpus_time_machine(10000)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    """Python tests run uncapped and without a live plot unless they say otherwise.

    (Autouse fixtures do not run for nbval's notebook cells, which keep the
    variables set in pytest_configure.)
    """
    monkeypatch.delenv("D2L_MAX_EPOCHS", raising=False)
    monkeypatch.setenv("D2L_PLOT", "off")
