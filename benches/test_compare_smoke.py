"""Keeps benches/compare.py working: its --quick mode (small image, one round, hybridock and
whichever peers are already installed; nothing is installed) end to end, and the shape of
what it writes. The full comparison is run by hand: ``make bench-compare``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.processes import processes_mentioning

pytestmark = [pytest.mark.slow, pytest.mark.root, pytest.mark.registry]

SCRIPT = Path(__file__).resolve().parent / "compare.py"
HYBRIDOCK_WORKLOADS = {
    "warm run --rm hello",
    "detached supervisor PSS",
    "5 concurrent run --rm",
    "ps -a, 10 containers",
    "pull, image cached (tag unchanged)",
    "save then load, large gzip image",
}
COLD_PULLS = {"cold pull, large gzip image", "cold pull, large zstd image"}


@pytest.mark.timeout(1200)
def test_quick_comparison_writes_a_table(tmp_path: Path) -> None:
    output = tmp_path / "results"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--work",
            str(tmp_path / "work"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1150,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    [document] = [json.loads(path.read_text()) for path in output.glob("compare-*-quick.json")]
    [table] = list(output.glob("compare-*-quick.md"))
    assert "| workload | tool |" in table.read_text()
    rows = document["rows"]
    assert {row["workload"] for row in rows} >= HYBRIDOCK_WORKLOADS
    for row in rows:
        assert (row["error"] is None) == bool(row["measured"]), row
        if row["tool"] == "hybridock" and row["workload"] in HYBRIDOCK_WORKLOADS:
            assert row["error"] is None, row
            assert row["median"] > 0
    for workload in COLD_PULLS:  # hybridock's default, or its one-download-at-a-time variant
        assert any(
            row["workload"] == workload and row["baseline"] and row["measured"] for row in rows
        ), workload
    assert document["images"]["large"]["layers"] == 5
    assert processes_mentioning(str(tmp_path / "work")) == []
