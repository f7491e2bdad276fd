"""Bad options and settings: one sentence, the documented exit code, nothing left running."""

from __future__ import annotations

import pytest

from tests.support import RedisServer, aggregen_env, free_port, processes_mentioning, run_aggregen

USAGE = 2
NO_REDIS = 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--duration", "0"), "longer than zero"),
        (("--duration=-5s",), "longer than zero"),
        (("--interval", "soon"), "duration such as"),
        (("--interval", "1s", "--window", "500ms"), "must not be shorter than the interval"),
        (("--duration", "10s", "--window", "30s"), "must not be shorter than the window"),
        (("--generators", "0"), "at least 1"),
        (("--generators", "many"), "whole number"),
        (("--pool", "fibres"), "unknown pool"),
        (("--redis-url", "http://localhost"), "malformed Redis URL"),
        (("--redis-url", "redis://host:notaport/0"), "malformed Redis URL"),
        (("--frobnicate",), "unrecognized arguments"),
    ],
)
def test_bad_option_is_refused_with_one_sentence(
    args: tuple[str, ...], fragment: str, key_prefix: str
) -> None:
    done = run_aggregen("run", "--key-prefix", key_prefix, *args, timeout_s=30)

    assert done.returncode == USAGE
    assert fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert processes_mentioning(key_prefix) == []


def test_bad_setting_from_the_environment_is_refused_the_same_way() -> None:
    done = run_aggregen("run", env=aggregen_env(AGGREGEN_WINDOW="ten"), timeout_s=30)

    assert done.returncode == USAGE
    assert done.stderr.strip() == (
        "aggregen: error: AGGREGEN_WINDOW must be a duration such as 250ms, 1s, 30s or 10m, "
        "not 'ten'"
    )


def test_unreachable_redis_exits_3_without_starting_anything(key_prefix: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    done = run_aggregen("run", "--redis-url", url, "--key-prefix", key_prefix, timeout_s=30)

    assert done.returncode == NO_REDIS
    assert "cannot reach Redis" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert processes_mentioning(key_prefix) == []


def test_wrong_redis_password_exits_3_and_never_shows_the_password(
    redis_server_with_password: RedisServer, key_prefix: str
) -> None:
    url = redis_server_with_password.url.replace("s3cret-pw", "wrong-pw-123")

    done = run_aggregen("run", "--redis-url", url, "--key-prefix", key_prefix, timeout_s=30)

    assert done.returncode == NO_REDIS
    assert "refused" in done.stderr
    assert "wrong-pw-123" not in done.stderr + done.stdout
    assert processes_mentioning(key_prefix) == []


@pytest.mark.parametrize("command", ["report", "stop"])
def test_commands_on_an_unreachable_redis_exit_3(command: str) -> None:
    done = run_aggregen(command, "--redis-url", f"redis://127.0.0.1:{free_port()}/0")

    assert done.returncode == NO_REDIS
    assert "Traceback" not in done.stderr
