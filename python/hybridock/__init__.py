"""hybridock: a daemonless, Docker-compatible container tool with a Rust core."""

from __future__ import annotations

from hybridock.errors import HybridockError

__version__ = "0.1.0"
__all__ = ["HybridockError", "__version__"]
