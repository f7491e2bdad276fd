"""What a benchmark hands back, and the table and JSON it ends up in."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.redis_server import server_version


@dataclass
class Figure:
    """One measured quantity of aggregen, next to its anchor and its target."""

    measure: str
    value: str
    anchor: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Result:
    """A benchmark's figures, plus its raw data for the JSON file."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # The machine's 1-minute load average before and after: other work skews the figures.
    load_avg: list[float] = field(default_factory=list)
    error: str | None = None

    def add(self, measure: str, value: str, anchor: str = "", target: str = "", **kw: Any) -> None:
        """Append a figure; ``met`` may be passed as a keyword."""
        self.figures.append(Figure(measure, value, anchor, target, kw.get("met")))


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: ""}[met]


def table(results: list[Result]) -> str:
    """A plain-text table of every figure, one row each."""
    header = ("benchmark", "measure", "aggregen", "anchor", "target", "")
    rows = [header]
    for result in results:
        if result.error:
            rows.append((result.name, "error", result.error[:60], "", "", ""))
        for fig in result.figures:
            rows.append(
                (result.name, fig.measure, fig.value, fig.anchor, fig.target, _verdict(fig.met))
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The machine and software the figures were taken on, as read from it."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "redis_server": server_version(),
        **{name: _version(name) for name in ("celery", "kombu", "redis", "gevent", "eventlet")},
    }


def write_json(path: Path, results: list[Result], settings: dict[str, Any]) -> None:
    """Write the machine, the settings and every result to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "settings": settings,
        "benchmarks": {result.name: asdict(result) for result in results},
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
