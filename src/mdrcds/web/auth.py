"""CDS Hooks client authentication: the EHR's signed JWT (CDS Hooks 2.0 §Trusting CDS Clients).

Checks, in order: `Authorization: Bearer`; header `alg` in ES384/RS384/ES256/RS256 (never `none` or
HS*), `typ` = JWT, `kid`; `iss` a trusted issuer; its key by `kid` from a JWK Set file or from the
issuer's allow-listed `jku` (fetched over https and cached); signature; `aud` = the URL called (string
or array); `exp`, `iat`, `nbf` with a small leeway; a lifetime of at most an hour; `jti` never seen
before (kept in the database until the token expires, so replays are refused across workers). Extra
claims (`sub`, `tenant`, ...) are accepted and ignored. Every failure is an `AuthError` whose reason is
logged by the caller but never sent to the client, and the token itself is never logged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

from mdrcds.errors import MdrcdsError
from mdrcds.settings import TrustedIssuer

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
JKU_CACHE_SECONDS = 300.0
JKU_REFRESH_MIN_SECONDS = 30.0
JKU_DEADLINE_SECONDS = 5.0
JKU_MAX_BYTES = 256 * 1024


class AuthError(MdrcdsError):
    """The call is not authenticated; the message is for the log only."""


@dataclass(frozen=True)
class Caller:
    """Who an authenticated call came from."""

    issuer: str
    tenant: str | None
    subject: str = ""
    """The `sub` claim: the client id of a CDS client, the user of a pages sign-in."""


ClaimToken = Callable[[str, str, datetime], bool]
"""(issuer, jti, expires_at) -> False when the jti was already used."""


class KeySets:
    """Public keys of the trusted issuers, by issuer and `kid`."""

    def __init__(self, issuers: dict[str, TrustedIssuer], http: httpx.Client) -> None:
        self.issuers = issuers
        self.http = http
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._attempted: dict[str, float] = {}

    def key(self, issuer: str, kid: str, jku: str | None) -> jwt.PyJWK:
        trusted = self.issuers.get(issuer)
        if trusted is None:
            raise AuthError(f"untrusted issuer {issuer!r}")
        if trusted.jwks_file is not None:
            keys = self._from_file(issuer, trusted)
        else:
            if jku is not None and (jku != trusted.jku or not jku.lower().startswith("https://")):
                raise AuthError(f"jku {jku!r} is not allow-listed for issuer {issuer!r}")
            keys = self._from_jku(issuer, str(trusted.jku), kid)
        if kid not in keys:
            raise AuthError(f"no key {kid!r} for issuer {issuer!r}")
        return keys[kid]

    def _from_file(self, issuer: str, trusted: TrustedIssuer) -> dict[str, jwt.PyJWK]:
        with self._lock:
            if issuer not in self._cache:
                assert trusted.jwks_file is not None
                try:
                    data = json.loads(trusted.jwks_file.read_text())
                except (OSError, ValueError) as exc:
                    raise AuthError(f"cannot read the JWK Set file for {issuer!r}: {exc}") from None
                self._cache[issuer] = (float("inf"), _parse_jwks(data, issuer))
            return self._cache[issuer][1]

    def _from_jku(self, issuer: str, url: str, kid: str) -> dict[str, jwt.PyJWK]:
        now = time.monotonic()
        with self._lock:
            fetched_at, keys = self._cache.get(issuer, (-float("inf"), {}))
            fresh = now - fetched_at < JKU_CACHE_SECONDS
            if fresh and kid in keys:
                return keys
            # A new kid may mean the issuer rotated its keys, but it is also what any caller can put in
            # a header before its signature is checked: refetch at most once per JKU_REFRESH_MIN_SECONDS
            # per issuer, counting failed attempts too.
            if now - self._attempted.get(issuer, -float("inf")) < JKU_REFRESH_MIN_SECONDS:
                if keys:
                    return keys
                raise AuthError(f"the JWK Set of {issuer!r} was fetched moments ago; not again yet")
            self._attempted[issuer] = now
            try:
                keys = _parse_jwks(self._fetch(url), issuer)
            except (httpx.HTTPError, ValueError, AuthError) as exc:
                if keys:
                    return keys  # keep serving the cached keys while the jku is unreachable
                raise AuthError(f"cannot fetch the JWK Set of {issuer!r}: {type(exc).__name__}") from None
            self._cache[issuer] = (now, keys)
            return keys

    def _fetch(self, url: str) -> Any:
        """The JWK Set at `url`, read within JKU_DEADLINE_SECONDS and JKU_MAX_BYTES whatever pace the
        server sends at (a per-read timeout alone lets a server that drips bytes hold the fetch)."""
        deadline = time.monotonic() + JKU_DEADLINE_SECONDS
        body = bytearray()
        with self.http.stream("GET", url, headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > JKU_MAX_BYTES:
                    raise AuthError(f"JWK Set over {JKU_MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise AuthError(f"JWK Set not read within {JKU_DEADLINE_SECONDS} s")
        return json.loads(bytes(body))


def _parse_jwks(data: Any, issuer: str) -> dict[str, jwt.PyJWK]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise AuthError(f"the JWK Set of {issuer!r} has no 'keys'")
    keys: dict[str, jwt.PyJWK] = {}
    for item in data["keys"]:
        if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
            continue
        try:
            keys[item["kid"]] = jwt.PyJWK(item)
        except jwt.PyJWTError:
            continue  # e.g. a key for an algorithm we do not accept
    return keys


class Authenticator:
    """Verifies the bearer JWT of one call."""

    def __init__(
        self,
        key_sets: KeySets,
        claim_token: ClaimToken,
        leeway_seconds: int = 60,
        max_lifetime_seconds: int = 3600,
    ) -> None:
        self.key_sets = key_sets
        self.claim_token = claim_token
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds

    def verify(self, authorization: str | None, audience: str) -> Caller:
        """Check an `Authorization` header value for a call to `audience` (the URL called)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("no Bearer token")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"undecodable token: {type(exc).__name__}") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} not accepted")
        if header.get("typ") != "JWT":
            raise AuthError("header typ must be 'JWT'")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid in the header")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise AuthError("no iss claim")
        jku = header.get("jku")
        key = self.key_sets.key(issuer, kid, jku if isinstance(jku, str) else None)
        trusted = self.key_sets.issuers.get(issuer)
        require_sub = trusted is None or trusted.require_sub
        required = ["iss", "aud", "exp", "iat", "jti", *(["sub"] if require_sub else [])]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": required},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"token rejected: {type(exc).__name__}: {exc}") from None
        for claim in ("iat", "exp", "nbf"):
            value = claims.get(claim, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AuthError(f"{claim} must be a number (NumericDate), not {type(value).__name__}")
        now = datetime.now(UTC).timestamp()
        if claims["iat"] > now + self.leeway:
            raise AuthError("iat is in the future")
        if claims["exp"] - claims["iat"] > self.max_lifetime:
            raise AuthError("token lifetime exceeds the maximum")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti must be a non-empty string")
        subject = claims.get("sub", "")
        if (require_sub or "sub" in claims) and (not isinstance(subject, str) or not subject):
            raise AuthError("sub must be a non-empty string (the client_id, CDS Hooks 2.0)")
        expires_at = datetime.fromtimestamp(claims["exp"] + self.leeway, UTC)
        if not self.claim_token(issuer, jti, expires_at):
            raise AuthError("jti already used (replay)")
        tenant = claims.get("tenant")
        return Caller(issuer=issuer, tenant=tenant if isinstance(tenant, str) else None, subject=str(subject))


DEV_ISSUER = "urn:mdrcds:development-token"
"""The issuer of `mdrcds token`: development only, never to be trusted in production."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class DevToken:
    """A development JWT and what a local service needs to accept it."""

    token: str
    jwks_file: Path
    trusted_issuers: str
    """The MDRCDS_TRUSTED_ISSUERS value that trusts the development key (and nothing else)."""


def mint_dev_token(audience: str, key_dir: Path, lifetime: int = 300) -> DevToken:
    """Sign a CDS client JWT with a local ES384 development key (created in `key_dir` on first use),
    as a CDS client would send it. Only for a service on this machine: raises AuthError for an audience
    that is not a loopback URL."""
    from urllib.parse import urlsplit

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    host = (urlsplit(audience).hostname or "").lower()
    if host not in _LOOPBACK:
        raise AuthError(
            f"mdrcds token is for development only: the audience must be a loopback URL "
            f"(http://127.0.0.1:PORT/...), not {audience!r}"
        )
    key_dir.mkdir(parents=True, exist_ok=True)
    private_file, jwks_file = key_dir / "dev-key.pem", key_dir / "dev-jwks.json"
    if private_file.exists():
        private = serialization.load_pem_private_key(private_file.read_bytes(), password=None)
    else:
        private = ec.generate_private_key(ec.SECP384R1())
        private_file.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        private_file.chmod(0o600)
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
    kid = "mdrcds-development-key"
    public.update({"kid": kid, "use": "sig", "alg": "ES384"})
    jwks_file.write_text(json.dumps({"keys": [public]}, indent=2) + "\n")
    issued = int(time.time())
    claims = {
        "iss": DEV_ISSUER,
        "sub": "mdrcds-token",
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }
    signed = jwt.encode(claims, private, algorithm="ES384", headers={"kid": kid, "typ": "JWT"})  # type: ignore[arg-type]
    trusted = json.dumps({DEV_ISSUER: {"jwks_file": str(jwks_file.resolve())}})
    return DevToken(signed, jwks_file, trusted)
