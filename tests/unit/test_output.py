"""docker's formatting of sizes, durations and timestamps."""

from __future__ import annotations

import hashlib

import pytest

from hybridock.cli.output import human_duration, human_size, parse_timestamp
from hybridock.store.pull import chain_ids


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
