"""Who is looking at the pages: the same trust as the CDS endpoints, carried by a session cookie.

With `MDRCDS_AUTH=off` (a demo) the pages are open, like the rest of the service. With
`MDRCDS_AUTH=required`, a person signs in once on /pages/login with a JWT from one of the trusted
issuers (`MDRCDS_TRUSTED_ISSUERS`), whose audience is the login page's URL: the hospital's identity
provider or CDS gateway mints it. The token gets every check a CDS call gets (signature, issuer,
audience, lifetime, `jti` used once); the browser then holds a random session id in an HttpOnly,
SameSite=Strict cookie, and the database holds only its SHA-256, who signed in and until when, so
every worker knows the session and sign-out ends it everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from mdrcds.store.database import Store, StoreUnavailable
from mdrcds.web.auth import AuthError
from mdrcds.web.authn import Authentication
from mdrcds.web.html import OPEN_USER

log = logging.getLogger("mdrcds.web")
COOKIE = "mdrcds_pages"


class NotSignedIn(Exception):
    """The page needs a signed-in user."""


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class PageSessions:
    """Signs people in to the pages and finds who a request comes from."""

    def __init__(self, authentication: Authentication, store: Store, lifetime_seconds: int) -> None:
        self.authentication = authentication
        self.store = store
        self.lifetime = timedelta(seconds=lifetime_seconds)

    @property
    def open(self) -> bool:
        """True when authentication is off: every visitor may use the pages."""
        return self.authentication.authenticator is None

    def user(self, request: Request) -> str:
        """The signed-in user ('issuer subject'); raises NotSignedIn."""
        if self.open:
            return OPEN_USER
        session_id = request.cookies.get(COOKIE)
        if not session_id or len(session_id) > 200:
            raise NotSignedIn
        try:
            found = self.store.session_subject(_key(session_id), datetime.now(UTC))
        except StoreUnavailable:
            log.error("database unavailable: pages sessions cannot be checked")
            raise NotSignedIn from None
        if found is None:
            raise NotSignedIn
        issuer, subject = found
        return f"{subject} ({issuer})"

    def sign_in(self, request: Request, token: str, response: Response) -> bool:
        """Check `token` as a CDS call's token for the login URL; on success set the session cookie."""
        authenticator = self.authentication.authenticator
        audience = self.authentication.audience(request)
        if authenticator is None or audience is None or not token or len(token) > 16_384:
            return False
        try:
            caller = authenticator.verify(f"Bearer {token.strip()}", audience)
        except AuthError as exc:
            log.warning("pages sign-in failed", extra={"reason": str(exc)})
            return False
        session_id = secrets.token_urlsafe(32)
        try:
            self.store.open_session(
                _key(session_id), caller.issuer, caller.subject, datetime.now(UTC) + self.lifetime
            )
        except StoreUnavailable:
            log.error("database unavailable: pages sign-in refused")
            return False
        secure = request.url.scheme == "https" or bool(
            (self.authentication.settings.public_url or "").startswith("https://")
        )
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=int(self.lifetime.total_seconds()),
            path="/pages",
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        log.info("pages sign-in", extra={"issuer": caller.issuer})
        return True

    def sign_out(self, request: Request, response: Response) -> None:
        session_id = request.cookies.get(COOKIE)
        if session_id and len(session_id) <= 200:
            try:
                self.store.close_session(_key(session_id))
            except StoreUnavailable:
                log.error("database unavailable: the pages session ends when it expires")
        response.delete_cookie(COOKIE, path="/pages")
