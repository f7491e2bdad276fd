"""The ``aggregen`` command line. Every option can also be set as an ``AGGREGEN_*`` variable.

Exit codes: 0 finished cleanly; 1 finished but the audit does not balance; 2 usage or
configuration error; 3 cannot reach Redis; 4 the workers could not be started;
130 interrupted twice.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from tasks import commands, settings
from tasks.errors import AggregenError, ConfigError, RedisUnavailableError

# (flag, settings field, help); the variable is AGGREGEN_ + the field without _s, upper case.
_RUN_OPTIONS = (
    ("--duration", "duration_s", "how long the run lasts (default 10m)"),
    ("--interval", "interval_s", "time between two numbers of one generator (default 1s)"),
    ("--window", "window_s", "time between two printed sums (default 30s)"),
    ("--generators", "generators", "how many generators tick (default 1)"),
    ("--shard-size", "shard_size", "generators produced by one generate task (default 1000)"),
    ("--drain-timeout", "drain_timeout_s", "bound on counting what was generated (default 30s)"),
    ("--redeliver-after", "redeliver_after_s", "republish a number pending this long (10s)"),
    ("--shutdown-timeout", "shutdown_timeout_s", "bound on the workers' warm exit (15s)"),
)
_WORKER_OPTIONS = (
    ("--generate-workers", "generate_workers", "generator worker processes (default 1)"),
    ("--aggregate-workers", "aggregate_workers", "aggregator worker processes (default 1)"),
    ("--generate-concurrency", "generate_concurrency", "pool size of each generator worker (1)"),
    ("--aggregate-concurrency", "aggregate_concurrency", "pool size of each aggregator (2)"),
    ("--pool", "pool", "Celery pool: prefork, threads, solo, gevent, eventlet (prefork)"),
)
_CONNECTION_OPTIONS = (
    ("--redis-url", "redis_url", "redis://, rediss:// or unix:// URL"),
    ("--key-prefix", "key_prefix", "prefix of aggregen's Redis keys (default aggregen)"),
    ("--redis-password-file", "redis_password_file", "read the Redis password from this file"),
    ("--redis-tls-ca", "redis_tls_ca", "CA certificate that signed the Redis server's (rediss://)"),
    ("--redis-tls-cert", "redis_tls_cert", "client certificate for Redis (rediss://)"),
    ("--redis-tls-key", "redis_tls_key", "client key for Redis (rediss://)"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One sentence and the usage exit code; no usage block, no traceback.
        self.exit(commands.EXIT_USAGE, f"aggregen: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``aggregen`` and its subcommands."""
    parser = _Parser(
        prog="aggregen",
        description="Generators tick numbers, aggregators count each exactly once, and every "
        "window prints a sum. Every option can also be set as an AGGREGEN_* variable.",
        epilog="exit codes: 0 finished cleanly; 1 the audit does not balance; 2 usage or "
        "configuration error; 3 cannot reach Redis; 4 the workers could not be started; "
        "130 interrupted twice",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the whole job on this machine")
    _add(run, _RUN_OPTIONS + _WORKER_OPTIONS)
    _add(run, (("--redis-url", "redis_url", "use this Redis (default: a private one)"),))
    _add(run, _CONNECTION_OPTIONS[1:])
    _add_common(run)

    coordinate = sub.add_parser("coordinate", help="end a run of separately started workers")
    _add(coordinate, _RUN_OPTIONS + _CONNECTION_OPTIONS)
    _add_common(coordinate)

    report = sub.add_parser("report", help="print the windows and the audit of a run")
    _add(report, _CONNECTION_OPTIONS)
    report.add_argument("--json", action="store_true", help="print the report as JSON")

    stop = sub.add_parser("stop", help="ask a running job to stop gracefully now")
    _add(stop, _CONNECTION_OPTIONS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aggregen`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"aggregen: error: {exc}", file=sys.stderr)
        return commands.EXIT_USAGE
    except RedisUnavailableError as exc:
        print(f"aggregen: error: {exc}", file=sys.stderr)
        return commands.EXIT_NO_REDIS
    except AggregenError as exc:
        print(f"aggregen: error: {exc}", file=sys.stderr)
        return commands.EXIT_START_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    overrides = {
        name: str(value)
        for name, value in vars(args).items()
        if name.startswith(settings.ENV_PREFIX) and value is not None
    }
    if getattr(args, "verbose", False):
        overrides[settings.ENV_PREFIX + "VERBOSE"] = "true"
    os.environ.update(overrides)
    resolved = settings.load()
    report_path = _report_path(getattr(args, "report", None))
    if args.command == "run":
        return commands.run_local(resolved, report_path)
    if args.command == "coordinate":
        return commands.coordinate(resolved, report_path)
    if args.command == "report":
        return commands.show_report(resolved, as_json=args.json)
    return commands.request_stop(resolved, f"aggregen stop from {socket.gethostname()}")


def _report_path(flag: str | None) -> Path | None:
    raw = flag or os.environ.get(settings.ENV_PREFIX + "REPORT")
    if not raw:
        return None
    path = Path(raw)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write the report to {raw}: no such directory")
    return path


def _add(parser: argparse.ArgumentParser, options: Sequence[tuple[str, str, str]]) -> None:
    for flag, field, help_text in options:
        env = settings.ENV_PREFIX + field.removesuffix("_s").upper()
        parser.add_argument(flag, dest=env, metavar=env.removeprefix("AGGREGEN_"), help=help_text)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="PATH", help="write the final report as JSON")
    parser.add_argument("--verbose", action="store_true", help="show every log on the terminal")
