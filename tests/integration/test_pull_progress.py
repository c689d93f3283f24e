"""What a pull reports as it goes (issue 10): docker's ``Extracting`` bar shows how much of the
layer the extraction has consumed, so it reaches the layer's size only when the layer is
written, and ``Pull complete`` comes after that.

The pull runs in this process through ``hybridock.Client`` with a progress recorder, against
the test's registry and store, so each report can be checked against the store's work tree at
the moment it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.images import ImageSpec
from tests.support.layers import File, Layer
from tests.support.registry import Registry

from hybridock.client import Client
from hybridock.config import Config
from hybridock.reference import Reference

pytestmark = pytest.mark.registry

# Small files compress to a blob that arrives long before its files are all written.
FILES = 5_000


@dataclass(frozen=True)
class Report:
    layer_id: str
    status: str
    current: int
    total: int
    files_written: int  # files in the layer's work tree when the report was made


class RecordingProgress:
    """Records every layer report, with how many files the work tree under tmp/ held then
    (the image has one layer, so there is one tree)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.reports: list[Report] = []

    def resolving(self, reference: Reference) -> None:
        pass

    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        self.reports.append(Report(layer_id, status, current, total, self._files_written()))

    def _files_written(self) -> int:
        trees = list((self.store / "tmp").glob("layer-*/tree"))
        return sum(1 for tree in trees for _ in tree.iterdir())


def test_extracting_reaches_the_layer_size_only_once_its_files_are_written(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    layer = Layer([File(f"f{index}", "x") for index in range(FILES)], "gzip").build()
    image = ImageSpec(layers=[layer]).build()
    pushed = image_builder.push(image, registry, f"progress/{request.node.name}")
    config = Config(
        insecure_registries=frozenset({registry.address}),
        auth_file=tmp_path / "no-auth.json",
    )
    progress = RecordingProgress(hybridock_root)

    with Client(hybridock_root, config) as client:
        client.pull(pushed.reference, progress=progress)

    layer_id = layer.digest.removeprefix("sha256:")[:12]
    reports = [report for report in progress.reports if report.layer_id == layer_id]
    statuses = [report.status for report in reports]
    assert statuses[-1] == "Pull complete", statuses
    extracting = [report for report in reports if report.status == "Extracting"]
    assert extracting, statuses
    assert {report.total for report in extracting} == {layer.size}
    currents = [report.current for report in extracting]
    assert currents == sorted(currents), f"not monotonic: {currents}"
    assert currents[-1] == layer.size, "the bar ends at the layer's size"
    early = [report for report in extracting if report.current == report.total]
    assert all(report.files_written == FILES for report in early), [
        (report.current, report.files_written) for report in early
    ]
    assert statuses.index("Extracting") > statuses.index("Download complete")
