"""HTTP for the pages: HTML responses with a strict Content-Security-Policy, size-limited forms, and the
same-origin check on every form post."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from mdrcds.settings import Settings
from mdrcds.web.body import TooLarge, read_body

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
    allowed = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    if settings.public_url:
        public = urlsplit(settings.public_url)
        allowed.add(f"{public.scheme}://{public.netloc}".lower())
    return origin in allowed


async def read_form(request: Request, limit: int) -> FormData:
    """The posted form (urlencoded or multipart), at most `limit` bytes; raises FormError."""
    try:
        body = await read_body(request, limit)
    except TooLarge:
        raise FormError(413, f"the upload is over {limit:,} bytes") from None
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=50, max_fields=50, max_part_size=limit)
    except MultiPartException as exc:
        raise FormError(400, f"the form could not be read: {exc.message}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormError(400, f"the form could not be read: {type(exc).__name__}") from None


def text_field(form: FormData, name: str, limit: int = 10_000) -> str:
    """A text field (empty when missing); a file sent in its place is refused."""
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormError(400, f"field {name!r} must be text")
    if len(value) > limit:
        raise FormError(400, f"field {name!r} is over {limit:,} characters")
    return value


async def files_of(form: FormData, name: str) -> list[tuple[str, bytes]]:
    """(file name, content) of every non-empty file sent as `name`."""
    files = []
    for value in form.getlist(name):
        if isinstance(value, UploadFile):
            data = await value.read()
            if data:
                files.append((value.filename or "upload", data))
    return files
