"""Worker messages with arrays out of band (equivalence/wire.py): what arrives is what was sent, arrays
are writable and one array sent under two names arrives as one array."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from equivalence import wire

pytestmark = pytest.mark.harness


def _round_trip(message):
    parent, child = multiprocessing.Pipe()
    sender = threading.Thread(target=wire.send, args=(child, message))  # a message larger than the pipe holds
    sender.start()
    received = wire.recv(parent)
    sender.join()
    return received


def test_large_and_small_arrays_arrive_equal_and_writable():
    big = np.arange(300_000, dtype=np.float32).reshape(600, 500)
    small = np.array([1.5, -2.0])
    got = _round_trip(("step", "optimizer", {"param": {"w": big, "b": small}, "loss": {"-": np.float64(0.25)}}))
    kind, route, records = got
    assert (kind, route) == ("step", "optimizer")
    w = records["param"]["w"]
    assert w.dtype == np.float32 and w.shape == (600, 500) and np.array_equal(w, big), "large array changed"
    assert np.array_equal(records["param"]["b"], small) and records["loss"]["-"] == 0.25
    w[0, 0] = 7.0  # the records are the harness's own memory, not a read-only view of a message
    assert w[0, 0] == 7.0


def test_one_array_under_two_quantities_arrives_as_one():
    """The reference and the workers record the gradient once when it is also the regularized gradient; the
    harness then compares it once (compare.Accumulator keys large entries by array identity)."""
    grad = np.ones(100_000)
    got = _round_trip({"grad": {"w": grad}, "grad_regularized": {"w": grad}})
    assert got["grad"]["w"] is got["grad_regularized"]["w"]


def test_a_sender_gone_mid_message_is_an_eof():
    parent, child = multiprocessing.Pipe()
    header_only = (b"", [1 << 20])  # announces a megabyte that never comes
    child.send(header_only)
    child.close()
    with pytest.raises(EOFError):
        wire.recv(parent)


def test_widen_asks_for_larger_socket_buffers_and_leaves_pipes_alone():
    """A step's megabytes cross a widened socket pair in few writes; an os.pipe Connection (not a socket) is
    left as it is, without leaking the descriptor it looked at."""
    import os
    import socket

    a, b = multiprocessing.Pipe()
    with socket.socket(fileno=os.dup(a.fileno())) as probe:
        before = probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    wire.widen(a, b)
    with socket.socket(fileno=os.dup(a.fileno())) as probe:
        after = probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    with open("/proc/sys/net/core/wmem_max") as f:
        cap = int(f.read())
    assert after >= min(wire.SOCKET_BUFFER, cap) and after >= before, (before, after, cap)
    r, w = multiprocessing.Pipe(duplex=False)
    open_before = len(os.listdir("/proc/self/fd"))
    wire.widen(r, w)
    assert len(os.listdir("/proc/self/fd")) == open_before
    w.send("still works")
    assert r.recv() == "still works"
    for c in (a, b, r, w):
        c.close()
