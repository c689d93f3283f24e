"""What the workloads share: a ``Bench`` holds the images, hybridock and the peers that are up
(``None`` for a peer that is missing or failed to start: its rows say so), the work
directory, the number of rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from comparison.images import BenchImages
from comparison.peers import Docker, Podman
from comparison.runner import Row, failed_row
from comparison.tools import AccessLog, Hybridock


@dataclass
class Bench:
    work: Path
    images: BenchImages
    hybridock: Hybridock
    docker: Docker | None
    podman: Podman | None
    access_log: AccessLog
    rounds: int
    fast_rounds: int
    quick: bool
    ps_containers: int
    concurrent: int
    sequential_variant: bool = False
    peer_errors: dict[str, str] = field(default_factory=dict)

    def missing(self, workload: str, tool: str) -> Row:
        return failed_row(workload, tool, self.peer_errors.get(tool, f"{tool} is not available"))
