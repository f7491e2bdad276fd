"""What counts as a number on the aggregate queue, and how its value is fixed."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.number import InvalidNumberError, Number, parse, value_for

GOOD: dict[str, Any] = {
    "run": "r1",
    "generator": 3,
    "tick": 7,
    "value": 42,
    "generated_at": 1_700_000_000.5,
}


def test_a_well_formed_number_is_read_back_unchanged() -> None:
    number = parse(dict(GOOD))

    assert number == Number("r1", 3, 7, 42, 1_700_000_000.5)
    assert number.id == "3:7"
    assert parse(number.to_message()) == number


def test_a_number_survives_the_ledger_round_trip() -> None:
    number = Number("r1", 3, 7, 42, 1_700_000_000.25)

    assert Number.from_ledger("r1", number.id, number.ledger_entry()) == number


def test_the_value_is_fixed_by_the_identity() -> None:
    assert value_for("r1", 3, 7) == value_for("r1", 3, 7)
    values = {value_for("r1", g, t) for g in range(20) for t in range(20)}
    assert len(values) > 50
    assert all(0 <= v <= 100 for v in values)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"value": None}, "value must be an integer"),
        ({"value": 1.5}, "value must be an integer"),
        ({"value": "7"}, "value must be an integer"),
        ({"value": True}, "value must be an integer"),
        ({"value": 10**30}, "outside"),
        ({"value": -1}, "outside"),
        ({"generator": -1}, "outside"),
        ({"tick": "x"}, "tick must be an integer"),
        ({"run": ""}, "run must be"),
        ({"generated_at": "yesterday"}, "generated_at must be"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_malformed_numbers_are_refused_with_the_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidNumberError, match=reason):
        parse({**GOOD, **change})


def test_missing_fields_and_non_objects_are_refused() -> None:
    without_value = {k: v for k, v in GOOD.items() if k != "value"}

    with pytest.raises(InvalidNumberError, match="missing field"):
        parse(without_value)
    with pytest.raises(InvalidNumberError, match="expected an object"):
        parse([1, 2, 3])
