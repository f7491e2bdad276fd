"""Reading docker-compose.yml and running its services as local processes.

No Docker engine runs here, so the test takes each service's command and environment from
the file, as Compose would interpolate them, and maps what only exists inside Compose onto
this machine: the ``redis`` host onto a local server, ``/run/secrets/*`` onto files, the
``celery`` and ``aggregen`` executables onto this interpreter.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO, aggregen_env

COMPOSE_FILE = REPO / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = variables.get(name)
        if op and op.endswith("-") and not value:
            return str(arg)
        if op and op.endswith("?") and not value:
            raise ValueError(f"{name} is required: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def load(variables: dict[str, str]) -> dict[str, Any]:
    """The compose file with YAML anchors merged and variables interpolated."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, variables)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return node

    result: dict[str, Any] = walk(document)
    return result


@dataclass
class LocalMapping:
    """Where Compose's names point on this machine."""

    redis_address: str
    secrets_dir: Path
    replacements: dict[str, str]

    def text(self, value: str) -> str:
        value = value.replace("redis://redis:6379", f"redis://{self.redis_address}")
        value = value.replace("/run/secrets/", f"{self.secrets_dir}/")
        for before, after in self.replacements.items():
            value = value.replace(before, after)
        return value

    def argv(self, command: list[str]) -> list[str]:
        command = [self.text(part) for part in command]
        if command[0] == "celery":
            return [sys.executable, "-m", "celery", *command[1:]]
        if command[0] == "aggregen":
            return [sys.executable, "-m", "tasks", *command[1:]]
        if command[:2] == ["sh", "-c"]:
            script = command[2].replace("exec celery", f"exec {sys.executable} -m celery")
            return ["sh", "-c", script]
        raise AssertionError(f"no local form for {command}")


def start_service(
    compose: dict[str, Any], name: str, mapping: LocalMapping, log: Path
) -> subprocess.Popen[bytes]:
    """Run one service's command with its environment, as a local process."""
    service = compose["services"][name]
    environment = {key: mapping.text(str(value)) for key, value in service["environment"].items()}
    with log.open("wb") as out:
        return subprocess.Popen(
            mapping.argv(service["command"]),
            cwd=REPO,
            env=aggregen_env(**environment),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
