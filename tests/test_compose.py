"""docker-compose.yml, proved without Docker: its services run here through a whole run."""

from __future__ import annotations

import base64
import json
import re
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.compose import LocalMapping, load, start_service
from tests.support import (
    REPO,
    RedisServer,
    assert_contiguous,
    assert_exactly_once,
    free_port,
    load_report,
    wait_until_gone,
)

SCHEMA = REPO / "build" / "compose-schema" / "compose-spec.json"
RUN_SHAPE = {
    "AGGREGEN_DURATION": "6s",
    "AGGREGEN_INTERVAL": "50ms",
    "AGGREGEN_WINDOW": "500ms",
    "AGGREGEN_GENERATORS": "3",
}


def test_the_compose_file_follows_the_compose_specification() -> None:
    if not SCHEMA.exists():
        pytest.skip("the Compose schema was not downloaded (make compose-schema needs npm)")

    document = load(RUN_SHAPE)

    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(document)


def test_services_are_secure_and_signal_friendly_by_construction() -> None:
    compose = load(RUN_SHAPE)
    services = compose["services"]
    dockerfile = (REPO / "Dockerfile").read_text()

    assert set(services) == {"redis", "generator", "aggregator", "beat", "coordinator", "flower"}
    for name, service in services.items():
        assert isinstance(service["command"], list), f"{name}: exec form, so signals arrive"
        if service["command"][:2] == ["sh", "-c"]:
            assert " exec " in f" {service['command'][2]}", f"{name}: the shell execs"
    redis = " ".join(services["redis"]["command"])
    assert "--requirepass" in redis and "--appendonly yes" in redis
    assert "ports" not in services["redis"], "Redis is not published"
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["command"][2]
    for name in ("redis", "generator", "aggregator", "flower"):
        assert "healthcheck" in services[name], name
    assert re.search(r"^USER aggregen$", dockerfile, re.MULTILINE)
    assert services["coordinator"]["restart"] == "no"
    assert services["aggregator"]["restart"] == "on-failure"


def flower_get(port: int, path: str, auth: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def wait_for_flower(port: int, auth: str, check: Any, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        try:
            status, body = flower_get(port, "/api/workers?refresh=1", auth)
            if status == 200 and check(body):
                return body
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Flower never showed what was expected: {body[:500]}")


def wait_for_tasks(port: int, auth: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        _, body = flower_get(port, "/api/tasks?limit=2000", auth)
        if "aggregen.generate" in body and "aggregen.aggregate" in body:
            return body
        time.sleep(0.5)
    raise AssertionError(f"Flower saw no tasks of both kinds: {body[:300]}")


def test_the_compose_services_run_a_whole_job_and_flower_shows_it(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    password = secrets.token_urlsafe(16)
    flower_auth = f"aggregen:{secrets.token_urlsafe(12)}"
    (secrets_dir / "redis_password").write_text(password + "\n")
    (secrets_dir / "flower_basic_auth").write_text(flower_auth + "\n")
    compose = load(RUN_SHAPE)
    redis = RedisServer(tmp_path / "redis", password=password).start()
    flower_port = free_port()
    mapping = LocalMapping(
        redis_address=f"127.0.0.1:{redis.port}",
        secrets_dir=secrets_dir,
        replacements={
            "/reports/report.json": str(tmp_path / "report.json"),
            "--address=0.0.0.0 --port=5555": f"--address=127.0.0.1 --port={flower_port}",
        },
    )
    order = ["flower", "beat", "generator", "aggregator", "coordinator"]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in order:
            processes[name] = start_service(compose, name, mapping, tmp_path / f"{name}.log")
        workers = wait_for_flower(
            flower_port, flower_auth, lambda body: "generator@" in body and "aggregator@" in body
        )
        tasks = wait_for_tasks(flower_port, flower_auth)
        _, metrics = flower_get(flower_port, "/metrics", None)
        unauthorised, _ = flower_get(flower_port, "/api/workers", None)

        coordinator_code = processes["coordinator"].wait(timeout=90)
        job_codes = {n: processes[n].wait(timeout=30) for n in ("beat", "generator", "aggregator")}
        processes["flower"].send_signal(signal.SIGTERM)  # as compose does when the job ended
        flower_code = processes["flower"].wait(timeout=30)
    finally:
        for process in processes.values():
            process.kill()
        redis.stop()

    assert coordinator_code == 0, (tmp_path / "coordinator.log").read_text()[-3000:]
    assert job_codes == {"beat": 0, "generator": 0, "aggregator": 0}
    assert flower_code in (0, -signal.SIGTERM)
    report = load_report(tmp_path / "report.json")
    assert_exactly_once(report, generators=3, ticks=120)
    assert_contiguous(report["windows"])
    assert "aggregen.generate" in tasks and "aggregen.aggregate" in tasks
    assert "flower_events_total" in metrics and 'task="aggregen.aggregate"' in metrics
    assert unauthorised == 401, "Flower's API needs the password"
    assert json.loads(workers)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert password not in logs and flower_auth.split(":")[1] not in logs
    assert wait_until_gone(str(secrets_dir), timeout_s=5) == []
