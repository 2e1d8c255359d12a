"""Connecting the public CDS Hooks sandbox and a developer's curl (docs/service.md, "Try it in the CDS
Hooks sandbox"): the sandbox's public key as shipped, a token signed exactly the way the sandbox signs
it (ES384, kid and jku in the header, no `sub` claim), CORS for the sandbox's origin, and `mdrcds token`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mdrcds.cli import main
from mdrcds.settings import Settings, TrustedIssuer
from mdrcds.web.auth import KeySets
from service_support import ROOT, live_service

SANDBOX = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SHIPPED = ROOT / "api" / "sandbox" / "jwks.json"


def test_the_shipped_sandbox_key_is_an_es384_key_the_verifier_reads() -> None:
    keys = KeySets({SANDBOX: TrustedIssuer(jwks_file=SHIPPED, require_sub=False)}, httpx.Client())
    key = keys.key(SANDBOX, SANDBOX_KID, f"{SANDBOX}/.well-known/jwks.json")
    assert key.algorithm_name == "ES384"
    assert (ROOT / "api" / "sandbox" / "NOTICE.md").read_text().count("Apache License 2.0") == 1


def sandbox_style_token(private: ec.EllipticCurvePrivateKey, audience: str) -> str:
    """As the sandbox's src/retrieve-data-helpers/jwt-generator.js builds it: no `sub`."""
    now = int(time.time())
    payload = {"iss": SANDBOX, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": f"{SANDBOX}/.well-known/jwks.json"}
    return jwt.encode(payload, private, algorithm="ES384", headers=header)


@pytest.fixture
def sandbox_like(tmp_path: Path) -> Iterator[tuple[str, ec.EllipticCurvePrivateKey, Path]]:
    """A service configured as docs/service.md says, with a key pair of our own standing in for the
    sandbox's (whose private key is not copied): same kid, same issuer, same algorithm."""
    private = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    public.update({"kid": SANDBOX_KID, "use": "sig", "alg": "ES384"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public]}))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        auth="required",
        trusted_issuers={SANDBOX: TrustedIssuer(jwks_file=jwks_file, require_sub=False)},
        cors_origins=[SANDBOX],
        allowed_hosts=["127.0.0.1"],
        spool_dir=tmp_path / "spool",
    )
    with live_service(settings) as base:
        yield base, private, jwks_file


def test_a_token_signed_the_way_the_sandbox_signs_is_accepted(
    sandbox_like: tuple[str, ec.EllipticCurvePrivateKey, Path], tmp_path: Path
) -> None:
    base, private, _ = sandbox_like
    discovery = f"{base}/cds-services"
    answer = httpx.get(
        discovery, headers={"Authorization": f"Bearer {sandbox_style_token(private, discovery)}"}
    )
    assert answer.status_code == 200 and answer.json()["services"]
    request = json.loads((ROOT / "api" / "examples" / "mdrcds-order-select.request.json").read_text())
    service = f"{base}/cds-services/mdrcds-order-select"
    called = httpx.post(
        service, json=request, headers={"Authorization": f"Bearer {sandbox_style_token(private, service)}"}
    )
    assert called.status_code == 200
    preflight = httpx.options(
        service,
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == SANDBOX


def test_without_the_setting_a_sandbox_token_is_refused(tmp_path: Path) -> None:
    """CDS Hooks 2.0 requires `sub`; the sandbox omits it: `require_sub: false` is what lets it in."""
    private = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    public.update({"kid": SANDBOX_KID, "alg": "ES384"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public]}))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        auth="required",
        trusted_issuers={SANDBOX: TrustedIssuer(jwks_file=tmp_path / "jwks.json")},
        allowed_hosts=["127.0.0.1"],
        spool_dir=tmp_path / "spool",
    )
    with live_service(settings) as base:
        url = f"{base}/cds-services"
        answer = httpx.get(url, headers={"Authorization": f"Bearer {sandbox_style_token(private, url)}"})
        assert answer.status_code == 401


def test_mdrcds_token_mints_a_token_a_local_service_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_dir = tmp_path / "dev"
    assert (
        main(["token", "--aud", "http://127.0.0.1:1/cds-services", "--key-dir", str(key_dir), "--env"]) == 0
    )
    exported = capsys.readouterr().out.strip()
    trusted = json.loads(exported.split("=", 1)[1].strip("'"))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        auth="required",
        trusted_issuers={issuer: TrustedIssuer(**value) for issuer, value in trusted.items()},
        allowed_hosts=["127.0.0.1"],
        spool_dir=tmp_path / "spool",
    )
    with live_service(settings) as base:
        url = f"{base}/cds-services"
        assert main(["token", "--aud", url, "--key-dir", str(key_dir)]) == 0
        token = capsys.readouterr().out.strip()
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401  # one use


def test_mdrcds_token_refuses_a_non_local_audience(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["token", "--aud", "https://cds.hospital.example/cds-services", "--key-dir", str(tmp_path)]) == 2
    )
    assert "development only" in capsys.readouterr().err
