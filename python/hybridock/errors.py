"""The exception tree of hybridock.

Every failure that a user can cause or meet is a ``HybridockError``; each class also derives
from the stdlib base that fits, so callers can catch ``OSError`` or ``ValueError`` as usual.
The native module raises these same classes (it imports them from here). Messages are one
line, written for the user: docker's message bodies, which the CLI prints after ``Error: ``.
"""

from __future__ import annotations


class HybridockError(Exception):
    """Base of every error hybridock raises on purpose."""


def os_words(error: OSError) -> str:
    """What went wrong in an ``OSError``, as Go words it in docker's messages: its strerror in
    lower case (``no such file or directory``, ``connection refused``)."""
    return (error.strerror or str(error)).lower()


class InvalidReference(HybridockError, ValueError):
    """An image reference that does not follow Docker's grammar."""


class ConfigError(HybridockError, ValueError):
    """A configuration file or option that cannot be used."""


# --- registry -------------------------------------------------------------------------------


class RegistryError(HybridockError, OSError):
    """The registry answered with an error, or could not be reached."""


class RegistryUnreachable(RegistryError, ConnectionError):
    """No connection could be made, or it kept failing after retries."""


class AuthenticationError(RegistryError, PermissionError):
    """Credentials were refused, or a token could not be obtained."""


class ManifestUnknown(RegistryError, LookupError):
    """The registry has no such repository, tag or digest."""


class ManifestInvalid(RegistryError, ValueError):
    """A manifest or index that is malformed, of the wrong type, or lies about itself."""


class PlatformNotFound(RegistryError, LookupError):
    """An index has no manifest for the requested platform."""


# --- layers and blobs (raised by the native pipeline too) -------------------------------------


class DigestMismatch(HybridockError, ValueError):
    """Content whose sha256 is not the digest it was fetched or declared as."""


class UnsafeLayer(HybridockError, ValueError):
    """A layer entry that would write outside the root, or is otherwise refused."""


class LayerFormatError(HybridockError, ValueError):
    """A layer that is not a valid (compressed) tar stream."""


class LayerLimitExceeded(HybridockError, ValueError):
    """A layer that expands beyond the configured size or entry budget."""


class ArchiveError(HybridockError, ValueError):
    """An image archive (``load``) or tarball (``import``) that is malformed or lies."""


class StoreError(HybridockError, OSError):
    """A failure of the local store: I/O, a full disk, a corrupt record."""


# --- networks -------------------------------------------------------------------------------


class NetworkError(HybridockError, OSError):
    """A network step the kernel refused (raised by the native netlink path too): a bridge,
    a veth pair, an address, a route, a network namespace. ``errno`` is the kernel's (EEXIST
    for an interface name already taken)."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


# --- local objects ----------------------------------------------------------------------------


class ImageNotFound(HybridockError, LookupError):
    """No such image in the local store."""


class InvalidFilter(HybridockError, ValueError):
    """A listing filter (``--filter key=value``) that the command does not know."""


class ImageInUse(HybridockError):
    """An image that a container still uses."""


class InvalidVolumeSpec(HybridockError, ValueError):
    """A volume's name or a mount mode that docker's daemon refuses (its client passes them
    on): ``create`` exits 1 for it, not 125 as for a flag the client itself refuses."""


class ContainerNotFound(HybridockError, LookupError):
    """No such container."""


class ContainerStateError(HybridockError):
    """An operation that the container's current state does not allow."""


class ContainerNameInUse(ContainerStateError, ConfigError):
    """A name another container has (a conflict: the Engine API's 409; the CLI's create and
    run refuse it as they refuse a bad flag)."""


class FileCopyError(HybridockError):
    """``cp``, ``diff`` or ``export`` could not do what was asked (docker's words, exit 1)."""


class ContainerPathNotFound(FileCopyError, LookupError):
    """A path that is not in the container (the Engine API's archive routes: 404)."""


class PortNotPublished(HybridockError, LookupError):
    """``port CONTAINER PORT`` for a port that has no host binding."""


class NotPermitted(HybridockError, PermissionError):
    """This process lacks the privileges the operation needs (running containers: root)."""


class SpawnError(HybridockError, OSError):
    """The container's process could not be started.

    ``stage`` names the setup step that failed; ``exit_code`` is docker's code for it:
    125 for hybridock's own setup, 126 for a command that cannot be executed, 127 for a command
    that was not found.
    """

    def __init__(self, message: str, *, stage: str = "", exit_code: int = 125) -> None:
        super().__init__(message)
        self.stage = stage
        self.exit_code = exit_code


# --- build ----------------------------------------------------------------------------------


class DockerfileError(ConfigError):
    """A Dockerfile the builder cannot read, in BuildKit's words; ``line`` is the 1-based line
    of the instruction (``dockerfile parse error on line 3: unknown instruction: FOO``)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class BuildError(HybridockError):
    """A build that failed in a step: ``step`` is the step as the progress names it
    (``[build 2/4] RUN make``), ``exit_code`` the code of a RUN step's process (None for
    other failures). ``docker build`` itself then exits 1, as BuildKit's does."""

    def __init__(self, message: str, *, step: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.exit_code = exit_code


class ResolverError(HybridockError, OSError):
    """The name resolver of user-defined networks (aardvark-dns) is missing or fails."""
