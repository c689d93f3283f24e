"""The results: one JSON file (every figure, the machine, the images) and a markdown table.

The ratio column is hybridock's median over the row's median (below 1: hybridock is faster or
smaller); for the zstd workload, the ``hybridock (gzip image)`` row's ratio is issue 5's
"zstd pull versus hybridock's own gzip pull".
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from comparison.runner import Row

VERSION_COMMANDS = {
    "hybridock": None,
    "docker": ["/usr/bin/docker", "--version"],
    "podman": ["podman", "--version"],
    "crun": ["crun", "--version"],
    "runc": ["runc", "--version"],
    "skopeo": ["skopeo", "--version"],
    "umoci": ["umoci", "--version"],
    "pigz": ["pigz", "--version"],
    "zstd": ["zstd", "--version"],
    "tar": ["tar", "--version"],
    "kernel": ["uname", "-r"],
}


def _first_line(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0] if text else None


def machine(work: Path) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    filesystem = subprocess.run(
        ["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", str(work)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    versions = {name: _first_line(command) for name, command in VERSION_COMMANDS.items() if command}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "work_dir": str(work),
        "work_filesystem": filesystem,
        "versions": versions,
    }


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "tests":
        return f"{value:.0f} passed"
    if unit == "KiB":
        return f"{value / 1024:.2f} MiB"
    if value < 10:
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} s"


def ratios(rows: Sequence[Row]) -> dict[tuple[str, str], float]:
    """(workload, tool) -> hybridock's median / the tool's median. hybridock's figure is the
    workload's first baseline row that has one (``hybridock``, else a variant of it)."""
    found = {}
    for row in rows:
        baseline = next(
            (r for r in rows if r.workload == row.workload and r.baseline and r.median),
            None,
        )
        if baseline is not None and baseline.median and row.median and row is not baseline:
            found[(row.workload, row.tool)] = baseline.median / row.median
    return found


def markdown(rows: Sequence[Row], info: dict[str, Any]) -> str:
    found = ratios(rows)
    large = info["images"]["large"]
    lines = [
        f"# hybridock versus peers, {info['date']}",
        "",
        f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores, "
        f"{info['machine']['memory_gib']} GiB, work dir on {info['machine']['work_filesystem']}, "
        f"kernel {info['machine']['versions'].get('kernel')}. "
        f"Rounds: {info['rounds']} (sub-second workloads: {info['fast_rounds']}), alternating, "
        "after one warm-up each.",
        f"Large image: {large['layers']} layers, {large['files']} files, "
        f"{large['uncompressed_bytes'] / 1e6:.0f} MB uncompressed, "
        f"{large['gzip_bytes'] / 1e6:.0f} MB gzip, {large['zstd_bytes'] / 1e6:.0f} MB zstd.",
        f"Command: `{info['command']}`",
        "",
        *(f"- {note}" for note in info.get("notes", ())),
        "",
        "| workload | tool | min | median | max | hybridock / tool | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = found.get((row.workload, row.tool))
        note = (f"FAILED: {row.error}" if row.error else row.note).replace("|", "\\|")
        tool = row.tool.replace("|", "\\|")
        low, high = min(row.measured, default=None), max(row.measured, default=None)
        figures = " | ".join(_figure(value, row.unit) for value in (low, row.median, high))
        shown = "" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"| {row.workload} | {tool} | {figures} | {shown} | {note} |")
    if info.get("conformance"):
        lines += ["", info["conformance"].rstrip("\n")]
    return "\n".join(lines) + "\n"


def write(rows: Sequence[Row], info: dict[str, Any], directory: Path, stem: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    found = ratios(rows)
    document = {
        **info,
        "rows": [
            {**row.as_json(), "ratio_hybridock_over_tool": found.get((row.workload, row.tool))}
            for row in rows
        ],
    }
    (directory / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n")
    table = directory / f"{stem}.md"
    table.write_text(markdown(rows, info))
    return table
