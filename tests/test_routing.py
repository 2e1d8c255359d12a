"""Endpoints that take only the request are called directly; every other endpoint gets FastAPI's handler.

`RequestOnlyRoute` skips FastAPI's per-call dependency solving (which decides nothing for an endpoint
whose only parameter is the `Request`). These tests count that solving, on a small app with each kind of
endpoint and on the service itself, where MDRCDS_OPENTELEMETRY keeps FastAPI's handler (it records the
operation spans)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.dependencies.utils import solve_dependencies
from starlette.responses import JSONResponse, Response

from mdrcds.settings import Settings
from mdrcds.web.app import create_app
from mdrcds.web.routing import RequestOnlyRoute
from service_support import FIXED_NOW, SAMPLES, live_app


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The method and path of every request whose dependencies FastAPI solved."""
    paths: list[str] = []
    original = solve_dependencies

    async def counted(*, request: Any, **kwargs: Any) -> Any:
        paths.append(f"{request.method} {request.url.path}")
        return await original(request=request, **kwargs)

    monkeypatch.setattr("fastapi.routing.solve_dependencies", counted)
    return paths


def small_app() -> FastAPI:
    app = FastAPI()
    app.router.route_class = RequestOnlyRoute

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    @app.get("/items/{item}")
    async def item(item: int) -> Response:
        return JSONResponse({"item": item})

    @app.get("/model")
    async def model(request: Request) -> dict[str, str]:
        return {"path": request.url.path}

    @app.get("/blocking")
    def blocking(request: Request) -> Response:
        return Response(b"ok")

    @app.get("/wrong")
    async def wrong(request: Request) -> Response:
        return {"not": "a response"}  # type: ignore[return-value]

    return app


def test_only_request_only_endpoints_skip_fastapis_handler(solved: list[str]) -> None:
    with live_app(small_app()) as url, httpx.Client(base_url=url) as client:
        assert client.post("/echo", content=b"\x00body").content == b"\x00body"
        assert client.get("/items/7").json() == {"item": 7}
        assert client.get("/items/seven").status_code == 422  # FastAPI still validates parameters
        assert client.get("/model").json() == {"path": "/model"}  # a returned value is serialised
        assert client.get("/blocking").content == b"ok"  # a plain function runs in the thread pool
        assert client.get("/wrong").status_code == 500  # not a Response: an error, never a guess
    assert solved == ["GET /items/7", "GET /items/seven", "GET /model", "GET /blocking"]


@pytest.mark.parametrize(("opentelemetry", "solved_for_hooks"), [(False, False), (True, True)])
def test_the_service_routes(
    solved: list[str], tmp_path: Path, opentelemetry: bool, solved_for_hooks: bool
) -> None:
    settings = Settings(
        auth="off",
        database_url=f"sqlite:///{tmp_path}/audit.sqlite3",
        spool_dir=tmp_path / "spool",
        opentelemetry=opentelemetry,
    )
    request = json.loads(
        (SAMPLES / "mdr1-tariquidar-draft-nivolumab-order-sign" / "request.json").read_text()
    )
    app = create_app(settings, clock=lambda: FIXED_NOW)
    with live_app(app) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/cds-services/mdrcds-order-sign", json=request)
        assert answer.status_code == 200 and answer.json()["cards"]
        assert client.get("/cds-services").status_code == 200
        assert client.get("/cds-services/mdrcds-order-sign").status_code == 404  # answered by FastAPI's
    request_only = ["POST /cds-services/mdrcds-order-sign", "GET /cds-services"]
    assert all((call in solved) is solved_for_hooks for call in request_only), solved
    assert "GET /cds-services/mdrcds-order-sign" in solved  # its endpoint has a path parameter
