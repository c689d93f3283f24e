"""Restart policies and health checks as docker 20.10 decides them (runtime/supervision.py,
runtime/health.py's duration words): pure rules, no containers."""

from __future__ import annotations

from typing import Any

import pytest

from hybridock.build.dockerfile.flags import parse_duration
from hybridock.errors import ConfigError
from hybridock.runtime.health import go_duration
from hybridock.runtime.supervision import (
    Healthcheck,
    HealthState,
    RestartPolicy,
    RestartState,
    healthcheck_from_flags,
    merge_healthcheck,
    parse_restart_policy,
)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("", RestartPolicy("no", 0)),
        ("no", RestartPolicy("no", 0)),
        ("always", RestartPolicy("always", 0)),
        ("unless-stopped", RestartPolicy("unless-stopped", 0)),
        ("on-failure", RestartPolicy("on-failure", 0)),
        ("on-failure:3", RestartPolicy("on-failure", 3)),
        ("on-failure:+2", RestartPolicy("on-failure", 2)),
        ("always:0", RestartPolicy("always", 0)),
        (":3", RestartPolicy("", 3)),  # docker's daemon accepts it, and never restarts
    ],
)
def test_restart_policies(text: str, policy: RestartPolicy) -> None:
    assert parse_restart_policy(text) == policy


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid restart policy 'foo'"),
        ("on-failure:x", "maximum retry count must be an integer"),
        ("on-failure: 1", "maximum retry count must be an integer"),
        ("on-failure:", "maximum retry count must be an integer"),
        ("always:3", "maximum retry count cannot be used with restart policy 'always'"),
        ("on-failure:-1", "maximum retry count cannot be negative"),
        ("a:b:c", "invalid restart policy format"),
    ],
)
def test_bad_restart_policies(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_restart_policy(text)
    assert str(raised.value) == message


def test_backoff_doubles_to_a_minute_and_resets_after_ten_seconds() -> None:
    state = RestartState()
    delays = []
    for _ in range(12):
        delay = state.next_delay(ran_for=0.01)
        delays.append(delay)
        state = state._replace(delay=delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0 and max(delays) == 60.0
    assert state.next_delay(ran_for=10.0) == 0.1


@pytest.mark.parametrize(
    ("policy", "state", "code", "restarts"),
    [
        ("always", RestartState(), 0, True),
        ("always", RestartState(manually_stopped=True), 0, True),
        ("always", RestartState(canceled=True), 1, False),
        ("unless-stopped", RestartState(), 0, True),
        ("unless-stopped", RestartState(manually_stopped=True), 1, False),
        ("on-failure", RestartState(), 0, False),
        ("on-failure", RestartState(restart_count=99), 1, True),
        ("on-failure:3", RestartState(restart_count=2), 1, True),
        ("on-failure:3", RestartState(restart_count=3), 1, False),
        ("no", RestartState(), 1, False),
    ],
)
def test_should_restart(policy: str, state: RestartState, code: int, restarts: bool) -> None:
    assert state.should_restart(parse_restart_policy(policy), code) is restarts


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("1s", 10**9),
        ("500ms", 5 * 10**8),
        ("1m30s", 90 * 10**9),
        ("1.5s", 15 * 10**8),
        ("-1s", -(10**9)),
        ("1us", 1000),
        ("2h", 7200 * 10**9),
    ],
)
def test_go_durations(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["abc", "1", "s", "1x", "", "1s2"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (5 * 10**8, "500ms"),
        (10**9, "1s"),
        (15 * 10**8, "1.5s"),
        (90 * 10**9, "1m30s"),
        (120 * 10**9, "2m0s"),
        (3600 * 10**9, "1h0m0s"),
        (30 * 10**9, "30s"),
    ],
)
def test_go_duration_words(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text


def flags(**given: Any) -> Healthcheck | None:
    options: dict[str, Any] = {
        "command": "",
        "interval": "",
        "timeout": "",
        "start_period": "",
        "retries": 0,
        "disabled": False,
    }
    return healthcheck_from_flags(**{**options, **given})


def test_health_flags() -> None:
    assert flags() is None
    assert flags(disabled=True) == Healthcheck(test=("NONE",))
    assert flags(command="pg_isready", interval="5s", retries=2) == Healthcheck(
        ("CMD-SHELL", "pg_isready"), interval=5 * 10**9, retries=2
    )
    assert flags(interval="1s") == Healthcheck((), interval=10**9)  # the image's test, kept


def test_the_flags_merge_over_the_image_field_by_field() -> None:
    image = {"Test": ["CMD", "check"], "Interval": 10**9, "Retries": 5}
    assert merge_healthcheck(None, image) == Healthcheck(("CMD", "check"), 10**9, retries=5)
    assert merge_healthcheck(Healthcheck((), timeout=7), image) == Healthcheck(
        ("CMD", "check"), 10**9, 7, retries=5
    )
    assert merge_healthcheck(Healthcheck(("NONE",)), image).probe is None  # type: ignore[union-attr]
    assert merge_healthcheck(None, None) is None


def test_probes() -> None:
    assert Healthcheck(("CMD", "true", "x")).probe == ("true", "x")
    assert Healthcheck(("CMD-SHELL", "exit 1")).probe == ("/bin/sh", "-c", "exit 1")
    assert Healthcheck(("NONE",)).probe is None
    assert Healthcheck().probe is None


def result(code: int) -> dict[str, Any]:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_health_states_as_docker_judges_probes() -> None:
    check = Healthcheck(("CMD", "x"), retries=2, start_period=60 * 10**9)
    state = HealthState()
    # failures within the start period do not count while it is starting
    state = state.with_result(result(1), check, since_start=1.0)
    assert (state.status, state.failing_streak) == ("starting", 0)
    state = state.with_result(result(0), check, since_start=2.0)
    assert (state.status, state.failing_streak) == ("healthy", 0)
    state = state.with_result(result(1), check, since_start=3.0)
    assert (state.status, state.failing_streak) == ("healthy", 1)
    state = state.with_result(result(1), check, since_start=4.0)
    assert (state.status, state.failing_streak) == ("unhealthy", 2)
    for moment in range(5):
        state = state.with_result(result(0), check, since_start=5.0 + moment)
    assert len(state.log) == 5 and state.status == "healthy"
    assert state.restarted() == HealthState("starting", 0, state.log)
    assert HealthState().shown == "health: starting"
