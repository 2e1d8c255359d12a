"""The CDS Hooks service over real HTTP, the way an EHR calls it (checks H1-H28 of the CDS Hooks
reference, section c). The app runs under uvicorn on loopback; so do the FHIR server it falls back to
and the host of an issuer's JWK Set."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.store.database import Store
from mdrcds.web.cdsservice import FHIR_SERVER_UNUSABLE
from service_support import (
    SAMPLES,
    FakeFhirServer,
    SigningKey,
    free_port,
    jwks,
    live_service,
    make_keys,
    make_tls,
    serve_fhir,
    token,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "api"
FILE_ISSUER = "https://ehr.example.org/fhir"
JKU_ISSUER = "https://other-ehr.example.org"
ORIGIN = "https://ehr-ui.example.org"
SELECT = "mdrcds-order-select"


@dataclass
class Live:
    base: str
    keys: dict[str, SigningKey]
    jku_host: FakeFhirServer
    database_url: str
    spool: Path
    fhir_port: int

    def url(self, path: str) -> str:
        return self.base + path

    def jku_http_variant(self) -> str:
        """The allow-listed jku, downgraded to plain http."""
        return self.jku_host.base.replace("https://", "http://") + "/jwks.json"

    def auth(self, path: str, key: str = "ES384", issuer: str = FILE_ISSUER, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + token(self.keys[key], issuer, self.url(path), **kwargs)}

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        headers = self.auth(path)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            self.url(path), content=data, headers={**headers, "Content-Type": "application/json"}, **kwargs
        )


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.dumps({**record.__dict__, "msg": record.getMessage()}, default=str))


@pytest.fixture(scope="module")
def log_capture() -> Iterator[Capture]:
    capture = Capture()
    logger = logging.getLogger("mdrcds")
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, log_capture: Capture) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("service")
    keys = make_keys()
    jwks_file = directory / "ehr-jwks.json"
    jwks_file.write_text(json.dumps(jwks({k: v for k, v in keys.items()})))
    other = {"ES384": SigningKey("other-1", "ES384", make_keys()["ES384"].private)}
    jku_host = FakeFhirServer(documents={"jwks.json": jwks(other)})
    tls = make_tls(directory)
    fhir_port = free_port()
    with serve_fhir(jku_host, tls) as jku_base:
        database_url = f"sqlite:///{directory / 'mdrcds.sqlite3'}"
        settings = Settings(
            database_url=database_url,
            auth="required",
            trusted_issuers={
                FILE_ISSUER: TrustedIssuer(
                    jwks_file=jwks_file, fhir_servers=[f"http://127.0.0.1:{fhir_port}/fhir"]
                ),
                JKU_ISSUER: TrustedIssuer(jku=f"{jku_base}/jwks.json"),
            },
            cors_origins=[ORIGIN],
            allowed_hosts=["127.0.0.1"],
            ca_bundle=tls.ca_file,
            max_body_bytes=2_000_000,
            spool_dir=directory / "spool",
        )
        with live_service(settings) as base:
            keys["other"] = other["ES384"]
            yield Live(base, keys, jku_host, database_url, directory / "spool", fhir_port)


def sample(case: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((SAMPLES / case / "request.json").read_text())
    return request


def example(service_id: str, kind: str) -> Any:
    return json.loads((API / "examples" / f"{service_id}.{kind}.json").read_text())


def fresh(request: dict[str, Any]) -> dict[str, Any]:
    """The same request as a new hook invocation."""
    return {**copy.deepcopy(request), "hookInstance": str(uuid.uuid4())}


def no_empty_values(value: Any, path: str = "$") -> list[str]:
    """Paths of null or empty values (CDS Hooks 2.0: optional fields without a value are omitted)."""
    if value is None or value in ("", [], {}):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in no_empty_values(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in no_empty_values(v, f"{path}[{i}]")]
    return []


# --- discovery (H1-H3) ---------------------------------------------------------------------------------

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}


def test_discovery_lists_three_services_with_spec_prefetch_tokens(live: Live) -> None:
    response = httpx.get(live.url("/cds-services"), headers=live.auth("/cds-services"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("mdrcds-patient-view", "patient-view"),
        ("mdrcds-order-select", "order-select"),
        ("mdrcds-order-sign", "order-sign"),
    }
    for service in services:
        assert all(isinstance(service[k], str) and service[k] for k in ("hook", "id", "description", "title"))
        assert re.fullmatch(r"[A-Za-z0-9\-_.~]+", service["id"])
        types = {template.split("?")[0].split("/")[0] for template in service["prefetch"].values()}
        assert {"Patient", "MedicationRequest", "MedicationStatement", "Condition", "Observation"} <= types
        for template in service["prefetch"].values():
            for inner in TOKEN.findall(template):
                # Only root-level context fields or the four user tokens (CDS Hooks 2.0 §Prefetch tokens).
                assert re.fullmatch(r"context\.[A-Za-z]+", inner) or inner in USER_TOKENS, template
            assert "?" not in template or re.fullmatch(
                r"[A-Za-z]+\?patient=\{\{context\.patientId\}\}", template
            )
    assert response.json() == json.loads((API / "cds-services.json").read_text())


def test_every_listed_service_answers_its_example(live: Live) -> None:
    for service_id in ("mdrcds-patient-view", "mdrcds-order-select", "mdrcds-order-sign"):
        response = live.post(f"/cds-services/{service_id}", example(service_id, "request"))
        assert response.status_code == 200, response.text
        # H8: the response is the checked-in example, and has no null or empty optional field.
        assert response.json() == example(service_id, "response")
        assert response.json()["cards"], service_id
        assert no_empty_values(response.json()) == []


# --- authentication (H4-H7) ----------------------------------------------------------------------------


def unsigned(audience: str) -> str:
    now = int(time.time())
    claims = {"iss": FILE_ISSUER, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key="", algorithm="none", headers={"kid": "es384-1", "typ": "JWT"})


def no_sub(key: SigningKey, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": FILE_ISSUER, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"})


def hs256(audience: str) -> str:
    now = int(time.time())
    claims = {"iss": FILE_ISSUER, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(
        claims, "a-shared-secret-of-32-bytes-length!", algorithm="HS256", headers={"kid": "es384-1"}
    )


@pytest.mark.parametrize(
    "path", ["/cds-services", f"/cds-services/{SELECT}", f"/cds-services/{SELECT}/feedback"]
)
@pytest.mark.parametrize(
    "bad",
    [
        "missing",
        "not-bearer",
        "garbage",
        "unsigned",
        "hs256",
        "expired",
        "other-audience",
        "untrusted-issuer",
        "unknown-kid",
        "foreign-jku",
        "not-yet-valid",
        "too-long-lived",
        "no-sub",
        "empty-sub",
        "http-jku-header",
        "host-header-audience",
    ],
)
def test_bad_tokens_get_401_without_detail(live: Live, path: str, bad: str) -> None:
    url = live.url(path)
    key = live.keys["ES384"]
    values = {
        "missing": None,
        "not-bearer": "Basic dXNlcjpwYXNz",
        "garbage": "Bearer not.a.jwt",
        "unsigned": "Bearer " + unsigned(url),
        "hs256": "Bearer " + hs256(url),
        "expired": "Bearer " + token(key, FILE_ISSUER, url, now=time.time() - 3600),
        "other-audience": "Bearer " + token(key, FILE_ISSUER, "https://cds.example.org/cds-services"),
        "untrusted-issuer": "Bearer " + token(key, "https://evil.example", url),
        "unknown-kid": "Bearer " + token(SigningKey("nope", "ES384", key.private), FILE_ISSUER, url),
        "foreign-jku": "Bearer "
        + token(live.keys["other"], JKU_ISSUER, url, headers={"jku": "https://evil.example/jwks.json"}),
        "not-yet-valid": "Bearer " + token(key, FILE_ISSUER, url, nbf=int(time.time()) + 600),
        "too-long-lived": "Bearer " + token(key, FILE_ISSUER, url, lifetime=86400),
        "no-sub": "Bearer " + no_sub(key, url),
        "empty-sub": "Bearer " + token(key, FILE_ISSUER, url, sub=""),
        "http-jku-header": "Bearer "
        + token(live.keys["other"], JKU_ISSUER, url, headers={"jku": live.jku_http_variant()}),
        # A token minted for another deployment, sent with that deployment's name in the Host header:
        # the service never takes its audience from a Host it does not list.
        "host-header-audience": "Bearer "
        + token(key, FILE_ISSUER, url.replace("127.0.0.1", "cds.evil.example")),
    }
    value = values[bad]
    headers = {"Authorization": value} if value else {}
    if bad == "host-header-audience":
        headers["Host"] = "cds.evil.example:" + url.split(":")[2].split("/")[0]
    method = "GET" if path == "/cds-services" else "POST"
    body = example(SELECT, "request") if path.endswith(SELECT) else {"feedback": []}
    response = httpx.request(method, url, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login"}],
    }


@pytest.mark.parametrize("alg", ["ES384", "RS384", "ES256", "RS256"])
@pytest.mark.parametrize("audience_as_array", [False, True])
def test_signed_tokens_are_accepted(live: Live, alg: str, audience_as_array: bool) -> None:
    url = live.url(f"/cds-services/{SELECT}")
    audience: str | list[str] = [url] if audience_as_array else url
    headers = {"Authorization": "Bearer " + token(live.keys[alg], FILE_ISSUER, audience)}
    assert httpx.post(url, json=fresh(example(SELECT, "request")), headers=headers).status_code == 200


def test_a_replayed_token_is_refused(live: Live) -> None:
    url = live.url(f"/cds-services/{SELECT}")
    headers = {"Authorization": "Bearer " + token(live.keys["ES384"], FILE_ISSUER, url)}
    assert httpx.post(url, json=example(SELECT, "request"), headers=headers).status_code == 200
    assert httpx.post(url, json=example(SELECT, "request"), headers=headers).status_code == 401


def test_extra_claims_are_accepted(live: Live) -> None:
    url = live.url(f"/cds-services/{SELECT}")
    now = int(time.time())
    signed = token(
        live.keys["RS384"], FILE_ISSUER, url, sub="epic-client-id", nbf=now - 300, tenant="hospital-a"
    )
    headers = {"Authorization": "Bearer " + signed}
    assert httpx.post(url, json=example(SELECT, "request"), headers=headers).status_code == 200


def test_keys_from_an_allow_listed_jku_are_fetched_once_and_cached(live: Live) -> None:
    path = f"/cds-services/{SELECT}"
    before = len(live.jku_host.requests)
    for _ in range(3):
        headers = live.auth(path, key="other", issuer=JKU_ISSUER)
        assert httpx.post(live.url(path), json=example(SELECT, "request"), headers=headers).status_code == 200
    assert len(live.jku_host.requests) - before <= 1


# --- calls, prefetch and FHIR fallback (H8-H17) --------------------------------------------------------


def mdr1_request() -> dict[str, Any]:
    return fresh(sample("mdr1-pembrolizumab-verapamil-order-select"))


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_bearer_token(live: Live) -> None:
    request = mdr1_request()
    verapamil = request["prefetch"]["medicationRequests"]["entry"]
    del request["prefetch"]["medicationRequests"], request["prefetch"]["conditions"]
    fhir = FakeFhirServer(resources=[entry["resource"] for entry in verapamil] * 1, page_size=1)
    fhir.resources += [dict(r, id=f"{r['id']}-copy{i}") for i, r in enumerate(fhir.resources * 2)]
    with serve_fhir(fhir, port=live.fhir_port) as fhir_base:
        request["fhirServer"] = fhir_base
        request["fhirAuthorization"] = {
            "access_token": "opaque-fhir-token-123",
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "patient/*.read",
            "subject": "mdrcds",
            "patient": "p-onc-1",
        }
        response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 200, response.text
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == [
        "mdr1-inhibitor-with-immunotherapy"
    ]
    paths = [path for path, _ in fhir.requests]
    # H9: only the two missing keys were fetched; H12: three pages of one MedicationRequest each.
    assert [p for p in paths if p.startswith("/MedicationRequest")] == [
        "/MedicationRequest?patient=p-onc-1",
        "/MedicationRequest?patient=p-onc-1&_offset=1",
        "/MedicationRequest?patient=p-onc-1&_offset=2",
    ]
    assert [p for p in paths if p.startswith("/Condition")] == ["/Condition?patient=p-onc-1"]
    assert len(paths) == 4
    assert {auth for _, auth in fhir.requests} == {"Bearer opaque-fhir-token-123"}


def test_a_request_with_no_prefetch_at_all_is_fetched_whole(live: Live) -> None:
    """Every key fetched: the resources read from the FHIR server are added after the request was read
    (on the event loop, decision 0014), and its reading deadline no longer applies to them."""
    request = mdr1_request()
    prefetch = request.pop("prefetch")
    resources = [prefetch["patient"], *(e["resource"] for e in prefetch["medicationRequests"]["entry"])]
    fhir = FakeFhirServer(resources=resources, page_size=1)
    with serve_fhir(fhir, port=live.fhir_port) as fhir_base:
        request["fhirServer"] = fhir_base
        response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 200, response.text
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == [
        "mdr1-inhibitor-with-immunotherapy"
    ]
    assert "/Patient/p-onc-1" in [path for path, _ in fhir.requests]


def test_missing_prefetch_without_a_fhir_server_is_412(live: Live) -> None:
    request = mdr1_request()
    del request["prefetch"]["conditions"]
    response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 412
    [issue] = response.json()["issue"]
    assert issue["code"] == "processing" and issue["expression"] == ["prefetch.conditions"]
    assert "conditions" in issue["diagnostics"]


def test_a_failing_fhir_server_is_412(live: Live) -> None:
    request = mdr1_request()
    del request["prefetch"]["observations"]
    with serve_fhir(FakeFhirServer(fail_with=503), port=live.fhir_port) as fhir_base:
        request["fhirServer"] = fhir_base
        response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == FHIR_SERVER_UNUSABLE


@pytest.mark.parametrize("value", ["null", "empty-bundle"])
def test_null_and_empty_prefetch_values_mean_no_data(live: Live, value: str) -> None:
    request = mdr1_request()
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    request["prefetch"]["conditions"] = None if value == "null" else empty
    request["prefetch"]["patient"] = None
    response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1


def test_an_operation_outcome_prefetch_value_is_refetched_or_412(live: Live) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    request = mdr1_request()
    request["prefetch"]["observations"] = outcome
    assert live.post(f"/cds-services/{SELECT}", request).status_code == 412
    with serve_fhir(FakeFhirServer(), port=live.fhir_port) as fhir_base:
        request = mdr1_request()
        request["prefetch"]["observations"] = outcome
        request["fhirServer"] = fhir_base
        assert live.post(f"/cds-services/{SELECT}", request).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("hook"), None),
        (lambda r: r.pop("hookInstance"), "hookInstance"),
        (lambda r: r.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda r: r.update(hook="patient-view"), "hook"),
        (lambda r: r.pop("context"), None),
        (lambda r: r["context"].pop("userId"), "context.userId"),
        (lambda r: r["context"].update(patientId="Patient/p-onc-1"), "context.patientId"),
        (lambda r: r["context"].update(selections="MedicationRequest/1"), None),
        (lambda r: r.update(fhirAuthorization={"access_token": "x", "token_type": "Bearer"}), "fhirServer"),
        (
            lambda r: r.update(fhirServer="https://fhir.example", fhirAuthorization={"access_token": "x"}),
            "fhirAuthorization.token_type",
        ),
        (lambda r: r.update(fhirServer="not a url"), "fhirServer"),
    ],
)
def test_malformed_requests_are_400_naming_the_field(live: Live, change: Any, field: str | None) -> None:
    request = mdr1_request()
    change(request)
    response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == "invalid"
    if field:
        assert issue["expression"] == [field]


def test_malformed_json_is_400(live: Live) -> None:
    response = live.post(f"/cds-services/{SELECT}", b'{"hook": "order-select",')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["issue"][0]["diagnostics"]


def test_an_invalid_fhir_resource_is_422_naming_it(live: Live) -> None:
    request = mdr1_request()
    request["context"]["draftOrders"]["entry"][0]["resource"]["authoredOn"] = "last tuesday"
    response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 422
    [issue] = response.json()["issue"]
    assert issue["expression"] == ["MedicationRequest.authoredOn"]


def test_a_body_over_the_limit_is_413(live: Live) -> None:
    response = live.post(f"/cds-services/{SELECT}", b" " * 2_000_001)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"


def test_unknown_services_and_get_on_a_service_are_404(live: Live) -> None:
    assert live.post("/cds-services/no-such-service", mdr1_request()).status_code == 404
    response = httpx.get(live.url(f"/cds-services/{SELECT}"))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_extensions_anywhere_are_accepted(live: Live) -> None:
    request = mdr1_request()
    request["extension"] = {"com.example.timestamp": "2026-11-23T10:00:00Z"}
    request["context"]["extension"] = {"com.example.workflow": {"step": 2}}
    response = live.post(f"/cds-services/{SELECT}", request)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1


# --- cards (H18-H22, H26, H28) ---------------------------------------------------------------------------


RESEARCH_RULES = {"possible-mdr-phenotype-sequential-pgp-substrates"}


def positive_cases() -> list[str]:
    """Cases the service answers with cards (research-mode rules are off in the service by default)."""
    cases = []
    for directory in sorted(SAMPLES.iterdir()):
        expected = directory / "expected.json"
        if not expected.exists():
            continue
        data = json.loads(expected.read_text())
        clinical = [card for card in data["cards"] if card["rule"] not in RESEARCH_RULES]
        if clinical and "fhir_version" not in data:
            cases.append(directory.name)
    return cases


def test_every_card_over_http_follows_the_spec(live: Live) -> None:
    cards = []
    for case in positive_cases():
        request = sample(case)
        service = f"mdrcds-{request['hook']}"
        response = live.post(f"/cds-services/{service}", fresh(request))
        assert response.status_code == 200, (case, response.text)
        assert no_empty_values(response.json()) == [], case
        cards += response.json()["cards"]
    assert len(cards) >= 40
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert (
            card["source"]["label"] and card["source"]["topic"]["system"] and card["source"]["topic"]["code"]
        )
        assert str(uuid.UUID(card["uuid"])) == card["uuid"]
        assert "<" not in card["detail"], "GFM without raw HTML"
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["system"] and reason["display"]
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart") and "appContext" not in link
            assert re.match(r"https?://[^/]+/", link["url"])  # absolute (HL7 canonicals are http)
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            if card["selectionBehavior"] == "at-most-one":
                assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) <= 1
            for suggestion in card["suggestions"]:
                assert suggestion["label"] and str(uuid.UUID(suggestion["uuid"])) == suggestion["uuid"]
                for action in suggestion["actions"]:
                    assert action["type"] == "delete" and action["description"]
                    assert re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9\-.]+", action["resourceId"])


def test_order_select_cards_concern_the_selections_only(live: Live) -> None:
    response = live.post(f"/cds-services/{SELECT}", fresh(sample("mdr1-trigger-not-selected")))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_card_uuids_are_stable_within_an_invocation_and_new_across_invocations(live: Live) -> None:
    request = mdr1_request()
    first = live.post(f"/cds-services/{SELECT}", request).json()["cards"]
    again = live.post(f"/cds-services/{SELECT}", request).json()["cards"]
    other = live.post(f"/cds-services/{SELECT}", fresh(request)).json()["cards"]
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert {c["uuid"] for c in first}.isdisjoint(c["uuid"] for c in other)


# --- feedback (H23) ----------------------------------------------------------------------------------------


def test_feedback_is_stored_once_and_joined_to_the_rule(live: Live) -> None:
    request = fresh(sample("transplant-liver-procedure-pembrolizumab-order-select"))
    [card] = live.post(f"/cds-services/{SELECT}", request).json()["cards"]
    rule = card["source"]["topic"]["code"]
    suggestion = card["suggestions"][0]["uuid"]
    path = f"/cds-services/{SELECT}/feedback"
    items = [
        {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": "2026-11-23T10:00:00Z",
        },
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:01:00Z"},
        {
            "card": card["uuid"],
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-23T10:02:00Z",
            "overrideReason": {
                "reason": card["overrideReasons"][0],
                "userComment": "discussed with oncologist",
            },
        },
    ]
    response = live.post(path, {"feedback": items})
    assert response.status_code == 200
    assert live.post(path, {"feedback": items[:1]}).status_code == 200  # the same item again
    store = Store(live.database_url)
    try:

        def stored() -> list[tuple[str, str | None, str]]:
            return [row for row in store.feedback_by_rule() if row[0] == card["uuid"]]

        wait_for(lambda: len(stored()) == 3)
        time.sleep(0.2)
        assert rule == "checkpoint-inhibitor-in-solid-organ-transplant"
        assert stored() == [
            (card["uuid"], rule, "accepted"),
            (card["uuid"], rule, "overridden"),
            (card["uuid"], rule, "overridden"),
        ]
    finally:
        store.dispose()


def test_feedback_for_a_card_never_issued_or_issued_by_another_service_is_refused(live: Live) -> None:
    request = fresh(sample("transplant-liver-procedure-pembrolizumab-order-select"))
    [card] = live.post(f"/cds-services/{SELECT}", request).json()["cards"]
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}
    never = {**item, "card": str(uuid.uuid4())}
    # the true positive: the issuing service takes it
    assert live.post(f"/cds-services/{SELECT}/feedback", {"feedback": [item]}).status_code == 200
    for service, items, index in (
        (SELECT, [item, never], 1),  # a card uuid this deployment never issued
        ("mdrcds-order-sign", [item], 0),  # a real card, sent to a service that did not issue it
        ("mdrcds-patient-view", [item], 0),
    ):
        response = live.post(f"/cds-services/{service}/feedback", {"feedback": items})
        assert response.status_code == 422, service
        assert response.json()["issue"][0]["expression"] == [f"feedback[{index}].card"]
    store = Store(live.database_url)
    try:
        wait_for(lambda: any(row[0] == card["uuid"] for row in store.feedback_by_rule()))
        time.sleep(0.3)
        assert not any(row[0] == never["card"] for row in store.feedback_by_rule())
        assert [row[0] for row in store.feedback_by_rule()].count(card["uuid"]) == 1
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (
            {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-23T10:00:00Z"},
            "feedback[0].acceptedSuggestions",
        ),
        (
            {"card": "c", "outcome": "dismissed", "outcomeTimestamp": "2026-11-23T10:00:00Z"},
            "feedback[0].outcome",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-23"},
            "feedback[0].outcomeTimestamp",
        ),
        (
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00"},
            "feedback[0].outcomeTimestamp",
        ),
        ({"outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}, "feedback[0].card"),
        (
            {
                "card": "c",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
                "overrideReason": {},
            },
            "feedback[0].overrideReason",
        ),
        (
            {
                "card": "c",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
                "overrideReason": {"reason": {"display": "no code"}},
            },
            "feedback[0].overrideReason.reason",
        ),
    ],
)
def test_invalid_feedback_is_400_naming_the_field(live: Live, item: dict[str, Any], field: str) -> None:
    response = live.post(f"/cds-services/{SELECT}/feedback", {"feedback": [item]})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [field]


# --- CORS (H24), operations, logs, audit -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/cds-services", f"/cds-services/{SELECT}", f"/cds-services/{SELECT}/feedback"]
)
def test_cors_preflight_and_post_headers_for_allowed_origins_only(live: Live, path: str) -> None:
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    response = httpx.options(live.url(path), headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    refused = httpx.options(live.url(path), headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in refused.headers
    posted = httpx.post(
        live.url(f"/cds-services/{SELECT}"),
        json=mdr1_request(),
        headers={**live.auth(f"/cds-services/{SELECT}"), "Origin": ORIGIN},
    )
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == ORIGIN


def test_health_and_metrics(live: Live) -> None:
    assert live.post(f"/cds-services/{SELECT}", mdr1_request()).status_code == 200
    health = httpx.get(live.url("/healthz")).json()
    assert health["status"] == "ok" and health["database"] == "up"
    metrics = httpx.get(live.url("/metrics")).text
    assert 'mdrcds_cards_total{indicator="info",rule="mdr1-inhibitor-with-immunotherapy"}' in metrics
    assert 'mdrcds_requests_total{route="/cds-services/{service_id}",status="200"}' in metrics
    assert "mdrcds_request_seconds_bucket" in metrics
    assert 'mdrcds_prefetch_fetches_total{key="medicationRequests",outcome="ok"}' in metrics
    assert "mdrcds_audit_spool_depth 0.0" in metrics


def test_invocations_are_audited_with_prefetch_use(live: Live) -> None:
    request = mdr1_request()
    assert live.post(f"/cds-services/{SELECT}", request).status_code == 200
    store = Store(live.database_url)
    try:

        def mine() -> list[Any]:
            return [r for r in store.invocations() if r.hook_instance == request["hookInstance"]]

        wait_for(lambda: len(mine()) == 1)
        [record] = mine()
        assert record.status_code == 200 and record.patient_id == "p-onc-1"
        assert record.rule_ids == ["mdr1-inhibitor-with-immunotherapy"] and len(record.card_uuids) == 1
        assert set(record.prefetch_used) == set(request["prefetch"]) and record.prefetch_missing == []
    finally:
        store.dispose()


def test_logs_hold_ids_but_no_tokens_or_clinical_text(live: Live, log_capture: Capture) -> None:
    request = mdr1_request()
    request["fhirAuthorization"] = {
        "access_token": "secret-access-token-xyz",
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "patient/*.read",
        "subject": "mdrcds",
    }
    with serve_fhir(FakeFhirServer(), port=live.fhir_port) as fhir_base:
        request["fhirServer"] = fhir_base
        del request["prefetch"]["observations"]
        headers = live.auth(f"/cds-services/{SELECT}")
        response = httpx.post(live.url(f"/cds-services/{SELECT}"), json=request, headers=headers)
    assert response.status_code == 200
    text = "\n".join(log_capture.lines)
    assert request["hookInstance"] in text
    jwt_value = headers["Authorization"].split()[1]
    for secret in (
        "secret-access-token-xyz",
        jwt_value,
        jwt_value.split(".")[2],
        "Bearer ey",
        "verapamil",
        "Verapamil",
    ):
        assert secret not in text
