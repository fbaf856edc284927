"""Fixtures shared by the harness tests."""

from __future__ import annotations

import pytest

from equivalence.backends import BACKENDS

CRASHY = "tests.fake_backends.crashy"


@pytest.fixture
def fake_only():
    """The fake backend as the only backend, for everything that reads ``equivalence.backends.BACKENDS``
    (the CLI's Runner, ``list``, the pytest plugin). The dict is changed in place, since those modules hold
    it by reference, and restored in its original order: the order decides the direction of the direct
    checks (``torch/x-vs-paddle/x``), which monkeypatch.delitem's undo would reverse."""
    saved = dict(BACKENDS)
    BACKENDS.clear()
    BACKENDS["fake"] = CRASHY
    try:
        yield CRASHY
    finally:
        BACKENDS.clear()
        BACKENDS.update(saved)
