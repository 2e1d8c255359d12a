"""`fhirServer` is used only where allowed: the issuer's configured FHIR servers (authentication
required), MDRCDS_FHIR_SERVERS, or (authentication off, nothing configured) public addresses only. A
refusal gives one fixed answer and sends nothing, the EHR's token included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.web.cdsservice import FHIR_SERVER_UNUSABLE
from mdrcds.web.fhirservers import public_host, under, usable
from service_support import FakeFhirServer, live_service, serve_fhir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://fhir.example.org/r4", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org/r4/", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org:443/r4/Patient", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org/r4x", "https://fhir.example.org/r4", False),  # whole segments only
        ("https://fhir.example.org/", "https://fhir.example.org/r4", False),
        ("http://fhir.example.org/r4", "https://fhir.example.org/r4", False),
        ("https://fhir.example.org:8443/r4", "https://fhir.example.org/r4", False),
        ("https://fhir.example.org.evil.test/r4", "https://fhir.example.org/r4", False),
        ("https://user:pw@fhir.example.org/r4", "https://fhir.example.org/r4", False),
        ("ftp://fhir.example.org/r4", "ftp://fhir.example.org/r4", False),
    ],
)
def test_a_server_is_under_a_base_by_origin_and_whole_path_segments(
    url: str, base: str, expected: bool
) -> None:
    assert under(url, base) is expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/fhir",
        "http://localhost/fhir",
        "http://169.254.169.254/latest/meta-data",
        "http://2852039166/latest/meta-data",  # 169.254.169.254 as one decimal number
        "http://0x7f000001/fhir",
        "http://10.0.0.5/fhir",
        "http://192.168.1.10/fhir",
        "http://[::1]/fhir",
        "http://does-not-resolve.invalid/fhir",
    ],
)
def test_loopback_private_link_local_and_unresolvable_hosts_are_not_public(url: str) -> None:
    assert not public_host(url)


def test_a_public_address_is_public() -> None:
    assert public_host("http://8.8.8.8/fhir")  # an IP literal: no DNS needed


def test_with_authentication_required_only_the_issuers_servers_are_used() -> None:
    issuers = {
        "https://ehr-a.example": TrustedIssuer(
            jku="https://ehr-a.example/jwks", fhir_servers=["https://fhir.a.example/r4"]
        ),
        "https://ehr-b.example": TrustedIssuer(jku="https://ehr-b.example/jwks"),
    }
    settings = Settings(auth="required", trusted_issuers=issuers, allowed_hosts=["127.0.0.1"])
    assert usable("https://fhir.a.example/r4", "https://ehr-a.example", settings)[0]
    assert not usable("https://fhir.a.example/r4", "https://ehr-b.example", settings)[0]  # another issuer's
    assert not usable("https://8.8.8.8/fhir", "https://ehr-a.example", settings)[0]  # public but not listed
    assert not usable("http://127.0.0.1/fhir", "https://ehr-a.example", settings)[0]


def request_missing_conditions(server: str) -> dict[str, object]:
    request: dict[str, Any] = json.loads(
        (ROOT / "api" / "examples" / "mdrcds-patient-view.request.json").read_text()
    )
    del request["prefetch"]["conditions"]
    request["fhirServer"] = server
    request["fhirAuthorization"] = {
        "access_token": "ehr-token-secret",
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "patient/*.read",
        "subject": "mdrcds",
    }
    return request


def test_authentication_off_refuses_loopback_unless_listed_and_sends_nothing(tmp_path: Path) -> None:
    fhir = FakeFhirServer()
    with serve_fhir(fhir) as fhir_base:
        for listed, status in (([], 412), ([fhir_base], 200)):
            settings = Settings(
                database_url=f"sqlite:///{tmp_path / f'db{len(listed)}.sqlite3'}",
                auth="off",
                spool_dir=tmp_path / f"spool{len(listed)}",
                fhir_servers=listed,
            )
            with live_service(settings) as base:
                answers = [
                    httpx.post(
                        f"{base}/cds-services/mdrcds-patient-view",
                        json=request_missing_conditions(url),
                        timeout=30,
                    )
                    for url in (
                        fhir_base,
                        "http://169.254.169.254/fhir",
                        "http://2852039166/fhir",
                        "http://127.0.0.1:1/fhir",
                    )
                ]
            assert answers[0].status_code == status
            for answer in answers[1:]:  # never listed: refused with the same words, whatever the reason
                assert answer.status_code == 412
                assert answer.json()["issue"][0]["diagnostics"] == FHIR_SERVER_UNUSABLE
            if status == 412:
                assert answers[0].json()["issue"][0]["diagnostics"] == FHIR_SERVER_UNUSABLE
                assert fhir.requests == []  # nothing was sent: no token left the service
    assert fhir.requests and all(auth == "Bearer ehr-token-secret" for _, auth in fhir.requests)
