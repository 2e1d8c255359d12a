"""docs/researchers.md's cluster command, run as written against a real standalone Spark cluster: a
master and one worker started here on loopback (pyspark's own `spark-class`), the job sent with
`spark-submit`, and its findings equal to the local runner's."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mdrcds
from conftest import ROOT
from mdrcds.cli import main
from test_batch import export_from_golden_cases

GUIDE = (ROOT / "docs" / "researchers.md").read_text()
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A standalone master and one worker (1 core, 1 GB) on loopback; yields the master URL and the
    folder of the daemons' logs."""
    home = spark_home()
    logs = tmp_path_factory.mktemp("spark-logs")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(logs),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(tmp_path_factory.mktemp("spark-work")),
    }
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    daemons: list[subprocess.Popen[bytes]] = []
    master_log, worker_log_file = (logs / "master.log").open("wb"), (logs / "worker.log").open("wb")
    try:
        daemons.append(
            subprocess.Popen(
                [spark_class, MASTER, "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0"],
                env=env,
                stdout=master_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for_port(port)
        worker_log = logs / "worker.log"
        daemons.append(
            subprocess.Popen(
                [spark_class, WORKER, master_url, "--cores", "1", "--memory", "1g", "--webui-port", "0"],
                env=env,
                stdout=worker_log_file,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 90
        while "Successfully registered with master" not in worker_log.read_text():
            assert time.monotonic() < deadline, worker_log.read_text()[-2000:]
            time.sleep(0.5)
        yield master_url, logs
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        master_log.close()
        worker_log_file.close()


def test_the_documented_spark_submit_runs_on_a_standalone_cluster(
    cluster: tuple[str, Path], tmp_path: Path
) -> None:
    master, logs = cluster
    documented = re.search(r"spark-submit --master spark://\S+ (.*?)\n```", GUIDE, re.DOTALL)
    assert documented, "docs/researchers.md shows the spark-submit command"
    assert '"$MDRCDS/__main__.py" batch' in documented[1] and "--engine spark" in documented[1]
    export = tmp_path / "export"
    export.mkdir()
    export_from_golden_cases(export)
    assert main(["batch", str(export), "--out", str(tmp_path / "local"), "--now", "2026-11-23", "-q"]) == 0
    entry = Path(mdrcds.__file__).parent / "__main__.py"
    submit = shutil.which("spark-submit", path=str(spark_home() / "bin")) or str(
        spark_home() / "bin" / "spark-submit"
    )
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    # the guide's command: spark-submit --master URL --conf ... "$MDRCDS/__main__.py" batch ... --engine spark
    submitted = [submit, "--master", master, "--conf", "spark.executor.memory=512m", str(entry), "batch"]
    arguments = [str(export), "--out", str(tmp_path / "cluster"), "--now", "2026-11-23", "--engine", "spark"]
    result = subprocess.run(
        [*submitted, *arguments, "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    local, remote = (json.loads((tmp_path / e / "summary.json").read_text()) for e in ("local", "cluster"))
    assert remote["engine"] == "spark" and remote["master"] == "spark-submit default or local[2]"
    for key in ("patients", "patients_with_cards", "findings", "rules", "errors"):
        assert remote[key] == local[key], key
    assert local["findings"] > 0
    assert (tmp_path / "cluster" / "findings.csv").read_text() == (
        tmp_path / "local" / "findings.csv"
    ).read_text()
    # the job ran on the cluster: the master registered it and gave it the worker's executor
    assert "Registering app mdrcds batch" in (logs / "master.log").read_text()
    assert "Asked to launch executor" in (logs / "worker.log").read_text()
