"""ADD of an http(s) URL: the file fetched once (its digest is the cache's), named by the
URL path's last component, mode 0600, its time the ``Last-Modified`` the server gave (0
without one), as BuildKit's http source does."""

from __future__ import annotations

import posixpath
import urllib.parse

from hybridock.build.trees import MemoryFile, MemoryTree
from hybridock.errors import BuildError

URL_MODE = 0o600
FETCH_TIMEOUT = 60.0
UNNAMED = "__unnamed__"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def url_name(url: str) -> str:
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    return name if name not in ("", ".", "..") else UNNAMED


def url_source(url: str) -> MemoryTree:
    """The one file at ``url`` (its name: ``url_name``)."""
    import email.utils  # noqa: PLC0415 - an ADD of a URL is rare: keep build's start lean
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(url, headers={"User-Agent": "hybridock"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            content = response.read()
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as error:
        raise BuildError(f"invalid response status {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise BuildError(f"failed to load cache key: {reason}") from error
    mtime = 0.0
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = 0.0
    return MemoryTree({url_name(url): MemoryFile(content, URL_MODE, mtime)})
