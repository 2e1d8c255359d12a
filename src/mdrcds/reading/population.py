"""Population input: Bundle files and Bulk Data exports (NDJSON), as one raw record per patient.

Bulk Data exports hold one `<Type>.<n>.ndjson` file per resource type. Lines are grouped by the
patient they belong to (`Patient.id`, `subject` or `patient` reference) without being decoded further;
types no rule reads (Encounter, DocumentReference, ...) are skipped unread. Large exports are first
split into hash buckets on disk, so memory holds one bucket at a time, not the population.
"""

from __future__ import annotations

import io
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from mdrcds.errors import InputFormatError
from mdrcds.reading.fhir import FACT_RESOURCE_TYPES, patient_of_raw

BUCKET_BYTES = 256 * 1024 * 1024
NDJSON_NAME = re.compile(r"^([A-Z][A-Za-z]+)(?:\.[^.]+)*\.ndjson$")
READ_TYPES = frozenset({"Patient", *FACT_RESOURCE_TYPES})


@dataclass(frozen=True)
class PatientRecord:
    """One patient's data: `document` is a FHIR Bundle (raw JSON bytes) ready for `evaluate`."""

    patient_id: str
    source: str
    document: bytes


@dataclass
class ReadProblem:
    """A line or file that could not be attributed to a patient."""

    source: str
    kind: str
    message: str


def records(paths: Sequence[Path], problems: list[ReadProblem]) -> Iterator[PatientRecord]:
    """Every patient under `paths`: Bundle files (*.json), directories of them, or NDJSON exports.

    Problems (unreadable lines, resources with no patient) are appended to `problems`; reading goes on.
    """
    for path in paths:
        if path.is_dir():
            ndjson = sorted(p for p in path.iterdir() if p.suffix == ".ndjson")
            if ndjson:
                # an export: its .json files are the manifest (and a synthetic cohort's description)
                yield from _bulk(ndjson, problems)
            yield from records(
                sorted(p for p in path.iterdir() if (p.suffix == ".json" and not ndjson) or p.is_dir()),
                problems,
            )
        elif path.suffix == ".ndjson":
            yield from _bulk([path], problems)
        elif path.suffix == ".json":
            data = path.read_bytes()
            if b'"resourceType"' not in data[:65_536]:
                # a description or settings file beside the Bundles (a synthetic cohort's cohort.json)
                problems.append(
                    ReadProblem(str(path), "not-fhir", "not a FHIR Bundle or resource: passed over")
                )
                continue
            yield PatientRecord(path.stem, str(path), data)
        elif not path.exists():
            problems.append(ReadProblem(str(path), "missing", "no such file or directory"))


def count_patients(paths: Sequence[Path]) -> int | None:
    """How many patients `records(paths)` will give, counted cheaply for a progress total: one per
    Bundle file, one per line of an export's Patient NDJSON; None when an export has no Patient file."""
    total = 0
    for path in paths:
        if path.is_dir():
            ndjson = [p for p in path.iterdir() if p.suffix == ".ndjson"]
            patients = [p for p in ndjson if p.name.startswith("Patient")]
            if ndjson and not patients:
                return None
            total += sum(_line_count(p) for p in patients)
            inner = count_patients(
                sorted(p for p in path.iterdir() if (p.suffix == ".json" and not ndjson) or p.is_dir())
            )
            if inner is None:
                return None
            total += inner
        elif path.suffix == ".ndjson":
            if not path.name.startswith("Patient"):
                return None
            total += _line_count(path)
        elif path.suffix == ".json":
            total += 1
    return total


def _line_count(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def _bulk(files: list[Path], problems: list[ReadProblem]) -> Iterator[PatientRecord]:
    readable = []
    for file in files:
        match = NDJSON_NAME.match(file.name)
        if match and match.group(1) in READ_TYPES:
            readable.append(file)
    total = sum(f.stat().st_size for f in readable)
    buckets = max(1, -(-total // BUCKET_BYTES))
    if buckets == 1:
        yield from _group(_lines(readable, problems), problems)
        return
    with tempfile.TemporaryDirectory(prefix="mdrcds-buckets-") as scratch:
        handles = [open(Path(scratch) / f"{n}.ndjson", "wb") for n in range(buckets)]  # noqa: SIM115
        try:
            for patient, source, line in _lines(readable, problems):
                bucket = zlib.crc32(patient.encode()) % buckets
                handles[bucket].write(orjson.dumps([patient, source]) + b"\t" + line + b"\n")
        finally:
            for handle in handles:
                handle.close()
        for n in range(buckets):
            with open(Path(scratch) / f"{n}.ndjson", "rb") as reader:
                yield from _group(_bucket_lines(reader), problems)


def _bucket_lines(reader: Iterable[bytes]) -> Iterator[tuple[str, str, bytes]]:
    for row in reader:
        head, line = row.rstrip(b"\n").split(b"\t", 1)
        patient, source = orjson.loads(head)
        yield patient, source, line


def _lines(files: list[Path], problems: list[ReadProblem]) -> Iterator[tuple[str, str, bytes]]:
    """(patient id, source, raw resource) for each line of the export files."""
    for file in files:
        with file.open("rb") as handle:
            yield from _numbered_lines(str(file), handle, problems)


def _numbered_lines(
    name: str, lines: Iterable[bytes], problems: list[ReadProblem], max_problems: int | None = None
) -> Iterator[tuple[str, str, bytes]]:
    found = 0
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        where = f"{name}:{number}"
        try:
            patient = patient_of_raw(line)
        except InputFormatError as exc:
            problem = ReadProblem(where, "invalid-json", str(exc)[:200])
        else:
            if patient is not None:
                yield patient, where, line
                continue
            problem = ReadProblem(where, "no-patient", "resource names no patient")
        found += 1
        if max_problems is not None and found > max_problems:
            problems.append(
                ReadProblem(where, "too-many-problems", "more unreadable lines: the rest is not read")
            )
            return
        problems.append(problem)


def ndjson_records(
    data: bytes, name: str, problems: list[ReadProblem], max_problems: int | None = 100
) -> list[PatientRecord]:
    """The patients of NDJSON held in memory (an upload), grouped as an export's files are. Lines are
    read one at a time; after `max_problems` unreadable lines the rest of the upload is not read (a file
    of junk costs memory in proportion to the upload, never a problem record per line)."""
    return list(_group(_numbered_lines(name, io.BytesIO(data), problems, max_problems), problems))


def _group(lines: Iterator[tuple[str, str, bytes]], problems: list[ReadProblem]) -> Iterator[PatientRecord]:
    by_patient: dict[str, list[bytes]] = {}
    first_source: dict[str, str] = {}
    for patient, source, line in lines:
        by_patient.setdefault(patient, []).append(line)
        first_source.setdefault(patient, source.rsplit(":", 1)[0])
    for patient in sorted(by_patient):
        yield PatientRecord(patient, first_source[patient], bundle_of(by_patient[patient]))


def bundle_of(lines: Sequence[bytes]) -> bytes:
    """A collection Bundle (raw JSON) of raw resource JSON lines, built without decoding them."""
    entries = b",".join(b'{"resource":' + line + b"}" for line in lines)
    return b'{"resourceType":"Bundle","type":"collection","entry":[' + entries + b"]}"
