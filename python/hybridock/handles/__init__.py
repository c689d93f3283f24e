"""docker-py's shape over ``Client``: ``client.containers``, ``client.images``,
``client.networks`` and ``client.volumes`` are collections (list, get, create, run, pull,
prune) whose items are handles with methods (``container.stop()``, ``image.remove()``).

A handle holds its record as it was last read and the client it came from; ``attrs`` is the
inspect document (built on first use, again after ``reload()``). Every method is a call of a
flat ``Client`` method, which the CLI and the Engine API service use too.

    >>> with hybridock.Client() as client:
    ...     web = client.containers.run("nginx", detach=True, name="web")
    ...     web.status
    'running'

Where docker-py's names or shapes are poor, hybridock's are used: an attached ``run`` returns
a ``RunResult`` (exit code, stdout, stderr) instead of raising on a failure; ``wait`` returns
the exit code; ``exec_run`` returns an ``ExecResult`` with both streams apart.
"""

from hybridock.handles.common import ExecResult
from hybridock.handles.containers import ContainerCollection, ContainerHandle
from hybridock.handles.images import ImageCollection, ImageHandle
from hybridock.handles.networks import NetworkCollection, NetworkHandle
from hybridock.handles.volumes import VolumeCollection, VolumeHandle

__all__ = [
    "ContainerCollection",
    "ContainerHandle",
    "ExecResult",
    "ImageCollection",
    "ImageHandle",
    "NetworkCollection",
    "NetworkHandle",
    "VolumeCollection",
    "VolumeHandle",
]
