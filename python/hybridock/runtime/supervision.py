"""Docker's restart policies and health checks: their flags, their records, their rules.

Pure logic and two small files in the container's directory, both written atomically:

- ``restart.json``: what docker's restart manager keeps in memory, kept here between the
  processes that act on one container (``RestartCount``, the backoff reached, and whether a
  user stopped it: ``stop``/``kill`` cancel the next restart, any ``kill`` marks the container
  manually stopped for ``unless-stopped``). A user's ``start``/``restart`` resets it.
- ``judge-exit``: an empty marker, ``update --restart`` asking the monitor of a run started
  without a policy for the on-exit judge (``Runtime.update``).
- ``health.json``: docker's ``State.Health`` (``Status``, ``FailingStreak``, the last five
  probe results), written by each probe (``runtime/health.py``) and reset to ``starting`` at
  every start.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from hybridock.build.dockerfile.flags import parse_duration
from hybridock.errors import ConfigError
from hybridock.store.layout import write_atomic

RESTART_FILE = "restart.json"
#: written by ``update --restart`` into a running container's directory: its monitor, started
#: without the on-exit judge (no policy then), runs the judge at the exit all the same
JUDGE_MARKER = "judge-exit"
HEALTH_FILE = "health.json"
POLICIES = ("no", "always", "unless-stopped", "on-failure")
#: docker's restart manager: 100 ms doubling up to a minute, back to 100 ms after a run of 10 s
FIRST_DELAY = 0.1
MAXIMUM_DELAY = 60.0
STEADY_RUN = 10.0

#: docker's defaults (HealthConfig zero values) and limits
DEFAULT_INTERVAL = 30 * 10**9
DEFAULT_TIMEOUT = 30 * 10**9
DEFAULT_RETRIES = 3
MINIMUM_DURATION = 10**6  # 1 ms
LOG_ENTRIES = 5
OUTPUT_LIMIT = 4096
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")


class RestartPolicy(NamedTuple):
    """docker's HostConfig.RestartPolicy."""

    name: str = "no"
    maximum_retry_count: int = 0

    @property
    def restarts(self) -> bool:
        return self.name not in ("", "no")


def parse_restart_policy(text: str) -> RestartPolicy:
    """``--restart``: the docker CLI's split, then the daemon's checks and words."""
    if not text:
        return RestartPolicy()
    parts = text.split(":")
    if len(parts) > 2:
        raise ConfigError("invalid restart policy format")
    count = 0
    if len(parts) == 2:
        try:
            count = _go_atoi(parts[1])
        except ValueError:
            raise ConfigError("maximum retry count must be an integer") from None
    policy = RestartPolicy(parts[0], count)
    check_restart_policy(policy)
    return policy


def check_restart_policy(policy: RestartPolicy, *, auto_remove: bool = False) -> None:
    """docker's daemon's checks of HostConfig.RestartPolicy (and AutoRemove beside it)."""
    name, count = policy
    if name in ("always", "unless-stopped", "no") and count != 0:
        raise ConfigError(f"maximum retry count cannot be used with restart policy '{name}'")
    if name == "on-failure" and count < 0:
        raise ConfigError("maximum retry count cannot be negative")
    if name not in ("", *POLICIES):  # docker's daemon lets an empty name through (":3")
        raise ConfigError(f"invalid restart policy '{name}'")
    if auto_remove and policy.restarts:
        raise ConfigError("can't create 'AutoRemove' container with restart policy")


def _go_atoi(text: str) -> int:
    """Go's strconv.Atoi: an optional sign and decimal digits, nothing else."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(text)
    return int(text)


class RestartState(NamedTuple):
    restart_count: int = 0  # docker's RestartCount
    delay: float = 0.0  # the backoff reached (0: none yet)
    canceled: bool = False  # stop, kill: no restart after this exit
    manually_stopped: bool = False  # any kill: unless-stopped stays down

    @classmethod
    def read(cls, directory: Path) -> RestartState:
        try:
            data = json.loads((directory / RESTART_FILE).read_bytes())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return cls()

    def write(self, directory: Path) -> None:
        write_atomic(directory / RESTART_FILE, json.dumps(self._asdict()).encode(), durable=False)

    def next_delay(self, ran_for: float) -> float:
        """docker's backoff before the next restart, given how long the last run lasted."""
        delay = 0.0 if ran_for >= STEADY_RUN else self.delay
        return FIRST_DELAY if delay == 0 else min(delay * 2, MAXIMUM_DELAY)

    def should_restart(self, policy: RestartPolicy, exit_code: int) -> bool:
        """docker's ShouldRestart for an exit this state has not been canceled for."""
        if self.canceled:
            return False
        if policy.name == "always":
            return True
        if policy.name == "unless-stopped":
            return not self.manually_stopped
        if policy.name == "on-failure":
            limit = policy.maximum_retry_count
            return exit_code != 0 and (limit == 0 or self.restart_count < limit)
        return False


def stopped_by_user(directory: Path, *, cancel: bool) -> None:
    """A user's ``stop``/``kill`` (``cancel``: the stop signal or SIGKILL) of the container:
    recorded before the signal is sent, so the exit it causes is judged with it."""
    state = RestartState.read(directory)
    state._replace(manually_stopped=True, canceled=state.canceled or cancel).write(directory)


# --- health checks ----------------------------------------------------------------------------


class Healthcheck(NamedTuple):
    """docker's Config.Healthcheck (durations in nanoseconds, 0: the default)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @property
    def probe(self) -> tuple[str, ...] | None:
        """The argv a probe runs in the container (None: no probe)."""
        if not self.test or self.test[0] == "NONE":
            return None
        if self.test[0] == "CMD" and len(self.test) > 1:
            return self.test[1:]
        if self.test[0] == "CMD-SHELL" and len(self.test) > 1:
            return ("/bin/sh", "-c", " ".join(self.test[1:]))
        return None

    @property
    def interval_seconds(self) -> float:
        return (self.interval or DEFAULT_INTERVAL) / 1e9

    @property
    def timeout_seconds(self) -> float:
        return (self.timeout or DEFAULT_TIMEOUT) / 1e9

    def document(self) -> dict[str, Any]:
        """As docker's inspect shows it (zero durations left out)."""
        shown: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("Retries", self.retries),
        ):
            if value:
                shown[key] = value
        return shown


def _flag_duration(flag: str, text: str) -> int:
    if not text:
        return 0
    try:
        return parse_duration(text)
    except ValueError as error:
        raise ConfigError(f'invalid argument "{text}" for "--{flag}" flag: {error}') from None


def healthcheck_from_flags(
    *,
    command: str,
    interval: str,
    timeout: str,
    start_period: str,
    retries: int,
    disabled: bool,
) -> Healthcheck | None:
    """The docker CLI's --health-* and --no-healthcheck, then the daemon's checks (None: as
    the image says)."""
    durations = {
        "interval": _flag_duration("health-interval", interval),
        "timeout": _flag_duration("health-timeout", timeout),
        "start-period": _flag_duration("health-start-period", start_period),
    }
    given = bool(command) or retries != 0 or any(durations.values())
    if disabled:
        if given:
            raise ConfigError("--no-healthcheck conflicts with --health-* options")
        return Healthcheck(test=("NONE",))
    if not given:
        return None
    for name in ("interval", "timeout"):
        if durations[name] < 0:
            raise ConfigError(f"--health-{name} cannot be negative")
    if retries < 0:
        raise ConfigError("--health-retries cannot be negative")
    if durations["start-period"] < 0:
        raise ConfigError("--health-start-period cannot be negative")
    return check_healthcheck(
        Healthcheck(
            test=("CMD-SHELL", command) if command else (),
            interval=durations["interval"],
            timeout=durations["timeout"],
            start_period=durations["start-period"],
            retries=retries,
        )
    )


def check_healthcheck(healthcheck: Healthcheck) -> Healthcheck:
    """docker's daemon's checks of Config.Healthcheck (durations of 0 are the defaults)."""
    for name, value in (
        ("Interval", healthcheck.interval),
        ("Timeout", healthcheck.timeout),
        ("StartPeriod", healthcheck.start_period),
    ):
        if value != 0 and value < MINIMUM_DURATION:
            raise ConfigError(f"{name} in Healthcheck cannot be less than 1ms")
    if healthcheck.retries < 0:
        raise ConfigError("Retries in Healthcheck cannot be negative")
    return healthcheck


def merge_healthcheck(user: Healthcheck | None, image: dict[str, Any] | None) -> Healthcheck | None:
    """docker's merge of the flags' health check over the image config's, field by field."""
    from_image = (
        Healthcheck(
            test=tuple(image.get("Test") or ()),
            interval=int(image.get("Interval") or 0),
            timeout=int(image.get("Timeout") or 0),
            start_period=int(image.get("StartPeriod") or 0),
            retries=int(image.get("Retries") or 0),
        )
        if image
        else None
    )
    if user is None or from_image is None:
        return user or from_image
    return Healthcheck(
        test=user.test or from_image.test,
        interval=user.interval or from_image.interval,
        timeout=user.timeout or from_image.timeout,
        start_period=user.start_period or from_image.start_period,
        retries=user.retries or from_image.retries,
    )


class HealthState(NamedTuple):
    """docker's State.Health; ``Log`` entries are its HealthcheckResult documents."""

    status: str = "starting"
    failing_streak: int = 0
    log: tuple[dict[str, Any], ...] = ()

    @classmethod
    def read(cls, directory: Path) -> HealthState | None:
        try:
            data = json.loads((directory / HEALTH_FILE).read_bytes())
            return cls(data["Status"], int(data["FailingStreak"]), tuple(data["Log"]))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def write(self, directory: Path) -> None:
        write_atomic(directory / HEALTH_FILE, json.dumps(self.document()).encode(), durable=False)

    def document(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": list(self.log)}

    def restarted(self) -> HealthState:
        """At each start: starting again, the log kept (docker's initHealthMonitor)."""
        return HealthState("starting", 0, self.log)

    def with_result(
        self, result: dict[str, Any], check: Healthcheck, *, since_start: float
    ) -> HealthState:
        """docker's handleProbeResult: ``result`` has Start, End, ExitCode, Output;
        ``since_start`` is the seconds from the container's start to the probe's."""
        log = (*self.log, result)[-LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            return HealthState("healthy", 0, log)
        if self.status == "starting" and since_start < check.start_period / 1e9:
            return HealthState(self.status, self.failing_streak, log)
        streak = self.failing_streak + 1
        retries = check.retries if check.retries > 0 else DEFAULT_RETRIES
        return HealthState("unhealthy" if streak >= retries else self.status, streak, log)

    @property
    def shown(self) -> str:
        """ps's words: ``health: starting``, ``healthy``, ``unhealthy``."""
        return "health: starting" if self.status == "starting" else self.status


def health_probe(root: Path, container_id: str, check: Healthcheck | None) -> list[str]:
    """The monitor's arguments for the container's health check: ``--health INTERVAL_MS``
    and the probe's argv (``runtime/health.py``), run every interval while the container
    runs; none without a check."""
    if check is None or check.probe is None:
        return []
    interval_ms = max(1, round(check.interval_seconds * 1000))
    return [
        "--health",
        str(interval_ms),
        sys.executable,
        "-m",
        "hybridock.runtime.health",
        str(root),
        container_id,
    ]
