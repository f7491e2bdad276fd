"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME ...] [--json PATH]``.

Prints each benchmark's figures as it finishes, then one table of all, and writes the
figures with their raw data as JSON. Exits 1 only when a benchmark broke (an exception), never
because a figure missed its target.
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import capacity, footprint, latency, pools, stop, ticks
from benchmarks.result import Result, table, write_json

BENCHMARKS: dict[str, Callable[..., Result]] = {
    "ticks": ticks.run,
    "latency": latency.run,
    "capacity": capacity.run,
    "stop": stop.run,
    "footprint": footprint.run,
    "pools": pools.run,
}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny parameters, under a minute")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME")
    parser.add_argument("--json", type=Path, help="where to write the JSON results")
    return parser.parse_args()


def _run_one(name: str, *, quick: bool) -> Result:
    print(f"== {name} ...", flush=True)
    started_s = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        result = BENCHMARKS[name](quick=quick)
    except Exception as exc:  # a broken benchmark is reported, the others still run
        traceback.print_exc()
        result = Result(name, error=f"{type(exc).__name__}: {exc}")
    result.elapsed_s = round(time.monotonic() - started_s, 1)
    result.load_avg = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(table([result]), flush=True)
    print(f"({result.elapsed_s:.1f}s)\n", flush=True)
    return result


def main() -> int:
    """Run the chosen benchmarks; returns the exit code."""
    options = _arguments()
    names = options.only or list(BENCHMARKS)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = options.json or RESULTS_DIR / f"bench-{'quick-' if options.quick else ''}{stamp}.json"
    if options.quick:
        # Quick figures only prove that each benchmark works: run them side by side.
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            results = list(pool.map(lambda name: _run_one(name, quick=True), names))
    else:
        results = [_run_one(name, quick=False) for name in names]
    print(table(results))
    write_json(path, results, {"quick": options.quick, "only": names})
    print(f"\nresults written to {path}")
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
