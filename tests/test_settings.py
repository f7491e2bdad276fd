"""Settings, durations and Redis URLs: parsed once at the edge, refused with one sentence."""

from __future__ import annotations

import pytest

from tasks.duration import format_duration, parse_duration_s
from tasks.errors import ConfigError
from tasks.settings import Settings, broker_url, client_url, load, mask_url


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("1s", 1.0), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("2", 2.0)],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration_s(text, name="X") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1d", "1 s s", "0", "0ms", "-1s", "nan"])
def test_unparsable_or_non_positive_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="X must"):
        parse_duration_s(text, name="X")


@pytest.mark.parametrize(("seconds", "text"), [(0.05, "50ms"), (1.0, "1s"), (600.0, "10m")])
def test_durations_are_shown_as_people_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_defaults_are_the_documented_ones() -> None:
    settings = load({})

    assert (settings.duration_s, settings.interval_s, settings.window_s) == (600, 1, 30)
    assert settings.generators == 1
    assert settings.ticks == 600
    assert settings.redis_url is None


def test_settings_travel_to_another_process_through_the_environment() -> None:
    settings = load({"AGGREGEN_INTERVAL": "50ms", "AGGREGEN_GENERATORS": "3"})

    again = load(settings.to_env())

    assert again == settings
    assert again.interval_s == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"AGGREGEN_WINDOW": "500ms"}, "window (500ms) must not be shorter than the interval"),
        ({"AGGREGEN_DURATION": "10s"}, "duration (10s) must not be shorter than the window"),
        ({"AGGREGEN_GENERATORS": "0"}, "AGGREGEN_GENERATORS must be at least 1"),
        ({"AGGREGEN_POOL": "fibres"}, "unknown pool 'fibres'"),
        ({"AGGREGEN_VERBOSE": "maybe"}, "must be true or false"),
        ({"AGGREGEN_REDIS_URL": "redis://"}, "no host"),
        ({"AGGREGEN_REDIS_URL": "unix://"}, "no socket path"),
    ],
)
def test_inconsistent_settings_are_refused(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load(environ)


def test_a_password_in_a_url_is_masked_for_logs() -> None:
    assert mask_url("redis://:hunter2@db:6379/0") == "redis://:***@db:6379/0"
    assert mask_url("rediss://app:hunter2@db/1") == "rediss://app:***@db/1"
    assert mask_url("redis://db:6379/0") == "redis://db:6379/0"


def test_socket_urls_take_the_form_each_client_expects() -> None:
    assert broker_url("unix:///run/r.sock") == "redis+socket:///run/r.sock"
    assert client_url("redis+socket:///run/r.sock") == "unix:///run/r.sock"
    assert broker_url("redis://h:1/0") == client_url("redis://h:1/0") == "redis://h:1/0"


def test_settings_describe_themselves_in_one_line() -> None:
    assert Settings(interval_s=0.05).describe().startswith("duration 10m, interval 50ms")
