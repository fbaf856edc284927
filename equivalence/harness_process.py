"""Settings of the harness process for a run: what it computes is NumPy on big arrays, on threads, next to
two framework workers on the same cores."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

from threadpoolctl import threadpool_limits

M_ARENA_MAX = -8  # glibc malloc.h


@contextlib.contextmanager
def harness_settings():
    """NumPy's BLAS on one thread: its worker threads spin between the references' small matmuls, on the
    cores the framework workers need (at 1M parameters x 100 steps the harness used 87 s of CPU instead of
    45 s). And one malloc arena: glibc gives each thread that allocates its own, and the comparison and
    reader threads each kept freed megabyte-sized arrays in theirs (the harness's peak RSS at 1M x 100 was
    1.09 GB with the default, 0.83 GB with one, at the same speed)."""
    _limit_malloc_arenas(1)
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _limit_malloc_arenas(count: int) -> None:
    """mallopt(M_ARENA_MAX) where the C library is glibc; elsewhere nothing (other allocators differ)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(M_ARENA_MAX, count)
