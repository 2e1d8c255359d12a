"""Service settings, read from the environment (`MDRCDS_*`); see docs/configuration.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class TrustedIssuer(BaseModel):
    """Where an issuer's public keys come from: a JWK Set file, or an allow-listed `jku` URL."""

    jwks_file: Path | None = None
    jku: str | None = None
    fhir_servers: list[str] = Field(default_factory=list)
    """Base URLs of the FHIR servers this issuer's EHR may name in `fhirServer` (the only ones used for
    its calls when authentication is required)."""
    require_sub: bool = True
    """CDS Hooks 2.0 requires the `sub` claim (the client id). The public CDS Hooks sandbox signs tokens
    without it (its JWT generator predates 2.0): set false for that issuer only."""

    @model_validator(mode="after")
    def _exactly_one(self) -> TrustedIssuer:
        if (self.jwks_file is None) == (self.jku is None):
            raise ValueError("give exactly one of 'jwks_file' or 'jku'")
        if self.jku is not None and not self.jku.lower().startswith("https://"):
            raise ValueError("a 'jku' must be an https URL: keys fetched over plain http can be swapped")
        return self


def default_samples_dir() -> Path | None:
    """The repository's synthetic golden cases (fhir_samples/), when mdrcds runs from a checkout."""
    directory = Path(__file__).resolve().parents[2] / "fhir_samples"
    return directory if directory.is_dir() else None


class Settings(BaseSettings):
    """Everything an operator configures. Defaults run a local demo with an embedded SQLite file."""

    model_config = SettingsConfigDict(env_prefix="MDRCDS_", extra="ignore")

    database_url: str = "sqlite:///mdrcds.sqlite3"
    public_url: str | None = None
    """The base URL clients call (e.g. https://cds.example.org), for the JWT `aud` check behind a proxy."""
    auth: Literal["required", "off"] = "required"
    trusted_issuers: Annotated[dict[str, TrustedIssuer], NoDecode] = Field(default_factory=dict)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names whose request URL may serve as the JWT audience when MDRCDS_PUBLIC_URL is not set."""
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    body_seconds: float = Field(default=30.0, gt=0)
    """Time one request body may take to arrive, whole (408 beyond it)."""
    body_bytes_in_flight: int = Field(default=256 * 1024 * 1024, gt=0)
    """Bytes all request bodies being read at once may hold in one worker (503 beyond it)."""
    max_resources: int = Field(default=50_000, gt=0)
    """Resources one call may hold (prefetch and fetched together); more is a 422."""
    max_facts: int = Field(default=5_000, gt=0)
    max_matches: int = Field(default=10_000, gt=0)
    loop_bytes: int = Field(default=64 * 1024, ge=0)
    """A call whose body is at most this size may be read on the event loop, within 1 ms, while the
    engine thread is idle (decision 0014); 0 reads and evaluates every call on the engine thread."""
    loop_resources: int = Field(default=4, ge=0)
    """A call read on the event loop is evaluated there too when at most this many of its resources
    can become facts (the rest went through the screen); otherwise the engine thread evaluates it."""
    fhir_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    """Bytes the FHIR-server fallback may read for one call, all pages together."""
    fhir_deadline_seconds: float = Field(default=20.0, gt=0)
    """Overall time the FHIR-server fallback may take for one call, all keys and pages together."""
    spool_dir: Path = Path("mdrcds-spool")
    """Where audit records wait while the database is unreachable."""
    rules_dir: Path | None = None
    fhir_timeout_seconds: float = Field(default=5.0, gt=0)
    fhir_max_pages: int = Field(default=20, gt=0)
    jwt_leeway_seconds: int = Field(default=60, ge=0)
    jwt_max_lifetime_seconds: int = Field(default=3600, gt=0)
    ca_bundle: Path | None = None
    """Extra CA certificates (PEM) for outgoing https (jku hosts, FHIR servers), e.g. a hospital CA."""
    require_https_fhir_server: bool = False
    """Refuse `fhirServer` URLs that are not https (set this in production)."""
    fhir_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """FHIR server base URLs any caller may name in `fhirServer` (comma-separated or a JSON list). With
    authentication off and this empty, only servers on public addresses are used."""
    detected_issues: bool = False
    """Add to each card a suggestion that creates its FHIR DetectedIssue (HL7 PDDI CDS IG)."""
    research_rules: bool = False
    """Return research-mode rules' cards too (e.g. the sequential P-gp substrate pattern); off in care."""
    opentelemetry: bool = False
    """Let FastAPI report each request's span, metrics and unhandled exceptions to the OpenTelemetry
    providers this process has configured. Off by default: those exception records carry messages and
    stack traces, which can hold patient data, to whatever exporter the environment names (the
    service's own /metrics and JSON log are built to hold none), and checking for providers costs
    every call about 20 microseconds."""
    pages: bool = False
    """Serve the pages under /pages: card review, rule catalogue, rule testing, governance."""
    pages_session_seconds: int = Field(default=8 * 3600, gt=0)
    """How long a pages sign-in lasts (with MDRCDS_AUTH=required)."""
    pages_max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    """Bytes one rule-testing upload may hold, all files together (the repository's own samples fit)."""
    pages_max_patients: int = Field(default=500, gt=0)
    """Patients or test cases one rule-testing upload may hold."""
    pages_draft_seconds: float = Field(default=120.0, gt=0)
    """How long a rule-testing run with an uploaded draft rule may take (it runs in a child process,
    killed at this deadline)."""
    pages_draft_runs: int = Field(default=2, gt=0)
    """Draft-rule runs one server process runs at once (each is a child process); more get a 503."""
    samples_dir: Path | None = Field(default_factory=default_samples_dir)
    """Golden cases offered as samples on the card-review page (synthetic data only)."""

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _issuers_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("cors_origins", "allowed_hosts", "fhir_servers", mode="before")
    @classmethod
    def _origins_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _issuers_when_auth(self) -> Settings:
        if self.auth == "required" and not self.trusted_issuers:
            raise ValueError(
                "MDRCDS_AUTH=required needs MDRCDS_TRUSTED_ISSUERS (a JSON object issuer -> "
                '{"jwks_file": PATH} or {"jku": URL}); for a local demo set MDRCDS_AUTH=off'
            )
        if self.auth == "required" and not (self.public_url or self.allowed_hosts):
            raise ValueError(
                "MDRCDS_AUTH=required needs MDRCDS_PUBLIC_URL (the URL clients call, which tokens must name "
                "as their audience) or MDRCDS_ALLOWED_HOSTS (host names whose request URL may serve as it)"
            )
        return self
