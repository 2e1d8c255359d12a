"""The CDS Hooks 2.0 service: discovery, the three hook services, feedback, health and metrics.

`create_app()` builds the app from `Settings` (the environment by default). Everything the request
path does is in this module's `Service`; the routes only adapt HTTP to it.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mdrcds.audit import AuditLog
from mdrcds.auth import Authenticator, AuthError, KeySets
from mdrcds.cards import Card, rule_of
from mdrcds.discovery import SERVICES, CdsService, discovery_document
from mdrcds.engine import Engine
from mdrcds.errors import FhirValidationError, InputFormatError
from mdrcds.feedback import parse_feedback
from mdrcds.fhir import FhirInput, add_fetched, read_bytes
from mdrcds.hookrequest import RequestError, check_request
from mdrcds.prefetch import PREFETCH_TEMPLATES, FhirFetcher, FhirServerError
from mdrcds.records import InvocationRecord, IssuedCard
from mdrcds.rulebook import Rulebook, load_rulebook
from mdrcds.service import evaluate_input
from mdrcds.settings import Settings
from mdrcds.store import Store, StoreUnavailable
from mdrcds.web.logs import configure_json_logging
from mdrcds.web.metrics import Metrics
from mdrcds.web.outcome import operation_outcome, unauthorized

log = logging.getLogger("mdrcds.web")
Clock = Callable[[], datetime]


class _Reject(Exception):
    """Stop handling a call and answer with this response."""

    def __init__(self, response: Response) -> None:
        self.response = response


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


@dataclass
class Service:
    """What one process needs to answer calls."""

    settings: Settings
    rulebook: Rulebook
    engine: Engine
    store: Store
    audit: AuditLog
    http: httpx.Client
    fetcher: FhirFetcher
    authenticator: Authenticator | None
    metrics: Metrics
    clock: Clock
    started: float = field(default_factory=time.monotonic)

    def audience(self, request: Request) -> str:
        """The URL the client called, as the JWT `aud` must name it."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + request.url.path
        return str(request.url.replace(query=""))

    def authenticate(self, request: Request) -> None:
        if self.authenticator is None:
            log.warning(
                "authentication is off (MDRCDS_AUTH=off): development only", extra={"path": request.url.path}
            )
            return
        try:
            caller = self.authenticator.verify(request.headers.get("authorization"), self.audience(request))
        except AuthError as exc:
            log.warning("authentication failed", extra={"path": request.url.path, "reason": str(exc)})
            raise _Reject(unauthorized()) from None
        request.state.issuer = caller.issuer

    async def body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _Reject(operation_outcome(413, "too-long", f"request body over {limit} bytes"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Reject(operation_outcome(413, "too-long", f"request body over {limit} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)

    def missing_keys(self, fhir_input: FhirInput) -> list[str]:
        """Prefetch keys not sent, or sent as an OperationOutcome (the client tried and failed)."""
        return [
            key
            for key in PREFETCH_TEMPLATES
            if key not in fhir_input.prefetch_keys or f"prefetch.{key}" in fhir_input.operation_outcomes
        ]

    def fetch_missing(self, fhir_input: FhirInput, missing: list[str]) -> None:
        authorization = fhir_input.fhir_authorization or {}
        token = authorization.get("access_token") if isinstance(authorization, dict) else None
        for key in missing:
            try:
                fetched = self.fetcher.fetch(key, str(fhir_input.fhir_server), token, fhir_input.context)
            except FhirServerError:
                self.metrics.prefetch_fetches.labels(key, "error").inc()
                raise
            self.metrics.prefetch_fetches.labels(key, "ok").inc()
            for page in fetched.pages:
                add_fetched(fhir_input, page, where=f"prefetch.{key}")

    async def call(self, service: CdsService, request: Request) -> Response:
        started = time.perf_counter()
        self.authenticate(request)
        body = await self.body(request)
        try:
            fhir_input = read_bytes(body, source="request")
            check_request(fhir_input, service.hook)
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        except InputFormatError as exc:
            return operation_outcome(400, "invalid", str(exc))
        missing = self.missing_keys(fhir_input)
        fetched: list[str] = []
        status = 200
        try:
            if missing:
                if fhir_input.fhir_server is None:
                    status = 412
                    return operation_outcome(
                        412,
                        "processing",
                        "prefetch keys missing and no fhirServer to fetch them from: " + ", ".join(missing),
                        f"prefetch.{missing[0]}",
                    )
                try:
                    await run_in_threadpool(self.fetch_missing, fhir_input, missing)
                except FhirServerError as exc:
                    status = 412
                    return operation_outcome(412, "processing", str(exc))
                fetched = list(missing)
            try:
                evaluation = evaluate_input(
                    fhir_input,
                    rulebook=self.rulebook,
                    engine=self.engine,
                    now=self.today(),
                    include_research=self.settings.research_rules,
                )
                if self.settings.detected_issues:
                    evaluation = evaluation.with_detected_issue_suggestions(self.rulebook, self.today())
            except FhirValidationError as exc:
                status = 422
                expression = exc.resource_type if exc.path in ("", "$") else f"{exc.resource_type}.{exc.path}"
                return operation_outcome(422, "invalid", str(exc), expression)
            except InputFormatError as exc:
                status = 400
                return operation_outcome(400, "invalid", str(exc))
            for card in evaluation.cards:
                self.metrics.cards.labels(rule_of(card), card["indicator"]).inc()
            response = Response(orjson.dumps(evaluation.response()), media_type="application/json")
            self.audit.record(
                self.invocation(service, fhir_input, status, started, evaluation.cards, missing, fetched)
            )
            log.info(
                "call",
                extra={
                    "service": service.id,
                    "hookInstance": fhir_input.hook_instance,
                    "patient": evaluation.patient_id,
                    "status": status,
                    "cards": len(evaluation.cards),
                    "rules": sorted({rule_of(card) for card in evaluation.cards}),
                    "fetched": fetched,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            if status != 200:
                self.audit.record(self.invocation(service, fhir_input, status, started, [], missing, fetched))
                log.info(
                    "call",
                    extra={"service": service.id, "hookInstance": fhir_input.hook_instance, "status": status},
                )

    def invocation(
        self,
        service: CdsService,
        fhir_input: FhirInput,
        status: int,
        started: float,
        cards: list[Card],
        missing: list[str],
        fetched: list[str],
    ) -> InvocationRecord:
        patient = fhir_input.context.get("patientId")
        return InvocationRecord(
            id=str(uuid.uuid4()),
            received_at=datetime.now(UTC),
            service=service.id,
            hook=service.hook,
            hook_instance=str(fhir_input.hook_instance),
            patient_id=patient if isinstance(patient, str) else None,
            status_code=status,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            rulebook_version=self.rulebook.version,
            cards=[IssuedCard(str(card["uuid"]), rule_of(card), str(card["indicator"])) for card in cards],
            prefetch_used=[k for k in fhir_input.prefetch_keys if k not in missing],
            prefetch_missing=[k for k in missing if k not in fetched],
            prefetch_fetched=fetched,
        )

    async def feedback(self, service: CdsService, request: Request) -> Response:
        self.authenticate(request)
        body = await self.body(request)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return operation_outcome(400, "invalid", f"request: not valid JSON ({exc})")
        try:
            items = parse_feedback(document, service.id)
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        for item in items:
            self.audit.record(item)
        return Response(orjson.dumps({"received": len(items)}), media_type="application/json")

    def today(self) -> date:
        return self.clock().date()


def build_service(settings: Settings, clock: Clock | None = None) -> Service:
    """Load the rulebook, open the store and start the audit writer."""
    rulebook = load_rulebook(settings.rules_dir)
    store = Store(settings.database_url)
    http = httpx.Client(
        timeout=httpx.Timeout(settings.fhir_timeout_seconds, connect=2.0), follow_redirects=False
    )
    audit = AuditLog(store, settings.spool_dir)
    authenticator = None
    if settings.auth == "required":
        authenticator = Authenticator(
            KeySets(settings.trusted_issuers, http),
            TokenLedger(store).claim,
            settings.jwt_leeway_seconds,
            settings.jwt_max_lifetime_seconds,
        )
    engine = Engine(rulebook)
    _warm_up(rulebook, engine)
    return Service(
        settings=settings,
        rulebook=rulebook,
        engine=engine,
        store=store,
        audit=audit,
        http=http,
        fetcher=FhirFetcher(http, settings.fhir_max_pages, settings.require_https_fhir_server),
        authenticator=authenticator,
        metrics=Metrics(lambda: float(audit.spool_depth), audit.health),
        clock=clock or (lambda: datetime.now(UTC)),
    )


def _warm_up(rulebook: Rulebook, engine: Engine) -> None:
    """One throwaway evaluation, so the first real call does not pay for imports and model builds."""
    order = {
        "resourceType": "MedicationRequest",
        "id": "warm-up",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "pembrolizumab"},
        "subject": {"reference": "Patient/warm-up"},
    }
    document = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    evaluate_input(read_bytes(orjson.dumps(document)), rulebook=rulebook, engine=engine, now=date(2026, 1, 1))


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The ASGI app. `clock` fixes the evaluation time (tests); by default the current UTC time."""
    settings = settings or Settings()
    configure_json_logging()

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
        # Everything loaded so far lives for the whole process: keep it out of the collector's scans.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
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
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    _add_routes(app)
    return app


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _guarded(handler: Callable[[], Awaitable[Response]]) -> Awaitable[Response]:
    async def run() -> Response:
        try:
            return await handler()
        except _Reject as reject:
            return reject.response

    return run()


def _add_routes(app: FastAPI) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics = _service(request).metrics
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery(request: Request) -> Response:
        async def handle() -> Response:
            _service(request).authenticate(request)
            return Response(orjson.dumps(discovery_document()), media_type="application/json")

        return await _guarded(handle)

    def unknown(service_id: str) -> Response:
        return operation_outcome(404, "not-found", f"no CDS service {service_id!r}", "id")

    @app.post("/cds-services/{service_id}", summary="Call a CDS service")
    async def call(service_id: str, request: Request) -> Response:
        service = SERVICES.get(service_id)
        if service is None:
            return unknown(service_id)
        return await _guarded(lambda: _service(request).call(service, request))

    @app.get("/cds-services/{service_id}", include_in_schema=False)
    async def get_service(service_id: str) -> Response:
        return operation_outcome(404, "not-found", "CDS services are called with POST")

    @app.post("/cds-services/{service_id}/feedback", summary="Feedback on cards")
    async def feedback(service_id: str, request: Request) -> Response:
        service = SERVICES.get(service_id)
        if service is None:
            return unknown(service_id)
        return await _guarded(lambda: _service(request).feedback(service, request))

    @app.get("/healthz", summary="Liveness and database status")
    async def healthz(request: Request) -> Response:
        service = _service(request)
        try:
            await run_in_threadpool(service.store.ping)
            database = "up"
        except StoreUnavailable:
            database = "down"
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

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error", extra={"path": request.url.path, "error": type(exc).__name__})
        return operation_outcome(500, "exception", "internal error")
