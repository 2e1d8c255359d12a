"""The CDS Hooks 2.0 service: discovery, the three hook services, feedback, health and metrics.

`create_app()` builds the app from `Settings` (the environment by default). The request path is
`Service.call`, which strings together the concern modules beside this one (authn, body, fallback,
evaluation) and audits every response; the routes only adapt HTTP to it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mdrcds.settings import Settings
from mdrcds.store.database import StoreUnavailable
from mdrcds.web.body import configure as configure_body
from mdrcds.web.cdsservice import Clock, Reject, Service, build_service
from mdrcds.web.discovery import SERVICES, discovery_document
from mdrcds.web.headers import SecurityHeaders
from mdrcds.web.logs import configure_json_logging
from mdrcds.web.metrics import Measured
from mdrcds.web.outcome import operation_outcome
from mdrcds.web.pagesauth import PageSessions
from mdrcds.web.routing import RequestOnlyRoute
from mdrcds.web.schemas import (
    CARDS_RESPONSE,
    FEEDBACK_REQUEST,
    FEEDBACK_RESPONSE,
    HOOK_REQUEST,
    JsonSchema,
    request_body,
    responses,
)

log = logging.getLogger("mdrcds.web")
HEALTH_PING_SECONDS = 0.5
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's own OpenTelemetry reporting, switched off unless MDRCDS_OPENTELEMETRY asks for it."""


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The ASGI app. `clock` fixes the evaluation time (tests); by default the current UTC time."""
    settings = settings or Settings()
    configure_json_logging()
    configure_body(settings.body_bytes_in_flight, settings.body_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = build_service(settings, clock)
        try:
            service.store.migrate()
        except StoreUnavailable as exc:
            log.error(
                "database unavailable at start; audit records will be spooled", extra={"reason": str(exc)}
            )
        if settings.auth == "off":
            log.warning("authentication is OFF (MDRCDS_AUTH=off): for development and demos only")
        app.state.service = service
        if settings.pages:
            app.state.page_sessions = PageSessions(
                service.authentication, service.store, settings.pages_session_seconds
            )
        # Everything loaded so far lives for the whole process: keep it out of the collector's scans.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            service.engine_thread.close()
            service.pools.close()
            service.audit.close()
            service.http.close()
            service.store.dispose()

    app = FastAPI(
        title="mdrcds CDS Hooks service",
        version="0.1.0",
        description="CDS Hooks 2.0 services for oncology MDR and immunotherapy-resistance patterns.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    if not settings.opentelemetry:  # FastAPI's handler records the operation spans
        app.router.route_class = RequestOnlyRoute
    _add_routes(app)
    if settings.pages:
        from mdrcds.web.pages import build_router  # only when the pages are on

        app.include_router(build_router())
    app.add_middleware(Measured)
    app.add_middleware(SecurityHeaders)
    return app


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _guarded(handler: Callable[[], Awaitable[Response]]) -> Awaitable[Response]:
    async def run() -> Response:
        try:
            return await handler()
        except Reject as reject:
            return reject.response

    return run()


_SERVICE_ID_TEXT = "A service id from discovery; any other id gets 404"
SERVICE_ID_PARAMETER = {
    "name": "service_id",
    "in": "path",
    "required": True,
    "schema": {
        "type": "string",
        "description": _SERVICE_ID_TEXT,
        "enum": sorted(SERVICES),
        "title": "Service Id",
    },
    "description": _SERVICE_ID_TEXT,
}
"""The `service_id` path parameter, documented by hand: the hook and feedback routes read it from the
request's path parameters, so FastAPI solves no parameter per call (the routes answer an unknown id
with 404 themselves)."""


def _documented(body: JsonSchema) -> JsonSchema:
    return {**request_body(body), "parameters": [SERVICE_ID_PARAMETER]}


def _add_routes(app: FastAPI) -> None:
    @app.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery(request: Request) -> Response:
        async def handle() -> Response:
            await _service(request).authenticate(request)
            return Response(orjson.dumps(discovery_document()), media_type="application/json")

        return await _guarded(handle)

    def unknown(service_id: str) -> Response:
        return operation_outcome(404, "not-found", f"no CDS service {service_id!r}", "id")

    @app.post(
        "/cds-services/{service_id}",
        summary="Call a CDS service",
        openapi_extra=_documented(HOOK_REQUEST),
        responses=responses(
            CARDS_RESPONSE, "CDS Hooks cards", ("400", "401", "404", "408", "412", "413", "422", "500", "503")
        ),
    )
    async def call(request: Request) -> Response:
        service_id: str = request.path_params["service_id"]
        service = SERVICES.get(service_id)
        if service is None:
            return unknown(service_id)
        return await _guarded(lambda: _service(request).call(service, request))

    @app.get("/cds-services/{service_id}", include_in_schema=False)
    async def get_service(service_id: str) -> Response:
        return operation_outcome(404, "not-found", "CDS services are called with POST")

    @app.post(
        "/cds-services/{service_id}/feedback",
        summary="Feedback on cards",
        openapi_extra=_documented(FEEDBACK_REQUEST),
        responses=responses(
            FEEDBACK_RESPONSE, "Items received", ("400", "401", "404", "408", "413", "422", "500", "503")
        ),
    )
    async def feedback(request: Request) -> Response:
        service_id: str = request.path_params["service_id"]
        service = SERVICES.get(service_id)
        if service is None:
            return unknown(service_id)
        return await _guarded(lambda: _service(request).feedback(service, request))

    @app.get("/healthz", summary="Liveness and database status")
    async def healthz(request: Request) -> Response:
        service = _service(request)
        try:
            # A hung database may not hold up the health answer: wait at most HEALTH_PING_SECONDS.
            await service.pools.within(service.pools.database, HEALTH_PING_SECONDS, service.store.ping)
            database = "up"
        except StoreUnavailable:
            database = "down"
        except TimeoutError:
            database = "unresponsive"
        audit = service.audit.health()
        body = {
            "status": audit["state"],
            "database": database,
            "spoolDepth": service.audit.spool_depth,
            "audit": audit,
            "rulebook": service.rulebook.version,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        return Response(_service(request).metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing's own answers (no such path, a method the path does not take) are
        # OperationOutcomes like every other error, with the Allow header a 405 needs.
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        response = operation_outcome(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return operation_outcome(400, "invalid", "the request's path or query is not valid")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error", extra={"path": request.url.path, "error": type(exc).__name__})
        return operation_outcome(500, "exception", "internal error")
