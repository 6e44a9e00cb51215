"""Bad input and faults, one table (issue 16): what each case raises and what its message says.

Every row is ``Case(id, call, error, words)``: ``call()`` must raise ``error``
(an exception class, or a tuple of them) whose message contains every one of
``words`` (case-insensitive). A case that must *not* raise, or that checks what
was kept on disk, is a plain test function further down, next to its section.

The sections follow the issue: the sweep and its cache (§1–§4), training in
both editions (§5), models, vocabularies and devices (§6), the rest (§7) and
downloads (§8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    error: type[BaseException] | tuple[type[BaseException], ...]
    words: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# §1–§4: the sweep and its cache
# ---------------------------------------------------------------------------------------------

SWEEP_CASES: list[Case] = [
]


# ---------------------------------------------------------------------------------------------
# §5–§8: training, models, vocabularies, devices, the rest, downloads
# ---------------------------------------------------------------------------------------------

TRAIN_CASES: list[Case] = [
]


# ---------------------------------------------------------------------------------------------
# The table's test
# ---------------------------------------------------------------------------------------------

CASES = SWEEP_CASES + TRAIN_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error(case):
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value).lower()
    missing = [w for w in case.words if w.lower() not in message]
    assert not missing, f"{case.id}: the message {str(info.value)!r} lacks {missing}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
