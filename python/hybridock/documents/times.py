"""docker's times in its documents: RFC 3339 moments and the human durations of STATUS; and
the times docker's filters and options take (``--since``, ``until=``)."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime


def iso_time(timestamp: float | None) -> str:
    """A moment as docker's documents write it, Go's zero time for none."""
    if not timestamp:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration ("About a minute", "3 hours", "2 weeks")."""
    seconds = max(seconds, 0)
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = seconds / 60
    if int(minutes) == 1:
        return "About a minute"
    if minutes < 60:
        return f"{int(minutes)} minutes"
    hours = minutes / 60
    if round(hours) == 1:
        return "About an hour"
    if hours < 48:
        return f"{round(hours)} hours"
    if hours < 24 * 7 * 2:
        return f"{round(hours / 24)} days"
    if hours < 24 * 30 * 2:
        return f"{round(hours / 24 / 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{round(hours / 24 / 30)} months"
    return f"{round(hours / 24 / 365)} years"


def ago(timestamp: float | None) -> str:
    """docker's "3 seconds ago" ("N/A" for no moment)."""
    if timestamp is None:
        return "N/A"
    return f"{human_duration(time.time() - timestamp)} ago"


_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?"
)
_RANGES = (("month", 1, 12), ("day", 1, 31), ("hour", 0, 23), ("minute", 0, 59), ("second", 0, 59))


def log_timestamp(value: str, now: float) -> int:
    """docker's --since/--until (api/types/time.GetTimestamp) in Unix nanoseconds: a Go
    duration before now ("10m", "1h30m"; whole seconds), an RFC 3339 date or time (local time
    without a zone), or Unix seconds ("1700000000.5"). Raises ValueError with docker's reason."""
    if value != "0" and _DURATION.fullmatch(value):
        seconds = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(value))
        return math.floor(now + seconds if value.startswith("-") else now - seconds) * 10**9
    match = _TIME.fullmatch(value)
    local = not any(c in value for c in "zZ+") and value.count("-") != 3
    if match is not None and (match.group(8) is None) == local:
        return _moment(value, match)
    if "-" in value:
        raise ValueError(f'parsing time "{value}": cannot parse as RFC 3339')
    whole, _, fraction = value.partition(".")
    try:
        nanoseconds = int(fraction) * 10 ** (9 - len(fraction)) if fraction else 0
        return int(whole) * 10**9 + nanoseconds
    except ValueError:
        raise ValueError(f'failed to parse value as time or duration: "{value}"') from None


def _moment(value: str, match: re.Match[str]) -> int:
    from datetime import UTC, datetime, timedelta, timezone  # noqa: PLC0415

    year = int(match.group(1))
    fields = [int(part) if part else 0 for part in match.groups()[1:6]]
    for (name, low, high), number in zip(_RANGES, fields, strict=True):
        if not low <= number <= high:
            raise ValueError(f'parsing time "{value}": {name} out of range')
    zone = match.group(8)
    if zone is None:
        tzinfo = datetime.now(UTC).astimezone().tzinfo
    elif zone == "Z":
        tzinfo = UTC
    else:
        sign = -1 if zone.startswith("-") else 1
        tzinfo = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        month, day, hour, minute, second = fields
        moment = datetime(year, month, day, hour, minute, second, tzinfo=tzinfo)
    except ValueError:
        raise ValueError(f'parsing time "{value}": day out of range') from None
    fraction = (match.group(7) or ".")[1:10]
    return int(moment.timestamp()) * 10**9 + int(fraction.ljust(9, "0"))
