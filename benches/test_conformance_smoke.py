"""Keeps the conformance comparison's counting honest without running the suites (they take
long; ``benches/comparison/conformance.py`` runs them by hand): scripts/oci-suites' summary of
the TAP that bats and crun's tests print, and the rows and table made of it.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.ociruntime import OciRuntime

# the comparison's package is `comparison` (benches/ on sys.path), as compare.py imports it
BENCHES = str(Path(__file__).resolve().parent)
if BENCHES not in sys.path:
    sys.path.insert(0, BENCHES)
conformance = importlib.import_module("comparison.conformance")
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "oci-suites"

pytestmark = [pytest.mark.root]

BATS_TAP = """1..4
ok 1 runc run
not ok 2 runc run ({u,g}id != 0)
# (in test file start_hello.bats, line 34)
#   `[ "$status" -eq 0 ]' failed
ok 3 runc run [rootless with host pidns] # skip test requires rootless
ok 4 runc run --pid-file
# oci-suites: exit 1
"""
CRUN_TAP = """1..3
ok 1 - start
not ok 2 - run-twice
ok 3 - sd-notify #SKIP
# oci-suites: exit 0
"""
HUNG_TAP = """1..5
ok 1 runc exec
# oci-suites: exit 124
"""


def summarize(tmp_path: Path, taps: dict[str, str]) -> dict[str, object]:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (scripts/oci-suites counts with it)")
    paths = []
    for name, text in taps.items():
        path = tmp_path / f"{name}.tap"
        path.write_text(text)
        paths.append(str(path))
    output = tmp_path / "result.json"
    command = [str(SCRIPT), "summarize", "--suite", "s", "--runtime", "/bin/rt"]
    command += ["--json", str(output), *paths]
    summary = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert summary.startswith("s on /bin/rt: ")
    document: dict[str, object] = json.loads(output.read_text())
    return document


def test_bats_and_crun_tap_are_counted(tmp_path: Path) -> None:
    document = summarize(tmp_path, {"start_hello.bats": BATS_TAP, "test_start.py": CRUN_TAP})
    assert (document["passed"], document["failed"], document["skipped"]) == (3, 2, 2)
    assert document["total"] == 7
    assert document["failures"] == [
        "start_hello.bats: runc run ({u,g}id != 0)",
        "test_start.py: run-twice",
    ]
    assert document["skips"] == [
        "start_hello.bats: runc run [rootless with host pidns]",
        "test_start.py: sd-notify",
    ]


def test_tests_cut_off_count_as_failed_and_a_file_without_tests_as_skipped(tmp_path: Path) -> None:
    document = summarize(
        tmp_path,
        {
            "exec.bats": HUNG_TAP,
            "tty.bats": "# oci-suites: exit 137\n",
            "test_mounts.py": "1..0\n# oci-suites: exit 0\n",
        },
    )
    assert (document["passed"], document["failed"], document["total"]) == (1, 2, 4)
    assert document["skips"] == ["test_mounts.py: (the whole file, it planned no tests)"]
    assert document["failures"] == [
        "exec.bats: (4 of 5 tests not run, exit 124)",
        "tty.bats: (no TAP output, exit 137)",
    ]


def test_rows_and_table_side_by_side() -> None:
    runc = OciRuntime("runc", Path("/usr/sbin/runc"))
    results = [
        conformance.SuiteResult.from_json(
            {"suite": "crun", "passed": 7, "failed": 1, "skipped": 2, "total": 10, "seconds": 30},
            runc,
        ),
        conformance.SuiteResult("crun", "hybridock-runtime", "/missing", error="not present"),
    ]
    [counted, missing] = conformance.rows(results)
    assert counted.measured == [7.0]
    assert counted.tool == "runc"
    assert counted.note == "7 passed, 1 failed, 2 skipped of 10 in 30 s"
    assert missing.error == "not present"
    assert not missing.measured
    table = conformance.markdown(results)
    assert "| suite | runc | hybridock-runtime |" in table
    assert "| crun | 7 / 1 / 2 (30 s) | (not present) |" in table
