"""A backend whose framework kills the interpreter while being imported.

It only crashes inside a worker process; imported anywhere else (a doctest collector, a stray import in
the test process) it raises instead of taking that process down.
"""

import multiprocessing
import os
import resource
import signal

if multiprocessing.parent_process() is None:
    raise ImportError("crash_on_import only crashes inside a worker process")
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.kill(os.getpid(), signal.SIGSEGV)
