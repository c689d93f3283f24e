"""attach's client side without a container: docker's ``--detach-keys`` grammar (moby/term
``ToBytes``) and its escape proxy (what typed input is sent on, what is held back, when the
sequence is complete), the frames, and a session's end against a socket pair standing in for
the monitor."""

from __future__ import annotations

import io
import socket

import pytest

from hybridock.errors import ContainerStateError
from hybridock.runtime.attach import (
    EXIT,
    RESIZE,
    STDIN,
    STDIN_CLOSE,
    STDOUT,
    Detached,
    DetachKeys,
    Session,
    detach_key_bytes,
    frame,
    frames,
    resize_frame,
)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("", b"\x10\x11"),  # empty: the default, ctrl-p,ctrl-q
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a", b"\x01"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x00\x1b\x1c\x1d\x1e\x1f"),
        ("a,b", b"ab"),
        ("ctrl-x,z", b"\x18z"),
    ],
)
def test_detach_keys_in_dockers_grammar(keys: str, expected: bytes) -> None:
    assert detach_key_bytes(keys) == expected


@pytest.mark.parametrize("keys", ["ctrl-x,zz", "ctrl-", "ab,c", "ctrl-1", ","])
def test_bad_detach_keys_say_what_dockers_daemon_says(keys: str) -> None:
    with pytest.raises(ContainerStateError) as raised:
        detach_key_bytes(keys)
    assert str(raised.value) == f"Invalid detach keys ({keys}) provided"


@pytest.mark.parametrize(
    ("reads", "sent", "detached"),
    [
        ([b"ls\r"], [b"ls\r"], False),
        ([b"\x10x"], [b"\x10x"], False),  # not the sequence: both keys go on
        ([b"\x10", b"x"], [b"", b"\x10x"], False),  # held back until the next key decides
        ([b"\x10\x11"], [b""], True),
        ([b"\x10", b"\x11"], [b"", b""], True),
        ([b"ab\x10\x11"], [b"ab"], True),  # what came before the sequence still goes on
        ([b"a\x10", b"b\x10\x11"], [b"a", b"\x10b"], True),
    ],
    ids=["plain", "mismatch", "split-mismatch", "whole", "split", "after-text", "mixed"],
)
def test_the_escape_proxy_holds_back_a_partial_sequence(
    reads: list[bytes], sent: list[bytes], detached: bool
) -> None:
    proxy = DetachKeys(b"\x10\x11")
    forwarded = []
    outcome = False
    for data in reads:
        try:
            forwarded.append(proxy.feed(data))
        except Detached as detach:  # the last read: what it carried before the sequence
            forwarded.append(detach.before)
            outcome = True
    assert (forwarded, outcome) == (sent, detached)


def test_frames_are_split_whole_and_in_order() -> None:
    buffer = bytearray(frame(STDIN, b"abc") + resize_frame(24, 80) + frame(STDIN, b"x")[:5])
    assert list(frames(buffer)) == [(STDIN, b"abc"), (RESIZE, b"\x00\x18\x00\x50")]
    assert buffer == frame(STDIN, b"x")[:5]


def test_a_session_whose_monitor_said_the_code_and_closed_ends_with_the_code() -> None:
    """Input still to send when the monitor has gone (it sent the exit code, then closed):
    the write fails, the code already received is the answer."""
    ours, monitor = socket.socketpair()
    monitor.sendall(frame(STDOUT, b"last words\n") + frame(EXIT, (3).to_bytes(4, "big")))
    monitor.close()
    stdout = io.BytesIO()
    session = Session(ours, stdin=None, stdout=stdout, stderr=io.BytesIO(), detach_keys=None)
    session.outbound += frame(STDIN_CLOSE)
    with ours:
        assert session.run() == 3
    assert stdout.getvalue() == b"last words\n"
