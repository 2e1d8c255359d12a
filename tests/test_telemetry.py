"""FastAPI's own OpenTelemetry reporting is off unless MDRCDS_OPENTELEMETRY asks for it.

Its exception records carry messages and stack traces (which can hold patient data) to whatever exporter
the environment configures. Each case runs in a child process, as an OpenTelemetry provider is set
once per process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import sys
from opentelemetry import trace

started = []

class RecordingTracer(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_span(name, *args, **kwargs)

class RecordingProvider(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return RecordingTracer()

trace.set_tracer_provider(RecordingProvider())

import httpx
from mdrcds.settings import Settings
from mdrcds.web.app import create_app

sys.path.insert(0, sys.argv[3])
from service_support import live_app

folder = sys.argv[2]
settings = Settings(
    auth="off",
    database_url=f"sqlite:///{folder}/audit.sqlite3",
    spool_dir=f"{folder}/spool",
    opentelemetry=sys.argv[1] == "on",
)
with live_app(create_app(settings)) as url, httpx.Client(base_url=url) as client:
    assert client.get("/healthz").status_code == 200
    assert client.get("/cds-services").status_code == 200
print(len(started))
"""


def spans_started(setting: str, folder: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, setting, str(folder), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize(("setting", "reported"), [("off", False), ("on", True)])
def test_requests_reach_a_configured_provider_only_when_asked(
    setting: str, reported: bool, tmp_path: Path
) -> None:
    assert (spans_started(setting, tmp_path) > 0) is reported
