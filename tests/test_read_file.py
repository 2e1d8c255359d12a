"""Reading a file straight into the JSON parser (`read_file`): the same input, and the same errors, as
reading its bytes; a pipe (which the parser is never given) is read whole."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import orjson
import pytest

from conftest import SAMPLES, bundle, medication_request
from mdrcds.errors import InputFormatError
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reading.fhir import FhirInput, read_bytes, read_file

INPUTS = sorted([*SAMPLES.glob("*/request.json"), *(SAMPLES / "synthea").glob("*.json")])


def summary(fhir_input: FhirInput) -> tuple[object, ...]:
    return (
        fhir_input.hook,
        fhir_input.hook_instance,
        [(r.resource_type, r.reference(), r.where, r.json) for r in fhir_input.resources],
        fhir_input.skipped,
        fhir_input.screened,
        sorted(fhir_input.draft_refs),
        fhir_input.selection_refs,
        fhir_input.prefetch_keys,
    )


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.parent.name if p.name == "request.json" else p.stem)
def test_a_file_reads_as_its_bytes(path: Path, rulebook: Rulebook) -> None:
    screen = screen_for(rulebook.terminology)
    from_bytes = read_bytes(path.read_bytes(), source=str(path), screen=screen)
    assert summary(read_file(path, screen=screen)) == summary(from_bytes)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b'{"resourceType": "Patient"} {"resourceType": "Patient"}', "not valid JSON"),
        (b'{"resourceType": "Patient", "name": "\xff"}', "invalid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"[1, 2]", "not a CDS Hooks request or FHIR resource"),
        (b'{"foo": 1}', "neither a CDS Hooks request"),
    ],
)
def test_a_file_is_refused_as_its_bytes_are(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(data)
    with pytest.raises(InputFormatError, match=message) as from_file:
        read_file(path)
    with pytest.raises(InputFormatError) as from_bytes:
        read_bytes(data, source=str(path))
    assert str(from_file.value) == str(from_bytes.value)
    assert str(from_file.value).startswith(f"{path}: ")


def test_a_byte_order_mark_is_read_past_as_in_bytes(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + orjson.dumps(bundle([medication_request("m1", "active", code="11170")]))
    path = tmp_path / "bom.json"
    path.write_bytes(data)
    assert summary(read_file(path)) == summary(read_bytes(data, source=str(path)))


def test_what_cannot_be_read_raises_the_system_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError):
        read_file(tmp_path)


def test_a_pipe_is_read_whole(tmp_path: Path) -> None:
    # Larger than a pipe's buffer (64 kB), written by another process, as `<(...)` in a shell gives it.
    # (A pipe is never handed to the parser, which sizes a file by seeking and would close the pipe
    # again; what a writer then loses depends on timing, which a test cannot force.)
    orders = [medication_request(f"m{number}", "active", code="11170") for number in range(400)]
    source = tmp_path / "input.json"
    source.write_bytes(orjson.dumps(bundle(orders)))
    assert source.stat().st_size > 65536
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'exec cat "$0" > "$1"', source, fifo], stderr=subprocess.PIPE)
    results: list[FhirInput] = []
    reader = threading.Thread(target=lambda: results.append(read_file(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # let the blocked reader go: a writer that opens and closes at once
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    _, errors = writer.communicate(timeout=20)
    assert results, "reading the pipe did not end"
    assert writer.returncode == 0, errors.decode()
    assert [r.element("id") for r in results[0].resources] == [f"m{number}" for number in range(400)]


def test_documents_still_in_use_stay_valid_while_other_files_are_read(tmp_path: Path) -> None:
    paths = []
    for number in range(3):
        path = tmp_path / f"{number}.json"
        path.write_bytes(orjson.dumps(medication_request(f"m{number}", "active", code="11170")))
        paths.append(path)
    (tmp_path / "broken.json").write_bytes(b'{"resourceType": "Patient", "id": ')
    first = read_file(paths[0])
    with pytest.raises(InputFormatError):
        read_file(tmp_path / "broken.json")  # a failed parse between two that are kept
    second = read_file(paths[1])
    third = read_bytes(paths[2].read_bytes())
    assert [r.element("id") for r in (*first.resources, *second.resources, *third.resources)] == [
        "m0",
        "m1",
        "m2",
    ]


def test_a_file_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    path = tmp_path / os.fsdecode(b"patient-\xff.json")
    path.write_bytes(orjson.dumps(medication_request("m1", "active", code="11170")))
    assert [r.element("id") for r in read_file(path).resources] == ["m1"]
