"""hybridock: a daemonless, Docker-compatible container tool with a Rust core.

``hybridock.Client`` is the Python API (see ``hybridock.client``); ``HybridockError`` is the
base of every error it raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from hybridock.client import Client

__version__ = "0.1.0"
__all__ = ["Client", "HybridockError", "__version__"]


def __getattr__(name: str) -> object:
    # Client (and with it sqlite3 and the store) is loaded on first use: every import of a
    # part (hybridock.errors, hybridock._native, ...) runs this file first.
    if name == "Client":
        from hybridock.client import Client  # noqa: PLC0415

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
