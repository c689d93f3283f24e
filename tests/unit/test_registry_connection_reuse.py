"""Which answered connections go back to the pool: one whose server said more than its
answer's framing holds must not serve the next request (the extra bytes would be read as
the next answer), also when they already sit in our read buffer where select cannot see them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hybridock.registry.connection import Connection, Pool, Response

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"


@pytest.fixture
def pool() -> Iterator[Pool]:
    kept = Pool(per_key=1)
    yield kept
    kept.clear()


def answered(ours: socket.socket, pool: Pool) -> None:
    response = Response(Connection(ours), pool, "key", "GET")
    assert response.read() == b"ok"
    response.release_conn()


def taken(pool: Pool) -> Connection | None:
    connection = pool.take("key")
    if connection is not None:
        pool.put("key", connection)  # the pool's clear() closes it
    return connection


def test_a_quiet_connection_is_reused(
    silent_server: tuple[socket.socket, socket.socket], pool: Pool
) -> None:
    ours, theirs = silent_server
    theirs.sendall(ANSWER)
    answered(ours, pool)
    assert taken(pool) is not None


@pytest.mark.parametrize(
    "in_our_buffer",
    [
        pytest.param(True, id="in-our-buffer"),  # one write: both land in the buffer at once
        pytest.param(False, id="still-on-the-socket"),
    ],
)
def test_bytes_past_the_answer_are_not_read_as_the_next_answer(
    silent_server: tuple[socket.socket, socket.socket],
    pool: Pool,
    in_our_buffer: bool,
) -> None:
    ours, theirs = silent_server
    theirs.sendall(ANSWER + SMUGGLED if in_our_buffer else ANSWER)
    answered(ours, pool)
    if not in_our_buffer:
        theirs.sendall(SMUGGLED)
    assert taken(pool) is None


def test_a_taken_connection_keeps_its_read_timeout(
    silent_server: tuple[socket.socket, socket.socket],
    pool: Pool,
) -> None:
    ours, theirs = silent_server
    theirs.sendall(ANSWER)
    answered(ours, pool)
    connection = taken(pool)
    assert connection is not None
    assert connection.sock.gettimeout() == 0.2  # silent_server's
