"""docker's times in its documents: RFC 3339 moments and the human durations of STATUS."""

from __future__ import annotations

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
