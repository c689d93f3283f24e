"""ADD's side of the file work: local archives (every compression) extracted confined and
refused when a member or link climbs out, URLs fetched from a 127.0.0.1 server (0600, the
``Last-Modified`` time, ``--checksum``), heredoc sources, and ``instruction_source``."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import http.server
import io
import lzma
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.contextsupport import context, copy, image, upper
from tests.support.httpserver import serving

from hybridock import _native
from hybridock.build.context import BuildContext
from hybridock.build.dockerfile.instructions import Copy, Heredoc
from hybridock.build.sources import context_source, heredoc_source, instruction_source
from hybridock.errors import BuildError

__all__ = ["context", "image", "upper"]  # fixtures

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
LAST_MODIFIED_EPOCH = 1445412480


def _tar_bytes(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = len(data or b"")
                archive.addfile(info, io.BytesIO(data or b""))
    return out.getvalue()


@pytest.mark.parametrize("compression", ["none", "gzip", "bz2", "xz", "zstd"])
def test_add_extracts_local_archives(
    context: Path, image: Path, upper: Path, compression: str
) -> None:
    plain = context / "plain.tar"
    plain.write_bytes(_tar_bytes([("top/inner.txt", b"inner\n", None)]))
    name = "plain.tar"
    if compression == "gzip":
        (context / "a.tgz").write_bytes(gzip.compress(plain.read_bytes()))
        name = "a.tgz"
    elif compression in ("bz2", "xz"):
        module = bz2 if compression == "bz2" else lzma
        (context / f"a.{compression}").write_bytes(module.compress(plain.read_bytes()))
        name = f"a.{compression}"
    elif compression == "zstd":
        _native.compress_file(str(plain), str(context / "a.zst"), "zstd")
        name = "a.zst"
    source = context_source(BuildContext.scan(context, []))
    copy(source, [name], "/unpacked", upper, [image], add=True)
    assert (upper / "unpacked" / "top" / "inner.txt").read_text() == "inner\n"


@pytest.mark.parametrize(
    "members",
    [
        [("../../escaped", b"x", None)],
        [("link", None, "../../../etc"), ("ok", b"x", None)],
        [("d/link", None, "../../outside")],
    ],
)
def test_add_refuses_escaping_archives(
    context: Path, image: Path, upper: Path, members: list[tuple[str, bytes | None, str | None]]
) -> None:
    (context / "evil.tar").write_bytes(_tar_bytes(members))
    source = context_source(BuildContext.scan(context, []))
    with pytest.raises(BuildError, match="invalid"):
        copy(source, ["evil.tar"], "/x/", upper, [image], add=True)
    assert not (upper / "x").exists()
    assert not (upper.parent / "escaped").exists()


def test_add_of_a_non_archive_copies_the_file(context: Path, image: Path, upper: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["main.c"], "/added.c", upper, [image], add=True)
    assert (upper / "added.c").read_text() == "int main;\n"


@contextlib.contextmanager
def _serving(body: bytes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


def test_add_of_a_url(context: Path, image: Path, upper: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    with _serving(b"fetched\n") as base:
        copy(source, [f"{base}/files/tool.sh"], "/usr/local/bin/", upper, [image], add=True)
    fetched = upper / "usr" / "local" / "bin" / "tool.sh"
    assert fetched.read_text() == "fetched\n"
    status = fetched.stat()
    assert (status.st_mode & 0o7777, int(status.st_mtime)) == (0o600, LAST_MODIFIED_EPOCH)


def test_instruction_source_adds_urls_heredocs_and_checks_checksums(
    context: Path, image: Path, upper: Path
) -> None:
    base = context_source(BuildContext.scan(context, []))
    with _serving(b"fetched\n") as url:
        add = Copy(
            line=1,
            original="ADD ...",
            sources=(f"{url}/f.txt", "main.c"),
            destination="/d/",
            add=True,
        )
        source = instruction_source(base, add, str)
        checked = Copy(
            line=1,
            original="ADD",
            sources=(f"{url}/f.txt",),
            destination="/",
            add=True,
            checksum=_native.sha256(b"fetched\n"),
        )
        instruction_source(base, checked, str)
        with pytest.raises(BuildError, match="digest mismatch"):
            instruction_source(
                base, Copy(**{**checked.__dict__, "checksum": "sha256:" + "0" * 64}), str
            )
    with pytest.raises(BuildError, match="checksum can't be specified for non-HTTP"):
        instruction_source(base, Copy(**{**checked.__dict__, "sources": ("main.c",)}), str)
    digest = source.digest([f"{url}/f.txt", "/main.c"])
    assert digest != source.digest(["/main.c"])
    copy(source, [f"{url}/f.txt", "main.c"], "/d/", upper, [image], add=True)  # no refetch
    assert sorted(path.name for path in (upper / "d").iterdir()) == ["f.txt", "main.c"]
    assert (upper / "d" / "f.txt").stat().st_mode & 0o7777 == 0o600
    heredoc = Copy(
        line=1,
        original="COPY <<EOF /x",
        sources=("EOF",),
        destination="/x",
        heredocs=(Heredoc(name="EOF", content="$V\n", expand=True),),
    )
    expanded = instruction_source(base, heredoc, lambda text: text.replace("$V", "value"))
    copy(expanded, ["EOF"], "/x", upper, [image])
    assert (upper / "x").read_text() == "value\n"


def test_heredoc_source(image: Path, upper: Path) -> None:
    source = heredoc_source([Heredoc(name="EOF", content="hello\n", expand=True)])
    copy(source, ["EOF"], "/greeting", upper, [image])
    assert (upper / "greeting").read_text() == "hello\n"
    assert (upper / "greeting").stat().st_mode & 0o7777 == 0o644
