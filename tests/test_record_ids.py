"""Audit record ids: random version-4 UUIDs, unique across calls, threads and forked processes."""

from __future__ import annotations

import os
import threading
import uuid

from mdrcds.store.record_ids import new_record_id


def test_an_id_is_a_version_4_rfc_uuid_in_its_usual_text() -> None:
    text = new_record_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat_across_many_refills_of_the_buffer() -> None:
    ids = [new_record_id() for _ in range(20_000)]  # about 80 fetches of 4 KiB
    assert len(set(ids)) == len(ids)


def test_threads_drawing_at_once_never_share_an_id() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        into.extend(new_record_id() for _ in range(2_000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [item for into in drawn for item in into]
    assert len(set(every)) == len(every) == 16_000


def test_a_forked_child_does_not_hand_out_its_parents_next_ids() -> None:
    new_record_id()  # the buffer now holds bytes the child must not reuse
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        try:
            os.write(write_end, ",".join(new_record_id() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read().decode().split(",")
    os.waitpid(pid, 0)
    parent = [new_record_id() for _ in range(50)]
    assert len(child) == 50
    assert not set(child) & set(parent)
