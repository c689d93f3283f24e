"""The registry transport's HTTP/1.1 reader on answers written byte for byte into a socket
pair: body framings, keep-alive, interim answers and what is refused."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hybridock.registry.connection import (
    MAX_HEADERS,
    Connection,
    Pool,
    ProtocolViolation,
    Response,
    request_head,
)

SERVER_SIDES: list[socket.socket] = []


@pytest.fixture
def pool() -> Iterator[Pool]:
    idle = Pool(per_key=2)
    yield idle
    idle.clear()
    while SERVER_SIDES:
        SERVER_SIDES.pop().close()


def answer(raw: bytes, pool: Pool, method: str = "GET", *, close: bool = True) -> Response:
    """A response read from a connection on which the server wrote ``raw`` (and then closed
    it, or kept it open as a keep-alive server does)."""
    ours, theirs = socket.socketpair()
    theirs.sendall(raw)
    if close:
        theirs.close()
    else:
        SERVER_SIDES.append(theirs)
    try:
        return Response(Connection(ours), pool, "key", method)
    except BaseException:
        ours.close()
        raise


@pytest.mark.parametrize(
    ("name", "raw", "method", "body", "reusable"),
    [
        (
            "content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "GET",
            b"hello",
            True,
        ),
        (
            "chunked with an extension and a trailer",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "GET",
            b"hello",
            True,
        ),
        ("until close", b"HTTP/1.1 200 OK\r\n\r\nhello", "GET", b"hello", False),
        ("HEAD has no body", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", b"", True),
        ("204 has no body", b"HTTP/1.1 204 No Content\r\n\r\n", "GET", b"", True),
        (
            "an interim 100 is skipped",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            "GET",
            b"ok",
            True,
        ),
        (
            "Connection: close",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            "GET",
            b"ok",
            False,
        ),
        ("HTTP/1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", b"ok", False),
    ],
)
def test_bodies_and_keep_alive(
    pool: Pool, name: str, raw: bytes, method: str, body: bytes, reusable: bool
) -> None:
    response = answer(raw, pool, method, close=not reusable)
    assert response.read() == body, name
    response.release_conn()
    kept = pool.take("key")
    assert (kept is not None) == reusable, name
    if kept is not None:
        kept.close()


def test_headers_repeat_and_ignore_case(pool: Pool) -> None:
    response = answer(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=a\r\n"
        b"www-authenticate: Bearer realm=b\r\nContent-Length: 0\r\n\r\n",
        pool,
    )
    assert response.status == 401
    assert response.headers.getlist("WWW-Authenticate") == ["Basic realm=a", "Bearer realm=b"]
    assert response.headers.get("content-length") == "0"
    assert response.headers.get("Location") is None
    assert response.headers.get("Location", "") == ""
    response.close()


def test_stream_yields_what_arrived_before_a_cut(pool: Pool) -> None:
    response = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", pool)
    chunks = response.stream(1 << 20)
    assert next(chunks) == b"12345"
    with pytest.raises(ConnectionResetError, match="5 bytes of the body missing"):
        next(chunks)
    response.close()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("not HTTP", b"\x15\x03\x01\x00\x02\x02\x46"),
        ("no status code", b"HTTP/1.1 OK\r\n\r\n"),
        ("header without a colon", b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"),
        ("bad Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        ("too many headers", b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n"),
        ("header line too long", b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n"),
    ],
)
def test_malformed_answers_are_refused(pool: Pool, name: str, raw: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        answer(raw, pool)


def test_no_answer_at_all_is_a_connection_error(pool: Pool) -> None:
    with pytest.raises(ConnectionResetError):
        answer(b"", pool)


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/v2/a b", {}), ("/v2/\x00", {}), ("/v2/", {"Authorization": "Bearer x\r\nEvil: 1"})],
    ids=["space in path", "control character", "line break in a header"],
)
def test_requests_that_would_change_meaning_are_not_built(
    path: str, headers: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=r"control character|line break"):
        request_head("GET", path, "registry.example", headers, None)


def test_request_head() -> None:
    assert request_head("POST", "/token?a=b", "auth.example", {"X": "1"}, b"abc") == (
        b"POST /token?a=b HTTP/1.1\r\nHost: auth.example\r\nX: 1\r\nContent-Length: 3\r\n\r\n"
    )
