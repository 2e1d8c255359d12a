"""schemathesis over api/openapi.json against the live service: generated requests (valid by the
schema, and schemathesis's own variations) never get a 5xx, and every answer is documented by the
contract (status, content type, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mdrcds.settings import Settings
from service_support import live_service

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = schemathesis.openapi.from_path(ROOT / "api" / "openapi.json")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'audit.sqlite3'}", auth="off", spool_dir=directory / "spool"
    )
    with live_service(settings) as url:
        yield url


@SCHEMA.include(method="POST").parametrize()
@hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_generated_calls_follow_the_contract(case: schemathesis.Case[Any], base: str) -> None:
    case.call_and_validate(base_url=base, checks=CHECKS)
