"""Messages between the harness and a framework worker, with array data copied once.

``Connection.send`` pickles a step's records into one bytes object (a copy of every array), and
``Connection.recv`` reads it through a BytesIO (another copy) before unpickling it (a third). At 1M
parameters a step of one route is some 20 MB, so each worker moved gigabytes through those copies. Here the
message is pickled with protocol 5 and its contiguous arrays travel out of band: the pickle header goes as
one ordinary message, then each array's bytes are written straight from the array and read straight into
a fresh writable buffer, which the unpickled array then uses as its memory.
"""

from __future__ import annotations

import os
import pickle
import socket

import numpy as np

OUT_OF_BAND = 1 << 16  # bytes from which an array travels out of band; small ones stay in the pickle
SOCKET_BUFFER = 4 << 20


def widen(*conns) -> None:
    """Ask for socket buffers of SOCKET_BUFFER bytes on both ends of a ``multiprocessing.Pipe`` (a Unix socket
    pair): a step's megabytes then cross in a few writes instead of a blocking round trip per 200 KB. The
    kernel caps the size at net.core.wmem_max / rmem_max; a pipe that is not a socket is left as it is."""
    for conn in conns:
        fd = os.dup(conn.fileno())
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            continue
        with sock:
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                except OSError:
                    pass


def send(conn, message) -> None:
    """Send ``message`` (any picklable object) over a multiprocessing Connection."""
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < OUT_OF_BAND:
            return True  # serialise in band
        buffers.append(buffer)
        return False

    header = pickle.dumps(message, protocol=5, buffer_callback=out_of_band)
    conn.send((header, [b.raw().nbytes for b in buffers]))
    fd = conn.fileno()
    for buffer in buffers:
        _write_all(fd, buffer.raw())


def recv(conn):
    """The next message sent with ``send``. EOFError when the other side closed the pipe (or died) on the way."""
    header, sizes = conn.recv()
    fd = conn.fileno()
    buffers = []
    for size in sizes:
        buffer = np.empty(size, dtype=np.uint8)  # uninitialised: the pipe fills every byte
        _read_into(fd, memoryview(buffer))
        buffers.append(buffer)
    return pickle.loads(header, buffers=buffers)


def _write_all(fd: int, view: memoryview) -> None:
    view = view.cast("B")
    while view.nbytes:
        written = os.write(fd, view)
        view = view[written:]


def _read_into(fd: int, view: memoryview) -> None:
    while view.nbytes:
        got = os.readv(fd, [view])
        if got == 0:
            raise EOFError("the worker closed its pipe in the middle of a message")
        view = view[got:]
