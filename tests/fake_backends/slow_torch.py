"""The Torch backend, imported after a pause of ``PAUSE_S``: a framework whose import is slow, to show that the
runner reads the other framework's worker meanwhile instead of blocking on this one's start."""

from __future__ import annotations

import time

PAUSE_S = 3.0
time.sleep(PAUSE_S)

from equivalence.backends.torch_backend import NAME, run, stream, versions  # noqa: E402,F401
