"""The CDS Hooks 2.0 service: discovery, the three hook services, feedback, health and metrics.

`create_app()` builds the app from `Settings` (the environment by default). The request path is
`Service.call`, which strings together the concern modules beside this one (authn, body, fallback,
evaluation) and audits every response; the routes only adapt HTTP to it.
"""

from __future__ import annotations

import gc
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated

import httpx
import orjson
from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mdrcds.audit import AuditLog
from mdrcds.auth import Authenticator, KeySets
from mdrcds.cards import rule_of
from mdrcds.discovery import SERVICES, CdsService, discovery_document
from mdrcds.engine import Engine
from mdrcds.errors import EngineError, EvaluationLimitError, FhirValidationError, InputFormatError
from mdrcds.feedback import parse_feedback
from mdrcds.fhir import FhirInput, drop_unadvertised_prefetch, keep_patient, read_bytes
from mdrcds.hookrequest import RequestError, check_request
from mdrcds.prefetch import PREFETCH_TEMPLATES, FhirFetcher, FhirServerError
from mdrcds.records import InvocationRecord, IssuedCard
from mdrcds.rulebook import Rulebook, load_rulebook
from mdrcds.service import Evaluation, Limits, evaluate_input
from mdrcds.settings import Settings
from mdrcds.store import Store, StoreUnavailable
from mdrcds.web.authn import Authentication, Rejected, TokenLedger
from mdrcds.web.body import TooLarge, read_body
from mdrcds.web.callstate import CallState
from mdrcds.web.evaluation import Attempt, EngineThread
from mdrcds.web.fallback import fetch_missing, missing_keys
from mdrcds.web.headers import SecurityHeaders
from mdrcds.web.logs import configure_json_logging
from mdrcds.web.metrics import Measured, Metrics
from mdrcds.web.outcome import operation_outcome, unauthorized
from mdrcds.web.pagesauth import PageSessions
from mdrcds.web.schemas import (
    CARDS_RESPONSE,
    FEEDBACK_REQUEST,
    FEEDBACK_RESPONSE,
    HOOK_REQUEST,
    request_body,
    responses,
)

log = logging.getLogger("mdrcds.web")
Clock = Callable[[], datetime]


class _Reject(Exception):
    """Stop handling a call and answer with this response."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Service:
    """What one process needs to answer calls; each concern has its own module (authn, body,
    fallback, evaluation) and this class only strings them together."""

    settings: Settings
    rulebook: Rulebook
    engine: Engine
    engine_thread: EngineThread
    store: Store
    audit: AuditLog
    http: httpx.Client
    fetcher: FhirFetcher
    authentication: Authentication
    metrics: Metrics
    clock: Clock
    started: float = field(default_factory=time.monotonic)

    def authenticate(self, request: Request) -> None:
        try:
            request.state.issuer = self.authentication.check(request)
        except Rejected:
            raise _Reject(unauthorized()) from None

    async def body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        try:
            return await read_body(request, limit)
        except TooLarge:
            raise _Reject(operation_outcome(413, "too-long", f"request body over {limit} bytes")) from None

    async def call(self, service: CdsService, request: Request) -> Response:
        """Answer one hook call. Every response, errors and an internal error included, is audited."""
        started = time.perf_counter()
        state = CallState()
        try:
            response = await self._call(service, request, state)
        except _Reject as reject:
            response = reject.response
        except Exception as exc:  # the last line of defence: an OperationOutcome, never a traceback
            log.error("internal error", extra={"service": service.id, "error": type(exc).__name__})
            response = operation_outcome(500, "exception", "internal error")
        status = response.status_code
        self.audit.record(self.invocation(service, state, status, started))
        log.info(
            "call",
            extra={
                "service": service.id,
                "hookInstance": state.fhir_input.hook_instance if state.fhir_input else None,
                "patient": state.patient,
                "status": status,
                "cards": len(state.cards),
                "rules": sorted({rule_of(card) for card in state.cards}),
                "silent": state.silent,
                "fetched": state.fetched,
                "ignored": state.ignored,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response

    async def _call(self, service: CdsService, request: Request, state: CallState) -> Response:
        self.authenticate(request)
        body = await self.body(request)
        try:
            # One trip to the engine thread reads and, when the prefetch is complete, evaluates too.
            fhir_input, attempt = await self.engine_thread.run(
                lambda: self.read_and_evaluate(body, service, state)
            )
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        except InputFormatError as exc:
            return operation_outcome(400, "invalid", str(exc))
        if attempt is None:  # prefetch keys are missing: fetch them, then evaluate
            if fhir_input.fhir_server is None:
                return operation_outcome(
                    412,
                    "processing",
                    "prefetch keys missing and no fhirServer to fetch them from: " + ", ".join(state.missing),
                    f"prefetch.{state.missing[0]}",
                )
            try:
                await run_in_threadpool(
                    fetch_missing, self.fetcher, self.metrics, service, fhir_input, state.missing
                )
            except (FhirServerError, InputFormatError) as exc:
                return operation_outcome(412, "processing", f"FHIR server fallback: {exc}")
            state.fetched = list(state.missing)
            attempt = await self.engine_thread.run(
                lambda: Attempt.of(lambda: self.evaluate(fhir_input, state))
            )
        try:
            evaluation = attempt.result()
        except FhirValidationError as exc:
            expression = exc.resource_type if exc.path in ("", "$") else f"{exc.resource_type}.{exc.path}"
            return operation_outcome(422, "invalid", str(exc), expression)
        except EvaluationLimitError as exc:
            return operation_outcome(422, "too-costly", str(exc))
        except InputFormatError as exc:
            return operation_outcome(400, "invalid", str(exc))
        except EngineError as exc:
            # The message can name a fact (a drug): it goes neither to the log nor to the client.
            log.error("rules engine error", extra={"service": service.id, "error": type(exc).__name__})
            return operation_outcome(422, "processing", "the rules engine could not evaluate this input")
        state.cards = evaluation.cards
        state.silent = evaluation.silent_rule_ids
        for card in evaluation.cards:
            self.metrics.cards.labels(rule_of(card), card["indicator"]).inc()
        return Response(orjson.dumps(evaluation.response()), media_type="application/json")

    def read_and_evaluate(
        self, body: bytes, service: CdsService, state: CallState
    ) -> tuple[FhirInput, Attempt[Evaluation] | None]:
        """Read the request; evaluate it at once unless prefetch keys are missing (engine thread).
        Reading errors raise; the evaluation's outcome, error included, is returned."""
        fhir_input = self.read(body, service)
        state.read(fhir_input)
        state.missing = missing_keys(fhir_input)
        if state.missing:
            return fhir_input, None
        return fhir_input, Attempt.of(lambda: self.evaluate(fhir_input, state))

    def read(self, body: bytes, service: CdsService) -> FhirInput:
        """Parse and check the request; drop what the service did not ask for (engine thread)."""
        fhir_input = read_bytes(body, source="request")
        check_request(fhir_input, service.hook)
        drop_unadvertised_prefetch(fhir_input, PREFETCH_TEMPLATES)
        return fhir_input

    def evaluate(self, fhir_input: FhirInput, state: CallState, now: date | None = None) -> Evaluation:
        """Keep only the context patient's data, then evaluate (engine thread); `now` defaults to the
        service clock's date."""
        patient = fhir_input.context.get("patientId")
        if isinstance(patient, str):
            state.ignored = keep_patient(fhir_input, patient)
            if state.ignored:
                log.warning(
                    "resources of another patient ignored",
                    extra={"count": state.ignored, "hookInstance": fhir_input.hook_instance},
                )
        try:
            evaluation = evaluate_input(
                fhir_input,
                rulebook=self.rulebook,
                engine=self.engine,
                now=now or self.today(),
                include_research=self.settings.research_rules,
                limits=Limits(
                    self.settings.max_resources, self.settings.max_facts, self.settings.max_matches
                ),
            )
        finally:
            fhir_input.release()
        if self.settings.detected_issues:
            evaluation = evaluation.with_detected_issue_suggestions(self.rulebook, now or self.today())
        return evaluation

    def invocation(
        self, service: CdsService, state: CallState, status: int, started: float
    ) -> InvocationRecord:
        fhir_input = state.fhir_input
        hook_instance = fhir_input.hook_instance if fhir_input else None
        return InvocationRecord(
            id=str(uuid.uuid4()),
            received_at=datetime.now(UTC),
            service=service.id,
            hook=service.hook,
            hook_instance=str(hook_instance) if isinstance(hook_instance, str) else "",
            patient_id=state.patient,
            status_code=status,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            rulebook_version=self.rulebook.version,
            cards=[
                IssuedCard(str(card["uuid"]), rule_of(card), str(card["indicator"])) for card in state.cards
            ],
            prefetch_used=[
                k for k in (fhir_input.prefetch_keys if fhir_input else []) if k not in state.missing
            ],
            prefetch_missing=[k for k in state.missing if k not in state.fetched],
            prefetch_fetched=state.fetched,
            silent_rule_ids=state.silent,
        )

    async def feedback(self, service: CdsService, request: Request) -> Response:
        self.authenticate(request)
        body = await self.body(request)
        try:
            document = orjson.loads(body)
        except (orjson.JSONDecodeError, RecursionError) as exc:
            return operation_outcome(400, "invalid", f"request: not valid JSON ({str(exc)[:200]})")
        try:
            received = self.accept_feedback(document, service)
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        return Response(orjson.dumps({"received": received}), media_type="application/json")

    def accept_feedback(self, document: object, service: CdsService) -> int:
        """Validate a CDS Hooks feedback document and audit its items; raises RequestError."""
        items = parse_feedback(document, service.id)
        for item in items:
            self.audit.record(item)
        return len(items)

    def today(self) -> date:
        return self.clock().date()


def build_service(settings: Settings, clock: Clock | None = None) -> Service:
    """Load the rulebook, open the store and start the audit writer."""
    rulebook = load_rulebook(settings.rules_dir)
    store = Store(settings.database_url)
    tls = ssl.create_default_context()
    if settings.ca_bundle is not None:
        tls.load_verify_locations(cafile=str(settings.ca_bundle))
    http = httpx.Client(
        timeout=httpx.Timeout(settings.fhir_timeout_seconds, connect=2.0), follow_redirects=False, verify=tls
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
    engine_thread = EngineThread()
    # The engine is built and warmed up on its own thread: durable-rules never sees a second thread.
    engine = engine_thread.call(lambda: _warmed_up(rulebook))
    return Service(
        settings=settings,
        rulebook=rulebook,
        engine=engine,
        engine_thread=engine_thread,
        store=store,
        audit=audit,
        http=http,
        fetcher=FhirFetcher(
            http,
            settings.fhir_max_pages,
            settings.require_https_fhir_server,
            max_bytes=settings.fhir_max_bytes,
            deadline_seconds=settings.fhir_deadline_seconds,
        ),
        authentication=Authentication(settings, authenticator),
        metrics=Metrics(lambda: float(audit.spool_depth), audit.health),
        clock=clock or (lambda: datetime.now(UTC)),
    )


def _warmed_up(rulebook: Rulebook) -> Engine:
    """The engine, after one throwaway evaluation, so the first real call does not pay for imports
    and model builds."""
    engine = Engine(rulebook)
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
    return engine


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
    if settings.pages:
        from mdrcds.web.pages import build_router  # the pages import this module's Service

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
        except _Reject as reject:
            return reject.response

    return run()


SERVICE_ID = Path(
    description="A service id from discovery; any other id gets 404",
    json_schema_extra={"enum": sorted(SERVICES)},
)


def _add_routes(app: FastAPI) -> None:
    @app.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery(request: Request) -> Response:
        async def handle() -> Response:
            _service(request).authenticate(request)
            return Response(orjson.dumps(discovery_document()), media_type="application/json")

        return await _guarded(handle)

    def unknown(service_id: str) -> Response:
        return operation_outcome(404, "not-found", f"no CDS service {service_id!r}", "id")

    @app.post(
        "/cds-services/{service_id}",
        summary="Call a CDS service",
        openapi_extra=request_body(HOOK_REQUEST),
        responses=responses(
            CARDS_RESPONSE, "CDS Hooks cards", ("400", "401", "404", "412", "413", "422", "500")
        ),
    )
    async def call(service_id: Annotated[str, SERVICE_ID], request: Request) -> Response:
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
        openapi_extra=request_body(FEEDBACK_REQUEST),
        responses=responses(FEEDBACK_RESPONSE, "Items received", ("400", "401", "404", "413", "500")),
    )
    async def feedback(service_id: Annotated[str, SERVICE_ID], request: Request) -> Response:
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
