"""The running CDS Hooks service of one process: `Service` holds the settings, rulebook, engine thread,
store, audit writer, HTTP client, authentication and metrics, and answers one hook call or feedback post;
`build_service` makes one. The routes (`mdrcds.web.app`) and the pages receive it from the application
state."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mdrcds.cards.render import rule_of
from mdrcds.errors import EngineError, EvaluationLimitError, FhirValidationError, InputFormatError
from mdrcds.facts.screen import screen_for
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reading.fhir import (
    FhirInput,
    ReadingOverBudget,
    drop_unadvertised_prefetch,
    keep_patient,
    read_bytes,
)
from mdrcds.reading.hookrequest import RequestError, check_request
from mdrcds.reading.prefetch import PREFETCH_TEMPLATES, FhirFetcher, FhirServerError
from mdrcds.reasoning.engine import Engine
from mdrcds.research.draftrun import DraftSlots
from mdrcds.service import Evaluation, Limits, evaluate_input, warm_up
from mdrcds.settings import Settings
from mdrcds.store.audit import AuditLog
from mdrcds.store.database import Store, StoreUnavailable
from mdrcds.store.feedback import parse_feedback
from mdrcds.store.issued import IssuedCards, NotIssued
from mdrcds.store.record_ids import new_record_id
from mdrcds.store.records import InvocationRecord, IssuedCard
from mdrcds.web import fhirservers
from mdrcds.web.auth import Authenticator, KeySets
from mdrcds.web.authn import Authentication, Rejected, TokenLedger
from mdrcds.web.blocking import Pools
from mdrcds.web.body import ServerBusy, TooLarge, TooSlow, read_body
from mdrcds.web.callstate import CallState
from mdrcds.web.discovery import CdsService
from mdrcds.web.evaluation import Attempt, EngineThread
from mdrcds.web.fallback import fetch_missing, missing_keys
from mdrcds.web.metrics import Metrics
from mdrcds.web.outcome import operation_outcome, unauthorized

log = logging.getLogger("mdrcds.web")
CLIENT_CLOSED = 499
FHIR_SERVER_UNUSABLE = (
    "prefetch keys missing, and they could not be fetched from the FHIR server named in fhirServer"
)
Clock = Callable[[], datetime]
LOOP_READ_SECONDS = 0.001
"""How long the event loop may spend reading a small call before it hands the call to the engine
thread, which reads it again (decision 0014)."""


class Reject(Exception):
    """Stop handling a call and answer with this response (raised by `Service`, answered by the routes)."""

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
    issued: IssuedCards
    pools: Pools = field(default_factory=Pools)
    draft_slots: DraftSlots = field(default_factory=DraftSlots)
    started: float = field(default_factory=time.monotonic)

    async def authenticate(self, request: Request) -> None:
        """Check the caller's JWT in the identity pool (a JWK Set fetch or the `jti` ledger write may
        wait on the network or the database); raises Reject with a 401."""
        try:
            if self.authentication.authenticator is None:  # auth off: nothing can block, no thread hop
                request.state.issuer = self.authentication.check(request)
                return
            request.state.issuer = await self.pools.run(
                self.pools.identity, lambda: self.authentication.check(request)
            )
        except Rejected:
            raise Reject(unauthorized()) from None

    async def body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        try:
            return await read_body(request, limit)
        except TooLarge:
            raise Reject(operation_outcome(413, "too-long", f"request body over {limit} bytes")) from None
        except TooSlow:
            seconds = self.settings.body_seconds
            raise Reject(
                operation_outcome(408, "timeout", f"request body not received within {seconds:g} s")
            ) from None
        except ServerBusy:
            busy = operation_outcome(
                503, "transient", "the server is receiving too much at once; retry shortly"
            )
            busy.headers["Retry-After"] = "5"
            raise Reject(busy) from None

    async def call(self, service: CdsService, request: Request) -> Response:
        """Answer one hook call. Every response, errors and an internal error included, is audited."""
        started = time.perf_counter()
        state = CallState()
        try:
            response = await self._call(service, request, state)
        except Reject as reject:
            response = reject.response
        except ClientDisconnect:
            # The client went away while sending: nobody reads an answer, and it is no server error.
            # Audited with 499 (nginx's "client closed request"), logged at info.
            log.info("client disconnected", extra={"service": service.id})
            response = operation_outcome(CLIENT_CLOSED, "incomplete", "the client closed the connection")
        except Exception as exc:  # the last line of defence: an OperationOutcome, never a traceback
            log.error("internal error", extra={"service": service.id, "error": type(exc).__name__})
            response = operation_outcome(500, "exception", "internal error")
        status = response.status_code
        if status == 200 and state.cards:
            self.issued.remember((str(card["uuid"]) for card in state.cards), service.id)
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
                "withheld": state.withheld,
                "fetched": state.fetched,
                "ignored": state.ignored,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response

    async def _call(self, service: CdsService, request: Request, state: CallState) -> Response:
        await self.authenticate(request)
        body = await self.body(request)
        try:
            fhir_input, attempt = await self.read_and_evaluate_soon(body, service, state)
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        except InputFormatError as exc:
            return operation_outcome(400, "invalid", str(exc))
        if attempt is None and not state.missing:  # read on the loop, too large to evaluate there
            attempt = await self.engine_thread.run(
                lambda: Attempt.of(lambda: self.evaluate(fhir_input, state))
            )
        if attempt is None:  # prefetch keys are missing: fetch them, then evaluate
            if fhir_input.fhir_server is None:
                return operation_outcome(
                    412,
                    "processing",
                    "prefetch keys missing and no fhirServer to fetch them from: " + ", ".join(state.missing),
                    f"prefetch.{state.missing[0]}",
                )
            issuer = getattr(request.state, "issuer", None)
            server = str(fhir_input.fhir_server)
            usable_server, why = await self.pools.run(
                self.pools.fhir, lambda: fhirservers.usable(server, issuer, self.settings)
            )
            if not usable_server:
                log.warning("fhirServer refused", extra={"service": service.id, "reason": why})
                return operation_outcome(412, "processing", FHIR_SERVER_UNUSABLE, "fhirServer")
            try:
                await self.pools.run(
                    self.pools.fhir,
                    lambda: fetch_missing(self.fetcher, self.metrics, service, fhir_input, state.missing),
                )
            except (FhirServerError, InputFormatError) as exc:
                # The detail stays in the log: the caller learns nothing about what answered where.
                log.warning("FHIR server fallback failed", extra={"service": service.id, "reason": str(exc)})
                return operation_outcome(412, "processing", FHIR_SERVER_UNUSABLE, "fhirServer")
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
        state.withheld = evaluation.withheld
        for card in evaluation.cards:
            self.metrics.cards.labels(rule_of(card), card["indicator"]).inc()
        return Response(orjson.dumps(evaluation.response()), media_type="application/json")

    async def read_and_evaluate_soon(
        self, body: bytes, service: CdsService, state: CallState
    ) -> tuple[FhirInput, Attempt[Evaluation] | None]:
        """`read_and_evaluate`, on the event loop for a small call while the engine thread is idle
        (no hand-over between threads; reading within LOOP_READ_SECONDS, evaluating only an input with
        few resources that can become facts), else in one trip to the engine thread. The attempt is
        None when prefetch keys are missing (`state.missing`) or the input was read on the loop but is
        for the engine thread to evaluate."""
        if len(body) <= self.settings.loop_bytes and self.engine_thread.idle:
            try:
                return self.read_and_evaluate(body, service, state, on_loop=True)
            except ReadingOverBudget:
                pass  # the engine thread reads it again, from the start
        # One trip to the engine thread reads and, when the prefetch is complete, evaluates too.
        return await self.engine_thread.run(lambda: self.read_and_evaluate(body, service, state))

    def read_and_evaluate(
        self, body: bytes, service: CdsService, state: CallState, on_loop: bool = False
    ) -> tuple[FhirInput, Attempt[Evaluation] | None]:
        """Read the request; evaluate it at once unless prefetch keys are missing (engine thread).
        Reading errors raise; the evaluation's outcome, error included, is returned. `on_loop`: read
        within LOOP_READ_SECONDS (else ReadingOverBudget), and leave the evaluation (None) when more
        than `loop_resources` resources can become facts."""
        deadline = time.perf_counter() + LOOP_READ_SECONDS if on_loop else None
        fhir_input = self.read(body, service, deadline)
        state.read(fhir_input)
        state.missing = missing_keys(fhir_input)
        if state.missing:
            return fhir_input, None
        if on_loop and len(fhir_input.resources) > self.settings.loop_resources:
            return fhir_input, None
        return fhir_input, Attempt.of(lambda: self.evaluate(fhir_input, state))

    def read(self, body: bytes, service: CdsService, deadline: float | None = None) -> FhirInput:
        """Parse and check the request; drop what the service did not ask for (engine thread, or the
        event loop within `deadline`)."""
        fhir_input = read_bytes(
            body, source="request", screen=screen_for(self.rulebook.terminology), deadline=deadline
        )
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
            id=new_record_id(),
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
        await self.authenticate(request)
        body = await self.body(request)
        try:
            document = orjson.loads(body)
        except (orjson.JSONDecodeError, RecursionError) as exc:
            return operation_outcome(400, "invalid", f"request: not valid JSON ({str(exc)[:200]})")
        try:
            received = await self.accept_feedback(document, service)
        except NotIssued as exc:
            return operation_outcome(422, "not-found", str(exc), exc.field)
        except RequestError as exc:
            return operation_outcome(400, "invalid", str(exc), exc.field)
        return Response(orjson.dumps({"received": received}), media_type="application/json")

    async def accept_feedback(self, document: object, service: CdsService) -> int:
        """Validate a CDS Hooks feedback document and audit its items. Raises RequestError for a bad
        document, and NotIssued when an item names a card that this service did not issue (looked up in
        the database pool; when the database cannot answer, the items are kept and governance, which
        counts only issued cards, checks them again)."""
        items = parse_feedback(document, service.id)
        uuids = [item.card for item in items]
        try:
            foreign = await self.pools.run(
                self.pools.database, lambda: self.issued.not_issued_by(uuids, service.id)
            )
        except StoreUnavailable:
            log.warning("feedback kept unchecked: the database cannot say which cards were issued")
            foreign = []
        if foreign:
            where = f"feedback[{uuids.index(foreign[0])}].card"
            raise NotIssued(where, f"card {foreign[0]!r} was not issued by the service {service.id}")
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
        issued=IssuedCards(store),
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
    warm_up()
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
