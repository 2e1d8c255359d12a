"""Authentication of CDS clients: the JWT check of every call, the audience it must name, and the
`jti` replay ledger shared by workers through the database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.requests import Request

from mdrcds.settings import Settings
from mdrcds.store.database import Store, StoreUnavailable
from mdrcds.web.auth import Authenticator, AuthError

log = logging.getLogger("mdrcds.web")


class Rejected(Exception):
    """Authentication failed: answer 401 without saying why."""


class TokenLedger:
    """`jti` replay check: in the database (shared by all workers), in memory while it is down."""

    PURGE_SECONDS = 60.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._local: dict[tuple[str, str], datetime] = {}
        self._purged = datetime.now(UTC)

    def claim(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        now = datetime.now(UTC)
        # Expired entries go once a minute, not on every call: the map holds every live token.
        if (now - self._purged).total_seconds() >= self.PURGE_SECONDS:
            self._local = {k: v for k, v in self._local.items() if v >= now}
            self._purged = now
        if (issuer, jti) in self._local:
            return False
        self._local[(issuer, jti)] = expires_at
        try:
            return self.store.claim_token(issuer, jti, expires_at, now)
        except StoreUnavailable:
            log.error("database unavailable: token replay checked in this process only")
            return True


class Authentication:
    """Checks the bearer JWT of a call against the URL the client must have called.

    The audience is `MDRCDS_PUBLIC_URL` + path. Without it, the request's own URL is used only when its
    host is on `MDRCDS_ALLOWED_HOSTS`; a Host header names no audience by itself, so a token minted for
    another deployment is never accepted.
    """

    def __init__(self, settings: Settings, authenticator: Authenticator | None) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self._warned_off = False

    def audience(self, request: Request, path: str | None = None) -> str | None:
        """The URL the client called (or `path` on the same host), as the JWT `aud` must name it;
        None when it cannot be trusted."""
        path = path or request.url.path
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + path
        host = (request.url.hostname or "").lower()
        if host and host in {h.lower() for h in self.settings.allowed_hosts}:
            return str(request.url.replace(path=path, query=""))
        return None

    def check(self, request: Request) -> str | None:
        """The caller's issuer (None with auth off); raises Rejected."""
        if self.authenticator is None:
            if not self._warned_off:
                # Said at start-up too; once more at the first call, not at every call (a log line per
                # call cost about 4 % of a call's time).
                self._warned_off = True
                log.warning(
                    "authentication is off (MDRCDS_AUTH=off): development only",
                    extra={"path": request.url.path},
                )
            return None
        audience = self.audience(request)
        if audience is None:
            log.warning(
                "authentication failed", extra={"path": request.url.path, "reason": "host not allowed"}
            )
            raise Rejected
        try:
            caller = self.authenticator.verify(request.headers.get("authorization"), audience)
        except AuthError as exc:
            log.warning("authentication failed", extra={"path": request.url.path, "reason": str(exc)})
            raise Rejected from None
        return caller.issuer
