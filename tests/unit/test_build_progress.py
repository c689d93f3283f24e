"""The build's progress views, fed events by hand: BuildKit's plain lines and the redrawn
terminal view (its last frame, what a user sees when the build ends)."""

from __future__ import annotations

import io
import re

from hybridock.build.progress import (
    CACHED,
    DONE,
    ERROR,
    LOG,
    STARTED,
    BuildEvent,
    PlainProgress,
    TtyProgress,
    build_progress,
)

EVENTS = [
    BuildEvent(1, "[1/3] FROM busybox", STARTED),
    BuildEvent(1, "[1/3] FROM busybox", CACHED),
    BuildEvent(2, "[2/3] RUN make", STARTED),
    *(BuildEvent(2, "[2/3] RUN make", LOG, f"line {n}", 0.25) for n in range(20)),
    BuildEvent(2, "[2/3] RUN make", DONE, elapsed=1.25),
    BuildEvent(3, "[3/3] RUN false", STARTED),
    BuildEvent(3, "[3/3] RUN false", ERROR, "exit code: 1", 0.5),
]


def test_plain_lines_are_buildkits() -> None:
    out = io.StringIO()
    view = PlainProgress(out)
    for event in EVENTS:
        view(event)
    text = out.getvalue()
    assert text.startswith(
        "#1 [1/3] FROM busybox\n#1 CACHED\n\n#2 [2/3] RUN make\n#2 0.250 line 0\n"
    )
    assert "#2 DONE 1.2s\n\n" in text
    assert text.endswith("#3 [3/3] RUN false\n#3 ERROR: exit code: 1\n\n")


def test_tty_view_redraws_in_place_and_ends_with_every_step() -> None:
    out = io.StringIO()
    view = TtyProgress(out)
    for event in EVENTS:
        view(event)
    frames = out.getvalue().split("\x1b[J")
    last = [re.sub(r"\x1b\[\d*[A-Za-z]", "", line) for line in frames[-2].splitlines()]
    assert re.fullmatch(r"\[\+\] Building \d+\.\ds \(3/3\)", last[0])
    assert [line.split()[-1] for line in last[1:4]] == ["CACHED", "1.2s", "ERROR"]
    assert last[4:] == [" => => # exit code: 1"]  # a finished step's output goes, an error stays
    # twenty lines of output within a tenth of a second: not twenty redraws
    assert len(frames) - 1 < len(EVENTS) - 10


def test_auto_is_plain_off_a_terminal_and_quiet_is_nothing() -> None:
    assert isinstance(build_progress("auto", io.StringIO()), PlainProgress)
    assert isinstance(build_progress("tty", io.StringIO()), TtyProgress)
    assert build_progress("quiet", io.StringIO()) is None
