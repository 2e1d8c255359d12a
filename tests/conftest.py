"""Shared fixtures: the built-in rulebook and one engine for the whole session, and request builders."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reasoning.engine import Engine
from service_support import Postgres, running_postgres, start_postgres

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "fhir_samples"
NOW = date(2026, 11, 23)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server: the one scripts/test started, or one started (and stopped) here."""
    running = running_postgres()
    if running is not None:
        yield running
        return
    # Not under pytest's tmp dir: the server runs as `nobody`, who cannot enter root's private dirs.
    data_dir = tempfile.mkdtemp(prefix="mdrcds-pg-")
    server = start_postgres(data_dir)
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs against SQLite and against PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mdrcds.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return load_rulebook()


@pytest.fixture(scope="session")
def engine(rulebook: Rulebook) -> Engine:
    return Engine(rulebook)


def medication_request(
    resource_id: str,
    status: str,
    *,
    code: str | None = None,
    display: str | None = None,
    text: str | None = None,
    authored: str = "2026-10-01",
    **extra: Any,
) -> dict[str, Any]:
    """A MedicationRequest; codes are RxNorm (only verified codes are used in tests)."""
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": display or code}]
    if text:
        concept["text"] = text
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": resource_id,
        "status": status,
        "intent": "proposal" if status == "draft" else "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p1"},
        "authoredOn": authored,
    }
    resource.update(extra)
    return resource


def bundle(resources: list[dict[str, Any]], bundle_type: str = "searchset") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": bundle_type, "entry": [{"resource": r} for r in resources]}


def hook_request(
    hook: str,
    *,
    drafts: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
    prefetch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A CDS Hooks request for patient p1 with the given draft orders and prefetched medications."""
    context: dict[str, Any] = {"userId": "Practitioner/u1", "patientId": "p1"}
    if hook != "patient-view":
        context["draftOrders"] = bundle(drafts or [], "collection")
    if hook == "order-select":
        context["selections"] = selections or []
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1"},
            "medicationRequests": bundle(prefetch or []),
        },
    }


def medication_fact(
    source: str,
    value_set: str,
    member: str,
    *,
    status: str = "active",
    current: bool = True,
    start: date | None = None,
    draft: bool = False,
    systemic: bool = True,
) -> Fact:
    """A medication fact as the fact layer would make it, for tests below the fact layer."""
    return Fact(
        id=f"{source}#{value_set}:{member}",
        kind="medication",
        value_set=value_set,
        member=member,
        source=source,
        label=member,
        status=status,
        current=current,
        matched_by="code",
        start=start,
        draft=draft,
        attributes={"systemic": systemic},
    )
