"""Random (version 4) UUIDs for audit records, cut from a buffer of the operating system's random bytes.

`uuid.uuid4()` asks the operating system for 16 bytes at every call, and CPython lets go of the GIL
around that system call. The service makes one record id per call on its event loop, so each call
handed the interpreter to the audit and log writer threads, if they wanted it, in the middle of its
work (about 25 microseconds a call in process). The bytes here are the same `os.urandom` bytes, asked
for 4 KiB at a time. A process forked after the buffer was filled starts with an empty buffer of its
own, so no two processes hand out the same ids.
"""

from __future__ import annotations

import os
import threading
import uuid

_FETCH_BYTES = 4096
_lock = threading.Lock()
_random = bytearray()


def new_record_id() -> str:
    """A random UUID (RFC 9562 version 4) as text, as `str(uuid.uuid4())` gives."""
    with _lock:
        if not _random:
            _random.extend(os.urandom(_FETCH_BYTES))
        drawn = bytes(_random[-16:])
        del _random[-16:]
    return str(uuid.UUID(bytes=drawn, version=4))


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by another thread at the fork
    _random.clear()


os.register_at_fork(after_in_child=_forget_in_child)
