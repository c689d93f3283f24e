"""docker's formatting of sizes, durations and timestamps."""

from __future__ import annotations

import hashlib
import re

import pytest

from hybridock.cli.output import (
    formatted,
    go_json,
    go_time,
    human_size,
    parse_timestamp,
)
from hybridock.client import human_duration, log_timestamp
from hybridock.store.images import chain_ids


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (4_261_000, "4.26MB"),
        (13_256, "13.3kB"),
        (1_500_000_000, "1.5GB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (5, "5 seconds"),
        (65, "About a minute"),
        (600, "10 minutes"),
        (3700, "About an hour"),
        (7200 * 3, "6 hours"),
        (86400 * 3, "3 days"),
        (86400 * 20, "3 weeks"),
        (86400 * 100, "3 months"),
        (86400 * 800, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_parse_timestamp_with_nanoseconds() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456)
    assert parse_timestamp("not a time") is None
    assert parse_timestamp(None) is None


def test_chain_ids_follow_the_oci_formula() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    chain = chain_ids([a, b])
    assert chain[0] == a
    assert chain[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


def test_go_time_is_gos_time_string_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time  # noqa: PLC0415

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert go_time(1_796_545_578.9) == "2026-12-06 08:26:18 +0000 UTC"
        assert go_time(None) == "1970-01-01 00:00:00 +0000 UTC"
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert go_time(1_796_545_578) == "2026-12-06 09:26:18 +0100 CET"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_go_json_is_compact_sorted_and_html_escaped() -> None:
    assert go_json({"b": "<none>", "a": "x & y"}) == '{"a":"x \\u0026 y","b":"\\u003cnone\\u003e"}'
    assert go_json("…") == '"…"'


ROWS = [{"ID": "abc", "Name": "first"}, {"ID": "defghijklmnop", "Name": "second"}]
HEADERS = {"ID": "ID", "Name": "NAME"}


@pytest.mark.parametrize(
    ("output_format", "lines"),
    [
        ("json", ['{"ID":"abc","Name":"first"}', '{"ID":"defghijklmnop","Name":"second"}']),
        ("{{.Name}}\\t{{.ID}}", ["first\tabc", "second\tdefghijklmnop"]),
        ("{{json .Name}}", ['"first"', '"second"']),
        ("table", ["ID              NAME", "abc             first", "defghijklmnop   second"]),
        ("table {{.Name}}", ["NAME", "first", "second"]),
        ("table {{.Name}}\\t{{.ID}}", ["NAME      ID", "first     abc", "second    defghijklmnop"]),
    ],
)
def test_formatted_as_dockers_formatter(output_format: str, lines: list[str]) -> None:
    assert formatted(ROWS, output_format, HEADERS, "table {{.ID}}\t{{.Name}}") == lines


def test_formatted_table_without_rows_still_has_its_header() -> None:
    assert formatted([], "table {{.Name}}\t{{.ID}}", HEADERS, "") == ["NAME      ID"]


NOW = 1_700_000_000.75  # 2023-11-14T22:13:20.75Z
S = 10**9


@pytest.mark.parametrize(
    ("value", "nanoseconds"),
    [
        ("10m", (1_700_000_000 - 600) * S),
        ("1h30m", (1_700_000_000 - 5400) * S),
        ("1.5s", 1_699_999_999 * S),
        ("-1h", (1_700_000_000 + 3600) * S),
        ("0", 0),
        ("1700000000", 1_700_000_000 * S),
        ("1700000000.5", 1_700_000_000 * S + 500_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000 * S),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000 * S + 123_456_789),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000 * S),
        ("2023-11-14T22:13Z", 1_699_999_980 * S),
        ("2023-11-14T22Z", 1_699_999_200 * S),
        ("2023-11-14Z", 1_699_920_000 * S),
        ("2023-11-14T22:13:20", 1_700_000_000 * S),  # local time: TZ=UTC below
        ("2023-11-14", 1_699_920_000 * S),
    ],
)
def test_log_timestamp_as_dockers_get_timestamp(
    value: str, nanoseconds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time  # noqa: PLC0415

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert log_timestamp(value, NOW) == nanoseconds
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("x", 'failed to parse value as time or duration: "x"'),
        ("10q", 'failed to parse value as time or duration: "10q"'),
        ("2013-13-01", 'parsing time "2013-13-01": month out of range'),
        ("2013-02-30", 'parsing time "2013-02-30": day out of range'),
    ],
)
def test_log_timestamp_refuses_as_docker_does(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason) + "$"):
        log_timestamp(value, NOW)
