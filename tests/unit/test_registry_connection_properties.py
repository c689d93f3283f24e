"""Property-based tests of the registry's HTTP/1.1 reader (registry/connection.py, issue 10).

Answers are generated as a model (status, headers, some folded, body, its framing: length,
chunked with extensions and trailers, or until close), written out byte for byte and handed to
the reader in pieces split at random points. The reader must give back exactly what the model
says, or raise an ``OSError`` (``ProtocolViolation``, ``ConnectionResetError``, ``ReadTimeout``):
never another exception, never read past the end of a framed answer (the wire then times out,
as a kept-alive server's socket would), never accept an answer cut short.

Bounded for the normal suite: the ``suite`` profile is derandomized (the same examples on every
run, so CI is reproducible) with a fixed example count and deadline; the ``fuzz`` profile
explores at random for longer: ``HYBRIDOCK_HYPOTHESIS_PROFILE=fuzz pytest tests/unit/...``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import socket
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO, cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hybridock.registry.connection import (
    MAX_HEADERS,
    MAX_LINE,
    Connection,
    Pool,
    ProtocolViolation,
    Response,
)

settings.register_profile(
    "suite",
    max_examples=150,
    deadline=timedelta(seconds=2),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BOUNDED = settings(settings.get_profile(os.environ.get("HYBRIDOCK_HYPOTHESIS_PROFILE", "suite")))

FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"


# --- the wire -----------------------------------------------------------------------------------


class Wire(io.RawIOBase):
    """The server's bytes in the pieces they arrive in; then EOF (the server closed) or, for a
    server that keeps the connection open, what a socket with a timeout raises."""

    def __init__(self, pieces: Sequence[bytes], *, closes: bool) -> None:
        self._pieces = [piece for piece in pieces if piece]
        self._closes = closes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pieces:
            if self._closes:
                return 0
            raise TimeoutError("timed out")
        piece = self._pieces[0]
        size = min(len(buffer), len(piece))
        buffer[:size] = piece[:size]
        if size == len(piece):
            self._pieces.pop(0)
        else:
            self._pieces[0] = piece[size:]
        return size


class WireSocket:
    """What ``Connection`` needs of a socket, over a ``Wire``."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire

    def makefile(self, mode: str) -> BinaryIO:
        return cast(BinaryIO, io.BufferedReader(self._wire))

    def gettimeout(self) -> float:
        return 1.0

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        pass


class KeepingPool(Pool):
    """Records the connections a response gives back for reuse."""

    def __init__(self) -> None:
        super().__init__(per_key=1)
        self.kept: list[Connection] = []

    def put(self, key: object, connection: Connection) -> None:
        self.kept.append(connection)


def receive(
    pieces: Sequence[bytes], *, closes: bool, pool: Pool | None = None, method: str = "GET"
) -> Response:
    sock = cast(socket.socket, WireSocket(Wire(pieces, closes=closes)))
    return Response(Connection(sock), pool or KeepingPool(), "key", method)


def split(raw: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    edges = [0, *points, len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(edges)]


def read_whole(
    raw: bytes, cuts: Sequence[int], *, closes: bool, method: str = "GET"
) -> tuple[Response, bytes]:
    response = receive(split(raw, cuts), closes=closes, method=method)
    return response, response.read()


# --- answers as a model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, tuple[str, ...]], ...]  # name, folded parts of its value
    body: bytes
    framing: str  # "length", "chunked" or "close"
    raw: bytes

    def expected_headers(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, parts in self.headers:
            found.setdefault(name.lower(), []).append(" ".join(parts))
        return found

    @property
    def has_body(self) -> bool:
        return self.status not in {204, 304}


names = st.text(TOKEN, min_size=1, max_size=16).filter(lambda name: name.lower() not in FRAMING)
value_parts = st.lists(
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=3,
).map(tuple)
hex_case = st.sampled_from([str.lower, str.upper])


@st.composite
def chunk_lines(draw: st.DrawFn, size: int, eol: bytes) -> bytes:
    digits = draw(hex_case)(f"{size:x}").rjust(draw(st.integers(0, 4)) + len(f"{size:x}"), "0")
    extension = draw(
        st.sampled_from([b"", b";x", b";name=value", b';q="a;b"', b" ;ws=1", b";a=1;b=2"])
    )
    return digits.encode() + extension + eol


@st.composite
def answers(draw: st.DrawFn, framings: Sequence[str] = ("length", "chunked", "close")) -> Answer:
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    status = draw(st.sampled_from([200, 201, 204, 206, 304, 307, 401, 404, 429, 500, 503]))
    framing = draw(st.sampled_from(framings))
    headers = tuple(draw(st.lists(st.tuples(names, value_parts), max_size=6)))
    body = draw(st.binary(max_size=2048)) if status not in {204, 304} else b""
    head = [f"HTTP/1.1 {status} Reason Phrase".encode()]
    for _ in range(draw(st.integers(0, 2))):  # interim answers first
        head = [b"HTTP/1.1 100 Continue", b"", *head]
    for name, parts in headers:
        separators = [draw(st.sampled_from([b" ", b"\t", b"  "])) for _ in parts[1:]]
        line = f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{parts[0]}".encode("latin-1")
        for separator, part in zip(separators, parts[1:], strict=True):
            line += eol + separator + part.encode("latin-1")  # obsolete line folding
        head.append(line + draw(st.sampled_from([b"", b" ", b"\t"])))
    encoded = body
    if framing == "length" or (not body and status in {204, 304}):
        head.append(f"Content-Length: {len(body)}".encode())
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: " + draw(st.sampled_from([b"chunked", b"Chunked"])))
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(body))), max_size=6))))
        edges = [0, *[cut for cut in cuts if cut < len(body)], len(body)]
        encoded = b""
        for start, end in itertools.pairwise(edges):
            if end > start:
                encoded += draw(chunk_lines(end - start, eol)) + body[start:end] + eol
        encoded += draw(chunk_lines(0, eol))
        for name, parts in draw(st.lists(st.tuples(names, value_parts), max_size=3)):
            encoded += f"{name}: {' '.join(parts)}".encode("latin-1") + eol
        encoded += eol
    raw = eol.join(head) + eol + eol + encoded
    return Answer(status, headers, body, framing, raw)


NEXT_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
cut_points = st.lists(st.integers(0, 1 << 16), max_size=8)


# --- properties -----------------------------------------------------------------------------------


@BOUNDED
@given(answer=answers(), cuts=cut_points)
def test_a_well_formed_answer_is_read_exactly(answer: Answer, cuts: list[int]) -> None:
    framed = answer.framing != "close" or not answer.has_body
    # a framed answer is followed by the next one on a kept-alive connection, never read
    raw = answer.raw + (NEXT_ANSWER if framed else b"")
    pool = KeepingPool()
    response = receive(split(raw, cuts), closes=not framed, pool=pool)

    assert response.status == answer.status
    for name, values in answer.expected_headers().items():
        assert response.headers.getlist(name) == values, name
    assert response.read() == answer.body
    response.release_conn()
    assert len(pool.kept) == (1 if framed else 0)
    if framed:
        following = Response(pool.kept[0], KeepingPool(), "key", "GET")
        assert following.read() == b"next"


@BOUNDED
@given(answer=answers(), cuts=cut_points, data=st.data())
def test_an_answer_cut_short_is_an_error_or_a_prefix_of_an_unframed_body(
    answer: Answer, cuts: list[int], data: st.DataObject
) -> None:
    end = data.draw(st.integers(0, len(answer.raw) - 1))
    try:
        _, body = read_whole(answer.raw[:end], cuts, closes=True)
    except OSError:
        return
    assert answer.framing == "close", "a framed answer cut short was accepted"
    assert answer.body.startswith(body)


@BOUNDED
@given(answer=answers(), cuts=cut_points, closes=st.booleans(), data=st.data())
def test_an_answer_with_bytes_changed_parses_or_raises_an_oserror(
    answer: Answer, cuts: list[int], closes: bool, data: st.DataObject
) -> None:
    raw = bytearray(answer.raw)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw)))
        edit = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        byte = data.draw(st.sampled_from([*b"\r\n :;-+_x0aF\t\x00\xb2\xff", 0x39]))
        if edit == "insert":
            raw[position:position] = bytes([byte])
        elif position < len(raw):
            raw[position : position + 1] = b"" if edit == "delete" else bytes([byte])
    with contextlib.suppress(OSError):
        read_whole(bytes(raw), cuts, closes=closes)


@BOUNDED
@given(raw=st.binary(max_size=512), cuts=cut_points, closes=st.booleans())
def test_any_bytes_parse_or_raise_an_oserror(raw: bytes, cuts: list[int], closes: bool) -> None:
    with contextlib.suppress(OSError):
        read_whole(b"HTTP/1.1 200 OK\r\n" + raw, cuts, closes=closes)


@BOUNDED
@given(size=st.text(string.hexdigits + "-+_xX .\u0661", min_size=1, max_size=20))
def test_a_chunk_size_is_hex_digits_or_refused(size: str) -> None:
    body = b"x" * 40
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size.encode()
        + b"\r\n"
        + body
        + b"\r\n0\r\n\r\n"
    )
    digits = size.strip(" ")
    is_hex = 0 < len(digits) <= 16 and all(char in string.hexdigits for char in digits)
    try:
        _, read = read_whole(raw, [], closes=True)
    except (ProtocolViolation, ConnectionResetError):
        assert not is_hex or int(digits, 16) != len(body), size  # 0: the x are bad trailers
        return
    assert is_hex, f"chunk size {size!r} was accepted"
    assert read == body


@BOUNDED
@given(length=st.text(string.digits + "-+ _,\u00b2\u0661", min_size=1, max_size=8))
def test_a_content_length_is_ascii_digits_or_refused(length: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode() + b"y" * 30
    valid = length.strip(" ").isascii() and length.strip(" ").isdigit()
    try:
        _, body = read_whole(raw, [], closes=True)
    except OSError:
        assert not valid or int(length) > 30, length
        return
    assert valid, f"Content-Length {length!r} was accepted"
    assert body == b"y" * int(length)


@BOUNDED
@given(first=st.integers(0, 99), second=st.integers(0, 99))
def test_two_content_lengths_are_refused(first: int, second: int) -> None:
    raw = (
        f"HTTP/1.1 200 OK\r\nContent-Length: {first}\r\nContent-Length: {second}\r\n\r\n".encode()
        + b"z" * 200
    )
    with pytest.raises(ProtocolViolation):
        read_whole(raw, [], closes=True)


@BOUNDED
@given(answer=answers(framings=("chunked",)), length=st.integers(0, 4096), cuts=cut_points)
def test_transfer_encoding_wins_over_content_length_and_the_connection_is_not_reused(
    answer: Answer, length: int, cuts: list[int]
) -> None:
    assume(answer.has_body)
    head, separator, rest = answer.raw.partition(b"Transfer-Encoding")
    raw = head + f"Content-Length: {length}\r\n".encode() + separator + rest
    pool = KeepingPool()
    response = receive(split(raw + NEXT_ANSWER, cuts), closes=True, pool=pool)
    assert response.read() == answer.body
    response.release_conn()
    assert pool.kept == []


@BOUNDED
@given(
    coding=st.sampled_from(
        ["gzip", "chunked, chunked", "gzip, chunked", "chunked, gzip", "xchunked"]
    )
)
def test_transfer_codings_other_than_chunked_are_refused(coding: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(ProtocolViolation):
        read_whole(raw.encode(), [], closes=True)


@BOUNDED
@given(
    where=st.sampled_from(["status", "header", "chunk size", "trailer"]), extra=st.integers(0, 99)
)
def test_a_line_longer_than_the_limit_is_refused(where: str, extra: int) -> None:
    long = b"a" * (MAX_LINE + 1 + extra)
    raw = {
        "status": b"HTTP/1.1 200 " + long + b"\r\n\r\n",
        "header": b"HTTP/1.1 200 OK\r\nX: " + long + b"\r\n\r\n",
        "chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + long,
        "trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + long,
    }[where]
    with pytest.raises(ProtocolViolation):
        read_whole(raw + b"\r\n\r\n", [], closes=True)


# --- regressions: what these properties found in the reader, one named case each ----------------


@dataclass(frozen=True)
class Regression:
    name: str
    raw: bytes
    refused: type[OSError] | None  # None: parsed, with ``body`` and ``header``
    body: bytes = b""
    header: tuple[str, str] | None = None


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
REGRESSIONS = [
    Regression(
        "a header value keeps a no-break space (only SP and HTAB are whitespace)",
        b"HTTP/1.1 200 OK\r\nX-Value: \xa0a\xa0\r\nContent-Length: 0\r\n\r\n",
        None,
        header=("X-Value", "\xa0a\xa0"),
    ),
    Regression(
        "a transfer coding other than chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
        ProtocolViolation,
    ),
    Regression(
        "chunked that is not the only coding",
        CHUNKED.replace(b"chunked", b"chunked, gzip") + b"0\r\n\r\n",
        ProtocolViolation,
    ),
    Regression(
        "a coding that only contains the word chunked",
        CHUNKED.replace(b"chunked", b"xchunked") + b"0\r\n\r\n",
        ProtocolViolation,
    ),
    Regression("a negative chunk size", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", ProtocolViolation),
    Regression("a 0x chunk size", CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n", ProtocolViolation),
    Regression(
        "a chunk size with a sign", CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n", ProtocolViolation
    ),
    Regression(
        "a chunk size with an underscore",
        CHUNKED + b"1_0\r\n" + b"h" * 16 + b"\r\n0\r\n\r\n",
        ProtocolViolation,
    ),
    Regression("a status of other digits", b"HTTP/1.1 \xb200 OK\r\n\r\n", ProtocolViolation),
    Regression(
        "a Content-Length of other digits",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nxx",
        ProtocolViolation,
    ),
    Regression(
        "a Content-Length longer than Python converts",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        ProtocolViolation,
    ),
    Regression(
        "endless folded lines",
        b"HTTP/1.1 200 OK\r\nX: a\r\n" + b" more\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        ProtocolViolation,
    ),
    Regression(
        "endless interim answers",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 6 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ProtocolViolation,
    ),
    Regression(
        "endless trailers", CHUNKED + b"0\r\n" + b"T: x\r\n" * 200 + b"\r\n", ProtocolViolation
    ),
    Regression(
        "a connection closed in the trailers", CHUNKED + b"0\r\nT: x\r\n", ConnectionResetError
    ),
    Regression("a connection closed before the last chunk's line ends", CHUNKED + b"0", OSError),
    Regression(
        "a header name that is not a token",
        b"HTTP/1.1 200 OK\r\nContent Length: 5\r\n\r\nhello",
        ProtocolViolation,
    ),
]


@pytest.mark.parametrize("case", REGRESSIONS, ids=[case.name for case in REGRESSIONS])
def test_regressions_of_the_reader(case: Regression) -> None:
    if case.refused is not None:
        with pytest.raises(case.refused):
            read_whole(case.raw, [], closes=True)
        return
    response, body = read_whole(case.raw, [], closes=True)
    assert body == case.body
    if case.header is not None:
        assert response.headers.get(case.header[0]) == case.header[1]


def test_transfer_encoding_with_content_length_is_never_reused() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    pool = KeepingPool()
    response = receive([raw + b"2\r\nok\r\n0\r\n\r\n" + NEXT_ANSWER], closes=True, pool=pool)
    assert response.read() == b"ok"
    response.release_conn()
    assert pool.kept == []
