"""The floor for benchmarks/service.py: a bare FastAPI app that only parses the body with orjson.

Served by uvicorn exactly as `mdrcds serve` serves mdrcds (one worker), so mdrcds/floor is the cost of
everything mdrcds does beyond receiving and parsing a CDS Hooks call.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def call(service_id: str, request: Request) -> Response:
    document = orjson.loads(await request.body())
    return Response(orjson.dumps({"cards": [], "hook": document.get("hook")}), media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
