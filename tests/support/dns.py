"""A stdlib DNS client and a stub upstream server, for the name-resolution tests.

- ``query``: one UDP question (A, AAAA or PTR) to a server, the answer's rcode and records;
  aardvark-dns answers a container's questions by the sender's address, so ``source`` sends
  from a container's address.
- ``StubUpstream``: a UDP server on 127.0.0.1:53 (inside a test's own network namespace) that
  answers every A question from a fixed table, NXDOMAIN otherwise, and records what it was asked.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Mapping
from typing import NamedTuple

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_NOERROR = 0
RCODE_NXDOMAIN = 3


class Answer(NamedTuple):
    rcode: int
    #: A and AAAA answers as addresses, PTR answers as names without the final dot
    records: list[str]


def encode_name(name: str) -> bytes:
    labels = [label for label in name.rstrip(".").split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"


def decode_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(message[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    raise ValueError("DNS name compression loop")


def question(name: str, record_type: int, identifier: int) -> bytes:
    header = struct.pack("!HHHHHH", identifier, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", record_type, CLASS_IN)


def parse_answer(message: bytes) -> tuple[int, Answer]:
    """(identifier, answer) of a response."""
    identifier, flags, questions, answers, _, _ = struct.unpack_from("!HHHHHH", message)
    offset = 12
    for _ in range(questions):
        _, offset = decode_name(message, offset)
        offset += 4
    records: list[str] = []
    for _ in range(answers):
        _, offset = decode_name(message, offset)
        record_type, _, _, length = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        data = message[offset : offset + length]
        if record_type == TYPE_A:
            records.append(socket.inet_ntop(socket.AF_INET, data))
        elif record_type == TYPE_AAAA:
            records.append(socket.inet_ntop(socket.AF_INET6, data))
        elif record_type == TYPE_PTR:
            records.append(decode_name(message, offset)[0])
        offset += length
    return identifier, Answer(flags & 0xF, records)


def query(
    server: str,
    name: str,
    record_type: int = TYPE_A,
    *,
    source: str | None = None,
    port: int = 53,
    timeout: float = 5.0,
) -> Answer | None:
    """The server's answer to one question sent from ``source`` (an address of this host), or
    None when nothing listens there or no answer came within ``timeout``."""
    identifier = int.from_bytes(os.urandom(2), "big")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        if source is not None:
            client.bind((source, 0))
        client.connect((server, port))
        client.send(question(name, record_type, identifier))
        while True:
            try:
                message = client.recv(4096)
            except (TimeoutError, ConnectionRefusedError):
                return None
            answered, answer = parse_answer(message)
            if answered == identifier:
                return answer


def reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


class StubUpstream:
    """A DNS server on ``address``:53 answering A questions from ``table`` (name -> address)."""

    def __init__(self, table: Mapping[str, str], address: str = "127.0.0.1") -> None:
        self.table = {name.rstrip(".").lower(): ip for name, ip in table.items()}
        self.asked: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((address, 53))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> StubUpstream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", self._socket.getsockname())
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            message, sender = self._socket.recvfrom(4096)
            if len(message) < 12:
                continue
            self._socket.sendto(self._respond(message), sender)

    def _respond(self, message: bytes) -> bytes:
        identifier = struct.unpack_from("!H", message)[0]
        name, offset = decode_name(message, 12)
        record_type = struct.unpack_from("!H", message, offset)[0]
        question_bytes = message[12 : offset + 4]
        self.asked.append(name.lower())
        address = self.table.get(name.lower()) if record_type == TYPE_A else None
        rcode = RCODE_NOERROR if address is not None or name.lower() in self.table else 3
        answers = 1 if address is not None else 0
        header = struct.pack("!HHHHHH", identifier, 0x8180 | rcode, 1, answers, 0, 0)
        response = header + question_bytes
        if address is not None:
            response += b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, CLASS_IN, 60, 4)
            response += socket.inet_aton(address)
        return response
