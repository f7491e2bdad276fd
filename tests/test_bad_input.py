"""Bad input on the aggregate queue: kept aside with the reason, everything else counted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks import report, run
from tasks.context import Context
from tasks.generator import catch_up
from tasks.number import Number
from tasks.settings import Settings
from tests import messages
from tests.support import REPO, RedisServer, aggregen_env

# One valid number, changed in one way each: (change, reason fragment kept with it).
BAD_NUMBERS: list[tuple[str, dict[str, Any] | None, str]] = [
    ("value missing", {"value": ...}, "missing field(s): value"),
    ("value null", {"value": None}, "value must be an integer, got NoneType"),
    ("value float", {"value": 4.5}, "value must be an integer, got float"),
    ("value string", {"value": "4"}, "value must be an integer, got str"),
    ("value boolean", {"value": True}, "value must be an integer, got bool"),
    ("value huge", {"value": 10**40}, f"value {10**40} is outside"),
    ("value negative", {"value": -3}, "value -3 is outside"),
    ("identity missing", {"generator": ..., "tick": ...}, "missing field(s): generator, tick"),
    ("identity malformed", {"tick": "seven"}, "tick must be an integer"),
    ("unknown field", {"colour": "red"}, "unknown field(s): colour"),
    ("never generated", {"tick": 10_000}, "no such number was generated"),
    ("value forged", "forge", "value differs from the value generated"),
    ("not an object", None, "expected an object"),
]


@pytest.fixture
def ctx(redis_server: RedisServer, key_prefix: str) -> Iterator[Context]:
    settings = Settings(
        redis_url=redis_server.url,
        key_prefix=key_prefix,
        duration_s=600,
        interval_s=0.05,
        window_s=0.5,
        generators=4,
    )
    context = Context.build(settings)
    yield context
    context.client.close()


@pytest.fixture
def aggregator(ctx: Context, tmp_path: Path, key_prefix: str) -> Iterator[Path]:
    log = tmp_path / "aggregator.log"
    env = aggregen_env(AGGREGEN_REDIS_URL=str(ctx.redis_url), AGGREGEN_KEY_PREFIX=key_prefix)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", "aggregate",
             "-c", "1", "-n", f"bad-input-{key_prefix}@%h", "--loglevel", "INFO"],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield log
    worker.terminate()
    worker.wait(timeout=30)
    assert worker.returncode == 0, "the worker should have kept running to the end"


def spoil(good: Number, change: dict[str, Any] | str | None) -> Any:
    if change is None:
        return [good.value]
    message = good.to_message()
    if change == "forge":
        message["value"] = (good.value + 1) % 100
        return message
    assert isinstance(change, dict)
    for field, value in change.items():
        if value is ...:
            del message[field]
        else:
            message[field] = value
    return message


def wait_for(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition never met")


def test_every_bad_input_is_kept_aside_with_its_reason_and_every_good_number_counted(
    ctx: Context, aggregator: Path, tmp_path: Path
) -> None:
    record = run.new_run(ctx.client, ctx.keys, ctx.settings, started_at=time.time() - 2)
    numbers: list[Number] = []
    catch_up(ctx, 0, numbers.extend)
    broker = ctx.redis_url
    canary = tmp_path / "yaml-was-executed"

    batch = [n.to_message() for n in numbers[:8]]
    for index, (_, change, _) in enumerate(BAD_NUMBERS):
        batch.insert(index * 2 + 1, spoil(numbers[8 + index], change))
    messages.publish_call(broker, batch)
    messages.publish_call(broker, [n.to_message() for n in numbers[8:20]], "second argument")
    messages.publish_call(broker, batch=[n.to_message() for n in numbers[8:20]])
    messages.publish(broker, b'[[{"run": "unterminated', serializer=None,
                     content_type="application/json",
                     headers=messages.task_message()[0])  # fmt: skip
    pickled_headers, pickled_body = messages.task_message([numbers[20].to_message()])
    messages.publish(broker, pickled_body, headers=pickled_headers, serializer="pickle")
    messages.publish(broker, f"!!python/object/apply:os.system ['touch {canary}']".encode(),
                     serializer=None, content_type="application/x-yaml",
                     headers=messages.task_message()[0])  # fmt: skip
    messages.publish_call(broker, [n.to_message() for n in numbers[8:]])

    expected_dead = len(BAD_NUMBERS) + 2 + 3  # bad items, wrong arity twice, three bodies
    wait_for(lambda: report.take(ctx).counted_count == len(numbers))
    wait_for(lambda: report.take(ctx).dead_lettered == expected_dead)

    audit = report.take(ctx)
    assert audit.pending == 0
    assert audit.counted_sum == sum(n.value for n in numbers)
    assert not canary.exists(), "a YAML body was executed"
    kept = [json.loads(v) for v in ctx.client.hvals(ctx.keys.dead_letters)]
    reasons = sorted(str(letter["reason"]) for letter in kept)
    for _, _, fragment in BAD_NUMBERS:
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    assert sum("exactly one positional argument" in r for r in reasons) == 2
    assert sum("undecodable message (DecodeError" in r for r in reasons) == 1
    assert sum("untrusted content of type pickle" in r for r in reasons) == 1
    assert sum("untrusted content of type yaml" in r for r in reasons) == 1
    log = (tmp_path / "aggregator.log").read_text()
    assert log.count("dead-lettered") == expected_dead, "each is logged once as a warning"
    assert record.id
    save_table(reasons, valid=len(numbers), counted=audit.counted_count)


OTHER_INPUTS = [
    ("wrong arity: two arguments", "exactly one positional argument"),
    ("wrong arity: keyword argument", "exactly one positional argument"),
    ("invalid JSON body", "undecodable message (DecodeError"),
    ("pickle content type", "untrusted content of type pickle"),
    ("YAML content type (with a command in it)", "untrusted content of type yaml"),
]


def save_table(reasons: list[str], *, valid: int, counted: int) -> None:
    """Write the table of bad inputs tried, with the reason each was kept under."""
    lines = ["| input | kept as a dead letter with the reason |", "|---|---|"]
    remaining = list(reasons)
    for label, fragment in [(label, fragment) for label, _, fragment in BAD_NUMBERS] + [
        *OTHER_INPUTS
    ]:
        reason = next(r for r in remaining if fragment in r)
        remaining.remove(reason)
        lines.append(f"| {label} | {reason.replace('|', '/')} |")
    lines.append(f"| (the {valid} valid numbers sent among them) | none: {counted} counted |")
    out = REPO / "build" / "bad-input.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
