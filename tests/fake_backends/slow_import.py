"""The crashy fake backend (its ``optimizer`` route is the reference), imported after a pause of ``PAUSE_S``:
a framework whose import is slow, during which the harness computes references ahead."""

from __future__ import annotations

import time

PAUSE_S = 2.0
time.sleep(PAUSE_S)

from tests.fake_backends.crashy import NAME, run, stream, versions  # noqa: E402,F401
