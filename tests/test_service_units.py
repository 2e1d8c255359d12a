"""Units of the service that need no server: settings, request checks, feedback, prefetch, auth."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mdrcds.errors import InputFormatError
from mdrcds.reading.fhir import read_input
from mdrcds.reading.hookrequest import RequestError, check_request
from mdrcds.reading.prefetch import PREFETCH_TEMPLATES, FhirFetcher, FhirServerError, render
from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.store.feedback import parse_feedback
from mdrcds.web.auth import Authenticator, AuthError, KeySets
from service_support import jwks, make_keys, token


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "MDRCDS_TRUSTED_ISSUERS", json.dumps({"https://ehr.example": {"jwks_file": str(tmp_path)}})
    )
    monkeypatch.setenv("MDRCDS_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MDRCDS_MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("MDRCDS_PUBLIC_URL", "https://cds.example")
    settings = Settings()
    assert settings.auth == "required"
    assert settings.trusted_issuers == {"https://ehr.example": TrustedIssuer(jwks_file=tmp_path)}
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_body_bytes == 1000


def test_auth_required_without_issuers_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDRCDS_TRUSTED_ISSUERS", raising=False)
    with pytest.raises(ValueError, match="MDRCDS_TRUSTED_ISSUERS"):
        Settings(auth="required")
    issuers = {"https://ehr.example": TrustedIssuer(jwks_file=Path("a"))}
    with pytest.raises(ValueError, match="MDRCDS_PUBLIC_URL"):
        Settings(auth="required", trusted_issuers=issuers)
    monkeypatch.setenv("MDRCDS_ALLOWED_HOSTS", "cds.example, 127.0.0.1")
    assert Settings(auth="required", trusted_issuers=issuers).allowed_hosts == ["cds.example", "127.0.0.1"]
    with pytest.raises(ValueError, match="https"):
        TrustedIssuer(jku="http://ehr.example/jwks.json")
    with pytest.raises(ValueError, match="exactly one"):
        TrustedIssuer(jwks_file=Path("a"), jku="https://x.example/jwks")


def hook_request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "PractitionerRole/123", "patientId": "1288992", "encounterId": "89284"},
    }
    request.update(changes)
    return request


def test_the_spec_example_request_passes() -> None:
    check_request(read_input(hook_request()), "patient-view")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hookInstance": None}, "hookInstance"),
        ({"context": {"patientId": "1288992"}}, "context.userId"),
        ({"context": {"userId": "123", "patientId": "1288992"}}, "context.userId"),
        ({"context": {"userId": "Practitioner/1", "patientId": ""}}, "context.patientId"),
        (
            {"context": {"userId": "Practitioner/1", "patientId": "1", "encounterId": 7}},
            "context.encounterId",
        ),
        ({"fhirAuthorization": {"access_token": "t"}}, "fhirServer"),
    ],
)
def test_request_fields_are_checked(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as caught:
        check_request(read_input(hook_request(**changes)), "patient-view")
    assert caught.value.field == field
    assert isinstance(caught.value, InputFormatError)


def test_feedback_items_are_parsed() -> None:
    [accepted, overridden] = parse_feedback(
        {
            "feedback": [
                {
                    "card": "c1",
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "s1"}],
                    "outcomeTimestamp": "2026-11-23T10:00:00+01:00",
                    "extension": {"x.y": 1},
                },
                {
                    "card": "c1",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-23T09:00:00.250Z",
                    "overrideReason": {"reason": {"system": "s", "code": "c", "display": "d"}},
                },
            ]
        },
        "svc",
    )
    assert accepted.accepted_suggestions == ["s1"]
    assert accepted.outcome_timestamp == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert overridden.override_reason == {"system": "s", "code": "c", "display": "d"}
    assert accepted.key != overridden.key
    with pytest.raises(RequestError, match="feedback: required"):
        parse_feedback({"feedback": []}, "svc")


def test_templates_render_with_url_encoded_context_values() -> None:
    assert render(PREFETCH_TEMPLATES["conditions"], {"patientId": "a b"}) == "Condition?patient=a%20b"
    with pytest.raises(FhirServerError, match=r"context\.patientId"):
        render(PREFETCH_TEMPLATES["patient"], {})


def test_an_http_fhir_server_is_refused_when_https_is_required() -> None:
    import httpx

    with httpx.Client() as http, pytest.raises(FhirServerError, match="https"):
        FhirFetcher(http, require_https=True).fetch(
            "patient", "http://fhir.example", None, {"patientId": "1"}
        )


def test_the_authenticator_checks_replay_before_accepting(tmp_path: Path) -> None:
    import httpx

    keys = make_keys()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(keys)))
    seen: set[str] = set()

    def claim(issuer: str, jti: str, expires: datetime) -> bool:
        if jti in seen:
            return False
        seen.add(jti)
        return True

    with httpx.Client() as http:
        authenticator = Authenticator(KeySets({"iss": TrustedIssuer(jwks_file=path)}, http), claim)
        good = token(keys["ES384"], "iss", "https://cds.example/cds-services")
        assert authenticator.verify(f"Bearer {good}", "https://cds.example/cds-services").issuer == "iss"
        with pytest.raises(AuthError, match="replay"):
            authenticator.verify(f"Bearer {good}", "https://cds.example/cds-services")
        future = token(keys["ES384"], "iss", "https://cds.example/cds-services", now=time.time() + 600)
        with pytest.raises(AuthError, match=r"iat|Immature"):
            authenticator.verify(f"Bearer {future}", "https://cds.example/cds-services")


def test_token_replay_is_caught_in_memory_while_the_database_is_down(tmp_path: Path) -> None:
    from mdrcds.store.database import Store
    from mdrcds.web.authn import TokenLedger

    # A SQLite file in a directory that does not exist: every database call fails.
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    ledger = TokenLedger(store)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    try:
        assert ledger.claim("iss", "jti-1", expires)
        assert not ledger.claim("iss", "jti-1", expires)
        assert ledger.claim("iss", "jti-2", expires)
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("timestamp", "words"),
    [
        ("2026-11-23T10:00:00", "has no time zone: add Z (UTC) or an offset"),
        ("2026-11-23", "must be an instant with a date, a time and a time zone"),
        (1764000000, "must be a string"),
    ],
)
def test_feedback_timestamp_errors_say_what_is_wrong(timestamp: object, words: str) -> None:
    item = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": timestamp}
    with pytest.raises(RequestError) as caught:
        parse_feedback({"feedback": [item]}, "svc")
    assert caught.value.field == "feedback[0].outcomeTimestamp"
    assert words in str(caught.value) and "required" not in str(caught.value)
