"""The benchmarks run end to end in their quick form; their figures are not judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, aggregen_env

BENCHMARKS = ("ticks", "latency", "capacity", "stop", "footprint", "pools")


@pytest.mark.timeout(300)
def test_quick_benchmarks_print_a_table_and_write_an_entry_per_benchmark(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(output)],
        check=False,
        cwd=REPO,
        env=aggregen_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "benchmark  measure" in done.stdout
    document = json.loads(output.read_text())
    assert set(document["benchmarks"]) == set(BENCHMARKS)
    for name in BENCHMARKS:
        entry = document["benchmarks"][name]
        assert entry["error"] is None
        assert entry["figures"], f"{name} reported no figure"
    assert document["machine"]["cores"] >= 1
