"""HTTP for the pages: HTML responses with a strict Content-Security-Policy, size-limited forms, and the
same-origin check on every form post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from mdrcds.reading.fhir import HOOKS
from mdrcds.settings import Settings
from mdrcds.web.body import BUDGET, ServerBusy, TooLarge, TooSlow, read_body

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""No script at all, no inline style, nothing fetched from elsewhere, never framed."""


class FormError(Exception):
    """A form that cannot be read; the message is for the person who sent it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def html_response(content: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, **(headers or {})},
    )


def same_origin(request: Request, settings: Settings) -> bool:
    """False when the browser says the form came from another site (Origin, else Referer)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return claimed is None
    parts = urlsplit(claimed)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = set()
    if settings.public_url:
        public = urlsplit(settings.public_url)
        allowed.add(f"{public.scheme}://{public.netloc}".lower())
    # The request's own Host counts only when it is a host this service is known by: otherwise a page
    # on another site, reaching the service through DNS rebinding, would name its own host in both the
    # Host and the Origin header and pass.
    if (request.url.hostname or "").lower() in trusted_hosts(settings):
        allowed.add(f"{request.url.scheme}://{request.url.netloc}".lower())
    return origin in allowed


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def trusted_hosts(settings: Settings) -> frozenset[str]:
    """Host names a form may be posted to: MDRCDS_ALLOWED_HOSTS, else the loopback names (a demo)."""
    listed = {host.lower() for host in settings.allowed_hosts}
    return frozenset(listed) if listed else LOOPBACK_HOSTS


@dataclass(frozen=True)
class Form:
    """A posted form, read whole: text fields and uploaded files (name, content) by field name."""

    fields: dict[str, list[str]]
    files: dict[str, list[tuple[str, bytes]]]


async def read_form(request: Request, limit: int) -> Form:
    """The posted form (urlencoded or multipart), at most `limit` bytes; raises FormError."""
    try:
        body = await read_body(request, limit)
    except TooLarge:
        raise FormError(413, f"the upload is over {limit:,} bytes") from None
    except TooSlow:
        raise FormError(408, f"the upload did not arrive within {BUDGET.seconds:g} seconds") from None
    except ServerBusy:
        raise FormError(503, "the server is receiving too many uploads at once; try again shortly") from None
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    fields: dict[str, list[str]] = {}
    files: dict[str, list[tuple[str, bytes]]] = {}
    try:
        async with Request(request.scope, replay).form(
            max_files=50, max_fields=50, max_part_size=limit
        ) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    if data:
                        files.setdefault(name, []).append((value.filename or "upload", data))
                else:
                    fields.setdefault(name, []).append(value)
    except MultiPartException as exc:
        raise FormError(400, f"the form could not be read: {exc.message}") from None
    except HTTPException as exc:  # Starlette's answer to a body the multipart parser rejects
        raise FormError(400, f"the form could not be read: {exc.detail}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormError(400, f"the form could not be read: {type(exc).__name__}") from None
    return Form(fields, files)


def text_field(form: Form, name: str, limit: int = 10_000) -> str:
    """A text field (empty when missing); a file sent in its place is refused."""
    if name in form.files:
        raise FormError(400, f"field {name!r} must be text, not a file")
    values = form.fields.get(name) or [""]
    if len(values[0]) > limit:
        raise FormError(400, f"field {name!r} is over {limit:,} characters")
    return values[0]


def hook_field(form: Form) -> str:
    """The `hook` field: one of the CDS Hooks this service answers (patient-view when empty)."""
    hook = text_field(form, "hook") or "patient-view"
    if hook not in HOOKS:
        raise FormError(400, f"unknown hook {hook!r}")
    return hook


def date_field(form: Form, name: str, default: date) -> date:
    """A date field (ISO 8601, as a date input sends it); `default` when empty."""
    text = text_field(form, name)
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        raise FormError(400, f"{name!r} must be a date such as 2026-11-23, not {text[:40]!r}") from None


def files_of(form: Form, name: str) -> list[tuple[str, bytes]]:
    """(file name, content) of every non-empty file sent as `name`."""
    return form.files.get(name, [])
