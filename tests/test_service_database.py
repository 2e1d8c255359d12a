"""A database outage during a run of 1,000 calls: every call gets its cards, no audit record is lost.

The service writes to a real PostgreSQL server, which is stopped after call 300 and started again
after call 700. Records written meanwhile go to the spool and are replayed once the server is back.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from mdrcds.settings import Settings
from mdrcds.store.database import Store
from service_support import SAMPLES, Postgres, live_service, wait_for

CALLS = 1000
STOP_AT = 300
START_AT = 700


def test_stopping_the_database_mid_run_loses_nothing(
    postgres: Postgres, postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=postgres_url, auth="off", spool_dir=tmp_path / "spool")
    request = json.loads((SAMPLES / "mdr1-pembrolizumab-verapamil-order-select" / "request.json").read_text())
    hook_instances = []
    card_counts = []
    with live_service(settings) as base, httpx.Client(base_url=base) as client:
        for number in range(CALLS):
            if number == STOP_AT:
                postgres.stop()
            if number == START_AT:
                postgres.start()
            request["hookInstance"] = str(uuid.uuid4())
            hook_instances.append(request["hookInstance"])
            response = client.post("/cds-services/mdrcds-order-select", json=request)
            assert response.status_code == 200
            card_counts.append(len(response.json()["cards"]))
            if number == START_AT - 1:
                spooled = client.get("/healthz").json()
                assert spooled["database"] == "down" and spooled["spoolDepth"] > 0
        store = Store(postgres_url)
        try:
            wait_for(lambda: len(store.invocations()) == CALLS, timeout=60)
            wait_for(lambda: client.get("/healthz").json()["spoolDepth"] == 0)
            stored = store.invocations()
        finally:
            store.dispose()
    assert card_counts == [1] * CALLS
    assert sorted(r.hook_instance for r in stored) == sorted(hook_instances)
    assert all(r.rule_ids == ["mdr1-inhibitor-with-immunotherapy"] for r in stored)
