"""Conformance (issue 16): suites others wrote, run against hybridock-runtime, runc and crun.

runc's bats integration tests and crun's python tests, from Debian's source packages, fetched,
built and run by ``scripts/oci-suites`` (each suite against one runtime, in a network and mount
namespace of its own, on private state roots). This module runs every suite against every
runtime present and puts the pass counts side by side: ``rows`` for compare.py's table (one row
per suite and runtime, the figure is the passed count) and ``markdown`` for a table of its own.

Long (about 10 minutes for the three runtimes, more where a test hangs: a test file is cut off
after 4 minutes): compare.py runs it only with --conformance;
alone: ``.venv/bin/python benches/comparison/conformance.py [--suite crun] [--filter REGEX]``
(as root), which writes benches/results/conformance-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCHES = Path(__file__).resolve().parent.parent
REPO = BENCHES.parent
for entry in (str(REPO), str(BENCHES)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from tests.support.ociruntime import OciRuntime, all_runtimes  # noqa: E402

from comparison.runner import Row, describe, log  # noqa: E402

SCRIPT = REPO / "scripts" / "oci-suites"
SUITES = ("runc-bats", "crun")
WORKLOAD = "conformance"
SUITE_TIMEOUT = 3 * 3600.0


@dataclass
class SuiteResult:
    """One suite against one runtime: scripts/oci-suites' JSON, or why there is none."""

    suite: str
    runtime: str
    path: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    total: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_json(cls, document: dict[str, object], runtime: OciRuntime) -> SuiteResult:
        def count(key: str) -> int:
            value = document.get(key, 0)
            return int(value) if isinstance(value, int | float | str) else 0

        def names(key: str) -> list[str]:
            value = document.get(key, [])
            return [str(name) for name in value] if isinstance(value, list) else []

        return cls(
            suite=str(document["suite"]),
            runtime=runtime.name,
            path=str(runtime.path),
            passed=count("passed"),
            failed=count("failed"),
            skipped=count("skipped"),
            total=count("total"),
            seconds=float(count("seconds")),
            failures=names("failures"),
            skips=names("skips"),
        )


def run_suite(
    suite: str,
    runtime: OciRuntime,
    work: Path,
    *,
    cache: Path | None = None,
    filter_: str | None = None,
) -> SuiteResult:
    """``scripts/oci-suites run`` of one suite against one runtime; never raises."""
    if not runtime.present:
        return SuiteResult(suite, runtime.name, str(runtime.path), error="not present")
    work.mkdir(parents=True, exist_ok=True)
    output = work / f"{runtime.name}-{suite}.json"
    output.unlink(missing_ok=True)
    command = [str(SCRIPT)]
    if cache is not None:
        command += ["--cache", str(cache)]
    command += ["run", "--runtime", str(runtime.path), "--suite", suite, "--json", str(output)]
    if filter_:
        command += ["--filter", filter_]
    log(f"{WORKLOAD}: {suite} on {runtime.name}")
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return SuiteResult(suite, runtime.name, str(runtime.path), error=describe(error))
    if result.returncode != 0 or not output.exists():
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        return SuiteResult(
            suite, runtime.name, str(runtime.path), error=f"exit {result.returncode}: {tail}"
        )
    found = SuiteResult.from_json(json.loads(output.read_text()), runtime)
    log(f"{WORKLOAD}: {result.stdout.strip()}")
    return found


def conformance(
    work: Path,
    *,
    suites: tuple[str, ...] = SUITES,
    runtimes: list[OciRuntime] | None = None,
    cache: Path | None = None,
    filter_: str | None = None,
) -> list[SuiteResult]:
    """Every suite against every runtime (hybridock-runtime, runc, crun), one after another."""
    return [
        run_suite(suite, runtime, work, cache=cache, filter_=filter_)
        for suite in suites
        for runtime in (runtimes if runtimes is not None else all_runtimes())
    ]


def rows(results: list[SuiteResult]) -> list[Row]:
    """compare.py's rows: the passed count is the figure, the rest in the note."""
    found = []
    for result in results:
        row = Row(f"{WORKLOAD}: {result.suite}", result.runtime, unit="tests")
        if result.error is not None:
            row.error = result.error
        else:
            row.measured = [float(result.passed)]
            row.note = (
                f"{result.passed} passed, {result.failed} failed, {result.skipped} skipped "
                f"of {result.total} in {result.seconds:.0f} s"
            )
            row.extra = {"failures": result.failures, "skips": result.skips}
        found.append(row)
    return found


def markdown(results: list[SuiteResult]) -> str:
    """The conformance table: a line per suite, a column per runtime (passed/failed/skipped)."""
    runtimes = list(dict.fromkeys(result.runtime for result in results))
    lines = [
        "## Conformance",
        "",
        "Passed / failed / skipped of the suite's tests, and its run time (scripts/oci-suites).",
        "",
        "| suite | " + " | ".join(runtimes) + " |",
        "|---|" + "---:|" * len(runtimes),
    ]
    for suite in dict.fromkeys(result.suite for result in results):
        cells = []
        for name in runtimes:
            result = next(r for r in results if r.suite == suite and r.runtime == name)
            if result.error is not None:
                cells.append(f"({result.error.replace('|', '/')})")
            else:
                cells.append(
                    f"{result.passed} / {result.failed} / {result.skipped} ({result.seconds:.0f} s)"
                )
        lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=SUITES, help="(both)")
    parser.add_argument("--filter", help="only the test files whose name matches")
    parser.add_argument("--cache", type=Path, help="scripts/oci-suites' cache")
    parser.add_argument(
        "--output", type=Path, default=BENCHES / "results", help="where the results go"
    )
    options = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    work = Path(f"/tmp/hybridock-conformance-{stamp}")  # noqa: S108 - root-only scratch
    results = conformance(
        work,
        suites=tuple(options.suite or SUITES),
        cache=options.cache,
        filter_=options.filter,
    )
    options.output.mkdir(parents=True, exist_ok=True)
    document = {"date": stamp, "results": [asdict(result) for result in results]}
    (options.output / f"conformance-{stamp}.json").write_text(json.dumps(document, indent=2))
    table = markdown(results)
    (options.output / f"conformance-{stamp}.md").write_text(table)
    print(table)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SUITES", "SuiteResult", "conformance", "markdown", "rows", "run_suite"]
